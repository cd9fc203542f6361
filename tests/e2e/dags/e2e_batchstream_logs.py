"""e2e-only: jobs whose tasks print known lines, awaited in the worker and in the triggerer.

The emulator's e2e scenario (airflow_batchstream/emulator/scenarios/e2e.yaml) decides what each
task prints from the command marker: ``batchstream-e2e-logs`` (every task prints two lines, one of
them on stderr) and ``batchstream-e2e-logs-fail`` (task 2 prints a traceback and exits 4).
"""

from __future__ import annotations

import datetime

from airflow.sdk import DAG

from airflow_batchstream.operators import BatchStreamJobOperator

with DAG(
    dag_id="e2e_batchstream_logs",
    schedule=None,
    start_date=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc),
    catchup=False,
    tags=["batchstream", "e2e"],
    doc_md=__doc__,
) as dag:
    common = {
        "project_id": "example-project",
        "location": "us-central1",
        "image_uri": "us-central1-docker.pkg.dev/example-project/pipelines/etl:1.0",
        "task_count": 3,
        "poll_interval": 1.0,
    }
    BatchStreamJobOperator(task_id="in_worker", commands=["batchstream-e2e-logs"], deferrable=False, **common)
    BatchStreamJobOperator(task_id="deferred", commands=["batchstream-e2e-logs"], deferrable=True, **common)
    BatchStreamJobOperator(
        task_id="deferred_failing", commands=["batchstream-e2e-logs-fail"], deferrable=True, **common
    )
