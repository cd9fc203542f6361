"""The example DAGs in dags/, run by a real Airflow against the Batch emulator, as a user runs them.

Each test looks where the user looks: DAG run and task states, the task log and extra links through
the REST API, and the jobs themselves through the real google-cloud-batch client. Every run is
started up front by one fixture (the UI's trigger and backfill calls), so the jobs overlap and the
module takes about as long as its slowest run, not the sum of them.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from urllib.parse import unquote

import pytest

from airflow_batchstream.links import BatchStreamJobLink, BatchStreamLogsLink
from tests.e2e.conftest import DEFAULT_IMAGE_NAME, GPU_IMAGE_NAME, LOCATION, PROJECT
from tests.e2e.harness import wait_for

PARTITIONED = "example_batchstream_partitioned"
ARRAY_AND_MAPPING = "example_batchstream_array_and_mapping"
SENSOR = "example_batchstream_sensor"
PREFLIGHT = "example_batchstream_preflight"
GPU = "example_batchstream_gpu_inference"
FATE = "e2e_batchstream_fate"
TRIGGER_CLASS = "airflow_batchstream.triggers.BatchStreamJobTrigger"

#: A manual run for this logical date processes the last complete day before it.
TRIGGER_DATE, PARTITION_DATE = "2024-05-17", "2024-05-16"
#: A manual run on this Monday scores the complete week before it, which starts on GPU_WEEK.
GPU_TRIGGER_DATE, GPU_WEEK = "2024-05-13", "2024-05-06"
BACKFILL_DATES = ["2024-03-01", "2024-03-02", "2024-03-03"]

#: Airflow's own task-log lines for a task that deferred and whose trigger ran in the triggerer.
DEFERRED_LINE = "Pausing task as DEFERRED"
TRIGGER_FIRED_LINE = "Trigger fired event"


@pytest.fixture(scope="module")
def runs(api) -> dict:
    """Trigger every run the tests inspect, all at once; return their run ids (and the backfill)."""
    started = {
        "partitioned": api.trigger(PARTITIONED, logical_date=f"{TRIGGER_DATE}T00:00:00Z"),
        "array": api.trigger(ARRAY_AND_MAPPING),
        "sensor": api.trigger(SENSOR),
        "preflight": api.trigger(PREFLIGHT),
        "gpu": api.trigger(GPU, logical_date=f"{GPU_TRIGGER_DATE}T00:00:00Z"),
        "fail": api.trigger(FATE, conf={"marker": "batchstream-e2e-fail"}),
        "ok": api.trigger(FATE, conf={"marker": "batchstream-e2e-ok"}),
        "hold": api.trigger(FATE, conf={"marker": "batchstream-e2e-hold"}),
    }
    # A backfill the way the UI creates one: one request for a range of logical dates.
    started["backfill"] = api.ok(
        "POST",
        "/backfills",
        json={
            "dag_id": PARTITIONED,
            "from_date": f"{BACKFILL_DATES[0]}T00:00:00Z",
            "to_date": f"{BACKFILL_DATES[-1]}T00:00:00Z",
            "max_active_runs": 3,
        },
    )
    return started


def jobs(batch) -> list:
    """Every job the emulator holds for the examples' project and location."""
    return list(batch.list_jobs(parent=f"projects/{PROJECT}/locations/{LOCATION}"))


def commands_of(job) -> list[str]:
    """The container commands of a job's first runnable."""
    return list(job.task_groups[0].task_spec.runnables[0].container.commands)


def job_named(batch, name: str):
    return batch.get_job(name=name)


