"""BatchStreamJobTrigger against the emulator, run as the triggerer runs it."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from airflow_batchstream import _shared
from airflow_batchstream.hooks import BatchStreamHook
from airflow_batchstream.retry import RetryPolicy
from airflow_batchstream.triggers import BatchStreamJobTrigger
from tests.fixtures.airflow import LOCATION, PROJECT, arun_trigger, rebuild


def create_job(batch_client, job_id: str = "waited-on", command: str = "app") -> str:
    from google.cloud.batch_v1 import Job

    job = Job.from_json(
        '{"taskGroups": [{"taskSpec": {"runnables": [{"container": {"imageUri": '
        '"us-central1-docker.pkg.dev/p/r/i:1", "commands": ["' + command + '"]}}]}}]}'
    )
    return batch_client.create_job(
        parent=f"projects/{PROJECT}/locations/{LOCATION}", job_id=job_id, job=job
    ).name


def trigger_for(name: str, **overrides) -> BatchStreamJobTrigger:
    args = {"job_name": name, "poll_interval": 0.1}
    args.update(overrides)
    return BatchStreamJobTrigger(**args)


def test_serialize_uses_the_class_path_and_round_trips(gcp_env):
    trigger = trigger_for(
        "projects/p/locations/l/jobs/j",
        deadline=1234.5,
        cancel_on_kill=False,
        api_endpoint="batch.p.example:443",
    )
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_batchstream.triggers.BatchStreamJobTrigger"
    again = rebuild(trigger)
    assert type(again) is BatchStreamJobTrigger
    assert again.serialize() == (classpath, kwargs)
    assert kwargs["emulator_host"] == gcp_env  # captured at defer time
    # The endpoint the worker used: a restarted triggerer talks to the same one.
    assert again.api_endpoint == "batch.p.example:443"

    class Subclass(BatchStreamJobTrigger):
        pass

    assert (
        Subclass(job_name="x")
        .serialize()[0]
        .endswith("test_trigger.test_serialize_uses_the_class_path_and_round_trips.<locals>.Subclass")
    )


def test_a_trigger_without_poll_interval_takes_the_configured_default(monkeypatch):
    monkeypatch.setenv("AIRFLOW__BATCHSTREAM__DEFAULT_POLL_INTERVAL", "12")
    assert BatchStreamJobTrigger(job_name="projects/p/locations/l/jobs/j").poll_interval == 12.0
    assert BatchStreamJobTrigger(job_name="projects/p/locations/l/jobs/j", poll_interval=3).poll_interval == 3


def test_serialized_kwargs_survive_airflow_serde(gcp_env):
    """The kwargs pass through Airflow's trigger-kwargs encoding unchanged (what the DB stores)."""
    from airflow.sdk.serde import deserialize, serialize

    _, kwargs = trigger_for("projects/p/locations/l/jobs/j", deadline=99.5).serialize()
    assert deserialize(serialize(kwargs)) == kwargs


async def test_success_event_carries_the_summary(gcp_env, emulator, batch_client):
    name = create_job(batch_client)
    payload = await arun_trigger(trigger_for(name))
    assert payload["status"] == "success"
    assert payload["summary"]["job_name"] == name
    assert payload["summary"]["state"] == "SUCCEEDED"
    assert payload["diagnosis"] == ""


async def test_event_is_held_until_the_scheduler_has_seen_the_deferral(gcp_env, emulator, batch_client):
    # Airflow 3.3's scheduler fails a task whose trigger fires right after deferral (see
    # DEFER_SETTLE_SECONDS); the hold is set at defer time and survives a triggerer restart.
    name = create_job(batch_client)
    not_before = time.time() + 2.0
    payload = await arun_trigger(rebuild(trigger_for(name, not_before=not_before)))
    assert payload["status"] == "success"
    assert time.time() >= not_before


def test_hold_defaults_to_the_settle_time_from_defer_time(monkeypatch):
    monkeypatch.setattr("airflow_batchstream.triggers.DEFER_SETTLE_SECONDS", 10.0)
    before = time.time()
    trigger = trigger_for("projects/p/locations/l/jobs/j")
    assert before + 10.0 <= trigger.not_before <= time.time() + 10.0
    assert rebuild(trigger).not_before == trigger.not_before


async def test_deadline_is_absolute_and_survives_a_rebuild(gcp_env, emulator, batch_client):
    emulator.set_scenario({"rules": [{"match": {"command": "app"}, "stay_running": True}]})
    name = create_job(batch_client)
    deadline = time.time() + 1.5
    first = trigger_for(name, deadline=deadline)
    with pytest.raises(TimeoutError):  # the triggerer restarts half way through the wait
        await asyncio.wait_for(arun_trigger(first), timeout=0.8)
    restarted = rebuild(first)
    assert restarted.deadline == deadline
    payload = await arun_trigger(restarted)
    assert payload["status"] == "timeout"
    assert time.time() - deadline < 1.0  # not another full timeout after the restart
    assert emulator.job(name).status.state.name in ("CANCELLATION_IN_PROGRESS", "CANCELLED")


async def test_timeout_without_cancel_leaves_the_job_running(gcp_env, emulator, batch_client):
    emulator.set_scenario({"rules": [{"match": {"command": "app"}, "stay_running": True}]})
    name = create_job(batch_client)
    payload = await arun_trigger(trigger_for(name, deadline=time.time() + 0.3, cancel_on_kill=False))
    assert payload["status"] == "timeout"
    assert emulator.job(name).status.state.name == "RUNNING"


