"""states: the one classification of Batch states, and the payload every wait ends with."""

from __future__ import annotations

import pytest
from google.cloud.batch_v1 import JobStatus

from airflow_batchstream import states
from airflow_batchstream.diagnosis import diagnose
from airflow_batchstream.exceptions import BatchApiError, JobCancelled, JobDeleted, JobFailed, JobTimedOut
from airflow_batchstream.states import Outcome
from tests.unit.batch_messages import NAME, job


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
    assert states.outcome_of(job(state)).is_terminal is (outcome is not Outcome.RUNNING)
    assert states.outcome_of_state(JobStatus.State[state]).is_success is (outcome is Outcome.SUCCEEDED)


def test_every_enum_value_is_classified():
    assert {s.name for s in JobStatus.State} == set(states._JOB_STATES)


def test_missing_job_is_terminal_not_found():
    assert states.outcome_of(None) is Outcome.NOT_FOUND
    assert states.outcome_of(None).is_terminal
    assert "not found" in diagnose(None, job_name=NAME)


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
