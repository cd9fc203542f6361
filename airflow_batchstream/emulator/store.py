"""The emulator's state: jobs, operations and request ids, and what each RPC does to them.

Every public method takes and returns protobuf messages (the ``_pb`` classes behind the
google-cloud-batch proto-plus types) and raises
:class:`~airflow_batchstream.emulator.validation.EmulatorError` with a gRPC status code when Batch
would refuse: what it refuses is :mod:`.validation`, how a job looks at a moment is :mod:`.render`.
All methods are serialized by one lock: each is short, and the gRPC server and the in-process test
API call them from different threads.
"""

from __future__ import annotations

import dataclasses
import hashlib
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import grpc
from google.cloud.batch_v1 import types as batch
from google.cloud.location import locations_pb2
from google.longrunning import operations_pb2
from google.protobuf import empty_pb2

from airflow_batchstream.emulator.render import render_job, render_location, render_operation, render_task
from airflow_batchstream.emulator.scenario import Fate, JobFacts, Scenario
from airflow_batchstream.emulator.timeline import (
    ASSIGNED,
    CANCELLATION_IN_PROGRESS,
    DELETION_IN_PROGRESS,
    INF,
    JOB_TERMINAL,
    QUEUED,
    Interventions,
    JobPlan,
    Names,
    RetryRule,
    Timeline,
    build_timeline,
)
from airflow_batchstream.emulator.validation import (
    JOB_FILTER_RE,
    JOB_NAME_RE,
    LOCATION_NAME_RE,
    PROJECT_NAME_RE,
    TASK_FILTER_RE,
    TASK_GROUP_ID,
    TASK_GROUP_RE,
    TASK_NAME_RE,
    EmulatorError,
    invalid,
    job_ordering,
    not_found,
    page,
    parse_parent,
    state_filter,
    validate_job,
    validate_job_id,
    validate_request_id,
)
from airflow_batchstream.jobspec.limits import LIFECYCLE_ACTIONS, MAX_PARALLELISM
from airflow_batchstream.jobspec.policy import BATCH_REGIONS

JobPB = batch.Job.pb()
ListJobsResponsePB = batch.ListJobsResponse.pb()
ListTasksResponsePB = batch.ListTasksResponse.pb()
LifecyclePolicyPB = batch.LifecyclePolicy.pb()

PURGE_EVERY = 256  # creates between sweeps of deleted jobs


@dataclass
class JobRecord:
    """One job as stored: its spec, when it was created and what its future holds."""

    name: str
    uid: str
    spec: JobPB  # type: ignore[valid-type]
    created: float  # wall clock, seconds since the epoch
    speed: float
    plan: JobPlan
    names: Names
    fate: Fate
    interventions: Interventions = field(default_factory=Interventions)
    timeline: Timeline | None = None
    cache: tuple[int, bytes] | None = None  # (version, serialized Job) of the last render
    log_lines: list | None = None  # what its tasks print, per timeline (see .cloud_logging)

    def __post_init__(self) -> None:
        self.rebuild()

    def rebuild(self) -> None:
        self.timeline = build_timeline(self.plan, self.names, self.interventions)
        self.cache = None
        self.log_lines = None

    def elapsed(self, now: float) -> float:
        """Emulated seconds since creation."""
        return (now - self.created) * self.speed

    def wall(self, t: float) -> float:
        return self.created + t / self.speed


@dataclass
class OperationRecord:
    """A long-running operation of CancelJob or DeleteJob; done-ness is derived from its job."""

    name: str
    verb: str  # "cancel" or "delete"
    job: JobRecord
    created: float
    requested_cancellation: bool = False


def _facts(spec) -> JobFacts:
    images, commands = [], []
    for group in spec.task_groups:
        for runnable in group.task_spec.runnables:
            kind = runnable.WhichOneof("executable")
            if kind == "container":
                images.append(runnable.container.image_uri)
                words = [runnable.container.entrypoint, *runnable.container.commands]
                commands.append(" ".join(w for w in words if w))
            elif kind == "script":
                commands.append(runnable.script.text or runnable.script.path)
    return JobFacts(images=tuple(images), labels=dict(spec.labels), commands=tuple(commands))


