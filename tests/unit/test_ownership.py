"""ownership: every row of the decision tables, the claim record, and the deferral timeout."""

from __future__ import annotations

from datetime import timedelta

import pytest

from airflow_batchstream.operators import DEFER_TIMEOUT_GRACE, defer_timeout
from airflow_batchstream.ownership import (
    FINISHED_STATES,
    Claim,
    OwnershipRegister,
    Takeover,
    Verdict,
    Wait,
    decide_on_kill,
    decide_takeover,
)

JOB = "projects/p/locations/us-central1/jobs/etl-crunch-0123456789-t1"
RUNNING = ["STATE_UNSPECIFIED", "QUEUED", "SCHEDULED", "RUNNING"]
TERMINAL = ["SUCCEEDED", "FAILED", "CANCELLED", "DELETION_IN_PROGRESS"]


def claim(wait: Wait = Wait.WORKER, try_number: int = 1) -> Claim:
    return Claim(JOB, try_number, wait)


# --- decide_takeover: what try 2 does about try 1's claim ---------------------------------------


@pytest.mark.parametrize("reattach", [True, False])
def test_no_claim_means_a_fresh_job(reattach):
    assert decide_takeover(None, 2, "RUNNING", reattach=reattach).action is Takeover.FRESH


@pytest.mark.parametrize("claimed_by", [2, 3])
def test_a_claim_of_this_or_a_later_try_is_not_a_predecessor(claimed_by):
    decision = decide_takeover(claim(try_number=claimed_by), 2, "RUNNING", reattach=True)
    assert decision.action is Takeover.FRESH


@pytest.mark.parametrize("state", RUNNING)
def test_a_worker_try_that_died_is_succeeded_by_adoption(state):
    assert decide_takeover(claim(), 2, state, reattach=True).action is Takeover.ADOPT


@pytest.mark.parametrize("state", RUNNING)
def test_reattach_off_replaces_a_running_job(state):
    assert decide_takeover(claim(), 2, state, reattach=False).action is Takeover.REPLACE


def test_a_claimed_job_that_does_not_exist_is_submitted_to_completion():
    decision = decide_takeover(claim(), 2, None, reattach=True)
    assert decision.action is Takeover.COMPLETE
    assert "CreateJob" in decision.reason


def test_without_reattach_a_missing_job_is_not_completed():
    assert decide_takeover(claim(), 2, None, reattach=False).action is Takeover.FRESH


@pytest.mark.parametrize("wait", list(Wait))
@pytest.mark.parametrize("reattach", [True, False])
def test_a_job_being_cancelled_is_never_adopted(wait, reattach):
    decision = decide_takeover(claim(wait), 2, "CANCELLATION_IN_PROGRESS", reattach=reattach)
    assert decision.action is Takeover.FRESH


@pytest.mark.parametrize("wait", list(Wait))
@pytest.mark.parametrize("state", TERMINAL)
def test_a_job_that_is_over_is_never_adopted(wait, state):
    assert decide_takeover(claim(wait), 2, state, reattach=True).action is Takeover.FRESH


@pytest.mark.parametrize("state", RUNNING)
@pytest.mark.parametrize("reattach", [True, False])
def test_the_job_of_a_deferred_try_is_replaced_never_adopted(state, reattach):
    decision = decide_takeover(claim(Wait.DEFERRED), 2, state, reattach=reattach)
    assert decision.action is Takeover.REPLACE
    assert "deferred" in decision.reason


def test_a_deferred_try_whose_job_is_gone_gets_a_fresh_job():
    assert decide_takeover(claim(Wait.DEFERRED), 2, None, reattach=True).action is Takeover.FRESH


# --- decide_on_kill: what a try being killed does about its job --------------------------------

LIVE_AGAIN = [None, "scheduled", "queued", "running", "deferred", "up_for_retry", "up_for_reschedule"]


@pytest.mark.parametrize("live_state", [*LIVE_AGAIN, *sorted(FINISHED_STATES), "restarting"])
def test_a_try_that_still_reads_its_claim_cancels(live_state):
    # Marked failed/success, execution_timeout, a signal: the same try, the same task-instance id.
    decision = decide_on_kill(True, live_state, live_state_known=True)
    assert decision.action is Verdict.CANCEL


