"""BatchStreamHook with the real google-cloud-batch clients against the emulator over gRPC."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from google.api_core import exceptions as api_exceptions

from airflow_batchstream import _shared
from airflow_batchstream.config import EMULATOR_ENV
from airflow_batchstream.hooks import BatchStreamHook
from airflow_batchstream.retry import RetryPolicy
from tests.fixtures.airflow import LOCATION, PROJECT

JOB = {
    "taskGroups": [
        {"taskSpec": {"runnables": [{"container": {"imageUri": "us-central1-docker.pkg.dev/p/r/i:1"}}]}}
    ],
    "labels": {"team": "data", "managed-by": "airflow-batchstream"},
}


@pytest.fixture
def hook(gcp_env, monkeypatch):
    from airflow.providers.google.common.hooks.base_google import GoogleBaseHook

    def no_credentials(self):
        raise AssertionError("the emulator path must not look up Google credentials")

    monkeypatch.setattr(GoogleBaseHook, "get_credentials", no_credentials)
    monkeypatch.setattr(GoogleBaseHook, "get_credentials_and_project_id", no_credentials)
    return BatchStreamHook(retry=RetryPolicy(initial=0.05, maximum=0.2, budget=10))


def test_emulator_needs_no_connection_and_no_credentials(hook):
    assert hook.project_id == PROJECT
    job, created = hook.create_job(project_id=None, location=LOCATION, job_id="first", job=JOB)
    assert created
    assert job.name == f"projects/{PROJECT}/locations/{LOCATION}/jobs/first"


def test_create_after_lost_response_makes_one_job(hook, emulator):
    emulator.lose_next_response("CreateJob")
    job, created = hook.create_job(project_id=PROJECT, location=LOCATION, job_id="lost", job=JOB)
    assert created
    assert emulator.call_counts["CreateJob"] == 2
    assert [j.name for j in emulator.jobs()] == [job.name]


def test_existing_job_is_returned_with_created_false(hook, emulator, batch_client):
    from google.cloud.batch_v1 import Job

    batch_client.create_job(
        parent=f"projects/{PROJECT}/locations/{LOCATION}",
        job_id="taken",
        job=Job.from_json('{"taskGroups":[{"taskSpec":{"runnables":[{"container":{"imageUri":"x"}}]}}]}'),
    )
    job, created = hook.create_job(project_id=PROJECT, location=LOCATION, job_id="taken", job=JOB)
    assert not created
    assert job.name.endswith("/jobs/taken")
    assert "team" not in job.labels  # it is the other job, for the caller to judge by its labels
    assert len(emulator.jobs()) == 1


def test_cancel_request_id_is_the_version_4_uuid_batch_declares(hook, emulator):
    # CancelJobRequest.request_id is declared (google.api.field_info).format = UUID4, and the
    # emulator refuses anything else, as Batch may: the hook's cancel must pass, and twice is harmless.
    emulator.set_scenario({"rules": [{"stay_running": True}]})
    job, _ = hook.create_job(project_id=PROJECT, location=LOCATION, job_id="cancel-me", job=JOB)
    assert hook.cancel_job(job.name)
    assert hook.cancel_job(job.name)  # the same request id: the pending operation, not a new one
    assert emulator.job(job.name).status.state.name in ("CANCELLATION_IN_PROGRESS", "CANCELLED")


def test_get_missing_job(hook):
    name = f"projects/{PROJECT}/locations/{LOCATION}/jobs/nope"
    assert hook.get_job(name, missing_ok=True) is None
    with pytest.raises(api_exceptions.NotFound):
        hook.get_job(name)


def test_cancel_and_delete(hook, emulator):
    emulator.set_scenario({"rules": [{"stay_running": True}]})
    job, _ = hook.create_job(project_id=PROJECT, location=LOCATION, job_id="c", job=JOB)
    assert hook.cancel_job(job.name)
    assert hook.get_job(job.name).status.state.name in ("CANCELLATION_IN_PROGRESS", "CANCELLED")
    assert hook.delete_job(job.name)
    assert not hook.cancel_job(f"projects/{PROJECT}/locations/{LOCATION}/jobs/gone")


def test_transient_errors_are_retried(hook, emulator):
    job, _ = hook.create_job(project_id=PROJECT, location=LOCATION, job_id="t", job=JOB)
    for code in ("UNAVAILABLE", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED", "INTERNAL"):
        emulator.inject_fault("GetJob", code)
    emulator.reset_counts()
    assert hook.get_job(job.name).name == job.name
    assert emulator.call_counts["GetJob"] == 5


def test_permanent_errors_are_not_retried(hook, emulator):
    job, _ = hook.create_job(project_id=PROJECT, location=LOCATION, job_id="p", job=JOB)
    emulator.inject_fault("GetJob", "PERMISSION_DENIED")
    emulator.reset_counts()
    with pytest.raises(api_exceptions.PermissionDenied):
        hook.get_job(job.name)
    assert emulator.call_counts["GetJob"] == 1


def test_retry_budget_bounds_an_outage(gcp_env, emulator):
    hook = BatchStreamHook(retry=RetryPolicy(initial=0.05, maximum=0.1, budget=0.6))
    emulator.set_faults(fraction=1.0, codes=("UNAVAILABLE",), rpcs=["GetJob"])
    started = time.monotonic()
    with pytest.raises(api_exceptions.ServiceUnavailable):
        hook.get_job(f"projects/{PROJECT}/locations/{LOCATION}/jobs/x")
    assert 0.5 <= time.monotonic() - started < 3


async def test_async_client_is_shared_per_loop_and_key(gcp_env, emulator):
    first = await BatchStreamHook().get_async_conn()
    second = await BatchStreamHook().get_async_conn()
    other = await BatchStreamHook(gcp_conn_id="other").get_async_conn()
    assert first is second
    assert other is not first
    assert _shared.shared_async_client_count() == 2


def test_async_clients_are_per_event_loop(gcp_env, emulator):
    async def client():
        return await BatchStreamHook().get_async_conn()

    assert asyncio.run(client()) is not asyncio.run(client())


async def test_rate_limiter_spaces_calls():
    limiter = _shared.AsyncRateLimiter(rate=50, burst=5)
    started = time.monotonic()
    await asyncio.gather(*(limiter.acquire() for _ in range(30)))
    assert time.monotonic() - started >= (30 - 5) / 50 * 0.9


def test_an_outage_ends_the_worker_wait_only_at_its_deadline(gcp_env, emulator):
    emulator.set_scenario({"rules": [{"match": {}, "stay_running": True}]})
    hook = BatchStreamHook(retry=RetryPolicy(initial=0.05, maximum=0.1, budget=0.3))
    job, _ = hook.create_job(project_id=PROJECT, location=LOCATION, job_id="outage-deadline", job=JOB)
    emulator.set_faults(fraction=1.0, codes=("UNAVAILABLE",), rpcs=["GetJob"])  # CancelJob still works
    deadline = time.time() + 1.0
    payload = hook.wait_for_job(job.name, poll_interval=0.1, deadline=deadline)
    assert payload["status"] == "timeout"
    assert 0 <= time.time() - deadline < 1.0
    assert emulator.call_counts["GetJob"] >= 3  # it kept asking through the outage
    # Whether a timed-out job is cancelled is its owner's decision (the operator's), not the wait's.
    assert emulator.call_counts.get("CancelJob", 0) == 0


def test_worker_wait_outlives_an_outage_longer_than_the_retry_budget(gcp_env, emulator):
    import threading

    hook = BatchStreamHook(retry=RetryPolicy(initial=0.05, maximum=0.1, budget=0.3))
    job, _ = hook.create_job(project_id=PROJECT, location=LOCATION, job_id="outage", job=JOB)
    emulator.set_faults(fraction=1.0, codes=("UNAVAILABLE",), rpcs=["GetJob"])
    threading.Timer(1.5, emulator.set_faults).start()
    payload = hook.wait_for_job(job.name, poll_interval=0.1, deadline=None)
    assert payload["status"] == "success"


def test_the_default_retry_budget_is_the_configured_one(gcp_env, emulator, monkeypatch):
    # A budget above the default first delay's ceiling (0.5 s): at least one retry always fits.
    monkeypatch.setenv("AIRFLOW__BATCHSTREAM__API_RETRY_BUDGET", "2.5")
    hook = BatchStreamHook()
    assert hook.retry.budget == 2.5 and hook.retry.initial < 2.5
    emulator.set_faults(fraction=1.0, codes=("UNAVAILABLE",), rpcs=["GetJob"])
    with pytest.raises(api_exceptions.ServiceUnavailable):
        hook.get_job(f"projects/{PROJECT}/locations/{LOCATION}/jobs/x")
    assert emulator.call_counts["GetJob"] > 1  # retried, then the last error itself


def test_against_google_the_connection_is_read_by_a_google_hook_it_holds(monkeypatch):
    # No emulator: the connection (here from the environment) is GoogleBaseHook's business.
    from airflow.providers.google.common.hooks.base_google import GoogleBaseHook

    monkeypatch.delenv(EMULATOR_ENV, raising=False)
    connection = {"conn_type": "google_cloud_platform", "extra": {"api_endpoint": "batch.p.example:443"}}
    monkeypatch.setenv("AIRFLOW_CONN_BATCH_PSC", json.dumps(connection))
    hook = BatchStreamHook(gcp_conn_id="batch_psc")
    assert isinstance(hook.google, GoogleBaseHook) and hook.google.gcp_conn_id == "batch_psc"
    assert hook.api_endpoint == "batch.p.example:443" and hook.endpoint == "batch.p.example:443"
    assert BatchStreamHook(gcp_conn_id="batch_psc", api_endpoint="other:443").api_endpoint == "other:443"


def test_against_the_emulator_there_is_no_google_hook(gcp_env):
    hook = BatchStreamHook(gcp_conn_id="no_such_connection")
    assert hook.google is None and hook.api_endpoint is None and hook.get_credentials() is None
    assert hook.endpoint == f"emulator:{gcp_env}"
