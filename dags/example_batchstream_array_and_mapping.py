"""Example: an array job, and dynamic task mapping that submits one job per input.

``shard_array`` is ONE Batch job with ``task_count`` tasks: Batch starts the same container once per
task and tells each which one it is through ``BATCH_TASK_INDEX`` (0 .. task_count-1), so a single
job processes every shard; ``parallelism`` caps how many run at the same time.

``per_table`` is dynamic task mapping: ``.partial()`` fixes what every job shares and
``.expand(commands=...)`` makes one Airflow task instance, and so one Batch job, per list item.
Each mapped task instance gets its own deterministic job id (the map index is part of it), retries
and logs. Use an array job when the shards are uniform and cheap to track together; map when each
input deserves its own retries, logs and summary in the UI.

Set the Variables ``batchstream_project``, ``batchstream_location`` and ``batchstream_image`` to run
on Google Cloud; ``BATCHSTREAM_EMULATOR_HOST`` runs it against the local emulator.
"""

from __future__ import annotations

import datetime

from airflow.sdk import DAG

from airflow_batchstream.operators import BatchStreamJobOperator

# How often the waiting task asks Batch for the job's state. Templated, so the Variable is read
# when the task runs, not each time the scheduler parses this file. 30 s suits real jobs and the
# Batch read quota; tests and local demos set the Variable to 1-2 s.
POLL_INTERVAL = "{{ var.value.get('batchstream_poll_interval', 30) }}"

# Shared by both tasks: where the jobs run and which image they stream.
WHERE = {
    "project_id": "{{ var.value.get('batchstream_project', 'example-project') }}",
    "location": "{{ var.value.get('batchstream_location', 'us-central1') }}",
    "image_uri": "{{ var.value.get('batchstream_image', "
    "'us-central1-docker.pkg.dev/example-project/pipelines/etl:1.0') }}",
}

with DAG(
    dag_id="example_batchstream_array_and_mapping",
    schedule=None,
    start_date=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc),
    catchup=False,
    tags=["batchstream", "example"],
    doc_md=__doc__,
) as dag:
    shard_array = BatchStreamJobOperator(
        task_id="shard_array",
        **WHERE,
        # The shell expands $BATCH_TASK_INDEX inside the container, per task.
        commands=["sh", "-c", "python -m etl.shard --shard $BATCH_TASK_INDEX --of $BATCH_TASK_COUNT"],
        task_count=4,
        parallelism=2,
        poll_interval=POLL_INTERVAL,
    )

    # One Batch job per table. The list is fixed here to keep the example short; in practice it
    # often comes from an upstream task's XCom (expand(commands=list_tables.output.map(...))).
    per_table = BatchStreamJobOperator.partial(
        task_id="per_table",
        **WHERE,
        labels={"pipeline": "per-table"},
        poll_interval=POLL_INTERVAL,
    ).expand(
        commands=[
            ["python", "-m", "etl.table", "--table", table] for table in ("orders", "customers", "invoices")
        ]
    )

    shard_array >> per_table
