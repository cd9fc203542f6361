"""BatchStreamJobOperator against the emulator over real gRPC, in the worker and deferred.

Every outcome is checked in both modes: ``sync`` waits in ``execute``; ``deferrable`` catches
``TaskDeferred``, rebuilds the trigger from its serialized form, runs it, and resumes in
``execute_complete`` with its event, as Airflow does.
"""

from __future__ import annotations

import re
import threading
import time

import pytest

from airflow_batchstream.exceptions import (
    JobCancelled,
    JobConflict,
    JobDeleted,
    JobFailed,
    JobSpecInvalid,
    JobTimedOut,
    ParameterInvalid,
    TriggerEventMissing,
)
from airflow_batchstream.operators import BatchStreamJobOperator
from tests.fixtures.airflow import PROJECT, make_context, operator, rebuild, run_deferred, run_trigger

MODES = ["sync", "deferrable"]


def run(op: BatchStreamJobOperator, context: dict, mode: str):
    if mode == "deferrable":
        op.deferrable = True
        return run_deferred(op, context)
    return op.execute(context)


def when_job_exists(emulator, action, *, timeout: float = 10.0) -> threading.Thread:
    """Run ``action(job_name)`` in a thread as soon as the emulator holds a job."""

    def wait_then_act():
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            jobs = emulator.jobs()
            if jobs:
                action(jobs[0].name)
                return
            time.sleep(0.02)

    thread = threading.Thread(target=wait_then_act, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("mode", MODES)
def test_success_returns_compact_summary_and_pushes_links(gcp_env, emulator, mode):
    context = make_context()
    summary = run(operator(), context, mode)

    assert summary["state"] == "SUCCEEDED"
    assert summary["outcome"] == "succeeded"
    assert summary["task_counts"] == {"SUCCEEDED": 1}
    assert set(summary["timeline"]) >= {"queued", "running", "total"}
    assert summary["job_id"].startswith("etl-crunch-")
    assert summary["uid"]
    assert "jobsDetail/regions/us-central1/jobs/" + summary["job_id"] in summary["console_url"]
    assert "taskGroups" not in summary  # never the whole proto
    ti = context["ti"]
    assert ti.xcoms["batchstream_job_link"] == summary["console_url"]
    assert summary["uid"] in ti.xcoms["batchstream_logs_link"]
    # Pushed again once the job ended: the logs link's range now ends with the job, not 14 days on.
    assert ti.xcoms["batchstream_logs_link"] == summary["logs_url"]
    assert ";timeRange=" in summary["logs_url"]
    assert len(emulator.jobs()) == 1
    job = emulator.jobs()[0]
    assert job.labels["managed-by"] == "airflow-batchstream"
    assert job.labels["airflow-try"] == "1"


@pytest.mark.parametrize("mode", MODES)
def test_failed_task_is_named_with_exit_code_and_meaning(gcp_env, emulator, mode):
    emulator.set_scenario({"rules": [{"match": {"command": "app"}, "exit_codes": {"1": 3}}]})
    with pytest.raises(JobFailed) as failure:
        run(operator(task_count=2), make_context(), mode)
    text = str(failure.value)
    assert "Task index 1" in text
    assert "exit code 3" in text
    assert "FAILED" in text
    assert failure.value.summary["state"] == "FAILED"


@pytest.mark.parametrize("mode", MODES)
def test_reserved_exit_code_is_explained(gcp_env, emulator, mode):
    emulator.set_scenario({"rules": [{"match": {"command": "app"}, "exit_codes": {"0": 50005}}]})
    with pytest.raises(JobFailed) as failure:
        run(operator(), make_context(), mode)
    text = str(failure.value)
    assert "Task index 0" in text
    assert "exit code 50005" in text
    assert "maximum run duration" in text
    assert "raise max_run_duration" in text


@pytest.mark.parametrize("mode", MODES)
def test_preemption_retried_by_batch_then_success(gcp_env, emulator, mode):
    emulator.set_scenario({"rules": [{"match": {"command": "app"}, "preempt_first_attempt": True}]})
    summary = run(operator(spot=True, max_retries=2), make_context(), mode)
    assert summary["state"] == "SUCCEEDED"
    job = emulator.jobs()[0]
    assert any("50001" in event.description for event in _task_events(emulator, job.name))


def _task_events(emulator, job_name):
    from airflow_batchstream.emulator.client import sync_client

    client = sync_client(emulator.address)
    try:
        tasks = client.list_tasks(parent=f"{job_name}/taskGroups/group0")
        return [event for task in tasks for event in task.status.status_events]
    finally:
        client.transport.close()


@pytest.mark.parametrize("mode", MODES)
def test_cancelled_job_fails_the_task(gcp_env, emulator, batch_client, mode):
    emulator.set_scenario({"rules": [{"match": {"command": "app"}, "stay_running": True}]})
    when_job_exists(emulator, lambda name: batch_client.cancel_job(name=name))
    with pytest.raises(JobCancelled) as failure:
        run(operator(), make_context(), mode)
    assert "CANCELLED" in str(failure.value)


@pytest.mark.parametrize("mode", MODES)
def test_deleted_job_fails_the_task(gcp_env, emulator, batch_client, mode):
    emulator.set_scenario({"rules": [{"match": {"command": "app"}, "stay_running": True}]})
    when_job_exists(emulator, lambda name: batch_client.delete_job(name=name))
    with pytest.raises(JobDeleted):
        run(operator(), make_context(), mode)


@pytest.mark.parametrize("mode", MODES)
def test_never_ending_job_times_out_and_is_cancelled(gcp_env, emulator, mode):
    emulator.set_scenario({"rules": [{"match": {"command": "app"}, "stay_running": True}]})
    started = time.monotonic()
    with pytest.raises(JobTimedOut) as failure:
        run(operator(timeout=1.0), make_context(), mode)
    assert time.monotonic() - started < 5
    assert "Timed out" in str(failure.value)
    state = emulator.jobs()[0].status.state.name
    assert state in ("CANCELLATION_IN_PROGRESS", "CANCELLED")


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
def test_transient_faults_at_30_percent_change_nothing(gcp_env, emulator, mode):
    emulator.set_faults(
        fraction=0.3, codes=("UNAVAILABLE", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED", "INTERNAL"), seed=7
    )
    summary = run(operator(), make_context(), mode)
    assert summary["state"] == "SUCCEEDED"
    emulator.set_faults()
    assert len(emulator.jobs()) == 1


def test_create_retried_after_lost_response_makes_one_job(gcp_env, emulator):
    emulator.lose_next_response("CreateJob")
    summary = operator().execute(make_context())
    assert summary["state"] == "SUCCEEDED"
    assert emulator.call_counts["CreateJob"] == 2
    assert len(emulator.jobs()) == 1


def test_try_after_failed_job_makes_a_new_job(gcp_env, emulator):
    emulator.set_scenario({"rules": [{"match": {"command": "app"}, "exit_codes": {"*": [1]}}]})
    with pytest.raises(JobFailed):
        operator().execute(make_context(try_number=1))
    emulator.set_scenario(None)
    summary = operator().execute(make_context(try_number=2))
    assert summary["state"] == "SUCCEEDED"
    ids = sorted(job.name.rsplit("/", 1)[1] for job in emulator.jobs())
    assert len(ids) == 2
    assert ids[0].endswith("-t1") and ids[1].endswith("-t2")
    assert ids[0][:-3] == ids[1][:-3]  # same lineage prefix


def test_explicit_job_id_is_adopted_only_when_labels_match(gcp_env, emulator):
    emulator.set_scenario({"rules": [{"match": {"command": "app"}, "stay_running": True}]})
    from airflow.sdk.exceptions import TaskDeferred

    with pytest.raises(TaskDeferred):
        operator(job_id="nightly-report", deferrable=True).execute(make_context())
    # The same try again (say the worker restarted before deferring): adopted, not duplicated.
    with pytest.raises(TaskDeferred) as again:
        operator(job_id="nightly-report", deferrable=True).execute(make_context())
    assert again.value.trigger.job_name.endswith("/jobs/nightly-report")
    # Another task asking for the same id: a clear error, and nothing is adopted.
    with pytest.raises(JobConflict, match="does not belong to this try"):
        operator(task_id="other", job_id="nightly-report").execute(make_context(task_id="other"))
    assert len(emulator.jobs()) == 1


def test_static_mistakes_are_all_reported_by_the_constructor():
    with pytest.raises(ParameterInvalid) as invalid:
        operator(image_uri="docker.io/library/busybox:latest", job_id="Bad_ID", task_count=0)
    named = [(problem.parameter, problem.rule) for problem in invalid.value.problems]
    assert named == [("image_uri", "IS-1"), ("task_count", "TG-COUNT"), ("job_id", "J-ID")]


def test_invalid_spec_reports_every_error_by_parameter_before_any_call(gcp_env, emulator):
    op = operator(
        image_uri="us-east1-docker.pkg.dev/test-project/repo/app:1.0",
        labels={"Team": "data"},
        volumes=[
            {"gcs": {"remotePath": "bucket"}, "mountPath": "data"},  # relative: a warning
            {"deviceName": "scratch", "mountPath": "/mnt/scratch"},  # no such disk: an error
        ],
        job_overrides={"taskGroups": [{"taskSpec": {"maxRetryCount": 11}}]},
    )
    with pytest.raises(JobSpecInvalid) as invalid:
        op.execute(make_context())
    named = {(problem.parameter, problem.rule) for problem in invalid.value.problems if problem.is_error}
    assert named == {
        ("image_uri", "IS-2"),
        ("labels", "L-2"),
        ("volumes", "VOL-DEVICE"),
        ("job_overrides", "TS-RETRY"),
    }
    warned = {(problem.parameter, problem.rule) for problem in invalid.value.problems if not problem.is_error}
    assert ("volumes", "VOL-MOUNT") in warned
    assert "image_uri (taskGroups[0].taskSpec.runnables[0].container.imageUri): " in str(invalid.value)
    assert emulator.call_counts == {}


@pytest.mark.parametrize("spelling", ["camelCase", "snake_case"])
def test_an_instance_template_of_another_project_is_refused_before_any_call(gcp_env, emulator, spelling):
    template = "projects/other-project/global/instanceTemplates/batch-vm"
    overrides = {"allocationPolicy": {"instances": [{"instanceTemplate": template}]}}
    if spelling == "snake_case":
        overrides = {"allocation_policy": {"instances": [{"instance_template": template}]}}
    op = operator(job_overrides=overrides)
    with pytest.raises(JobSpecInvalid) as invalid:
        op.execute(make_context())
    named = {(problem.parameter, problem.rule) for problem in invalid.value.problems if problem.is_error}
    assert named == {("job_overrides", "AP-TEMPLATE")}
    assert f"belongs to project 'other-project', not the job's project '{PROJECT}'" in str(invalid.value)
    assert emulator.call_counts == {}


def test_an_instance_template_of_the_jobs_project_is_submitted(gcp_env, emulator):
    template = f"projects/{PROJECT}/global/instanceTemplates/batch-vm"
    op = operator(job_overrides={"allocationPolicy": {"instances": [{"instance_template": template}]}})
    assert op.execute(make_context())["state"] == "SUCCEEDED"
    submitted = emulator.jobs()[0].allocation_policy.instances[0].instance_template
    assert submitted == template


def test_wait_for_completion_false_returns_after_submission(gcp_env, emulator):
    emulator.set_scenario({"rules": [{"match": {"command": "app"}, "stay_running": True}]})
    summary = operator(wait_for_completion=False).execute(make_context())
    assert summary["outcome"] == "running"
    assert emulator.call_counts.get("GetJob", 0) == 0


def test_on_kill_cancels_the_job(gcp_env, emulator):
    emulator.set_scenario({"rules": [{"match": {"command": "app"}, "stay_running": True}]})
    op = operator()
    outcome: dict = {}

    def execute():
        try:
            op.execute(make_context())
        except Exception as exc:
            outcome["error"] = exc

    worker = threading.Thread(target=execute, daemon=True)
    worker.start()
    deadline = time.monotonic() + 10
    while not op._job_name and time.monotonic() < deadline:
        time.sleep(0.02)
    op.on_kill()
    worker.join(10)
    assert isinstance(outcome.get("error"), JobCancelled)
    assert emulator.jobs()[0].status.state.name == "CANCELLED"


def test_execute_complete_without_an_event_is_a_clear_error(gcp_env, emulator):
    with pytest.raises(TriggerEventMissing, match="without an event"):
        operator().execute_complete(make_context(), event=None)
    assert emulator.call_counts == {}


def test_deferral_carries_a_timeout_a_little_after_the_deadline(gcp_env, emulator):
    from airflow.sdk.exceptions import TaskDeferred

    from airflow_batchstream.operators import DEFER_TIMEOUT_GRACE

    emulator.set_scenario({"rules": [{"match": {"command": "app"}, "stay_running": True}]})
    with pytest.raises(TaskDeferred) as deferred:
        operator(deferrable=True, timeout=600).execute(make_context())
    # Airflow's own deferral timeout ends the wait even with no triggerer; the trigger's deadline
    # (600 s after the job's creation) comes first, so it is what normally cancels the job.
    seconds = deferred.value.timeout.total_seconds()
    assert 600 < seconds <= 600 + DEFER_TIMEOUT_GRACE
    assert deferred.value.trigger.deadline == pytest.approx(time.time() + 600, abs=30)
    with pytest.raises(TaskDeferred) as untimed:
        operator(deferrable=True, task_id="untimed").execute(make_context(task_id="untimed"))
    assert untimed.value.timeout is None


def test_on_kill_leaves_job_alone_when_cancel_on_kill_is_off(gcp_env, emulator):
    emulator.set_scenario({"rules": [{"match": {"command": "app"}, "stay_running": True}]})
    op = operator(cancel_on_kill=False, wait_for_completion=False)
    op.execute(make_context())
    op.on_kill()
    assert emulator.call_counts.get("CancelJob", 0) == 0


def test_mapped_instances_get_distinct_jobs(gcp_env, emulator):
    names = {operator().execute(make_context(map_index=i))["job_name"] for i in range(3)}
    assert len(names) == 3
    assert len(emulator.jobs()) == 3


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"image_check": "maybe"}, "image_check"),
        ({"poll_interval": 0}, "poll_interval"),
        ({"poll_interval": -1}, "poll_interval"),
        ({"poll_interval": "soon"}, "poll_interval"),  # a string without Jinja is static too
        ({"timeout": -5}, "timeout"),
        ({"pin_image_digest": True, "image_check": "off"}, "pin_image_digest"),
    ],
)
def test_static_mistakes_fail_at_parse_time(kwargs, message):
    with pytest.raises(ValueError, match=message):
        operator(**kwargs)


