"""The emulator through the unmodified BatchServiceAsyncClient (grpc.aio channel)."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from google.api_core import exceptions
from google.cloud import batch_v1

from tests.fixtures.emulator import PARENT, async_wait_terminal, make_job

State = batch_v1.JobStatus.State


async def test_async_lifecycle_to_succeeded(async_batch_client):
    created = await async_batch_client.create_job(
        parent=PARENT, job_id="async-ok", job=make_job(task_count=2)
    )

    done, seen = await async_wait_terminal(async_batch_client, created.name)

    assert seen == ["QUEUED", "SCHEDULED", "RUNNING", "SUCCEEDED"]
    assert dict(done.status.task_groups["group0"].counts) == {"SUCCEEDED": 2}
    task = await async_batch_client.get_task(name=f"{created.name}/taskGroups/group0/tasks/1")
    assert [e.task_state.name for e in task.status.status_events] == ["ASSIGNED", "RUNNING", "SUCCEEDED"]


async def test_async_failure_reports_the_exit_code(emulator, async_batch_client):
    emulator.set_scenario([{"match": {"image": "*/broken:*"}, "exit_code": 2}])
    job = make_job(image="us-central1-docker.pkg.dev/emu-project/repo/broken:1")

    created = await async_batch_client.create_job(parent=PARENT, job_id="async-fail", job=job)
    done, _ = await async_wait_terminal(async_batch_client, created.name)

    assert done.status.state == State.FAILED
    assert done.status.status_events[-1].description.endswith('with exit code 2."')


async def test_async_cancel_operation_result(emulator, async_batch_client):
    emulator.set_scenario([{"stay_running": True}])
    created = await async_batch_client.create_job(parent=PARENT, job_id="async-cancel", job=make_job())

    operation = await async_batch_client.cancel_job(
        request={"name": created.name, "request_id": str(uuid.uuid4())}
    )
    result = await asyncio.wait_for(operation.result(), timeout=15)

    assert isinstance(result, batch_v1.CancelJobResponse)
    assert (await async_batch_client.get_job(name=created.name)).status.state == State.CANCELLED


async def test_async_delete_operation_result_then_not_found(emulator, async_batch_client):
    created = await async_batch_client.create_job(parent=PARENT, job_id="async-delete", job=make_job())

    operation = await async_batch_client.delete_job(name=created.name)
    await asyncio.wait_for(operation.result(), timeout=15)

    with pytest.raises(exceptions.NotFound):
        await async_batch_client.get_job(name=created.name)


async def test_async_paging_and_retry_on_unavailable(emulator, async_batch_client):
    for i in range(5):
        await async_batch_client.create_job(parent=PARENT, job_id=f"async-list-{i}", job=make_job())
    emulator.inject_fault("ListJobs", "UNAVAILABLE")

    pager = await async_batch_client.list_jobs(request={"parent": PARENT, "page_size": 2})
    names = [job.name async for job in pager]

    assert names == [f"{PARENT}/jobs/async-list-{i}" for i in range(5)]
    assert emulator.call_counts["ListJobs"] == 4  # one refused, then three pages


async def test_async_many_concurrent_gets(emulator, async_batch_client):
    created = await async_batch_client.create_job(parent=PARENT, job_id="async-many", job=make_job())

    jobs = await asyncio.gather(*(async_batch_client.get_job(name=created.name) for _ in range(50)))

    assert {j.uid for j in jobs} == {created.uid}
    assert emulator.call_counts["GetJob"] == 50


async def test_async_duplicate_is_already_exists(async_batch_client):
    await async_batch_client.create_job(parent=PARENT, job_id="async-dup", job=make_job())

    with pytest.raises(exceptions.AlreadyExists):
        await async_batch_client.create_job(parent=PARENT, job_id="async-dup", job=make_job())
