"""Exactly one owner per Batch job through Airflow's own lifecycle actions, on a real Airflow.

One run of ``e2e_batchstream_lifecycle`` (tests/e2e/dags) holds a job RUNNING per task; each test
acts on one task the way a deployment's operator would (Clear through the REST API, a worker
killed, the scheduler killed and restarted), ends the job itself through the emulator's control
call, and then checks the task instance's states and tries and every Batch job of that task
instance, read with the real client. Nothing waits for a fixed time: every step waits for a state.

The old try's own log is checked too: what ``on_kill`` decided, and why, shows what Airflow told
it (a user's Clear leaves the task instance RESTARTING; a scheduler restart re-queues it under a
new id, so the old try no longer sees its claim in the Task State Store).
"""

from __future__ import annotations

import contextlib
import os
import signal
from typing import Any

import pytest

from airflow_batchstream.identity import LINEAGE_KEY, lineage_hash
from tests.e2e.conftest import LOCATION, PROJECT
from tests.e2e.harness import wait_for

DAG = "e2e_batchstream_lifecycle"
#: A job nobody cancelled, on its way to RUNNING or there.
ALIVE = ("QUEUED", "SCHEDULED", "RUNNING")


@pytest.fixture(scope="module")
def run_id(api) -> str:
    """One run; every task holds its job RUNNING until its test ends it."""
    return api.trigger(DAG)


def jobs_of(batch, run_id: str, task_id: str) -> dict[str, str]:
    """Every Batch job of one task instance (any try): job name -> state."""
    lineage = lineage_hash(DAG, task_id, run_id, -1)
    jobs = batch.list_jobs(parent=f"projects/{PROJECT}/locations/{LOCATION}")
    return {job.name: job.status.state.name for job in jobs if job.labels.get(LINEAGE_KEY) == lineage}


def the_job(batch, run_id: str, task_id: str, suffix: str, states=ALIVE) -> str:
    """Wait for the task instance's job ending in ``suffix`` (``-t1``) to be in ``states``."""

    def found() -> str | None:
        named = {n: s for n, s in jobs_of(batch, run_id, task_id).items() if n.endswith(suffix)}
        return next((name for name, state in named.items() if state in states), None)

    return wait_for(found, timeout=180, interval=0.5, what=f"job {task_id}{suffix} in {states}")


def task_instance(api, run_id: str, task_id: str, *, state: str, try_number: int) -> dict[str, Any]:
    """Wait for the task instance to be in ``state`` in try ``try_number``."""

    def reached() -> dict[str, Any] | None:
        api.stack.check_alive()
        ti = api.task_instance(DAG, run_id, task_id)
        return ti if (ti["state"], ti["try_number"]) == (state, try_number) else None

    return wait_for(reached, timeout=240, interval=0.5, what=f"{task_id} {state} in try {try_number}")


def log_says(api, run_id: str, task_id: str, try_number: int, text: str) -> str:
    """Wait for ``text`` in one try's task log; return the log."""

    def logged() -> str | None:
        try:
            log = api.task_log(DAG, run_id, task_id, try_number=try_number)
        except AssertionError:  # not written yet
            return None
        return log if text in log else None

    return wait_for(
        logged, timeout=180, interval=1.0, what=f"{text!r} in the log of {task_id} try {try_number}"
    )


def clear(api, run_id: str, task_id: str) -> None:
    """Clear one task instance, as the UI's Clear button does."""
    body = {"dry_run": False, "dag_run_id": run_id, "task_ids": [task_id], "only_failed": False}
    cleared = api.ok("POST", f"/dags/{DAG}/clearTaskInstances", json={**body, "reset_dag_runs": False})
    assert [ti["task_id"] for ti in cleared["task_instances"]] == [task_id], cleared


#: The e2e DAG whose job is held RUNNING with this marker until cancelled (tests/e2e/dags).
FATE, HOLD = "e2e_batchstream_fate", {"marker": "batchstream-e2e-hold"}


@contextlib.contextmanager
def a_younger_trigger(api):
    """A deferred task, in another DAG, whose trigger is younger than every trigger before it.

    SQLite gives a new row the largest id plus one. Were a cleared try's trigger the youngest, the
    next try's trigger could get its id once Airflow deleted it, and a triggerer that had not yet
    seen it go (Airflow 3.3.2) would keep running the old trigger, with the old job, for the new
    try. A younger trigger alive meanwhile keeps every new id above it.
    """
    fate_run = api.trigger(FATE, conf=HOLD)
    wait_for(
        lambda: api.task_instance(FATE, fate_run, "scripted_job")["state"] == "deferred",
        timeout=180,
        interval=0.5,
        what=f"{FATE} to defer",
    )
    try:
        yield
    finally:
        path = f"/dags/{FATE}/dagRuns/{fate_run}/taskInstances/scripted_job"
        api.ok("PATCH", path, json={"new_state": "failed"})  # its trigger's on_kill cancels its job