def test_templated_poll_interval_is_checked_when_the_task_runs(gcp_env, emulator):
    # A template passes construction; Airflow renders it (a string) before execute.
    op = operator(poll_interval="{{ var.value.get('batchstream_poll_interval', 30) }}")
    assert "poll_interval" in op.template_fields
    op.poll_interval = "not a number"  # as rendered from a bad Variable
    with pytest.raises(ValueError, match="poll_interval"):
        op.execute(make_context())
    assert emulator.call_counts == {}, "nothing is submitted with a bad poll_interval"


@pytest.mark.parametrize("mode", MODES)
def test_rendered_poll_interval_string_is_used_as_seconds(gcp_env, emulator, mode):
    op = operator(poll_interval="{{ var.value.batchstream_poll_interval }}")
    op.poll_interval = "0.1"  # as rendered
    summary = run(op, make_context(), mode)
    assert summary["state"] == "SUCCEEDED"
    assert op.poll_interval == 0.1


def test_constructor_does_no_io(monkeypatch):
    monkeypatch.setenv("BATCHSTREAM_EMULATOR_HOST", "127.0.0.1:9")  # nothing listens there
    op = operator()
    assert "hook" not in vars(op)


# --- the submitted job, for Rendered Templates --------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_submitted_job_is_exactly_what_create_job_received(gcp_env, emulator, mode):
    op = operator(
        labels={"team": "etl"},
        job_overrides={"taskGroups": [{"taskSpec": {"maxRunDuration": "600s"}}]},
    )
    run(op, make_context(), mode)

    submitted = op.submitted_job
    job = emulator.jobs()[0]
    container = submitted["taskGroups"][0]["taskSpec"]["runnables"][0]["container"]
    assert container["enableImageStreaming"] is True
    assert container["imageUri"] == job.task_groups[0].task_spec.runnables[0].container.image_uri
    assert submitted["taskGroups"][0]["taskSpec"]["maxRunDuration"] == "600s"  # the override
    # The user's label and the provider's own, as the job carries them.
    assert submitted["labels"] == dict(job.labels)
    assert submitted["labels"]["team"] == "etl" and submitted["labels"]["managed-by"] == "airflow-batchstream"


