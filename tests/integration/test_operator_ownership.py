"""Which try owns the Batch job, across the lifecycle actions Airflow takes on a task instance.

The operator runs for real against the emulator; the task instance is a
:class:`~tests.fixtures.airflow.LiveTaskInstance`, which answers the Task State Store and the live
state the way Airflow 3.3's API server does for a live or a superseded try. Each test plays one
row of :mod:`airflow_batchstream.ownership`'s table; tests/e2e plays them on a real Airflow.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from airflow_batchstream.exceptions import JobCancelled, TriggerEventMissing
from airflow_batchstream.operators import BatchStreamJobOperator
from airflow_batchstream.ownership import CLAIM_KEY
from tests.fixtures.airflow import LiveTaskInstance, operator, rebuild, run_trigger

HOLD = {"rules": [{"match": {"command": "app"}, "stay_running": True}]}
#: A job nobody cancelled, on its way to RUNNING or there.
ALIVE = ("QUEUED", "SCHEDULED", "RUNNING")


class Try:
    """One try of the task instance, executing in a thread as a worker would run it."""

    def __init__(self, instance: LiveTaskInstance, op: BatchStreamJobOperator | None = None) -> None:
        self.op = op or operator()
        self.context = instance.context()
        self.outcome: dict[str, Any] = {}
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.outcome["result"] = self.op.execute(self.context)
        except BaseException as exc:
            self.outcome["error"] = exc

    def join(self) -> dict[str, Any]:
        self.thread.join(30)
        assert not self.thread.is_alive(), "the try never ended"
        return self.outcome


def wait_until(predicate, what: str, timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def waiting_in_worker(attempt: Try, emulator) -> str:
    """The job the try waits for, once it is running and claimed."""
    return wait_until(lambda: attempt.op._job_name and emulator.jobs() and attempt.op._job_name, "the wait")


def state_of(emulator, name: str) -> str:
    return emulator.job(name).status.state.name


def deferred_first_try(instance: LiveTaskInstance, emulator, **overrides: Any) -> str:
    """Try 1 submits a held job and defers (its triggerer never runs here); the job's name."""
    from airflow.sdk.exceptions import TaskDeferred

    emulator.set_scenario(HOLD)
    with pytest.raises(TaskDeferred):
        operator(deferrable=True, **overrides).execute(instance.context())
    return emulator.jobs()[0].name


def test_a_retry_adopts_the_running_job_of_a_try_that_died(gcp_env, emulator):
    # Worker lost, or the scheduler reset the task instance: try 1 never said goodbye.
    emulator.set_scenario(HOLD)
    instance = LiveTaskInstance()
    first = Try(instance)
    job = waiting_in_worker(first, emulator)
    instance.supersede("running")  # try 2 starts (try 1's process may even still be alive)

    second = Try(instance)
    wait_until(lambda: instance.values[CLAIM_KEY]["try"] == 2, "try 2's claim")
    # Airflow now kills try 1 (its heartbeat is refused): it must leave try 2's job running.
    first.op.on_kill()
    assert state_of(emulator, job) in ALIVE
    assert emulator.call_counts.get("CancelJob", 0) == 0
    emulator.finish_job(job)

    assert second.join()["result"]["job_name"] == job
    assert [j.name for j in emulator.jobs()] == [job]  # one job for the task instance
    # Rendered Templates shows the adopted job as Batch holds it: try 1's, without its status.
    shown = second.op.submitted_job
    assert shown["labels"]["airflow-try"] == "1" and "status" not in shown
    assert shown["taskGroups"][0]["taskSpec"]["runnables"][0]["container"]["enableImageStreaming"] is True
    assert emulator.call_counts["CreateJob"] == 1
    assert CLAIM_KEY not in instance.values  # released once the job ended
    first.join()  # the old try saw the same end; its refused release changed nothing


def test_clearing_a_worker_waiting_try_cancels_its_job_and_the_next_try_starts_fresh(gcp_env, emulator):
    emulator.set_scenario(HOLD)
    instance = LiveTaskInstance()
    first = Try(instance)
    old = waiting_in_worker(first, emulator)
    instance.supersede("restarting")  # a user's Clear of a running task instance
    first.op.on_kill()
    assert state_of(emulator, old) in ("CANCELLATION_IN_PROGRESS", "CANCELLED")
    assert isinstance(first.join().get("error"), JobCancelled)

    instance.state = "running"  # Airflow starts try 2 once try 1's process has exited
    second = Try(instance)
    new = waiting_in_worker(second, emulator)
    assert new != old and new.endswith("-t2")  # never the job being cancelled
    emulator.finish_job(new)
    assert second.join()["result"]["state"] == "SUCCEEDED"


@pytest.mark.parametrize("marked", ["failed", "success"])
def test_marking_the_live_try_cancels_its_job(gcp_env, emulator, marked):
    emulator.set_scenario(HOLD)
    instance = LiveTaskInstance()
    attempt = Try(instance)
    job = waiting_in_worker(attempt, emulator)
    instance.state = marked  # same try, same id: the try still reads its claim
    attempt.op.on_kill()
    assert state_of(emulator, job) in ("CANCELLATION_IN_PROGRESS", "CANCELLED")
    attempt.join()


