"""Task logs forwarded from Cloud Logging (the emulator's), by the worker loop and the trigger, within
the read quota: the real google-cloud-logging client over real gRPC."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import time

import pytest
import structlog
from google.cloud import batch_v1

from airflow_batchstream import container_logs, logreader, states
from airflow_batchstream.exceptions import SensedJobFailed
from airflow_batchstream.hooks import BatchStreamHook
from airflow_batchstream.sensors import BatchStreamJobSensor
from airflow_batchstream.triggers import BatchStreamJobTrigger
from tests.fixtures.airflow import LOCATION, PROJECT, arun_trigger, make_context, run_deferred
from tests.fixtures.emulator import make_job

PRINTS = {
    "*": ["hello from task {task}", "working on part {task}"],
    "1": ["loading", {"stderr": "Traceback (most recent call last):"}, {"stderr": "ValueError: bad row 7"}],
}


@pytest.fixture(autouse=True)
def fresh_readers(monkeypatch):
    """Each test's readers start with the budget it configures (a reader reads it when made)."""
    monkeypatch.setenv("AIRFLOW__BATCHSTREAM__LOGGING_READS_PER_MINUTE", "600")
    logreader._SYNC_READERS.clear()
    yield
    logreader._SYNC_READERS.clear()


def submit(batch_client, job_id: str, *, command: str = "app", task_count: int = 3, logs: bool = True) -> str:
    job = make_job(commands=(command,), task_count=task_count)
    if logs:
        job.logs_policy = batch_v1.LogsPolicy(destination=batch_v1.LogsPolicy.Destination.CLOUD_LOGGING)
    return batch_client.create_job(
        parent=f"projects/{PROJECT}/locations/{LOCATION}", job_id=job_id, job=job
    ).name


#: The ids of the waits running on a loop, as Airflow's triggerer binds its trigger_id.
WAIT_ID: contextvars.ContextVar[int] = contextvars.ContextVar("wait_id")


def _stamp_wait(logger: object, method: str, event: dict) -> dict:
    # Runs in the coroutine that logs: Airflow routes a trigger's lines the same way.
    event["wait_id"] = WAIT_ID.get(None)
    return event


@contextlib.contextmanager
def recorded():
    """Everything logged meanwhile (Airflow's loggers are structlog's): message and wait id."""
    with structlog.testing.capture_logs(
        processors=[structlog.stdlib.PositionalArgumentsFormatter(), _stamp_wait]
    ) as events:
        yield events


def messages(events: list[dict]) -> list[str]:
    return [str(event["event"]) for event in events]


def printed(messages: list[str]) -> list[str]:
    return [m for m in messages if m.startswith("[task ")]


def expected_lines(task_count: int, failing: int | None = None) -> dict[int, list[str]]:
    lines = {}
    for task in range(task_count):
        if task == failing:
            lines[task] = [
                f"[task {task}] loading",
                f"[task {task} stderr] Traceback (most recent call last):",
                f"[task {task} stderr] ValueError: bad row 7",
            ]
        else:
            lines[task] = [f"[task {task}] hello from task {task}", f"[task {task}] working on part {task}"]
    return lines


def by_task(lines: list[str]) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    for text in lines:
        index = int(text.split("]")[0].split()[1])
        found.setdefault(index, []).append(text)
    return found


def test_the_worker_wait_logs_each_task_line_once_in_order_and_the_failure_ends_with_them(
    gcp_env, emulator, batch_client
):
    emulator.set_scenario([{"match": {"command": "noisy"}, "exit_codes": {"1": 3}, "output": PRINTS}])
    name = submit(batch_client, "noisy-worker", command="noisy")
    hook = BatchStreamHook()
    with recorded() as events:
        payload = hook.wait_for_job(name, poll_interval=0.2, deadline=time.time() + 60)
    lines = printed(messages(events))
    assert by_task(lines) == expected_lines(3, failing=1)
    assert len(lines) == len(set(lines))  # each once, although reads overlap
    diagnosis = states.diagnosis_of(payload)
    assert "Task index 1 failed with exit code 3" in diagnosis
    assert diagnosis.endswith(
        "Last lines task 1 printed:\n  [task 1] loading\n"
        "  [task 1 stderr] Traceback (most recent call last):\n  [task 1 stderr] ValueError: bad row 7"
    )
    assert "ListLogEntries" in emulator.call_counts