def test_clearing_a_deferred_task_gives_the_new_try_a_fresh_job(api, batch, run_id, end_job):
    task = "clear_deferred"
    task_instance(api, run_id, task, state="deferred", try_number=1)
    old = the_job(batch, run_id, task, "-t1", states=("RUNNING",))

    with a_younger_trigger(api):
        clear(api, run_id, task)
        new = the_job(batch, run_id, task, "-t2")
        the_job(batch, run_id, task, "-t1", states=("CANCELLED",))
        task_instance(api, run_id, task, state="deferred", try_number=2)
    end_job(new)

    task_instance(api, run_id, task, state="success", try_number=2)
    assert jobs_of(batch, run_id, task) == {old: "CANCELLED", new: "SUCCEEDED"}


def test_clearing_a_worker_waiting_task_gives_the_new_try_a_fresh_job(api, batch, run_id, end_job):
    task = "clear_worker"
    task_instance(api, run_id, task, state="running", try_number=1)
    old = the_job(batch, run_id, task, "-t1", states=("RUNNING",))

    clear(api, run_id, task)
    # Airflow leaves the cleared try RESTARTING and kills it; its on_kill cancels its own job, and
    # the next try starts once that process has exited.
    log_says(api, run_id, task, 1, "a user cleared the running try")
    new = the_job(batch, run_id, task, "-t2")
    task_instance(api, run_id, task, state="running", try_number=2)
    end_job(new)

    task_instance(api, run_id, task, state="success", try_number=2)
    assert jobs_of(batch, run_id, task) == {old: "CANCELLED", new: "SUCCEEDED"}


def parent_of(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as stat:
        return int(stat.read().rsplit(")", 1)[1].split()[1])


def test_a_lost_worker_is_retried_and_the_retry_adopts_the_job(api, batch, run_id, end_job):
    task = "worker_lost"
    ti = task_instance(api, run_id, task, state="running", try_number=1)
    job = the_job(batch, run_id, task, "-t1", states=("RUNNING",))

    # The task's process and the supervisor (a LocalExecutor worker) above it die without a word.
    task_pid = ti["pid"]
    supervisor = parent_of(task_pid)
    assert supervisor not in (os.getpid(), api.stack.service("scheduler").process.pid)
    os.kill(supervisor, signal.SIGKILL)
    os.kill(task_pid, signal.SIGKILL)

    # Its heartbeat stops; Airflow fails the try and retries it; the retry adopts the running job.
    log_says(api, run_id, task, 2, f"Re-attaching to Batch job {job} of try 1")
    end_job(job)

    task_instance(api, run_id, task, state="success", try_number=2)
    assert jobs_of(batch, run_id, task) == {job: "SUCCEEDED"}


def test_a_scheduler_restart_hands_the_waiting_jobs_to_the_new_tries(api, batch, run_id, end_job):
    tasks = ["scheduler_restart_a", "scheduler_restart_b"]
    jobs = {}
    for task in tasks:
        task_instance(api, run_id, task, state="running", try_number=1)
        jobs[task] = the_job(batch, run_id, task, "-t1", states=("RUNNING",))

    # Only the scheduler's own process dies; its LocalExecutor workers and their tasks live on.
    stack = api.stack
    stack.service("scheduler").kill_leader()
    # The new scheduler resets the tasks of the dead one (as orphans) once that one's heartbeat is
    # older than the health threshold, and looks for them every 2 s.
    stack.restart(
        "scheduler",
        AIRFLOW__SCHEDULER__ORPHANED_TASKS_CHECK_INTERVAL="2",
        AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_THRESHOLD="20",
    )
    for task in tasks:
        # The reset starts try 2 while try 1's process still lives: try 2 adopts the job, and
        # try 1, killed once Airflow refuses its heartbeat, leaves it running.
        log_says(api, run_id, task, 2, f"Re-attaching to Batch job {jobs[task]} of try 1")
        log_says(api, run_id, task, 1, f"Batch job {jobs[task]} left running")
    for task in tasks:
        task_instance(api, run_id, task, state="running", try_number=2)
        end_job(jobs[task])

    for task in tasks:
        task_instance(api, run_id, task, state="success", try_number=2)
        assert jobs_of(batch, run_id, task) == {jobs[task]: "SUCCEEDED"}
    assert api.wait_for_run(DAG, run_id)["state"] == "success"
