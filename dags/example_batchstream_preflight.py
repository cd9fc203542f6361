"""Example: check the image before paying for VMs, pin its digest, and wait in the triggerer.

Before submitting, the operator reads the image's manifest from Artifact Registry (the registry v2
API, with the connection's credentials) and fails the task, at no cost, when the image cannot be
streamed (``image_check="error"``; ``"warn"`` only logs, ``"off"`` skips the check). With
``pin_image_digest=True`` the job runs ``image@sha256:<digest>``, the exact image that was checked,
even if the tag moves while tasks start or retry. ``deferrable=True`` hands the wait to the
triggerer: the task holds no worker slot while the job runs.

Against the local emulator there is no Artifact Registry, so the preflight is skipped (with a log
line) while ``BATCHSTREAM_EMULATOR_HOST`` is set, and nothing is pinned. To exercise it offline,
point it at a local registry holding the image: set the Variable ``batchstream_registry_url``
(e.g. ``http://127.0.0.1:5000``, a ``docker-registry`` on loopback).

Set the Variables ``batchstream_project``, ``batchstream_location`` and ``batchstream_image`` to run
on Google Cloud.
"""

from __future__ import annotations

import datetime

from airflow.sdk import DAG

from airflow_batchstream.operators import BatchStreamJobOperator

# How often the waiting task asks Batch for the job's state. Templated, so the Variable is read
# when the task runs, not each time the scheduler parses this file. 30 s suits real jobs and the
# Batch read quota; tests and local demos set the Variable to 1-2 s.
POLL_INTERVAL = "{{ var.value.get('batchstream_poll_interval', 30) }}"

with DAG(
    dag_id="example_batchstream_preflight",
    schedule=None,
    start_date=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc),
    catchup=False,
    tags=["batchstream", "example"],
    doc_md=__doc__,
) as dag:
    BatchStreamJobOperator(
        task_id="streamed_job",
        project_id="{{ var.value.get('batchstream_project', 'example-project') }}",
        location="{{ var.value.get('batchstream_location', 'us-central1') }}",
        image_uri="{{ var.value.get('batchstream_image', "
        "'us-central1-docker.pkg.dev/example-project/pipelines/etl:1.0') }}",
        commands=["python", "-m", "etl.train", "--epochs", "3"],
        image_check="error",  # an image that cannot be streamed fails here, before any VM starts
        pin_image_digest=True,
        # Empty (the default) means the image's own Artifact Registry host.
        registry_url="{{ var.value.get('batchstream_registry_url', '') }}",
        deferrable=True,
        poll_interval=POLL_INTERVAL,
        max_run_duration="7200s",
    )
