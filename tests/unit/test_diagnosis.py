"""diagnosis: why a job failed, with the failing task, its exit code and what to do."""

from __future__ import annotations

import pytest
from google.cloud.batch_v1 import StatusEvent, Task, TaskExecution, TaskStatus

from airflow_batchstream.diagnosis import RESERVED_EXIT_CODES, diagnose, explain_exit_code
from tests.unit.batch_messages import NAME, event, job

FAILED_TEXT = (
    f"Job state is set from RUNNING to FAILED for job {NAME}.Job failed due to task failure. "
    'Specifically, task with index 2 failed due to the following task event: "Task state is '
    "updated from RUNNING to FAILED on zones/us-central1-a/instances/1 due to Spot VM preemption "
    'with exit code 50001."'
)


def test_diagnosis_names_task_index_exit_code_and_reserved_meaning():
    failed = job(
        "FAILED",
        [event("Job state is set from QUEUED to SCHEDULED", 10), event(FAILED_TEXT, 20)],
        counts={"FAILED": 1, "SUCCEEDED": 2},
    )
    text = diagnose(failed)
    assert "Task index 2" in text
    assert "exit code 50001" in text
    assert "preempted" in text
    assert "max_retries" in text
    assert "FAILED=1" in text and "SUCCEEDED=2" in text
    assert "Last status events" in text


def test_diagnosis_prefers_task_protos():
    task = Task(
        name=NAME + "/taskGroups/group0/tasks/7",
        status=TaskStatus(
            state=TaskStatus.State.FAILED,
            status_events=[
                StatusEvent(
                    description="Task failed",
                    task_execution=TaskExecution(exit_code=137),
                    task_state=TaskStatus.State.FAILED,
                )
            ],
        ),
    )
    text = diagnose(job("FAILED"), tasks=[task])
    assert "Task index 7" in text
    assert "exit code 137" in text
    assert "container itself" in text


@pytest.mark.parametrize("code", sorted(RESERVED_EXIT_CODES))
def test_each_reserved_code_has_meaning_and_advice(code):
    text = explain_exit_code(code)
    assert str(code) in text and "reserved" in text and "what to do" in text
