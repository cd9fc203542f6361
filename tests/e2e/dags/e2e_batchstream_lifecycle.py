"""e2e-only: Batch jobs held RUNNING (the e2e scenario's ``batchstream-e2e-hold`` marker) while the
test acts on their task instances as the operator of an Airflow deployment would: a Clear from the
UI of a deferred and of a worker-waiting task, a worker killed, the scheduler killed and restarted.
The test ends each job itself through the emulator's control call; see tests/e2e/test_lifecycle.py.
"""

from __future__ import annotations

import datetime

from airflow.sdk import DAG

from airflow_batchstream.operators import BatchStreamJobOperator

#: task id -> (deferrable, retries); each task is one scenario of the test.
SCENARIOS = {
    "clear_deferred": (True, 0),
    "clear_worker": (False, 0),
    "worker_lost": (False, 1),
    "scheduler_restart_a": (False, 0),
    "scheduler_restart_b": (False, 0),
}

with DAG(
    dag_id="e2e_batchstream_lifecycle",
    schedule=None,
    start_date=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc),
    catchup=False,
    tags=["batchstream", "e2e"],
    doc_md=__doc__,
) as dag:
    for task_id, (deferrable, retries) in SCENARIOS.items():
        BatchStreamJobOperator(
            task_id=task_id,
            project_id="example-project",
            location="us-central1",
            image_uri="us-central1-docker.pkg.dev/example-project/pipelines/etl:1.0",
            commands=["sh", "-c", "echo batchstream-e2e-hold"],
            deferrable=deferrable,
            retries=retries,
            retry_delay=datetime.timedelta(seconds=1),
            poll_interval=1.0,
        )