async def test_transient_errors_never_end_the_wait(gcp_env, emulator, batch_client):
    name = create_job(batch_client)
    emulator.set_faults(fraction=1.0, codes=("UNAVAILABLE", "INTERNAL"), rpcs=["GetJob"])
    threading.Timer(1.5, emulator.set_faults).start()  # the outage ends after 1.5 s
    payload = await arun_trigger(trigger_for(name))
    assert payload["status"] == "success"
    assert emulator.call_counts["GetJob"] >= 3


async def test_an_outage_ends_the_wait_only_at_its_deadline_and_cancels(gcp_env, emulator, batch_client):
    emulator.set_scenario({"rules": [{"match": {"command": "app"}, "stay_running": True}]})
    name = create_job(batch_client)
    emulator.set_faults(fraction=1.0, codes=("UNAVAILABLE",), rpcs=["GetJob"])  # CancelJob still works
    deadline = time.time() + 1.0
    trigger = trigger_for(name, deadline=deadline)
    # A per-call retry budget shorter than the outage (the triggerer's own is at least 30 s).
    trigger._hook = BatchStreamHook(retry=RetryPolicy(initial=0.05, maximum=0.1, budget=0.3))
    payload = await arun_trigger(trigger)
    assert payload["status"] == "timeout"
    assert 0 <= time.time() - deadline < 1.0
    assert emulator.call_counts["GetJob"] >= 3
    assert emulator.job(name).status.state.name in ("CANCELLATION_IN_PROGRESS", "CANCELLED")


async def test_permanent_error_ends_with_error_event(gcp_env, emulator, batch_client):
    name = create_job(batch_client)
    emulator.inject_fault("GetJob", "PERMISSION_DENIED")
    payload = await arun_trigger(trigger_for(name))
    assert payload["status"] == "error"
    assert "PermissionDenied" in payload["diagnosis"] or "PERMISSION_DENIED" in payload["diagnosis"].upper()


async def test_on_kill_cancels_the_job(gcp_env, emulator, batch_client):
    emulator.set_scenario({"rules": [{"match": {"command": "app"}, "stay_running": True}]})
    name = create_job(batch_client)
    await trigger_for(name).on_kill()
    assert emulator.job(name).status.state.name in ("CANCELLATION_IN_PROGRESS", "CANCELLED")


async def test_on_kill_respects_cancel_on_kill_false(gcp_env, emulator, batch_client):
    emulator.set_scenario({"rules": [{"match": {"command": "app"}, "stay_running": True}]})
    name = create_job(batch_client)
    await trigger_for(name, cancel_on_kill=False).on_kill()
    assert emulator.call_counts.get("CancelJob", 0) == 0


async def test_user_kill_in_the_real_triggerer_runner_cancels_the_job(gcp_env, emulator, batch_client):
    """Airflow 3.3's TriggerRunner: a user action cancels the trigger task and awaits on_kill()."""
    from airflow.jobs.triggerer_job_runner import TriggerRunner

    emulator.set_scenario({"rules": [{"match": {"command": "app"}, "stay_running": True}]})
    name = create_job(batch_client)
    trigger = trigger_for(name)
    trigger.task_instance = None
    runner = TriggerRunner()
    runner.triggers[1] = {"task": None, "name": "batch-wait", "events": 0, "is_watcher": False}
    runner.triggers[1]["task"] = asyncio.create_task(runner.run_trigger(1, trigger, None, None))
    await asyncio.sleep(0.5)
    assert emulator.job(name).status.state.name == "RUNNING"

    runner.to_cancel.append(1)  # what the triggerer does when the task is marked failed/cleared
    await runner.cancel_triggers()
    with pytest.raises(asyncio.CancelledError):
        await runner.triggers[1]["task"]
    assert emulator.job(name).status.state.name in ("CANCELLATION_IN_PROGRESS", "CANCELLED")


async def test_triggerer_shutdown_does_not_cancel_the_job(gcp_env, emulator, batch_client):
    """A restart (plain cancellation, no user action) must leave the job running."""
    from airflow.jobs.triggerer_job_runner import TriggerRunner

    emulator.set_scenario({"rules": [{"match": {"command": "app"}, "stay_running": True}]})
    name = create_job(batch_client)
    trigger = trigger_for(name)
    trigger.task_instance = None
    runner = TriggerRunner()
    runner.triggers[1] = {"task": None, "name": "batch-wait", "events": 0, "is_watcher": False}
    task = asyncio.create_task(runner.run_trigger(1, trigger, None, None))
    await asyncio.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert emulator.call_counts.get("CancelJob", 0) == 0


async def test_many_triggers_share_one_client(gcp_env, emulator, batch_client):
    names = [create_job(batch_client, f"job-{i}") for i in range(25)]
    payloads = await asyncio.gather(*(arun_trigger(trigger_for(name)) for name in names))
    assert {p["status"] for p in payloads} == {"success"}
    assert _shared.shared_async_client_count() == 1


async def test_failed_event_has_diagnosis(gcp_env, emulator, batch_client):
    emulator.set_scenario({"rules": [{"match": {"command": "app"}, "exit_codes": {"0": 50002}}]})
    name = create_job(batch_client)
    payload = await arun_trigger(trigger_for(name))
    assert payload["status"] == "failed"
    assert "Task index 0" in payload["diagnosis"]
    assert "exit code 50002" in payload["diagnosis"]
    assert payload["summary"]["outcome"] == "failed"
