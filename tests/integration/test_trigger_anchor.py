"""The same situations, side by side: our trigger/hook vs the Google provider's Cloud Batch ones.

The anchor (``CloudBatchJobFinishedTrigger``, ``CloudBatchHook``) is pointed at the emulator by
replacing only its client construction; everything else is its installed code. Each test shows
what the anchor does, then that ours does the right thing.
"""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from tests.fixtures.airflow import LOCATION, PROJECT, arun_trigger

SPEC = {
    "taskGroups": [
        {
            "taskSpec": {
                "runnables": [
                    {"container": {"imageUri": "us-central1-docker.pkg.dev/p/r/i:1", "commands": ["app"]}}
                ]
            }
        }
    ]
}


@pytest.fixture
def anchor(gcp_env, monkeypatch):
    """The anchor's sync and async hooks, talking to the emulator."""
    from airflow.providers.google.cloud.hooks.cloud_batch import CloudBatchAsyncHook, CloudBatchHook

    from airflow_batchstream.emulator.client import async_client, sync_client

    monkeypatch.setenv(
        "AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT",
        json.dumps({"conn_type": "google_cloud_platform", "extra": {"project": PROJECT}}),
    )

    def sync_conn(self):
        if self._client is None:
            self._client = sync_client(gcp_env)
        return self._client

    def async_conn(self):
        if self._client is None:
            self._client = async_client(gcp_env)
        return self._client

    monkeypatch.setattr(CloudBatchHook, "get_conn", sync_conn)
    monkeypatch.setattr(CloudBatchAsyncHook, "get_conn", async_conn)
    return CloudBatchHook


def anchor_trigger(name: str, **kwargs):
    from airflow.providers.google.cloud.triggers.cloud_batch import CloudBatchJobFinishedTrigger

    return CloudBatchJobFinishedTrigger(
        job_name=name, project_id=PROJECT, location=LOCATION, polling_period_seconds=0.1, **kwargs
    )


def our_trigger(name: str, **kwargs):
    from airflow_batchstream.triggers import BatchStreamJobTrigger

    return BatchStreamJobTrigger(job_name=name, poll_interval=0.1, **kwargs)


def submit(anchor_hook_class, job_id: str) -> str:
    return (
        anchor_hook_class()
        .submit_batch_job(job_name=job_id, job=SPEC, region=LOCATION, project_id=PROJECT)
        .name
    )


async def test_cancelled_job(anchor, emulator, batch_client):
    emulator.set_scenario({"rules": [{"stay_running": True}]})
    name = submit(anchor, "cancelled")
    batch_client.cancel_job(name=name)
    started = time.monotonic()
    theirs = await arun_trigger(anchor_trigger(name, timeout=1.5))
    assert theirs["status"] == "timed out"  # kept polling a CANCELLED job until its timeout
    assert time.monotonic() - started >= 1.4
    ours = await arun_trigger(our_trigger(name, deadline=time.time() + 60))
    assert ours["status"] == "failed"
    assert ours["summary"]["outcome"] == "cancelled"


async def test_one_transient_error(anchor, emulator):
    name = submit(anchor, "blip")
    # The client's default GetJob retry covers UNAVAILABLE only; quota errors (RESOURCE_EXHAUSTED,
    # likely with many waiters) and INTERNAL reach the anchor's trigger, which gives up.
    emulator.inject_fault("GetJob", "RESOURCE_EXHAUSTED")
    theirs = await arun_trigger(anchor_trigger(name))
    assert theirs["status"] == "error"  # one blip ended the wait
    emulator.inject_fault("GetJob", "RESOURCE_EXHAUSTED")
    ours = await arun_trigger(our_trigger(name))
    assert ours["status"] == "success"


async def test_user_kill_while_deferred(anchor, emulator):
    emulator.set_scenario({"rules": [{"stay_running": True}]})
    name = submit(anchor, "killed")
    await anchor_trigger(name).on_kill()  # BaseTrigger's default: nothing
    await asyncio.sleep(0.1)
    assert emulator.job(name).status.state.name not in ("CANCELLATION_IN_PROGRESS", "CANCELLED")
    await our_trigger(name).on_kill()
    assert emulator.job(name).status.state.name in ("CANCELLATION_IN_PROGRESS", "CANCELLED")


def test_retry_of_the_same_task(anchor, emulator):
    from google.api_core.exceptions import AlreadyExists

    from airflow_batchstream.operators import BatchStreamJobOperator
    from tests.fixtures.airflow import make_context

    submit(anchor, "nightly")
    with pytest.raises(AlreadyExists):  # the anchor's try 2 with the same job_name
        submit(anchor, "nightly")

    def ours(try_number: int):
        op = BatchStreamJobOperator(
            task_id="crunch",
            image_uri="us-central1-docker.pkg.dev/test-project/repo/app:1.0",
            location=LOCATION,
            project_id=PROJECT,
            poll_interval=0.1,
        )
        return op.execute(make_context(try_number=try_number))["job_name"]

    assert ours(1) != ours(2)  # a distinct, deterministic job per try


def test_invalid_spec(anchor, emulator):
    from airflow_batchstream.exceptions import ParameterInvalid
    from airflow_batchstream.operators import BatchStreamJobOperator

    streaming_with_options = json.loads(json.dumps(SPEC))
    container = streaming_with_options["taskGroups"][0]["taskSpec"]["runnables"][0]["container"]
    container.update({"enableImageStreaming": True, "options": "--privileged"})
    submit_spec = anchor().submit_batch_job(
        job_name="silently-ignored", job=streaming_with_options, region=LOCATION, project_id=PROJECT
    )
    assert submit_spec.name  # accepted; Batch would ignore the option silently (IS-3)

    emulator.reset_counts()
    with pytest.raises(ParameterInvalid, match=r"job_overrides \(.*\.container\.options\): .*\[IS-3\]"):
        BatchStreamJobOperator(  # refused when the DAG file is parsed
            task_id="crunch",
            image_uri="us-central1-docker.pkg.dev/test-project/repo/app:1.0",
            location=LOCATION,
            project_id=PROJECT,
            job_overrides={"taskGroups": streaming_with_options["taskGroups"]},
        )
    assert emulator.call_counts == {}
