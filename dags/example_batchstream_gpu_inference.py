"""Example: GPU inference over a week of date partitions, as one array job on Flex-start GPU VMs.

Each weekly run covers the complete week that just ended (its data interval, Monday to Monday:
a ``CronDataIntervalTimetable``) and submits ONE Batch job of 7 tasks; task ``BATCH_TASK_INDEX``
(0-6) scores the day ``START_DATE + BATCH_TASK_INDEX``, so the week's days run side by side and a
backfill submits one job per week. A manual run scores the last complete week before its date.
Each task gets a ``g2-standard-8`` VM, whose NVIDIA L4 GPU comes with the machine type; Batch
installs the GPU drivers (on by default when a job asks for GPUs).

Why these choices:

- ``provisioning_model="FLEX_START"``: Flex-start VMs (Dynamic Workload Scheduler) wait for GPU
  capacity instead of failing, at a discount, and Batch gives them at most 7 days of run time.
  ``spot=True`` is the other cheap choice, for work that tolerates preemption (exit code 50001,
  retried by ``max_retries``).
- ``pin_image_digest=True``: the preflight reads the image (a large CUDA image streams instead of
  being pulled whole; the task log shows its size and layers with the boot disk) and every task
  and retry runs exactly that digest, even if the tag moves during the week.
- ``timeout``: the deadline. A GPU job can wait in QUEUED for capacity; 6 hours after submission
  the job is cancelled and the task fails, saying how long the job was queued.

Batch documents that GPUs reach Docker container runnables by themselves; it does not say so for
streaming containers (containerd), so the validator warns about it (rule GPU-STREAMING, a
``ValidationPolicy`` level): check one run's GPU use before relying on it.

Set the Variables ``batchstream_project``, ``batchstream_location`` and ``batchstream_gpu_image``
to run on Google Cloud; ``BATCHSTREAM_EMULATOR_HOST`` runs it against the local emulator, where the
preflight reads the Variable ``batchstream_registry_url`` (a local registry) or is skipped.
"""

from __future__ import annotations

import datetime

from airflow.sdk import DAG, CronDataIntervalTimetable

from airflow_batchstream.operators import BatchStreamJobOperator

# How often the waiting task asks Batch for the job's state. Templated, so the Variable is read
# when the task runs, not each time the scheduler parses this file. 30 s suits real jobs and the
# Batch read quota; tests and local demos set the Variable to 1-2 s.
POLL_INTERVAL = "{{ var.value.get('batchstream_poll_interval', 30) }}"

DAYS = 7
# The first day of the week a run scores: the start of its data interval.
START_DATE = "{{ data_interval_start | ds }}"

with DAG(
    dag_id="example_batchstream_gpu_inference",
    # Every Monday 00:00 UTC, for the week before: each run's data interval is one complete week.
    schedule=CronDataIntervalTimetable("0 0 * * 1", timezone="UTC"),
    start_date=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc),
    catchup=False,  # past weeks run only when asked for: a backfill
    tags=["batchstream", "example", "gpu"],
    doc_md=__doc__,
) as dag:
    BatchStreamJobOperator(
        task_id="score_week",
        project_id="{{ var.value.get('batchstream_project', 'example-project') }}",
        location="{{ var.value.get('batchstream_location', 'us-central1') }}",
        image_uri="{{ var.value.get('batchstream_gpu_image', "
        "'us-central1-docker.pkg.dev/example-project/pipelines/gpu-infer:1.0') }}",
        # The shell inside the container turns the task's index into its day.
        commands=[
            "sh",
            "-c",
            'python -m infer.score --date "$(date -u -d "$START_DATE + $BATCH_TASK_INDEX days" +%F)"',
        ],
        environment={"START_DATE": START_DATE, "MODEL": "resnet50"},
        task_count=DAYS,
        parallelism=DAYS,
        machine_type="g2-standard-8",
        provisioning_model="FLEX_START",
        boot_disk_size_gb=100,
        max_run_duration="7200s",  # per day's task; Flex-start allows at most 7 days
        max_retries=2,
        labels={"pipeline": "gpu-inference"},
        image_check="error",
        pin_image_digest=True,
        # Empty (the default) means the image's own Artifact Registry host.
        registry_url="{{ var.value.get('batchstream_registry_url', '') }}",
        timeout=6 * 3600,
        deferrable=True,
        poll_interval=POLL_INTERVAL,
    )