def test_off_and_a_job_without_cloud_logging_read_nothing(gcp_env, emulator, batch_client):
    hook = BatchStreamHook()
    quiet = submit(batch_client, "quiet", logs=False)
    with recorded() as events:
        hook.wait_for_job(quiet, poll_interval=0.1, deadline=time.time() + 30)
        loud = submit(batch_client, "loud-but-off")
        hook.wait_for_job(loud, poll_interval=0.1, deadline=time.time() + 30, container_logs="off")
    assert printed(messages(events)) == []
    assert any("SUCCEEDED" in m for m in messages(events))  # the recording hears the wait
    assert "ListLogEntries" not in emulator.call_counts


def test_the_last_n_lines_come_once_the_job_ended(gcp_env, emulator, batch_client):
    emulator.set_scenario([{"match": {"command": "noisy"}, "output": {"*": [f"row {n}" for n in range(6)]}}])
    name = submit(batch_client, "tail", command="noisy", task_count=1)
    hook = BatchStreamHook()
    with recorded() as events:
        hook.wait_for_job(name, poll_interval=0.1, deadline=time.time() + 30, container_logs=2)
    shown = [m for m in messages(events) if m.startswith("[")]
    assert shown == ["[4 earlier lines not shown: container_logs=2]", "[task 0] row 4", "[task 0] row 5"]


async def test_the_trigger_logs_its_job_lines_and_keeps_the_event_small(gcp_env, emulator, batch_client):
    emulator.set_scenario([{"match": {"command": "noisy"}, "exit_codes": {"1": 3}, "output": PRINTS}])
    name = submit(batch_client, "noisy-deferred", command="noisy")
    with recorded() as events:
        payload = await arun_trigger(BatchStreamJobTrigger(job_name=name, poll_interval=0.2))
    assert by_task(printed(messages(events))) == expected_lines(3, failing=1)
    assert payload["status"] == "failed"
    assert "diagnosis" not in payload  # Airflow prints the payload: it carries facts, not the text
    assert payload["facts"]["last_lines"][-1] == "[task 1 stderr] ValueError: bad row 7"
    assert states.diagnosis_of(payload).endswith("[task 1 stderr] ValueError: bad row 7")


@pytest.mark.parametrize("deferred", [False, True], ids=["worker", "deferred"])
@pytest.mark.parametrize(("code", "calls"), [("PERMISSION_DENIED", 1), ("UNAVAILABLE", 3)])
async def test_a_log_logging_refuses_to_read_ends_forwarding_not_the_wait(
    gcp_env, emulator, batch_client, monkeypatch, deferred, code, calls
):
    """No permission ends forwarding at once; Logging out of reach, after three failed reads."""
    monkeypatch.setattr(container_logs, "BUDGET_WINDOW", 6.0)  # pauses of a second or two
    emulator.set_faults(rpcs=["ListLogEntries"], fraction=1.0, codes=[code])
    name = submit(batch_client, f"{code.lower().replace('_', '-')}-{'deferred' if deferred else 'worker'}")
    started = time.monotonic()
    with recorded() as events:
        if deferred:
            payload = await arun_trigger(BatchStreamJobTrigger(job_name=name, poll_interval=0.2))
        else:
            hook = BatchStreamHook()
            payload = await asyncio.to_thread(
                hook.wait_for_job, name, poll_interval=0.2, deadline=time.time() + 60
            )
    assert payload["status"] == "success"
    assert time.monotonic() - started < 20  # not the drain's ten minutes
    assert emulator.call_counts["ListLogEntries"] == calls  # then not asked again
    warnings = [m for m in messages(events) if "will not be forwarded" in m]
    assert len(warnings) == 1 and "roles/logging.viewer" in warnings[0], messages(events)