def test_a_try_that_still_reads_its_claim_cancels_even_without_the_state():
    assert decide_on_kill(True, None, live_state_known=False).action is Verdict.CANCEL


@pytest.mark.parametrize("claim_seen", [False, None])
def test_a_user_clear_of_the_running_try_cancels(claim_seen):
    assert decide_on_kill(claim_seen, "restarting", live_state_known=True).action is Verdict.CANCEL


@pytest.mark.parametrize("claim_seen", [False, None])
@pytest.mark.parametrize("finished", sorted(FINISHED_STATES))
def test_when_no_try_waits_any_more_the_job_is_cancelled(claim_seen, finished):
    assert decide_on_kill(claim_seen, finished, live_state_known=True).action is Verdict.CANCEL


@pytest.mark.parametrize("live_state", LIVE_AGAIN)
def test_a_superseded_try_hands_its_job_over(live_state):
    # Scheduler restart (orphan reset) or lost heartbeat: a newer try adopts the job.
    decision = decide_on_kill(False, live_state, live_state_known=True)
    assert decision.action is Verdict.HAND_OVER
    assert "newer try" in decision.reason


@pytest.mark.parametrize("live_state", LIVE_AGAIN)
def test_an_unreadable_claim_with_a_live_task_instance_keeps_the_job(live_state):
    assert decide_on_kill(None, live_state, live_state_known=True).action is Verdict.UNKNOWN


@pytest.mark.parametrize("claim_seen", [False, None])
def test_nothing_readable_keeps_the_job(claim_seen):
    assert decide_on_kill(claim_seen, None, live_state_known=False).action is Verdict.UNKNOWN


# --- the claim record ----------------------------------------------------------------------------


@pytest.mark.parametrize("wait", list(Wait))
def test_claim_round_trips_through_its_stored_value(wait):
    stored = claim(wait, 3).to_value()
    assert stored == {"job": JOB, "try": 3, "wait": wait.value}
    assert Claim.from_value(stored) == claim(wait, 3)


@pytest.mark.parametrize(
    "value",
    [
        None,
        "a string",
        {},
        {"job": "not-a-job-name", "try": 1, "wait": "worker"},
        {"job": JOB, "try": "1", "wait": "worker"},
        {"job": JOB, "try": 1, "wait": "somewhere"},
    ],
)
def test_anything_else_in_the_store_is_no_claim(value):
    assert Claim.from_value(value) is None


def test_without_a_task_state_store_nothing_is_kept_and_a_kill_cancels():
    register = OwnershipRegister.from_context({"ti": object()}, 2)
    assert not register.enabled
    register.claim(JOB)  # nothing to write to: no error
    register.release()
    assert register.read() is None
    assert register.verdict_on_kill(timeout=0.1).action is Verdict.CANCEL


# --- the deferral's own timeout --------------------------------------------------------------------


def test_no_deadline_no_deferral_timeout():
    assert defer_timeout(None) is None


def test_the_deferral_timeout_runs_a_little_past_the_deadline():
    assert defer_timeout(1_000.0, now=400.0) == timedelta(seconds=600 + DEFER_TIMEOUT_GRACE)


def test_a_deadline_already_past_still_leaves_the_trigger_its_grace():
    assert defer_timeout(1_000.0, now=1_500.0) == timedelta(seconds=DEFER_TIMEOUT_GRACE)


def test_a_claim_never_expires_while_its_job_may_run():
    from airflow.sdk import NEVER_EXPIRE

    written = {}

    class Store:
        def set(self, key, value, *, retention=None):
            written[key] = (value, retention)

    OwnershipRegister(Store(), None, 3).claim(JOB, Wait.DEFERRED)
    value, retention = written["batchstream.job"]
    assert value == {"job": JOB, "try": 3, "wait": "deferred"}
    assert retention is NEVER_EXPIRE  # Airflow's store cleanup skips it