def test_a_try_that_cannot_tell_who_owns_the_job_leaves_it_running(gcp_env, emulator):
    emulator.set_scenario(HOLD)
    instance = LiveTaskInstance()
    attempt = Try(instance)
    job = waiting_in_worker(attempt, emulator)
    instance.supersede("running")
    attempt.context["ti"].instance = None  # its task-instance state cannot be read either
    attempt.op.on_kill()
    assert state_of(emulator, job) in ALIVE
    assert emulator.call_counts.get("CancelJob", 0) == 0
    emulator.finish_job(job)
    attempt.join()


def test_a_new_try_never_adopts_the_job_of_a_deferred_try_it_replaces(gcp_env, emulator):
    instance = LiveTaskInstance()
    old = deferred_first_try(instance, emulator)
    assert instance.values[CLAIM_KEY]["wait"] == "deferred"
    instance.supersede(None)  # a user's Clear of the deferred task instance

    second = Try(instance)
    new = waiting_in_worker(second, emulator)
    assert new != old
    assert state_of(emulator, old) in ("CANCELLATION_IN_PROGRESS", "CANCELLED")
    emulator.finish_job(new)
    assert second.join()["result"]["job_name"] == new


def test_reattach_off_replaces_the_job_of_a_try_that_died(gcp_env, emulator):
    emulator.set_scenario(HOLD)
    instance = LiveTaskInstance()
    first = Try(instance, operator(reattach=False))
    old = waiting_in_worker(first, emulator)
    instance.supersede("running")

    second = Try(instance, operator(reattach=False))
    new = waiting_in_worker(second, emulator)
    assert new != old
    assert state_of(emulator, old) in ("CANCELLATION_IN_PROGRESS", "CANCELLED")
    emulator.finish_job(new)
    assert second.join()["result"]["job_name"] == new
    first.join()


def test_a_submission_interrupted_in_createjob_is_completed_into_one_job(gcp_env, emulator):
    # Try 1 claims its job, then its CreateJob keeps failing with UNAVAILABLE (before taking effect)
    # when the scheduler resets the task instance: try 2 finds the claim but no job.
    emulator.set_scenario(HOLD)
    emulator.set_faults(fraction=1.0, codes=("UNAVAILABLE",), rpcs=["CreateJob"])
    instance = LiveTaskInstance()
    first = Try(instance)
    wait_until(
        lambda: CLAIM_KEY in instance.values and emulator.call_counts.get("CreateJob"), "try 1's create"
    )
    claimed = instance.values[CLAIM_KEY]["job"]
    instance.supersede("running")
    emulator.set_faults()

    second = Try(instance)
    adopted = waiting_in_worker(second, emulator)
    assert adopted == claimed and adopted.endswith("-t1")  # try 1's id, hence its request id
    # Try 1's own create lands too (it retries with the same request id): still one job.
    wait_until(lambda: first.op._job_name, "try 1's retried create")
    assert first.op._job_name == claimed
    assert [j.name for j in emulator.jobs()] == [claimed]
    emulator.finish_job(claimed)
    assert second.join()["result"]["job_name"] == claimed
    first.join()


def test_a_deferral_that_ends_without_an_event_cancels_its_job(gcp_env, emulator):
    from airflow.sdk.bases.operator import TRIGGER_FAIL_REPR
    from airflow.sdk.exceptions import TaskDeferralTimeout

    instance = LiveTaskInstance()
    job = deferred_first_try(instance, emulator, timeout=3600)
    # No triggerer ran; Airflow's deferral timeout resumes the task to fail it.
    with pytest.raises(TaskDeferralTimeout):
        operator(deferrable=True).resume_execution(
            TRIGGER_FAIL_REPR, {"error": "Trigger timeout"}, instance.context()
        )
    assert state_of(emulator, job) in ("CANCELLATION_IN_PROGRESS", "CANCELLED")
    assert CLAIM_KEY not in instance.values


def test_the_deferred_wait_releases_its_claim_when_the_job_ends(gcp_env, emulator):
    from airflow.sdk.exceptions import TaskDeferred

    instance = LiveTaskInstance()
    op = operator(deferrable=True)
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(instance.context())
    payload = run_trigger(rebuild(deferred.value.trigger))
    result = op.resume_execution("execute_complete", {"event": payload}, instance.context())
    assert result["state"] == "SUCCEEDED"
    assert CLAIM_KEY not in instance.values


def test_a_missing_event_names_the_claimed_job(gcp_env, emulator):
    instance = LiveTaskInstance()
    job = deferred_first_try(instance, emulator)
    with pytest.raises(TriggerEventMissing, match=job):
        operator(deferrable=True).execute_complete(instance.context(), event=None)
    assert state_of(emulator, job) in ALIVE  # its fate is the next try's decision
