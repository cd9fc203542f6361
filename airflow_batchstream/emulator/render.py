"""A stored job's timeline, rendered as the protobuf messages a client receives at a moment.

Jobs, tasks and the long-running operations of CancelJob/DeleteJob are rendered from their
:class:`~airflow_batchstream.emulator.timeline.Timeline` at the emulated time of the call, so idle
jobs cost nothing; a rendered job is cached until its timeline says something changed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import grpc
from google.cloud.batch_v1 import types as batch
from google.cloud.location import locations_pb2
from google.longrunning import operations_pb2
from google.protobuf import empty_pb2

from airflow_batchstream.emulator.timeline import CANCELLED, INF
from airflow_batchstream.emulator.validation import TASK_GROUP_ID

if TYPE_CHECKING:
    from airflow_batchstream.emulator.store import JobRecord, OperationRecord

JobPB = batch.Job.pb()
JobStatusPB = batch.JobStatus.pb()
TaskPB = batch.Task.pb()
TaskStatusPB = batch.TaskStatus.pb()
OperationMetadataPB = batch.OperationMetadata.pb()
CancelJobResponsePB = batch.CancelJobResponse.pb()


def render_job(record: JobRecord, now: float) -> bytes:
    """The Job as a client sees it at wall-clock ``now``, serialized; cached until something changes."""
    t = record.elapsed(now)
    version = record.timeline.version_at(t)
    if record.cache is not None and record.cache[0] == version:
        return record.cache[1]
    data = _build_job(record, t).SerializeToString()
    record.cache = (version, data)
    return data


def _build_job(record: JobRecord, t: float):
    timeline = record.timeline
    job = JobPB()
    job.CopyFrom(record.spec)
    job.name, job.uid = record.name, record.uid
    _timestamp(job.create_time, record.created)
    changed = timeline.last_change_at(t)
    _timestamp(job.update_time, record.wall(changed) if changed is not None else record.created)
    status = job.status
    status.state = JobStatusPB.State.Value(timeline.job_state_at(t))
    for change in timeline.job_changes_until(t):
        event = status.status_events.add(type_="STATUS_CHANGED", description=change.description)
        _timestamp(event.event_time, record.wall(change.time))
    group_status = status.task_groups[TASK_GROUP_ID]
    for state, count in timeline.counts_at(t).items():
        group_status.counts[state] = count
    if status.state != JobStatusPB.State.QUEUED:
        _add_instance(group_status, record.spec)
    # runDuration moves with the other fields (at each change), which keeps renders cacheable.
    as_of = changed if changed is not None else 0.0
    status.run_duration.FromNanoseconds(int(timeline.run_duration_at(as_of) / record.speed * 1e9))
    return job


def _add_instance(group_status, spec) -> None:
    instance = group_status.instances.add(task_pack=spec.task_groups[0].task_count_per_node or 1)
    policies = spec.allocation_policy.instances
    policy = policies[0].policy if policies else None
    instance.machine_type = (policy.machine_type if policy else "") or "e2-standard-2"
    instance.provisioning_model = (policy.provisioning_model if policy else 0) or 1  # STANDARD


def render_task(record: JobRecord, index: int, t: float):
    """Task ``index`` of a job at emulated second ``t``, as a ``Task`` message."""
    task = TaskPB(name=f"{record.name}/taskGroups/{TASK_GROUP_ID}/tasks/{index}")
    changes = record.timeline.task_changes_until(index, t)
    task.status.state = TaskStatusPB.State.Value(changes[-1].new if changes else "PENDING")
    for change in changes:
        event = task.status.status_events.add(type_="STATUS_CHANGED", description=change.description)
        event.task_state = TaskStatusPB.State.Value(change.new)
        _timestamp(event.event_time, record.wall(change.time))
        if change.exit_code is not None:
            event.task_execution.exit_code = change.exit_code
    return task


def render_operation(operation: OperationRecord, now: float) -> bytes:
    """A cancel or delete operation at wall-clock ``now``, serialized; done once its job says so."""
    record = operation.job
    t = record.elapsed(now)
    timeline = record.timeline
    message = operations_pb2.Operation(name=operation.name)
    metadata = OperationMetadataPB(
        target=record.name,
        verb=operation.verb,
        api_version="v1",
        requested_cancellation=operation.requested_cancellation,
    )
    _timestamp(metadata.create_time, operation.created)
    done_at = _operation_done_at(operation)
    if t >= done_at:
        message.done = True
        _timestamp(metadata.end_time, record.wall(done_at))
        if operation.verb == "delete":
            message.response.Pack(empty_pb2.Empty())
        elif timeline.job_state_at(done_at) == CANCELLED:
            message.response.Pack(CancelJobResponsePB())
        else:
            message.error.code = grpc.StatusCode.ABORTED.value[0]
            message.error.message = f"Job {record.name} was deleted before its cancellation completed."
    message.metadata.Pack(metadata)
    return message.SerializeToString()


def _operation_done_at(operation: OperationRecord) -> float:
    timeline = operation.job.timeline
    if operation.verb == "delete":
        return timeline.gone_at
    cancelled = next((c.time for c in timeline.job_changes if c.new == CANCELLED), INF)
    return min(cancelled, timeline.gone_at)


def render_location(project: str, region: str) -> locations_pb2.Location:
    return locations_pb2.Location(
        name=f"projects/{project}/locations/{region}", location_id=region, display_name=region
    )


def _timestamp(message, wall: float) -> None:
    message.FromNanoseconds(int(wall * 1e9))
