"""states: the one classification of Batch states, the diagnosis, the summary, the waiter."""

from __future__ import annotations

import pytest
from google.cloud.batch_v1 import Job, JobStatus, StatusEvent, Task, TaskExecution, TaskStatus

from airflow_batchstream import states
from airflow_batchstream.exceptions import BatchApiError, JobCancelled, JobDeleted, JobFailed, JobTimedOut
from airflow_batchstream.states import Outcome

NAME = "projects/proj/locations/us-central1/jobs/job-1"


def job(state: str, events=(), counts=None) -> Job:
    status = JobStatus(state=JobStatus.State[state], status_events=list(events))
    if counts:
        status.task_groups["group0"] = JobStatus.TaskGroupStatus(counts=counts)
    return Job(name=NAME, uid="uid-1", status=status)


def event(description: str, seconds: int, code: int = 0) -> StatusEvent:
    return StatusEvent(
        type_="STATUS_CHANGED",
        description=description,
        event_time={"seconds": seconds},
        task_execution=TaskExecution(exit_code=code) if code else None,
    )


@pytest.mark.parametrize(
    ("state", "outcome"),
    [
        ("STATE_UNSPECIFIED", Outcome.RUNNING),
        ("QUEUED", Outcome.RUNNING),
        ("SCHEDULED", Outcome.RUNNING),
        ("RUNNING", Outcome.RUNNING),
        ("CANCELLATION_IN_PROGRESS", Outcome.RUNNING),  # not success, not done yet
        ("SUCCEEDED", Outcome.SUCCEEDED),
        ("FAILED", Outcome.FAILED),
        ("CANCELLED", Outcome.CANCELLED),  # the anchor keeps polling this one
        ("DELETION_IN_PROGRESS", Outcome.DELETED),
    ],
)
def test_every_job_state_has_one_outcome(state, outcome):
    assert states.outcome_of(job(state)) is outcome
    assert states.is_terminal(job(state)) is (outcome is not Outcome.RUNNING)
    assert states.is_success(JobStatus.State[state]) is (outcome is Outcome.SUCCEEDED)


def test_every_enum_value_is_classified():
    assert {s.name for s in JobStatus.State} == set(states._JOB_STATES)


def test_missing_job_is_terminal_not_found():
    assert states.outcome_of(None) is Outcome.NOT_FOUND
    assert states.is_terminal(None)
    assert "not found" in states.diagnose(None, job_name=NAME)


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
    text = states.diagnose(failed)
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
    text = states.diagnose(job("FAILED"), tasks=[task])
    assert "Task index 7" in text
    assert "exit code 137" in text
    assert "container itself" in text


@pytest.mark.parametrize("code", sorted(states.RESERVED_EXIT_CODES))
def test_each_reserved_code_has_meaning_and_advice(code):
    text = states.explain_exit_code(code)
    assert str(code) in text and "reserved" in text and "what to do" in text


def test_timeline_from_status_events():
    done = job(
        "SUCCEEDED",
        [
            event("Job state is set from QUEUED to SCHEDULED for job x", 110),
            event("Job state is set from SCHEDULED to RUNNING for job x", 130),
            event("Job state is set from RUNNING to SUCCEEDED for job x", 190),
        ],
    )
    done.create_time = {"seconds": 100}
    assert states.timeline(done) == {"queued": 10.0, "scheduled": 20.0, "running": 60.0, "total": 90.0}


def test_summary_is_compact_and_has_links():
    done = job("SUCCEEDED", counts={"SUCCEEDED": 3})
    summary = states.summarize(done, image_digest_hint="sha256:" + "a" * 64)
    assert (
        summary["job_id"] == "job-1" and summary["project"] == "proj" and summary["location"] == "us-central1"
    )
    assert summary["task_counts"] == {"SUCCEEDED": 3}
    assert summary["console_url"] == (
        "https://console.cloud.google.com/batch/jobsDetail/regions/us-central1/jobs/job-1/details?project=proj"
    )
    assert "job_uid%3D%22uid-1%22" in summary["logs_url"]
    assert summary["image_digest"].startswith("sha256:")
    import json

    assert len(json.dumps(summary)) < 1500


@pytest.mark.parametrize(
    ("state", "error"),
    [("FAILED", JobFailed), ("CANCELLED", JobCancelled), ("DELETION_IN_PROGRESS", JobDeleted)],
)
def test_payload_round_trip_raises_the_specific_error(state, error):
    payload = states.event_payload(job(state), job_name=NAME)
    assert payload["status"] == "failed"
    with pytest.raises(error):
        states.result_from_payload(payload)


def test_payload_success_timeout_error_and_not_found():
    assert (
        states.result_from_payload(states.event_payload(job("SUCCEEDED"), job_name=NAME))["state"]
        == "SUCCEEDED"
    )
    with pytest.raises(JobTimedOut):
        states.result_from_payload(states.event_payload(job("RUNNING"), job_name=NAME, timed_out=True))
    with pytest.raises(BatchApiError):
        states.result_from_payload(states.error_payload(NAME, "boom"))
    with pytest.raises(JobDeleted):
        states.result_from_payload(states.event_payload(None, job_name=NAME))


def test_waiter_backs_off_while_unchanged_and_respects_deadline():
    waiter = states.Waiter(poll_interval=10, deadline=10_000.0)
    running = job("RUNNING", counts={"RUNNING": 1})
    # Lag stays at poll_interval until the job has been unchanged for 10 poll intervals ...
    assert [waiter.step(running, now=t).delay for t in (0, 50, 100)] == [10, 10, 10]
    # ... then grows with the time unchanged (10% of it), capped at 4x.
    assert waiter.step(running, now=200).delay == 20
    assert waiter.step(running, now=1000).delay == 40
    assert waiter.step(job("QUEUED"), now=1001).delay == 10  # a change resets the backoff
    assert waiter.step(running, now=9995).delay == 5  # never sleeps past the deadline
    assert waiter.step(running, now=10_000).action == "timeout"
    assert waiter.step(job("CANCELLED"), now=20_000).action == "finish"


def test_an_unreachable_job_ends_a_wait_only_at_the_deadline():
    waiter = states.Waiter(poll_interval=10, deadline=1000.0)
    assert waiter.step_unreachable(now=0) == states.Step("sleep", states.Outcome.RUNNING, 10)
    assert waiter.step_unreachable(now=995).delay == 5  # never sleeps past the deadline
    assert waiter.step_unreachable(now=1000).action == "timeout"
    assert states.Waiter(poll_interval=10, deadline=None).step_unreachable(now=10**9).action == "sleep"


def test_max_poll_interval_equal_to_poll_interval_disables_backoff():
    waiter = states.Waiter(poll_interval=10, deadline=None, max_poll_interval=10)
    running = job("RUNNING")
    assert {waiter.step(running, now=t).delay for t in (0, 500, 5000)} == {10}