@pytest.mark.parametrize("mode", ["poke", "deferrable", "reschedule"])
def test_the_sensor_forwards_the_lines_once_in_every_mode(gcp_env, emulator, batch_client, mode):
    emulator.set_scenario([{"match": {"command": "noisy"}, "exit_codes": {"1": 3}, "output": PRINTS}])
    name = submit(batch_client, f"sensed-{mode}", command="noisy")
    sensor = BatchStreamJobSensor(task_id="wait", job_name=name, poll_interval=0.2, timeout=60)
    context = make_context(task_id="wait")
    with recorded() as events, pytest.raises(SensedJobFailed) as failure:
        if mode == "deferrable":
            sensor.deferrable = True
            run_deferred(sensor, context)
        elif mode == "reschedule":
            # Each poke is a process of its own: a new sensor object per poke.
            while not BatchStreamJobSensor(
                task_id="wait", job_name=name, poll_interval=0.2, mode="reschedule"
            ).poke(context):
                time.sleep(0.2)
        else:
            sensor.execute(context)
    assert by_task(printed(messages(events))) == expected_lines(3, failing=1)
    assert str(failure.value).endswith("[task 1 stderr] ValueError: bad row 7")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("others", "minute"), [(0, 60.0), (50, 10.0)], ids=["alone", "others-read-the-project-too"]
)
async def test_200_deferred_waits_share_one_reader_within_a_60_per_minute_quota(
    gcp_env, emulator, batch_client, monkeypatch, others, minute
):
    """200 triggers on one event loop, as in a triggerer, whose jobs print lines, against a
    Logging quota of 60 reads a minute. Polling every half second they want about three reads a
    second (one filter names them all; its entries take a few pages).

    Alone, the reader's budget (50 a minute) keeps it under the quota: no read is refused. When
    others have just read the same project 50 times, Logging refuses reads, the reader pauses, and
    no task sees it (there the "minute" of quota and budget alike is 10 seconds, so that the
    test waits seconds for the quota to free up). Either way every line reaches the log of its own
    task, once.
    """
    monkeypatch.setattr(container_logs, "BUDGET_WINDOW", minute)
    monkeypatch.setenv("AIRFLOW__BATCHSTREAM__LOGGING_READS_PER_MINUTE", "50")
    emulator.set_quota(logging_reads_per_minute=60, window=minute)
    someone_else = logreader._sync_client(BatchStreamHook())
    for _ in range(others):
        someone_else.list_log_entries(request={"resource_names": [f"projects/{PROJECT}"], "filter": ""})
    output = {"*": [f"task {{task}} line {n}" for n in range(20)], "1": [{"stderr": "task 1 complains"}]}
    emulator.set_scenario(
        {
            "phases": {"queued": 40, "scheduled": 20, "assigned": 20, "running": 400},
            "rules": [{"match": {"command": "noisy"}, "output": output}],
        }
    )
    jobs = [submit(batch_client, f"many-{n:03d}", command="noisy", task_count=2) for n in range(200)]

    async def wait(n: int) -> dict:
        WAIT_ID.set(n)
        return await arun_trigger(BatchStreamJobTrigger(job_name=jobs[n], poll_interval=0.5))

    started = time.monotonic()
    with recorded() as events:
        payloads = await asyncio.gather(*(wait(n) for n in range(200)))
    elapsed = time.monotonic() - started
    lines: dict[int | None, list[str]] = {}
    for event in events:
        if str(event["event"]).startswith("[task "):
            lines.setdefault(event["wait_id"], []).append(event["event"])

    assert [p["status"] for p in payloads] == ["success"] * 200
    want = [f"[task 0] task 0 line {n}" for n in range(20)] + ["[task 1 stderr] task 1 complains"]
    for n in range(200):
        assert sorted(lines.get(n, [])) == sorted(want), n  # every line, once, in its own wait
    assert None not in lines  # nothing logged outside a wait's coroutine
    reads = emulator.call_counts["ListLogEntries"] - others
    refused = emulator.quota_refusals.get("logging_read", 0)
    print(f"{reads} reads ({refused} refused) in {elapsed:.1f}s")
    assert reads <= 50 * (elapsed / minute + 1)
    if others:
        assert refused > 0  # the reader met the quota, paused, and lost nothing
    else:
        assert refused == 0
