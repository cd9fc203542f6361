"""What a job's tasks print, in the Airflow task log read through the REST API: awaited in the worker
and deferred to the triggerer, and at the end of a failed job's diagnosis."""

from __future__ import annotations

import re

import pytest

DAG_ID = "e2e_batchstream_logs"
TASK_COUNT = 3


@pytest.fixture(scope="module")
def run(api) -> str:
    api.wait_for_dag(DAG_ID)
    api.unpause(DAG_ID)
    run_id = api.trigger(DAG_ID)
    api.wait_for_run(DAG_ID, run_id)
    return run_id


def task_log(api, run_id: str, task_id: str) -> str:
    ti = api.task_instance(DAG_ID, run_id, task_id)
    # Entries come as JSON: unescape the newlines of multi-line messages.
    return api.task_log(DAG_ID, run_id, task_id, try_number=ti["try_number"]).replace("\\n", "\n")


def assert_each_task_printed_in_order(log: str) -> None:
    for task in range(TASK_COUNT):
        first = log.find(f"[task {task}] part {task}: 10 rows in")
        second = log.find(f"[task {task} stderr] part {task}: 1 row skipped")
        assert 0 <= first < second, (task, log[-4000:])
        assert log.count(f"[task {task}] part {task}: 10 rows in") == 1, log[-4000:]


@pytest.mark.parametrize("task_id", ["in_worker", "deferred"])
def test_the_lines_each_task_printed_are_in_the_task_log(api, run, task_id):
    assert api.task_instance(DAG_ID, run, task_id)["state"] == "success"
    log = task_log(api, run, task_id)
    assert_each_task_printed_in_order(log)
    # Progress: one line per change, not per poll.
    assert log.count("is RUNNING: 0/3 tasks succeeded, 3 running") == 1, log[-4000:]
    assert "SUCCEEDED: 3/3 tasks succeeded" in log


def test_the_lines_of_a_deferred_wait_come_from_the_triggerer(api, run):
    log = task_log(api, run, "deferred")
    assert "Pausing task as DEFERRED" in log
    deferred_at = log.find("Pausing task as DEFERRED")
    assert log.find("[task 0] part 0: 10 rows in") > deferred_at


def test_a_failed_job_message_ends_with_the_failing_task_last_lines(api, run):
    assert api.task_instance(DAG_ID, run, "deferred_failing")["state"] == "failed"
    log = task_log(api, run, "deferred_failing")
    assert re.search(
        r"Task index 2 failed with exit code 4.*\n.*Last lines task 2 printed:\n"
        r"\s*\[task 2\] reading part 2\n"
        r"\s*\[task 2 stderr\] Traceback \(most recent call last\):\n\s*\[task 2 stderr\] KeyError: 'price'",
        log,
        re.DOTALL,
    ), log[-5000:]
    # Airflow prints the trigger's event whole: it carries facts, not the worded diagnosis again.
    fired = next(line for line in log.splitlines() if "Trigger fired event" in line)
    assert "Last lines task 2 printed" not in fired and "what to do" not in fired, fired