class RefusingComms:
    """A task runner channel to the supervisor that is gone: every message raises."""

    def send(self, message):
        raise ConnectionResetError(f"supervisor gone ({type(message).__name__})")


def test_rendered_templates_that_cannot_be_sent_do_not_fail_the_try(gcp_env, emulator, monkeypatch):
    import structlog
    from airflow.sdk.execution_time import task_runner

    monkeypatch.setattr(task_runner, "SUPERVISOR_COMMS", RefusingComms(), raising=False)
    op = operator()
    # Airflow's loggers are structlog's.
    with structlog.testing.capture_logs(processors=[structlog.stdlib.PositionalArgumentsFormatter()]) as logs:
        summary = run(op, make_context(), "sync")
    assert summary["state"] == "SUCCEEDED"
    assert op.submitted_job["labels"] == dict(emulator.jobs()[0].labels)
    warned = [e["event"] for e in logs if "Rendered Templates" in str(e["event"])]
    assert warned == [
        "The submitted job could not be shown in Rendered Templates: supervisor gone (SetRenderedFields)"
    ]


def test_a_resumed_task_shows_the_job_its_deferral_submitted(gcp_env, emulator):
    """Airflow re-creates the operator to resume it: the job comes back through the deferral's kwargs."""
    from airflow.sdk.exceptions import TaskDeferred

    context = make_context()
    with pytest.raises(TaskDeferred) as deferred:
        operator(deferrable=True).execute(context)
    handed_over = deferred.value.kwargs["submitted_job"]
    assert handed_over["labels"] == dict(emulator.jobs()[0].labels)

    fresh = operator(deferrable=True)
    assert fresh.submitted_job is None
    payload = run_trigger(rebuild(deferred.value.trigger))
    fresh.resume_execution("execute_complete", {**deferred.value.kwargs, "event": payload}, context)
    assert fresh.submitted_job == handed_over