def summary_of(api, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> dict:
    summary = api.xcom(dag_id, run_id, task_id, map_index=map_index)
    assert isinstance(summary, dict), summary
    return summary


def assert_deferred_to_the_triggerer(api, dag_id: str, run_id: str, task_id: str) -> None:
    """The task's log shows it deferred, its trigger fired in the triggerer, and it resumed in try 1."""
    ti = api.task_instance(dag_id, run_id, task_id)
    assert ti["try_number"] == 1, "the task resumed after its trigger fired: no retry"
    log = api.task_log(dag_id, run_id, task_id)
    assert DEFERRED_LINE in log, log[-3000:]
    assert TRIGGER_FIRED_LINE in log, log[-3000:]


def _wait_for_state(api, dag_id, run_id, task_id, state, timeout=180.0) -> dict:
    def reached():
        api.stack.check_alive()
        ti = api.task_instance(dag_id, run_id, task_id)
        if ti["state"] in ("failed", "success") and state not in ("failed", "success"):
            raise AssertionError(f"{task_id} ended {ti['state']} before reaching {state}")
        return ti if ti["state"] == state else None

    return wait_for(reached, timeout=timeout, interval=0.5, what=f"{task_id} to be {state}")


# --- every example succeeds -----------------------------------------------------------------------


def test_partitioned_example_runs_one_job_for_its_date(api, batch, runs):
    run_id = runs["partitioned"]
    assert api.wait_for_run(PARTITIONED, run_id)["state"] == "success"
    # Deferrable by default ([operators] default_deferrable): the wait happened in the triggerer.
    assert_deferred_to_the_triggerer(api, PARTITIONED, run_id, "process_partition")

    summary = summary_of(api, PARTITIONED, run_id, "process_partition")
    assert summary["state"] == "SUCCEEDED"
    job = job_named(batch, summary["job_name"])
    assert job.status.state.name == "SUCCEEDED"
    assert commands_of(job)[-2:] == ["--date", PARTITION_DATE]


def test_partitioned_example_schedules_the_previous_complete_day(api, batch, runs):
    # Unpausing it (the trigger above did) makes the scheduler create the run of the latest
    # complete interval at once (catchup=False): the day that ended at the last midnight.
    def scheduled():
        listed = api.ok("GET", f"/dags/{PARTITIONED}/dagRuns", params={"run_type": "scheduled"})
        return listed["dag_runs"] or None

    listed = wait_for(scheduled, timeout=120, interval=2, what=f"a scheduled run of {PARTITIONED}")[0]
    run = api.wait_for_run(PARTITIONED, listed["dag_run_id"])
    assert run["state"] == "success"
    start = datetime.fromisoformat(run["data_interval_start"])
    end = datetime.fromisoformat(run["data_interval_end"])
    summary = summary_of(api, PARTITIONED, run["dag_run_id"], "process_partition")
    processed = commands_of(job_named(batch, summary["job_name"]))[-1]
    # One whole UTC day, over before the run began, and the one its job was given.
    assert (start.hour, start.minute, end - start) == (0, 0, timedelta(days=1))
    assert end <= datetime.fromisoformat(run["start_date"])
    assert processed == start.date().isoformat()
    assert datetime.fromisoformat(run["run_after"]) - end < timedelta(days=1), "the latest complete day"


def test_array_and_mapping_example_runs_one_array_job_and_one_job_per_input(api, batch, runs):
    run_id = runs["array"]
    assert api.wait_for_run(ARRAY_AND_MAPPING, run_id)["state"] == "success"

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


def test_sensor_example_waits_on_the_submitted_job(api, batch, runs, end_job):
    run_id = runs["sensor"]
    # The scenario holds the job RUNNING: the sensor's first check finds it running and the
    # sensor defers, however long its worker took to start; then the test ends the job.
    _wait_for_state(api, SENSOR, run_id, "wait_for_job", "deferred")
    submitted = summary_of(api, SENSOR, run_id, "submit")
    assert job_named(batch, submitted["job_name"]).status.state.name == "RUNNING"
    end_job(submitted["job_name"])

    assert api.wait_for_run(SENSOR, run_id)["state"] == "success"
    tis = {ti["task_id"]: ti for ti in api.task_instances(SENSOR, run_id)}
    assert {ti["state"] for ti in tis.values()} == {"success"}, tis
    sensed = summary_of(api, SENSOR, run_id, "wait_for_job")
    # The operator returned right after submission; the sensor saw the same job end.
    assert submitted["state"] != "SUCCEEDED"
    assert sensed["job_name"] == submitted["job_name"]
    assert sensed["state"] == "SUCCEEDED"
    assert_deferred_to_the_triggerer(api, SENSOR, run_id, "wait_for_job")


def test_preflight_example_checks_pins_and_defers(api, batch, runs, e2e_registry):
    run_id = runs["preflight"]
    task_id = "streamed_job"
    assert api.wait_for_run(PREFLIGHT, run_id)["state"] == "success"
    assert_deferred_to_the_triggerer(api, PREFLIGHT, run_id, task_id)
    summary = summary_of(api, PREFLIGHT, run_id, task_id)
    job = job_named(batch, summary["job_name"])
    assert job.status.state.name == "SUCCEEDED"
    image = job.task_groups[0].task_spec.runnables[0].container.image_uri
    if e2e_registry is None:
        # No registry at all: the preflight says it skipped rather than failing, and pins nothing.
        assert "preflight skipped" in api.task_log(PREFLIGHT, run_id, task_id)
        assert "@sha256:" not in image
        pytest.skip("docker-registry is not installed: the preflight and pinning were not exercised")
    _, digest = e2e_registry
    # The image was read from the registry and the job runs exactly the manifest that was checked.
    assert image == f"us-central1-docker.pkg.dev/{DEFAULT_IMAGE_NAME}@{digest}"  # IMAGE@DIGEST, no tag
    assert summary["image_digest"] == digest


def test_gpu_example_runs_a_week_of_partitions_as_one_flex_start_array_job(api, batch, runs, e2e_registry):
    run_id, task_id = runs["gpu"], "score_week"
    assert api.wait_for_run(GPU, run_id)["state"] == "success"
    assert_deferred_to_the_triggerer(api, GPU, run_id, task_id)
    summary = summary_of(api, GPU, run_id, task_id)
    assert summary["state"] == "SUCCEEDED"
    assert summary["task_counts"] == {"SUCCEEDED": 7}
    job = job_named(batch, summary["job_name"])
    group = job.task_groups[0]
    assert group.task_count == 7 and group.parallelism == 7
    assert group.task_spec.environment.variables["START_DATE"] == GPU_WEEK
    assert "$BATCH_TASK_INDEX" in commands_of(job)[-1]
    instance = job.allocation_policy.instances[0]
    assert instance.install_gpu_drivers is True  # on by default for a GPU machine type
    assert instance.policy.machine_type == "g2-standard-8"
    assert instance.policy.provisioning_model.name == "FLEX_START"
    assert instance.policy.boot_disk.size_gb == 100
    container = group.task_spec.runnables[0].container
    assert container.enable_image_streaming and not container.options  # no --gpus: streaming forbids it
    log = api.task_log(GPU, run_id, task_id)
    assert "GPU-STREAMING" in log, log[-3000:]  # the undocumented part is said, not hidden
    if e2e_registry is None:
        assert "preflight skipped" in log
        pytest.skip("docker-registry is not installed: the preflight and pinning were not exercised")
    assert container.image_uri.startswith(f"us-central1-docker.pkg.dev/{GPU_IMAGE_NAME}@sha256:")
    assert summary["image_digest"] == container.image_uri.split("@", 1)[1]
    assert re.search(r"2 layers, [0-9.]+ [KM]?i?B compressed, streamed", log), log[-3000:]
    assert "boot disk: 100 GB, pd-balanced, image Batch's default image" in log


# --- a backfill, as the UI creates it ------------------------------------------------------------


def test_backfill_submits_one_job_per_date(api, batch, runs):
    backfill = runs["backfill"]

    def backfill_runs():
        listed = api.ok("GET", f"/dags/{PARTITIONED}/dagRuns", params={"run_type": "backfill", "limit": 50})
        ours = [r for r in listed["dag_runs"] if r["logical_date"][:10] in BACKFILL_DATES]
        done = len(ours) == len(BACKFILL_DATES) and all(r["state"] in ("success", "failed") for r in ours)
        return ours if done else None

    finished = wait_for(backfill_runs, timeout=300, interval=2, what=f"backfill {backfill['id']}")
    assert sorted(r["logical_date"][:10] for r in finished) == BACKFILL_DATES
    assert {r["state"] for r in finished} == {"success"}, finished

    per_date = {date: [] for date in BACKFILL_DATES}
    for job in jobs(batch):
        command = commands_of(job)
        if "etl.daily" in command and command[-1] in per_date:
            per_date[command[-1]].append(job.name)
    counts = {date: len(names) for date, names in per_date.items()}
    assert counts == dict.fromkeys(BACKFILL_DATES, 1), per_date


# --- deferral, kill, failure diagnosis, links ----------------------------------------------------


def test_marking_a_deferred_task_failed_cancels_its_job(api, batch, runs):
    run_id = runs["hold"]
    ti = _wait_for_state(api, FATE, run_id, "scripted_job", "deferred")
    # Deferred means the triggerer holds it: the trigger is ours and a triggerer job picked it up.
    assert ti["trigger"]["classpath"] == TRIGGER_CLASS
    ti = wait_for(
        lambda: (t := api.task_instance(FATE, run_id, "scripted_job"))["triggerer_job"] and t,
        timeout=60,
        what="a triggerer to take the trigger",
    )
    assert ti["triggerer_job"]["job_type"] == "TriggererJob"

    held = wait_for(
        lambda: [j for j in jobs(batch) if "batchstream-e2e-hold" in " ".join(commands_of(j))],
        timeout=60,
        what="the held job in the emulator",
    )
    assert len(held) == 1
    name = held[0].name
    assert held[0].status.state.name in ("QUEUED", "SCHEDULED", "RUNNING")
    # While the job runs, Rendered Templates already shows the job that was submitted.
    assert_shows_job(submitted_job_of(api, FATE, run_id, "scripted_job"), held[0])

    api.ok("PATCH", f"/dags/{FATE}/dagRuns/{run_id}/taskInstances/scripted_job", json={"new_state": "failed"})
    wait_for(
        lambda: job_named(batch, name).status.state.name == "CANCELLED",
        timeout=90,
        what=f"{name} to be cancelled",
    )
    assert api.task_instance(FATE, run_id, "scripted_job")["state"] == "failed"


def test_a_failed_job_is_diagnosed_in_the_task_log(api, batch, runs):
    run_id = runs["fail"]
    assert api.wait_for_run(FATE, run_id)["state"] == "failed"
    ti = api.task_instance(FATE, run_id, "scripted_job")
    assert ti["state"] == "failed"

    log = api.task_log(FATE, run_id, "scripted_job", try_number=ti["try_number"])
    # The emulator's scenario makes task index 1 exit with code 3; the log must say exactly that.
    assert re.search(r"task[ _-]?(index)?\D{0,5}1\b", log, re.IGNORECASE), log[-3000:]
    assert re.search(r"exit[ _-]?code\D{0,5}3\b", log, re.IGNORECASE), log[-3000:]


def test_extra_links_point_at_the_job_and_its_logs(api, batch, runs):
    run_id = runs["ok"]
    assert api.wait_for_run(FATE, run_id)["state"] == "success"
    summary = summary_of(api, FATE, run_id, "scripted_job")
    job_id = summary["job_name"].rsplit("/", 1)[-1]

    job_link, logs_link = BatchStreamJobLink.name, BatchStreamLogsLink.name
    links = api.ok("GET", f"/dags/{FATE}/dagRuns/{run_id}/taskInstances/scripted_job/links")
    extra = links["extra_links"]
    assert set(extra) == {job_link, logs_link}, extra
    assert extra[job_link] == summary["console_url"]
    assert extra[job_link].startswith("https://console.cloud.google.com/batch/")
    assert job_id in extra[job_link] and f"project={PROJECT}" in extra[job_link]
    assert extra[logs_link].startswith("https://console.cloud.google.com/logs/")
    assert summary["uid"] in extra[logs_link] and f"project={PROJECT}" in extra[logs_link]
    # The logs link was pushed again when the job ended: its range runs from the job's creation to
    # a little after its end, so Logs Explorer shows the job whenever the link is opened.
    assert extra[logs_link] == summary["logs_url"]
    start, _, end = unquote(re.search(r";timeRange=([^;?]+)", extra[logs_link]).group(1)).partition("/")
    job = job_named(batch, summary["job_name"])
    assert start == job.create_time.strftime("%Y-%m-%dT%H:%M:%SZ")
    ended = max(event.event_time for event in job.status.status_events)
    assert ended < datetime.fromisoformat(end.replace("Z", "+00:00")) <= ended + timedelta(minutes=6)


# --- the submitted job in Rendered Templates ------------------------------------------------------


def submitted_job_of(api, dag_id: str, run_id: str, task_id: str) -> dict:
    """The task's ``submitted_job`` rendered field, as the UI's Rendered Templates reads it."""
    rendered = api.task_instance(dag_id, run_id, task_id)["rendered_fields"]
    shown = rendered.get("submitted_job")
    # A mapping, not a string: the UI pretty-prints it as JSON (and nothing was truncated).
    assert isinstance(shown, dict), rendered
    return shown


def assert_shows_job(shown: dict, job) -> None:
    """``shown`` is the JSON ``job`` was created from: streaming on, same image, commands, labels."""
    container = shown["taskGroups"][0]["taskSpec"]["runnables"][0]["container"]
    assert container["enableImageStreaming"] is True
    assert container["imageUri"] == job.task_groups[0].task_spec.runnables[0].container.image_uri
    assert container["commands"] == commands_of(job)
    assert shown["labels"] == dict(job.labels)
    assert shown["labels"]["managed-by"] == "airflow-batchstream"


@pytest.mark.parametrize(
    ("key", "dag_id", "task_id", "state"),
    [
        ("ok", FATE, "scripted_job", "success"),  # deferred, resumed, succeeded
        ("fail", FATE, "scripted_job", "failed"),  # deferred, resumed, failed
        ("sensor", SENSOR, "submit", "success"),  # in the worker, no wait
    ],
)
def test_rendered_templates_show_the_submitted_job(api, batch, runs, key, dag_id, task_id, state):
    run_id = runs[key]
    _wait_for_state(api, dag_id, run_id, task_id, state)  # the task's, not its run's: the sensor's
    shown = submitted_job_of(api, dag_id, run_id, task_id)  # job is held until its test ends it
    created = [job for job in jobs(batch) if dict(job.labels) == shown["labels"]]
    assert len(created) == 1, "the labels shown are those of exactly one job"
    assert_shows_job(shown, created[0])


@pytest.mark.parametrize("dag_id", [PARTITIONED, ARRAY_AND_MAPPING, SENSOR, PREFLIGHT, GPU])
def test_examples_are_documented_in_the_ui(api, dag_id):
    details = api.ok("GET", f"/dags/{dag_id}/details")
    assert details["doc_md"], f"{dag_id} has no documentation"
    assert "example" in {tag["name"] for tag in details["tags"]}
