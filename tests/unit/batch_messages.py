"""Batch Job messages (the real proto-plus types) for the tests of states, summary, diagnosis and
waiting."""

from __future__ import annotations

from google.cloud.batch_v1 import Job, JobStatus, StatusEvent, TaskExecution

NAME = "projects/proj/locations/us-central1/jobs/job-1"


def job(state: str, events=(), counts=None) -> Job:
    """Job ``NAME`` in ``state``, with these status events and task counts of group0."""
    status = JobStatus(state=JobStatus.State[state], status_events=list(events))
    if counts:
        status.task_groups["group0"] = JobStatus.TaskGroupStatus(counts=counts)
    return Job(name=NAME, uid="uid-1", status=status)


def event(description: str, seconds: int, code: int = 0) -> StatusEvent:
    """A STATUS_CHANGED event at epoch ``seconds`` (with a task exit code, if not 0)."""
    return StatusEvent(
        type_="STATUS_CHANGED",
        description=description,
        event_time={"seconds": seconds},
        task_execution=TaskExecution(exit_code=code) if code else None,
    )