# -- GPU jobs --------------------------------------------------------------------------------------

#: A GPU job as a DAG asks for one: an accelerator-optimized machine type on Flex-start VMs.
GPU = {"machine_type": "g2-standard-8", "provisioning_model": "FLEX_START", "boot_disk_size_gb": 100}


@pytest.mark.parametrize("mode", MODES)
def test_a_gpu_job_held_for_capacity_times_out_saying_how_long_it_queued(gcp_env, emulator, mode):
    # No capacity: the emulator holds the job in QUEUED, so the deadline passes while it waits there.
    emulator.set_scenario({"rules": [{"match": {"command": "app"}, "stay_queued": True}]})
    with pytest.raises(JobTimedOut) as failure:
        run(operator(timeout=1.0, **GPU), make_context(), mode)
    text = str(failure.value)
    assert "is QUEUED (running)" in text, text
    assert re.search(r"It has been QUEUED for \d+ s: Batch keeps a job queued until it can get its VMs", text)
    assert "FLEX_START" in text and "allowed_locations" in text
    assert failure.value.summary["timeline"]["queued"] > 0
    assert "running" not in failure.value.summary["timeline"]
    # The operator cancelled it (cancel_on_kill): it went from QUEUED to cancelled, never scheduled.
    job = emulator.jobs()[0]
    assert job.status.state.name in ("CANCELLATION_IN_PROGRESS", "CANCELLED")
    assert "QUEUED to CANCELLATION_IN_PROGRESS" in job.status.status_events[0].description
    assert job.allocation_policy.instances[0].install_gpu_drivers is True


@pytest.mark.parametrize("mode", MODES)
def test_a_gpu_job_held_for_capacity_succeeds_once_capacity_arrives(gcp_env, emulator, mode):
    emulator.set_scenario({"rules": [{"match": {"command": "app"}, "stay_queued": True}]})
    release = when_job_exists(emulator, emulator.release_job)  # the test ends the wait, not a clock
    summary = run(operator(**GPU), make_context(), mode)
    release.join()
    assert summary["state"] == "SUCCEEDED"
    assert set(summary["timeline"]) >= {"queued", "scheduled", "running"}


def test_accelerators_the_machine_type_cannot_take_are_refused_before_any_call(gcp_env, emulator):
    with pytest.raises(JobSpecInvalid) as refused:
        operator(machine_type="e2-standard-8", accelerator_type="nvidia-tesla-t4").execute(make_context())
    text = str(refused.value)
    assert "GPU-MACHINE" in text and "machine_type" in text and "n1-standard-8" in text
    assert emulator.call_counts == {}