def _retry_rule(task_spec) -> RetryRule:
    action, codes = None, frozenset()
    if task_spec.lifecycle_policies:
        policy = task_spec.lifecycle_policies[0]
        action = LifecyclePolicyPB.Action.Name(policy.action)
        action = action if action in LIFECYCLE_ACTIONS else None
        codes = frozenset(policy.action_condition.exit_codes)
    return RetryRule(max_retry_count=task_spec.max_retry_count, action=action, exit_codes=codes)


def _task_shape(group) -> tuple[int, int]:
    """(taskCount, parallelism) as Batch fills them in."""
    count = len(group.task_environments) or group.task_count or 1
    parallelism = min(group.parallelism or min(count, MAX_PARALLELISM), count)
    return count, parallelism


def _zone(spec, location: str) -> str:
    for entry in spec.allocation_policy.location.allowed_locations:
        if entry.startswith("zones/"):
            return entry.removeprefix("zones/")
    return f"{location}-a"


class Store:
    """Jobs, operations and request ids of one emulator."""

    def __init__(
        self, speed: float = 1.0, scenario: Scenario | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be positive, got {speed}")
        self.speed = speed
        self.scenario = scenario or Scenario()
        self.clock = clock
        self.lock = threading.RLock()
        self._jobs: dict[str, JobRecord] = {}
        self._operations: dict[str, OperationRecord] = {}
        self._requests: dict[tuple[str, str], object] = {}  # (rpc, request_id) -> record
        self._creates = 0

    # -- jobs --------------------------------------------------------------------------------

    def create_job(self, request) -> bytes:
        with self.lock:
            project, location = parse_parent(request.parent)
            validate_job_id(request.job_id)
            validate_request_id(request.request_id)
            replay = self._replayed("CreateJob", request.request_id)
            if replay is not None:
                return render_job(replay, self.clock())
            if not request.HasField("job"):
                raise invalid("job is required.")
            validate_job(request.job, project, location)
            job_id = request.job_id or f"job-{uuid.uuid4().hex[:24]}"
            name = f"{request.parent}/jobs/{job_id}"
            now = self.clock()
            existing = self._jobs.get(name)
            if existing is not None and not existing.timeline.is_gone_at(existing.elapsed(now)):
                raise EmulatorError(grpc.StatusCode.ALREADY_EXISTS, f'Job "{name}" already exists.')
            record = self._new_record(name, request.job, location, now)
            self._jobs.pop(name, None)  # a gone predecessor; re-inserting keeps creation order
            self._jobs[name] = record
            self._creates += 1
            if self._creates % PURGE_EVERY == 0:
                self._purge(now)
            self._remember("CreateJob", request.request_id, record)
            return render_job(record, now)

    def _new_record(self, name: str, job, location: str, now: float) -> JobRecord:
        spec = JobPB()
        spec.CopyFrom(job)
        for output_field in ("name", "uid", "status", "create_time", "update_time"):
            spec.ClearField(output_field)
        group = spec.task_groups[0]
        count, parallelism = _task_shape(group)
        group.name = f"{name}/taskGroups/{TASK_GROUP_ID}"
        group.task_count, group.parallelism = count, parallelism
        fate = self.scenario.fate_for(_facts(spec))
        task_spec = group.task_spec
        max_run = (
            task_spec.max_run_duration.ToNanoseconds() / 1e9
            if task_spec.HasField("max_run_duration")
            else None
        )
        phases = fate.phases
        plan = JobPlan(
            task_count=count,
            parallelism=parallelism,
            attempt=fate.attempt,
            queued=INF if fate.stay_queued else phases.queued,
            scheduled=phases.scheduled,
            assigned=phases.assigned,
            cancelling=phases.cancelling,
            deleting=phases.deleting,
            retry=_retry_rule(task_spec),
            max_run_duration=max_run or None,
        )
        digest = int.from_bytes(hashlib.sha256(f"{name}{now}".encode()).digest()[:8], "big")
        names = Names(job=name, zone=_zone(spec, location), instance_base=10**18 + digest % 10**18 // 2)
        uid = f"{name.rsplit('/', 1)[1][:40]}-{uuid.uuid4().hex[:8]}-{uuid.uuid4().hex[:4]}"
        return JobRecord(name, uid, spec, now, self.speed, plan, names, fate)

    def _purge(self, now: float) -> None:
        """Forget deleted jobs, so a long-lived emulator does not grow without bound."""
        gone = [name for name, r in self._jobs.items() if r.timeline.is_gone_at(r.elapsed(now))]
        for name in gone:
            del self._jobs[name]
        # Their create request ids can no longer be replayed (see _replayed), so drop them too.
        stale = [
            key
            for key, r in self._requests.items()
            if isinstance(r, JobRecord) and self._jobs.get(r.name) is not r
        ]
        for key in stale:
            del self._requests[key]

    def _live(self, name: str, now: float) -> JobRecord:
        record = self._jobs.get(name)
        if record is None or record.timeline.is_gone_at(record.elapsed(now)):
            raise not_found(name)
        return record

    def get_job(self, request) -> bytes:
        with self.lock:
            if not JOB_NAME_RE.match(request.name):
                raise invalid(f"Invalid job name {request.name!r}.")
            now = self.clock()
            return render_job(self._live(request.name, now), now)

    def list_jobs(self, request) -> bytes:
        with self.lock:
            project, location = parse_parent(request.parent, any_location=True)
            key, reverse = job_ordering(request.order_by)
            wanted = state_filter(request.filter, JOB_FILTER_RE)
            now = self.clock()
            prefix = request.parent + "/jobs/" if location != "-" else f"projects/{project}/locations/"
            records = [
                r
                for r in self._jobs.values()
                if r.name.startswith(prefix) and not r.timeline.is_gone_at(r.elapsed(now))
            ]
            if wanted:
                records = [r for r in records if r.timeline.job_state_at(r.elapsed(now)) == wanted]
            records.sort(
                key=(lambda r: r.name) if key == "name" else (lambda r: (r.created, r.name)), reverse=reverse
            )
            page_items, token = page(records, request.page_size, request.page_token)
            response = ListJobsResponsePB(next_page_token=token)
            for record in page_items:
                response.jobs.add().MergeFromString(render_job(record, now))
            return response.SerializeToString()

    def cancel_job(self, request) -> bytes:
        return self._mutate(request, "cancel")

    def delete_job(self, request) -> bytes:
        return self._mutate(request, "delete")

    def _mutate(self, request, verb: str) -> bytes:
        rpc = "CancelJob" if verb == "cancel" else "DeleteJob"
        with self.lock:
            if not JOB_NAME_RE.match(request.name):
                raise invalid(f"Invalid job name {request.name!r}.")
            validate_request_id(request.request_id, uuid4=verb == "cancel")
            replay = self._replayed(rpc, request.request_id)
            if replay is not None:
                return render_operation(replay, self.clock())
            now = self.clock()
            record = self._live(request.name, now)
            t = record.elapsed(now)
            state = record.timeline.job_state_at(t)
            pending = self._pending_operation(record, verb, state)
            if pending is not None:
                operation = pending
            else:
                if verb == "cancel":
                    if state in JOB_TERMINAL or state == DELETION_IN_PROGRESS:
                        raise EmulatorError(
                            grpc.StatusCode.FAILED_PRECONDITION,
                            f"Job {record.name} cannot be cancelled in state {state}.",
                        )
                    record.interventions = Interventions(record.interventions.forced, cancel_at=t)
                else:
                    i = record.interventions
                    record.interventions = Interventions(i.forced, i.cancel_at, delete_at=t)
                record.rebuild()
                operation = self._new_operation(record, verb, now)
            self._remember(rpc, request.request_id, operation)
            return render_operation(operation, now)

    def _pending_operation(self, record: JobRecord, verb: str, state: str) -> OperationRecord | None:
        """The unfinished operation of the same verb, so a second cancel/delete joins the first."""
        busy = CANCELLATION_IN_PROGRESS if verb == "cancel" else DELETION_IN_PROGRESS
        if state != busy:
            return None
        return next(
            (op for op in reversed(self._operations.values()) if op.job is record and op.verb == verb), None
        )

    def _new_operation(self, record: JobRecord, verb: str, now: float) -> OperationRecord:
        location = JOB_NAME_RE.match(record.name).group(1)
        name = f"{location}/operations/operation-{int(now * 1000)}-{uuid.uuid4().hex[:24]}"
        operation = OperationRecord(name, verb, record, now)
        self._operations[name] = operation
        return operation

    # -- tasks -------------------------------------------------------------------------------

    def get_task(self, request) -> bytes:
        with self.lock:
            match = TASK_NAME_RE.match(request.name)
            if not match:
                raise invalid(f"Invalid task name {request.name!r}.")
            now = self.clock()
            job_name, group, index = match.groups()
            record = self._live(job_name, now)
            if group != TASK_GROUP_ID or not index.isdigit() or int(index) >= record.plan.task_count:
                raise not_found(request.name)
            return render_task(record, int(index), record.elapsed(now)).SerializeToString()

    def list_tasks(self, request) -> bytes:
        with self.lock:
            match = TASK_GROUP_RE.match(request.parent)
            if not match:
                raise invalid(f"Invalid parent {request.parent!r}: expected .../jobs/JOB/taskGroups/GROUP.")
            wanted = state_filter(request.filter, TASK_FILTER_RE)
            now = self.clock()
            record = self._live(match.group(1), now)
            if match.group(2) != TASK_GROUP_ID:
                raise not_found(request.parent)
            t = record.elapsed(now)
            indexes = list(range(record.plan.task_count))
            if wanted:
                indexes = [i for i in indexes if record.timeline.task_state_at(i, t) == wanted]
            page_items, token = page(indexes, request.page_size, request.page_token)
            response = ListTasksResponsePB(next_page_token=token)
            response.tasks.extend(render_task(record, i, t) for i in page_items)
            return response.SerializeToString()

    # -- Cloud Logging -----------------------------------------------------------------------

    def list_log_entries(self, request) -> bytes:
        """What the jobs' tasks printed so far (``batch_task_logs``), per the request's filter."""
        from airflow_batchstream.emulator.cloud_logging import list_log_entries

        with self.lock:
            now = self.clock()
            live = [r for r in self._jobs.values() if not r.timeline.is_gone_at(r.elapsed(now))]
            return list_log_entries(request, live, now)

    # -- operations --------------------------------------------------------------------------

    def get_operation(self, request) -> bytes:
        with self.lock:
            operation = self._operations.get(request.name)
            if operation is None:
                raise not_found(request.name)
            return render_operation(operation, self.clock())

    def list_operations(self, request) -> bytes:
        with self.lock:
            prefix = request.name.rstrip("/") + "/operations/"
            now = self.clock()
            matching = [op for name, op in self._operations.items() if name.startswith(prefix)]
            page_items, token = page(matching, request.page_size, request.page_token)
            response = operations_pb2.ListOperationsResponse(next_page_token=token)
            for operation in page_items:
                response.operations.add().MergeFromString(render_operation(operation, now))
            return response.SerializeToString()

    def delete_operation(self, request) -> bytes:
        with self.lock:
            if self._operations.pop(request.name, None) is None:
                raise not_found(request.name)
            return empty_pb2.Empty().SerializeToString()

    def cancel_operation(self, request) -> bytes:
        with self.lock:
            operation = self._operations.get(request.name)
            if operation is None:
                raise not_found(request.name)
            # Batch's own cancel/delete operations cannot be undone; the request is only recorded.
            operation.requested_cancellation = True
            return empty_pb2.Empty().SerializeToString()

    # -- locations ---------------------------------------------------------------------------

    def list_locations(self, request) -> bytes:
        match = PROJECT_NAME_RE.match(request.name)
        if not match:
            raise invalid(f"Invalid name {request.name!r}: expected projects/PROJECT.")
        locations = [render_location(match.group(1), region) for region in sorted(BATCH_REGIONS)]
        page_items, token = page(locations, request.page_size, request.page_token)
        return locations_pb2.ListLocationsResponse(
            locations=page_items, next_page_token=token
        ).SerializeToString()

    def get_location(self, request) -> bytes:
        match = LOCATION_NAME_RE.match(request.name)
        if not match:
            raise invalid(f"Invalid name {request.name!r}: expected projects/PROJECT/locations/LOCATION.")
        if match.group(2) not in BATCH_REGIONS:
            raise not_found(request.name)
        return render_location(*match.groups()).SerializeToString()

    # -- test controls -----------------------------------------------------------------------

    def finish_job(self, name: str, exit_code: int) -> None:
        """End every unfinished task of a job now with ``exit_code`` (no retries)."""
        with self.lock:
            now = self.clock()
            record = self._live(self._resolve(name), now)
            t = record.elapsed(now)
            state = record.timeline.job_state_at(t)
            if state in JOB_TERMINAL or state in (CANCELLATION_IN_PROGRESS, DELETION_IN_PROGRESS):
                raise EmulatorError(grpc.StatusCode.FAILED_PRECONDITION, f"Job {name} is already {state}.")
            i = record.interventions
            record.interventions = Interventions((t, exit_code), i.cancel_at, i.delete_at)
            record.rebuild()

    def release_job(self, name: str) -> None:
        """Let a job held in QUEUED (``stay_queued``) go on now, as when capacity is found."""
        with self.lock:
            now = self.clock()
            record = self._live(self._resolve(name), now)
            t = record.elapsed(now)
            state = record.timeline.job_state_at(t)
            if record.plan.queued < INF or state != QUEUED:
                raise EmulatorError(
                    grpc.StatusCode.FAILED_PRECONDITION, f"Job {name} is {state}, not held in QUEUED."
                )
            record.plan = dataclasses.replace(record.plan, queued=t)
            record.rebuild()

    def task_environment(self, name: str, index: int) -> dict[str, str]:
        """The environment variables task ``index``'s runnables see now: the job's
        ``environment``, the task's ``taskEnvironments`` entry, and the ones Batch predefines
        (``BATCH_TASK_INDEX``, ``BATCH_TASK_COUNT``, ``BATCH_TASK_RETRY_ATTEMPT``)."""
        with self.lock:
            now = self.clock()
            record = self._live(self._resolve(name), now)
            if not 0 <= index < record.plan.task_count:
                raise not_found(f"{record.name}/taskGroups/{TASK_GROUP_ID}/tasks/{index}")
            group = record.spec.task_groups[0]
            variables = dict(group.task_spec.environment.variables)
            if index < len(group.task_environments):
                variables.update(group.task_environments[index].variables)
            changes = record.timeline.task_changes_until(index, record.elapsed(now))
            attempts = sum(1 for change in changes if change.new == ASSIGNED)
            return {
                **variables,
                "BATCH_TASK_INDEX": str(index),
                "BATCH_TASK_COUNT": str(record.plan.task_count),
                "BATCH_TASK_RETRY_ATTEMPT": str(max(attempts - 1, 0)),
            }

    def _resolve(self, name: str) -> str:
        """Accept a full job name or, when unambiguous, a bare job id."""
        if name in self._jobs:
            return name
        candidates = [n for n in self._jobs if n.rsplit("/", 1)[-1] == name]
        return candidates[0] if len(candidates) == 1 else name

    def job_messages(self) -> list[bytes]:
        with self.lock:
            now = self.clock()
            live = [r for r in self._jobs.values() if not r.timeline.is_gone_at(r.elapsed(now))]
            return [render_job(r, now) for r in live]

    def job_message(self, name: str) -> bytes:
        with self.lock:
            now = self.clock()
            return render_job(self._live(self._resolve(name), now), now)

    def clear(self) -> None:
        with self.lock:
            self._jobs.clear()
            self._operations.clear()
            self._requests.clear()

    # -- request ids -------------------------------------------------------------------------

    def _replayed(self, rpc: str, request_id: str):
        """The record a previous request with this id produced, if it is still there."""
        if not request_id:
            return None
        record = self._requests.get((rpc, request_id))
        if isinstance(record, JobRecord) and self._jobs.get(record.name) is not record:
            return None
        if isinstance(record, JobRecord) and record.timeline.is_gone_at(record.elapsed(self.clock())):
            return None
        return record

    def _remember(self, rpc: str, request_id: str, record: object) -> None:
        if request_id:
            self._requests[(rpc, request_id)] = record
