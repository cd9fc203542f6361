"""The example DAGs in dags/, run by a real Airflow against the Batch emulator, as a user runs them.

Each test looks where the user looks: DAG run and task states, the task log and extra links through
the REST API, and the jobs themselves through the real google-cloud-batch client.
"""

from __future__ import annotations

import re
import time

import pytest

from tests.e2e.conftest import LOCATION, PROJECT
from tests.e2e.harness import wait_for

PARTITIONED = "example_batchstream_partitioned"
ARRAY_AND_MAPPING = "example_batchstream_array_and_mapping"
SENSOR = "example_batchstream_sensor"
PREFLIGHT = "example_batchstream_preflight"
FATE = "e2e_batchstream_fate"
TRIGGER_CLASS = "airflow_batchstream.triggers.BatchStreamJobTrigger"


def jobs(batch) -> list:
    """Every job the emulator holds for the examples' project and location."""
    return list(batch.list_jobs(parent=f"projects/{PROJECT}/locations/{LOCATION}"))


def commands_of(job) -> list[str]:
    """The container commands of a job's first runnable."""
    return list(job.task_groups[0].task_spec.runnables[0].container.commands)


def job_named(batch, name: str):
    return batch.get_job(name=name)


def watch_task(api, dag_id: str, run_id: str, task_id: str, timeout: float = 180.0) -> list[str]:
    """Poll one task instance until its run finishes; return the distinct states seen, in order."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        api.stack.check_alive()
        response = api.request("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}")
        if response.status_code == 200:
            state = response.json()["state"]
            if state and (not seen or seen[-1] != state):
                seen.append(state)
        if api.dag_run(dag_id, run_id)["state"] in ("success", "failed"):
            return seen
        time.sleep(0.5)
    raise TimeoutError(f"{dag_id} {run_id} did not finish; states seen: {seen}")


def summary_of(api, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> dict:
    summary = api.xcom(dag_id, run_id, task_id, map_index=map_index)
    assert isinstance(summary, dict), summary
    return summary


# --- every example succeeds -----------------------------------------------------------------------


def test_partitioned_example_runs_one_job_for_its_date(api, batch):
    run_id = api.trigger(PARTITIONED, logical_date="2023-05-17T00:00:00Z")
    states = watch_task(api, PARTITIONED, run_id, "process_partition")
    assert api.dag_run(PARTITIONED, run_id)["state"] == "success", states
    # Deferrable by default ([operators] default_deferrable): the wait happened in the triggerer.
    assert "deferred" in states, states

    summary = summary_of(api, PARTITIONED, run_id, "process_partition")
    assert summary["state"] == "SUCCEEDED"
    job = job_named(batch, summary["job_name"])
    assert job.status.state.name == "SUCCEEDED"
    assert commands_of(job)[-2:] == ["--date", "2023-05-17"]


def test_array_and_mapping_example_runs_one_array_job_and_one_job_per_input(api, batch):
    run_id = api.trigger(ARRAY_AND_MAPPING)
    run = api.wait_for_run(ARRAY_AND_MAPPING, run_id)
    assert run["state"] == "success"

    array = job_named(batch, summary_of(api, ARRAY_AND_MAPPING, run_id, "shard_array")["job_name"])
    assert array.task_groups[0].task_count == 4
    assert array.status.state.name == "SUCCEEDED"

    mapped = [ti for ti in api.task_instances(ARRAY_AND_MAPPING, run_id) if ti["task_id"] == "per_table"]
    assert sorted(ti["map_index"] for ti in mapped) == [0, 1, 2]
    assert {ti["state"] for ti in mapped} == {"success"}
    tables = set()
    names = set()
    for ti in mapped:
        summary = summary_of(api, ARRAY_AND_MAPPING, run_id, "per_table", map_index=ti["map_index"])
        names.add(summary["job_name"])
        tables.add(commands_of(job_named(batch, summary["job_name"]))[-1])
    assert len(names) == 3, "each mapped task instance must submit its own job"
    assert tables == {"orders", "customers", "invoices"}


def test_sensor_example_waits_on_the_submitted_job(api, batch):
    run_id = api.trigger(SENSOR)
    run = api.wait_for_run(SENSOR, run_id)
    assert run["state"] == "success"
    tis = {ti["task_id"]: ti for ti in api.task_instances(SENSOR, run_id)}
    assert {ti["state"] for ti in tis.values()} == {"success"}, tis


def test_preflight_example_defers_to_the_triggerer(api, batch):
    run_id = api.trigger(PREFLIGHT)
    task_id = "streamed_job"
    states = watch_task(api, PREFLIGHT, run_id, task_id)
    assert api.dag_run(PREFLIGHT, run_id)["state"] == "success", states
    assert "deferred" in states, states
    summary = summary_of(api, PREFLIGHT, run_id, task_id)
    assert job_named(batch, summary["job_name"]).status.state.name == "SUCCEEDED"
    # The task resumed after the trigger fired: one try, not a retry.
    assert api.task_instance(PREFLIGHT, run_id, task_id)["try_number"] == 1


# --- a backfill, as the UI creates it ------------------------------------------------------------


def test_backfill_submits_one_job_per_date(api, batch):
    dates = ["2024-03-01", "2024-03-02", "2024-03-03"]
    api.unpause(PARTITIONED)
    backfill = api.ok(
        "POST",
        "/backfills",
        json={
            "dag_id": PARTITIONED,
            "from_date": f"{dates[0]}T00:00:00Z",
            "to_date": f"{dates[-1]}T00:00:00Z",
            "max_active_runs": 3,
        },
    )

    def backfill_runs():
        runs = api.ok("GET", f"/dags/{PARTITIONED}/dagRuns", params={"run_type": "backfill", "limit": 50})
        ours = [r for r in runs["dag_runs"] if r["logical_date"][:10] in dates]
        done = len(ours) == len(dates) and all(r["state"] in ("success", "failed") for r in ours)
        return ours if done else None

    runs = wait_for(backfill_runs, timeout=300, interval=2, what=f"backfill {backfill['id']}")
    assert sorted(r["logical_date"][:10] for r in runs) == dates
    assert {r["state"] for r in runs} == {"success"}, runs

    per_date = {date: [] for date in dates}
    for job in jobs(batch):
        command = commands_of(job)
        if "etl.daily" in command and command[-1] in per_date:
            per_date[command[-1]].append(job.name)
    assert {date: len(names) for date, names in per_date.items()} == dict.fromkeys(dates, 1), per_date


# --- deferral, kill, failure diagnosis, links ----------------------------------------------------


def _wait_for_state(api, dag_id, run_id, task_id, state, timeout=120.0) -> dict:
    def reached():
        api.stack.check_alive()
        ti = api.task_instance(dag_id, run_id, task_id)
        if ti["state"] in ("failed", "success") and state not in ("failed", "success"):
            raise AssertionError(f"{task_id} ended {ti['state']} before reaching {state}")
        return ti if ti["state"] == state else None

    return wait_for(reached, timeout=timeout, interval=0.5, what=f"{task_id} to be {state}")


def test_marking_a_deferred_task_failed_cancels_its_job(api, batch):
    run_id = api.trigger(FATE, conf={"marker": "batchstream-e2e-hold"})
    ti = _wait_for_state(api, FATE, run_id, "scripted_job", "deferred")
    # Deferred means the triggerer holds it: the trigger is ours and a triggerer job picked it up.
    assert ti["trigger"]["classpath"] == TRIGGER_CLASS
    ti = wait_for(
        lambda: (t := api.task_instance(FATE, run_id, "scripted_job"))["triggerer_job"] and t,
        timeout=60,
        what="a triggerer to take the trigger",
    )
    assert ti["triggerer_job"]["job_type"] == "TriggererJob"

    running = wait_for(
        lambda: [j for j in jobs(batch) if "batchstream-e2e-hold" in " ".join(commands_of(j))],
        timeout=60,
        what="the held job in the emulator",
    )
    assert len(running) == 1
    name = running[0].name

    api.ok(
        "PATCH",
        f"/dags/{FATE}/dagRuns/{run_id}/taskInstances/scripted_job",
        json={"new_state": "failed"},
    )
    cancelled = wait_for(
        lambda: job_named(batch, name).status.state.name == "CANCELLED",
        timeout=90,
        what=f"{name} to be cancelled",
    )
    assert cancelled
    assert api.task_instance(FATE, run_id, "scripted_job")["state"] == "failed"


def test_a_failed_job_is_diagnosed_in_the_task_log(api, batch):
    run_id = api.trigger(FATE, conf={"marker": "batchstream-e2e-fail"})
    run = api.wait_for_run(FATE, run_id)
    assert run["state"] == "failed"
    ti = api.task_instance(FATE, run_id, "scripted_job")
    assert ti["state"] == "failed"

    log = api.task_log(FATE, run_id, "scripted_job", try_number=ti["try_number"])
    # The emulator's scenario makes task index 1 exit with code 3; the log must say exactly that.
    assert re.search(r"task[ _-]?(index)?\D{0,5}1\b", log, re.IGNORECASE), log[-3000:]
    assert re.search(r"exit[ _-]?code\D{0,5}3\b", log, re.IGNORECASE), log[-3000:]


def test_extra_links_point_at_the_job_and_its_logs(api, batch):
    run_id = api.trigger(FATE, conf={"marker": "batchstream-e2e-ok"})
    assert api.wait_for_run(FATE, run_id)["state"] == "success"
    summary = summary_of(api, FATE, run_id, "scripted_job")
    job_id = summary["job_name"].rsplit("/", 1)[-1]

    links = api.ok("GET", f"/dags/{FATE}/dagRuns/{run_id}/taskInstances/scripted_job/links")
    extra = links["extra_links"]
    assert set(extra) >= {"Batch Job", "Batch Logs"}, extra
    assert extra["Batch Job"].startswith("https://console.cloud.google.com/")
    assert job_id in extra["Batch Job"] and PROJECT in extra["Batch Job"]
    assert extra["Batch Logs"].startswith("https://console.cloud.google.com/")
    assert PROJECT in extra["Batch Logs"]


@pytest.mark.parametrize("dag_id", [PARTITIONED, ARRAY_AND_MAPPING, SENSOR, PREFLIGHT])
def test_examples_are_documented_in_the_ui(api, dag_id):
    details = api.ok("GET", f"/dags/{dag_id}/details")
    assert details["doc_md"], f"{dag_id} has no documentation"
    assert "example" in {tag["name"] for tag in details["tags"]}
