"""The emulator's store driven directly with a fake clock: time mapping, caching, operations.

No gRPC here; the requests and replies are the protobuf messages the server would carry.
"""

from __future__ import annotations

import uuid

import grpc
import pytest
from google.cloud import batch_v1
from google.longrunning import operations_pb2

from airflow_batchstream.emulator.scenario import Scenario
from airflow_batchstream.emulator.store import Store
from airflow_batchstream.emulator.validation import EmulatorError
from tests.fixtures.emulator import PARENT, make_job

T0 = 1_800_000_000.0


class FakeClock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def create(store: Store, job_id: str = "j", **request) -> batch_v1.Job:
    message = batch_v1.CreateJobRequest(parent=PARENT, job_id=job_id, job=make_job(), **request)
    return batch_v1.Job.deserialize(store.create_job(batch_v1.CreateJobRequest.pb(message)))


def get(store: Store, name: str) -> batch_v1.Job:
    request = batch_v1.GetJobRequest.pb(batch_v1.GetJobRequest(name=name))
    return batch_v1.Job.deserialize(store.get_job(request))


def operation(store: Store, verb: str, name: str, **request) -> operations_pb2.Operation:
    if verb == "cancel":
        message = batch_v1.CancelJobRequest.pb(batch_v1.CancelJobRequest(name=name, **request))
        return operations_pb2.Operation.FromString(store.cancel_job(message))
    message = batch_v1.DeleteJobRequest.pb(batch_v1.DeleteJobRequest(name=name, **request))
    return operations_pb2.Operation.FromString(store.delete_job(message))


