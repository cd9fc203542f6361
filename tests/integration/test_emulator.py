"""The emulator through the unmodified google-cloud-batch sync client, over gRPC on loopback."""

from __future__ import annotations

import time

import pytest
from google.api_core import exceptions
from google.cloud import batch_v1

PARENT = "projects/emu-project/locations/us-central1"
IMAGE = "us-central1-docker.pkg.dev/emu-project/repo/app:1"
State = batch_v1.JobStatus.State
TERMINAL = {State.SUCCEEDED, State.FAILED, State.CANCELLED}

# The example job of the image-streaming page (seed 000_ca1c9c21cee19cd9), placeholders filled in.
SEED_JOB_JSON = """
{
  "taskGroups": [
    {
      "taskCount": "1",
      "taskCountPerNode": "1",
      "taskSpec": {
        "runnables": [
          {
            "container": {
              "imageUri": "us-central1-docker.pkg.dev/emu-project/repo/app:1",
              "enableImageStreaming": true
            }
          }
        ]
      }
    }
  ],
  "allocationPolicy": {"instances": [{"policy": {"machineType": "e2-standard-4"}}]},
  "logsPolicy": {"destination": "CLOUD_LOGGING"}
}
"""


def make_job(
    image: str = IMAGE,
    commands: tuple[str, ...] = (),
    labels: dict[str, str] | None = None,
    task_count: int = 1,
    parallelism: int = 0,
    max_retry_count: int = 0,
    lifecycle: tuple[str, tuple[int, ...]] | None = None,
) -> batch_v1.Job:
    task_spec = batch_v1.TaskSpec(
        runnables=[
            batch_v1.Runnable(
                container=batch_v1.Runnable.Container(
                    image_uri=image, commands=list(commands), enable_image_streaming=True
                )
            )
        ],
        max_retry_count=max_retry_count,
    )
    if lifecycle:
        action, codes = lifecycle
        task_spec.lifecycle_policies = [
            batch_v1.LifecyclePolicy(
                action=action, action_condition=batch_v1.LifecyclePolicy.ActionCondition(exit_codes=codes)
            )
        ]
    group = batch_v1.TaskGroup(task_count=task_count, parallelism=parallelism, task_spec=task_spec)
    return batch_v1.Job(task_groups=[group], labels=labels or {})


def wait_terminal(client, name: str, timeout: float = 15.0) -> tuple[batch_v1.Job, list]:
    """Poll GetJob until the job ends; returns the job and the states seen on the way."""
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        job = client.get_job(name=name)
        if not seen or seen[-1] != job.status.state:
            seen.append(job.status.state)
        if job.status.state in TERMINAL:
            return job, seen
        time.sleep(0.02)
    raise AssertionError(f"{name} did not end within {timeout}s; states seen: {seen}")


def test_seed_example_job_runs_to_succeeded(batch_client):
    job = batch_v1.Job.from_json(SEED_JOB_JSON)

    created = batch_client.create_job(parent=PARENT, job_id="seed-example", job=job)

    assert created.name == f"{PARENT}/jobs/seed-example"
    assert created.status.state == State.QUEUED
    assert created.uid
    assert created.task_groups[0].name == f"{PARENT}/jobs/seed-example/taskGroups/group0"
    assert created.task_groups[0].task_spec.runnables[0].container.enable_image_streaming
    done, seen = wait_terminal(batch_client, created.name)
    assert done.status.state == State.SUCCEEDED
    assert seen == [State.QUEUED, State.SCHEDULED, State.RUNNING, State.SUCCEEDED]
    assert dict(done.status.task_groups["group0"].counts) == {"SUCCEEDED": 1}
    assert done.status.task_groups["group0"].instances[0].machine_type == "e2-standard-4"
    assert [e.description for e in done.status.status_events] == [
        f"Job state is set from QUEUED to SCHEDULED for job {created.name}.",
        f"Job state is set from SCHEDULED to RUNNING for job {created.name}.",
        f"Job state is set from RUNNING to SUCCEEDED for job {created.name}.",
    ]
    assert done.status.run_duration.total_seconds() > 0
    assert done.update_time > done.create_time


def test_failing_task_fails_the_job_with_its_exit_code(emulator, batch_client):
    emulator.set_scenario({"rules": [{"match": {"label": "fate=fail"}, "exit_codes": {"0": 3}}]})

    created = batch_client.create_job(parent=PARENT, job_id="fails", job=make_job(labels={"fate": "fail"}))
    done, _ = wait_terminal(batch_client, created.name)

    assert done.status.state == State.FAILED
    last = done.status.status_events[-1].description
    assert last.startswith(f"Job state is set from RUNNING to FAILED for job {created.name}.")
    assert "task with index 0 failed due to the following task event" in last
    assert last.endswith('with exit code 3."')
    task = batch_client.get_task(name=f"{created.name}/taskGroups/group0/tasks/0")
    assert task.status.state == batch_v1.TaskStatus.State.FAILED
    assert task.status.status_events[-1].task_execution.exit_code == 3
    assert task.status.status_events[-1].task_state == batch_v1.TaskStatus.State.FAILED


def test_get_missing_job_is_not_found(batch_client):
    with pytest.raises(exceptions.NotFound):
        batch_client.get_job(name=f"{PARENT}/jobs/never-created")
