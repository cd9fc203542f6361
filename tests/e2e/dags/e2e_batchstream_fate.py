"""e2e-only: one Batch job whose fate the emulator's e2e scenario picks from a command marker.

Trigger it with ``conf={"marker": "batchstream-e2e-fail"}`` (task index 1 exits 3, the job fails) or
``"batchstream-e2e-hold"`` (the job runs until cancelled); see tests/e2e/scenario.yaml.
Deferrable, as in [operators] default_deferrable.
"""

from __future__ import annotations

import datetime

from airflow.sdk import DAG, Param

from airflow_batchstream.operators import BatchStreamJobOperator

with DAG(
    dag_id="e2e_batchstream_fate",
    schedule=None,
    start_date=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc),
    catchup=False,
    tags=["batchstream", "e2e"],
    doc_md=__doc__,
    params={"marker": Param("batchstream-e2e-ok", type="string")},
) as dag:
    BatchStreamJobOperator(
        task_id="scripted_job",
        project_id="example-project",
        location="us-central1",
        image_uri="us-central1-docker.pkg.dev/example-project/pipelines/etl:1.0",
        commands=["sh", "-c", "echo {{ params.marker }}"],
        task_count=3,
        deferrable=True,
        poll_interval=1.0,
    )