def poll(store: Store, name: str) -> operations_pb2.Operation:
    return operations_pb2.Operation.FromString(
        store.get_operation(operations_pb2.GetOperationRequest(name=name))
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(clock) -> Store:
    # Default phases: queued 2, scheduled 2, assigned 1, running 5 -> done 10 emulated seconds in.
    return Store(speed=2.0, clock=clock)


def test_speed_compresses_phases_and_times_are_wall_clock(store, clock):
    job = create(store)
    assert job.create_time.timestamp() == pytest.approx(T0)

    clock.now = T0 + 0.99
    assert get(store, job.name).status.state == batch_v1.JobStatus.State.QUEUED
    clock.now = T0 + 1.0
    scheduled = get(store, job.name)
    assert scheduled.status.state == batch_v1.JobStatus.State.SCHEDULED
    assert scheduled.status.status_events[0].event_time.timestamp() == pytest.approx(T0 + 1.0)
    assert scheduled.update_time.timestamp() == pytest.approx(T0 + 1.0)

    clock.now = T0 + 5.0
    done = get(store, job.name)
    assert done.status.state == batch_v1.JobStatus.State.SUCCEEDED
    assert done.status.run_duration.total_seconds() == pytest.approx(2.5)  # 5 emulated s at speed 2
    assert done.update_time.timestamp() == pytest.approx(T0 + 5.0)


def test_renders_are_cached_until_something_changes(store, clock):
    job = create(store)
    clock.now = T0 + 0.2
    first = store.get_job(batch_v1.GetJobRequest.pb(batch_v1.GetJobRequest(name=job.name)))
    clock.now = T0 + 0.4
    second = store.get_job(batch_v1.GetJobRequest.pb(batch_v1.GetJobRequest(name=job.name)))
    assert second is first

    operation(store, "cancel", job.name)
    assert get(store, job.name).status.state == batch_v1.JobStatus.State.CANCELLATION_IN_PROGRESS


def test_cancel_operation_completes_when_the_job_is_cancelled(store, clock):
    job = create(store)
    clock.now = T0 + 3.0  # RUNNING
    started = operation(store, "cancel", job.name)
    assert not started.done

    clock.now = T0 + 3.99
    assert not poll(store, started.name).done
    clock.now = T0 + 4.0  # cancelling lasts 2 emulated seconds = 1 s
    finished = poll(store, started.name)
    assert finished.done
    assert finished.response.Is(batch_v1.CancelJobResponse.pb().DESCRIPTOR)
    metadata = batch_v1.OperationMetadata.pb()()
    finished.metadata.Unpack(metadata)
    assert (metadata.verb, metadata.target) == ("cancel", job.name)
    assert metadata.end_time.ToNanoseconds() == pytest.approx((T0 + 4.0) * 1e9, abs=1e3)


def test_second_cancel_joins_the_first_operation(store, clock):
    job = create(store)
    first = operation(store, "cancel", job.name)
    clock.now = T0 + 0.5
    assert operation(store, "cancel", job.name).name == first.name


def test_delete_during_cancellation_aborts_the_cancel_operation(store, clock):
    job = create(store)
    cancel = operation(store, "cancel", job.name)
    clock.now = T0 + 0.5
    delete = operation(store, "delete", job.name)

    clock.now = T0 + 1.49
    assert get(store, job.name).status.state == batch_v1.JobStatus.State.DELETION_IN_PROGRESS
    clock.now = T0 + 1.5
    with pytest.raises(EmulatorError) as raised:
        get(store, job.name)
    assert raised.value.code == grpc.StatusCode.NOT_FOUND
    assert poll(store, delete.name).done
    aborted = poll(store, cancel.name)
    assert aborted.done and aborted.error.code == grpc.StatusCode.ABORTED.value[0]


def test_request_ids_are_per_rpc_and_a_gone_job_frees_them(store, clock):
    request_id = str(uuid.uuid4())
    job = create(store, request_id=request_id)
    assert create(store, "other", request_id=request_id).uid == job.uid

    operation(store, "delete", job.name, request_id=request_id)  # same id, other RPC: not a replay
    clock.now = T0 + 10
    assert create(store, "other", request_id=request_id).name.endswith("/jobs/other")


def test_operations_list_delete_and_cancel(store):
    job = create(store)
    started = operation(store, "cancel", job.name)
    listing = operations_pb2.ListOperationsResponse.FromString(
        store.list_operations(operations_pb2.ListOperationsRequest(name=PARENT))
    )
    assert [o.name for o in listing.operations] == [started.name]

    store.cancel_operation(operations_pb2.CancelOperationRequest(name=started.name))
    metadata = batch_v1.OperationMetadata.pb()()
    poll(store, started.name).metadata.Unpack(metadata)
    assert metadata.requested_cancellation

    store.delete_operation(operations_pb2.DeleteOperationRequest(name=started.name))
    with pytest.raises(EmulatorError):
        poll(store, started.name)


def test_scenario_changes_apply_to_new_jobs_only(store, clock):
    old = create(store, "old")
    store.scenario = Scenario.from_obj([{"exit_code": 1}])
    new = create(store, "new")

    clock.now = T0 + 10
    assert get(store, old.name).status.state == batch_v1.JobStatus.State.SUCCEEDED
    assert get(store, new.name).status.state == batch_v1.JobStatus.State.FAILED


def test_task_environments_set_the_task_count(store):
    message = batch_v1.CreateJobRequest(parent=PARENT, job_id="envs", job=make_job(task_count=7))
    message.job.task_groups[0].task_environments = [
        batch_v1.Environment(variables={"I": str(i)}) for i in range(3)
    ]

    job = batch_v1.Job.deserialize(store.create_job(batch_v1.CreateJobRequest.pb(message)))

    assert job.task_groups[0].task_count == 3
    assert dict(job.status.task_groups["group0"].counts) == {"PENDING": 3}


def test_bad_page_token_is_invalid_argument(store):
    request = batch_v1.ListJobsRequest(parent=PARENT, page_token="not-a-token!")

    with pytest.raises(EmulatorError) as raised:
        store.list_jobs(batch_v1.ListJobsRequest.pb(request))

    assert raised.value.code == grpc.StatusCode.INVALID_ARGUMENT


def test_speed_must_be_positive():
    with pytest.raises(ValueError):
        Store(speed=0)


def test_deleted_jobs_are_swept_and_their_ids_reusable(store, clock, monkeypatch):
    monkeypatch.setattr("airflow_batchstream.emulator.store.PURGE_EVERY", 1)
    old = create(store, "reused")
    swept = create(store, "swept", request_id=str(uuid.uuid4()))
    operation(store, "delete", old.name)
    operation(store, "delete", swept.name)
    clock.now = T0 + 10

    new = create(store, "reused")
    create(store, "other")

    assert new.uid != old.uid
    # Swept, not merely hidden: the record and its create request id are forgotten.
    assert swept.name not in store._jobs
    assert all(record.name != swept.name for record in store._requests.values())
    assert [batch_v1.Job.deserialize(m).name for m in store.job_messages()] == [
        new.name,
        f"{PARENT}/jobs/other",
    ]
