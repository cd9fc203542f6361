"""BatchStreamJobSensor against the emulator: poke, reschedule-style single pokes, deferrable."""

from __future__ import annotations

import pytest
from airflow.sdk.exceptions import AirflowSensorTimeout, AirflowSkipException

from airflow_batchstream.exceptions import SensedJobFailed, TriggerEventMissing
from airflow_batchstream.sensors import BatchStreamJobSensor
from tests.fixtures.airflow import LOCATION, PROJECT, make_context, run_deferred

MODES = ["poke", "deferrable"]


def submit(batch_client, command: str = "app") -> str:
    """A job submitted elsewhere (not by our operator)."""
    from google.cloud.batch_v1 import Job

    job = Job.from_json(
        '{"taskGroups": [{"taskSpec": {"runnables": [{"container": {"imageUri": '
        '"us-central1-docker.pkg.dev/p/r/i:1", "commands": ["' + command + '"]}}]}}]}'
    )
    created = batch_client.create_job(
        parent=f"projects/{PROJECT}/locations/{LOCATION}", job_id=f"external-{command}", job=job
    )
    return created.name


def sensor(job_name: str, **overrides) -> BatchStreamJobSensor:
    args = {"task_id": "wait", "job_name": job_name, "poll_interval": 0.1, "timeout": 30}
    args.update(overrides)
    return BatchStreamJobSensor(**args)


def run(op: BatchStreamJobSensor, mode: str, context: dict | None = None):
    context = context or make_context(task_id="wait")
    if mode == "deferrable":
        op.deferrable = True
        return run_deferred(op, context)
    return op.execute(context)


@pytest.mark.parametrize("mode", MODES)
def test_success_returns_summary(gcp_env, emulator, batch_client, mode):
    name = submit(batch_client)
    summary = run(sensor(name), mode)
    assert summary["job_name"] == name
    assert summary["state"] == "SUCCEEDED"


@pytest.mark.parametrize("mode", MODES)
def test_the_logs_link_ends_with_the_job_it_sensed(gcp_env, emulator, batch_client, mode):
    context = make_context(task_id="wait")
    summary = run(sensor(submit(batch_client)), mode, context)
    # Pushed again from the final summary: its range ends with the job, not at the latest it could.
    assert context["ti"].xcoms["batchstream_logs_link"] == summary["logs_url"]
    assert ";timeRange=" in summary["logs_url"]


@pytest.mark.parametrize("mode", MODES)
def test_failed_job_raises_diagnosis(gcp_env, emulator, batch_client, mode):
    emulator.set_scenario({"rules": [{"match": {"command": "bad"}, "exit_codes": {"0": 50001}}]})
    name = submit(batch_client, "bad")
    with pytest.raises(SensedJobFailed) as failure:
        run(sensor(name), mode)
    assert "exit code 50001" in str(failure.value)
    assert "preempted" in str(failure.value)


@pytest.mark.parametrize("mode", MODES)
def test_soft_fail_skips_a_failed_job(gcp_env, emulator, batch_client, mode):
    emulator.set_scenario({"rules": [{"match": {"command": "bad"}, "exit_codes": {"0": 2}}]})
    name = submit(batch_client, "bad")
    with pytest.raises(AirflowSkipException):
        run(sensor(name, soft_fail=True), mode)


@pytest.mark.parametrize("mode", MODES)
def test_cancelled_job_fails(gcp_env, emulator, batch_client, mode):
    emulator.set_scenario({"rules": [{"match": {"command": "app"}, "stay_running": True}]})
    name = submit(batch_client)
    batch_client.cancel_job(name=name)
    with pytest.raises(SensedJobFailed, match="CANCELLED"):
        run(sensor(name), mode)


@pytest.mark.parametrize("mode", MODES)
def test_missing_job_fails(gcp_env, emulator, mode):
    name = f"projects/{PROJECT}/locations/{LOCATION}/jobs/never-made"
    with pytest.raises(SensedJobFailed, match="not found"):
        run(sensor(name), mode)


@pytest.mark.parametrize("mode", MODES)
def test_timeout(gcp_env, emulator, batch_client, mode):
    emulator.set_scenario({"rules": [{"match": {"command": "app"}, "stay_running": True}]})
    name = submit(batch_client)
    with pytest.raises(AirflowSensorTimeout):
        run(sensor(name, timeout=0.5), mode)
    # The sensor did not start the job: it must not cancel it.
    assert emulator.call_counts.get("CancelJob", 0) == 0


def test_resuming_without_an_event_is_a_clear_error(gcp_env, emulator):
    name = f"projects/{PROJECT}/locations/{LOCATION}/jobs/some-job"
    with pytest.raises(TriggerEventMissing, match="some-job"):
        sensor(name, deferrable=True).execute_complete(make_context(), event=None)
    assert emulator.call_counts == {}


def test_poke_is_false_while_running(gcp_env, emulator, batch_client):
    emulator.set_scenario({"rules": [{"match": {"command": "app"}, "stay_running": True}]})
    name = submit(batch_client)
    context = make_context(task_id="wait")
    result = sensor(name).poke(context)
    assert not result.is_done
    assert (
        context["ti"].xcoms["batchstream_job_link"].endswith(f"jobs/external-app/details?project={PROJECT}")
    )


def test_reschedule_mode_frees_the_slot_until_the_job_ends(gcp_env, emulator, batch_client):
    from airflow.sdk.exceptions import AirflowRescheduleException

    emulator.set_scenario({"rules": [{"match": {"command": "app"}, "stay_running": True}]})
    name = submit(batch_client)
    with pytest.raises(AirflowRescheduleException):
        sensor(name, mode="reschedule").execute(make_context(task_id="wait"))
    emulator.finish_job(name)
    import time

    deadline = time.monotonic() + 10
    while emulator.job(name).status.state.name != "SUCCEEDED" and time.monotonic() < deadline:
        time.sleep(0.05)  # the rescheduled try comes later; by then the job has ended
    summary = sensor(name, mode="reschedule").execute(make_context(task_id="wait"))
    assert summary["state"] == "SUCCEEDED"


def test_rendered_poll_interval_sets_the_reschedule_interval(gcp_env, emulator, batch_client):
    """poke_interval must be a number at construction, but the base class reads it in execute."""
    from datetime import datetime, timezone

    from airflow.sdk.exceptions import AirflowRescheduleException

    emulator.set_scenario({"rules": [{"match": {"command": "app"}, "stay_running": True}]})
    name = submit(batch_client)
    op = sensor(name, mode="reschedule", poll_interval="{{ var.value.batchstream_poll_interval }}")
    assert op.poke_interval == 60  # the base class default, until the template is rendered
    op.poll_interval = "600"  # as rendered
    before = datetime.now(timezone.utc)
    with pytest.raises(AirflowRescheduleException) as rescheduled:
        op.execute(make_context(task_id="wait"))
    assert op.poke_interval == 600.0
    assert 590 <= (rescheduled.value.reschedule_date - before).total_seconds() <= 610


def test_explicit_poke_interval_wins_over_poll_interval():
    name = f"projects/{PROJECT}/locations/{LOCATION}/jobs/j"
    op = sensor(name, poll_interval=5, poke_interval=7)
    assert (op.poke_interval, op.poll_interval) == (7, 5)
    with pytest.raises(ValueError, match="poll_interval"):
        sensor(name, poll_interval="soon")
