"""Wait for Batch jobs the way a worker or a triggerer does, with real Airflow connections and the
real google-auth + TLS gRPC path; print how each wait ended, as one JSON line.

Run by tests/integration/test_credentials.py in a fresh interpreter, because gRPC reads its TLS
roots (``GRPC_DEFAULT_SSL_ROOTS_FILE_PATH``, the emulator's self-signed certificate) once per
process. Usage::

    python -m tests.integration.credential_wait '{"case": {"mode": "worker"|"trigger"|"deferred",
        "conn": CONN_ID, "job": JOB_NAME, "impersonate": EMAIL or null}, ...}'

``deferred`` runs a deferrable operator instead (it creates its own job), then its trigger rebuilt
from the serialized form, as a restarted triggerer would.

``BATCHSTREAM_TEST_IAM_ENDPOINT`` replaces google-auth's IAM endpoint (Google's, which cannot run
here) with the test's loopback one.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys


def wait_in_worker(conn: str, job: str, impersonate: str | None) -> dict:
    from airflow_batchstream.hooks import BatchStreamHook

    hook = BatchStreamHook(gcp_conn_id=conn, impersonation_chain=impersonate)
    try:
        payload = hook.wait_for_job(job, poll_interval=0.2, deadline=None)
    except Exception as exc:
        return {"raised": type(exc).__name__, "message": str(exc), "endpoint": hook.endpoint}
    return {"status": payload["status"], "endpoint": hook.endpoint}


def wait_in_trigger(conn: str, job: str, impersonate: str | None) -> dict:
    from airflow_batchstream.triggers import BatchStreamJobTrigger

    trigger = BatchStreamJobTrigger(
        job_name=job, gcp_conn_id=conn, impersonation_chain=impersonate, poll_interval=0.2, not_before=0.0
    )
    return wait_for_event(trigger)


def wait_for_event(trigger) -> dict:
    async def first_event() -> dict:
        async for event in trigger.run():
            return event.payload
        raise AssertionError("the trigger ended without an event")

    from airflow_batchstream.states import diagnosis_of

    payload = asyncio.run(first_event())
    return {"status": payload["status"], "error": payload.get("error"), "message": diagnosis_of(payload)}


def defer_then_wait(conn: str, job: str, impersonate: str | None) -> dict:
    from airflow.sdk.exceptions import TaskDeferred

    from airflow_batchstream.operators import BatchStreamJobOperator
    from tests.fixtures.airflow import make_context, rebuild

    operator = BatchStreamJobOperator(
        task_id="deferred_over_tls",
        image_uri="us-central1-docker.pkg.dev/cred-project/repo/app:1",
        location="us-central1",
        commands=["done"],
        deferrable=True,
        poll_interval=0.2,
        image_check="off",
        gcp_conn_id=conn,
        impersonation_chain=impersonate,
    )
    try:
        operator.execute(make_context(task_id="deferred_over_tls"))
    except TaskDeferred as deferred:
        trigger = rebuild(deferred.trigger)
    else:
        raise AssertionError("the operator did not defer")
    trigger.not_before = 0.0
    outcome = wait_for_event(trigger)
    return {**outcome, "api_endpoint": trigger.api_endpoint, "job": trigger.job_name}


def main(cases: dict[str, dict]) -> dict[str, dict]:
    iam_endpoint = os.environ.get("BATCHSTREAM_TEST_IAM_ENDPOINT")
    if iam_endpoint:
        import google.auth.iam

        google.auth.iam._IAM_ENDPOINT = iam_endpoint
    waits = {"worker": wait_in_worker, "trigger": wait_in_trigger, "deferred": defer_then_wait}
    return {
        name: waits[case["mode"]](case["conn"], case["job"], case.get("impersonate"))
        for name, case in cases.items()
    }


if __name__ == "__main__":
    print(json.dumps(main(json.loads(sys.argv[1]))))
