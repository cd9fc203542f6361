"""Example: submit a job without waiting, then wait for it with a deferrable sensor.

``submit`` creates the job and returns at once (``wait_for_completion=False``); its XCom summary
carries the full job name (``projects/P/locations/L/jobs/J``). ``wait_for_job`` waits for that job
in the triggerer (``deferrable=True``): no worker slot is held while the job runs, and it succeeds
only if the job SUCCEEDED (a failed job fails it with the diagnosis). The same sensor waits on jobs
submitted by anything else (gcloud, another DAG): give it their name.

Set the Variables ``batchstream_project``, ``batchstream_location`` and ``batchstream_image`` to run
on Google Cloud; ``BATCHSTREAM_EMULATOR_HOST`` runs it against the local emulator.
"""

from __future__ import annotations

import datetime

from airflow.sdk import DAG

from airflow_batchstream.operators import BatchStreamJobOperator
from airflow_batchstream.sensors import BatchStreamJobSensor

# How often the waiting task asks Batch for the job's state. Templated, so the Variable is read
# when the task runs, not each time the scheduler parses this file. 30 s suits real jobs and the
# Batch read quota; tests and local demos set the Variable to 1-2 s.
POLL_INTERVAL = "{{ var.value.get('batchstream_poll_interval', 30) }}"

with DAG(
    dag_id="example_batchstream_sensor",
    schedule=None,
    start_date=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc),
    catchup=False,
    tags=["batchstream", "example"],
    doc_md=__doc__,
) as dag:
    submit = BatchStreamJobOperator(
        task_id="submit",
        project_id="{{ var.value.get('batchstream_project', 'example-project') }}",
        location="{{ var.value.get('batchstream_location', 'us-central1') }}",
        image_uri="{{ var.value.get('batchstream_image', "
        "'us-central1-docker.pkg.dev/example-project/pipelines/etl:1.0') }}",
        commands=["python", "-m", "etl.report", "--run", "{{ run_id }}"],
        wait_for_completion=False,  # return right after submission, with the job's summary
    )

    wait_for_job = BatchStreamJobSensor(
        task_id="wait_for_job",
        job_name="{{ ti.xcom_pull(task_ids='submit')['job_name'] }}",
        deferrable=True,
        poll_interval=POLL_INTERVAL,
        timeout=6 * 3600,  # seconds; the job's own max_run_duration should be the tighter bound
    )

    submit >> wait_for_job
