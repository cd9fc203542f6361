"""Example: a daily partitioned pipeline, one Google Cloud Batch job per day.

Each run processes one complete day: the start of its data interval
(``{{ data_interval_start | ds }}``). The schedule is a ``CronDataIntervalTimetable``, so the run
scheduled at midnight covers the day that just ended; Airflow 3's plain ``@daily`` would run at
midnight with a logical date of that midnight, and ``{{ ds }}`` would name the day just beginning.
Backfilling a date range from the UI (or ``POST /api/v2/backfills``) submits one job per day, each
with its own date; a manual run processes the last complete day before its logical date.
The job id is derived from the DAG, task, run and try, so a retried task re-attaches to its job
instead of starting a second one.

Where it runs: set the Airflow Variables ``batchstream_project``, ``batchstream_location`` and
``batchstream_image`` (an Artifact Registry image in that location) to run on Google Cloud; with
``BATCHSTREAM_EMULATOR_HOST`` set, the same file runs against ``batchstream emulator`` instead.
"""

from __future__ import annotations

import datetime

from airflow.sdk import DAG, CronDataIntervalTimetable

from airflow_batchstream.operators import BatchStreamJobOperator

# How often the waiting task asks Batch for the job's state. Templated, so the Variable is read
# when the task runs, not each time the scheduler parses this file. 30 s suits real jobs and the
# Batch read quota; tests and local demos set the Variable to 1-2 s.
POLL_INTERVAL = "{{ var.value.get('batchstream_poll_interval', 30) }}"
# The day a run processes: the first (and only) day of its data interval, a complete day.
PARTITION = "{{ data_interval_start | ds }}"

with DAG(
    dag_id="example_batchstream_partitioned",
    # Every midnight UTC, for the day before: each run's data interval is one complete day.
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc),
    catchup=False,  # past days run only when asked for: a backfill
    max_active_runs=3,
    tags=["batchstream", "example"],
    doc_md=__doc__,
) as dag:
    BatchStreamJobOperator(
        task_id="process_partition",
        # Templated, so Variables are read when the task runs, not each time the file is parsed.
        project_id="{{ var.value.get('batchstream_project', 'example-project') }}",
        location="{{ var.value.get('batchstream_location', 'us-central1') }}",
        image_uri="{{ var.value.get('batchstream_image', "
        "'us-central1-docker.pkg.dev/example-project/pipelines/etl:1.0') }}",
        commands=["python", "-m", "etl.daily", "--date", PARTITION],
        environment={"PARTITION": PARTITION, "RUN_ID": "{{ run_id }}"},
        labels={"pipeline": "daily-etl"},
        cpu_milli=1000,
        memory_mib=2048,
        max_run_duration="3600s",
        poll_interval=POLL_INTERVAL,
    )
