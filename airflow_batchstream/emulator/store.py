"""The emulator's state: jobs, operations and request ids, and the rules of each RPC.

Every public method takes and returns protobuf messages (the ``_pb`` classes behind the
google-cloud-batch proto-plus types) and raises :class:`EmulatorError` with a gRPC status code
when Batch would refuse. All methods are serialized by one lock: each is short, and the gRPC
server and the in-process test API call them from different threads.
"""

from __future__ import annotations

import base64
import hashlib
import re
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

from airflow_batchstream.emulator.scenario import Fate, JobFacts, Scenario
from airflow_batchstream.emulator.timeline import (
    CANCELLATION_IN_PROGRESS,
    CANCELLED,
    DELETION_IN_PROGRESS,
    INF,
    JOB_TERMINAL,
    Interventions,
    JobPlan,
    Names,
    RetryRule,
    Timeline,
    build_timeline,
)
from airflow_batchstream.jobspec.images import PROJECT_ID_RE, REGION_RE, region_of_allowed_location
from airflow_batchstream.jobspec.limits import (
    DYNAMIC_WORKLOAD_SCHEDULER_LABEL,
    JOB_ID_RE,
    LIFECYCLE_ACTIONS,
    MAX_JOB_BYTES,
    MAX_PARALLELISM,
    MAX_RETRIES,
    MAX_TASKS,
    PREDEFINED_JOB_LABELS,
    PREDEFINED_VM_LABELS,
    RESERVED_LABEL_PREFIXES,
)
from airflow_batchstream.jobspec.policy import BATCH_REGIONS

JobPB = batch.Job.pb()
JobStatusPB = batch.JobStatus.pb()
TaskPB = batch.Task.pb()
TaskStatusPB = batch.TaskStatus.pb()
ListJobsResponsePB = batch.ListJobsResponse.pb()
ListTasksResponsePB = batch.ListTasksResponse.pb()
OperationMetadataPB = batch.OperationMetadata.pb()
CancelJobResponsePB = batch.CancelJobResponse.pb()
LifecyclePolicyPB = batch.LifecyclePolicy.pb()
TaskGroupPB = batch.TaskGroup.pb()

PROJECT_NAME_RE = re.compile(r"^projects/([^/]+)$")
LOCATION_NAME_RE = re.compile(r"^projects/([^/]+)/locations/([^/]+)$")


def _unanchored(pattern: re.Pattern[str]) -> str:
    return pattern.pattern.removeprefix("^").removesuffix("$")


_PROJECT_ID = _unanchored(PROJECT_ID_RE)
#: A project id, a project number or a domain-scoped id (``example.com:project``).
PROJECT_RE = rf"(?:{_PROJECT_ID}|[0-9]{{1,20}}|[a-z0-9.-]+:{_PROJECT_ID})"
LOCATION_RE = _unanchored(REGION_RE)
PARENT_RE = re.compile(rf"^projects/({PROJECT_RE})/locations/({LOCATION_RE})$")
LIST_PARENT_RE = re.compile(rf"^projects/({PROJECT_RE})/locations/({LOCATION_RE}|-)$")
JOB_NAME_RE = re.compile(r"^(projects/[^/]+/locations/[^/]+)/jobs/([^/]+)$")
TASK_GROUP_RE = re.compile(r"^(projects/[^/]+/locations/[^/]+/jobs/[^/]+)/taskGroups/([^/]+)$")
TASK_NAME_RE = re.compile(r"^(projects/[^/]+/locations/[^/]+/jobs/[^/]+)/taskGroups/([^/]+)/tasks/([^/]+)$")
OPERATION_RE = re.compile(r"^(projects/[^/]+/locations/[^/]+)/operations/([^/]+)$")

TASK_GROUP_ID = "group0"
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
PURGE_EVERY = 256  # creates between sweeps of deleted jobs
JOB_ORDERINGS = {"": ("create_time", False), "name": ("name", False), "name desc": ("name", True)}
JOB_ORDERINGS |= {"create_time": ("create_time", False), "create_time desc": ("create_time", True)}
JOB_FILTER_RE = re.compile(r'^\s*(?:status\.state|state|Status)\s*[:=]\s*"?([A-Z_]+)"?\s*$')
TASK_FILTER_RE = re.compile(r'^\s*(?:State|state|status\.state)\s*[:=]\s*"?([A-Z_]+)"?\s*$')


class EmulatorError(Exception):
    """A refusal, carried to the client as a gRPC status."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _invalid(message: str) -> EmulatorError:
    return EmulatorError(grpc.StatusCode.INVALID_ARGUMENT, message)


def _not_found(name: str) -> EmulatorError:
    return EmulatorError(grpc.StatusCode.NOT_FOUND, f'Resource "{name}" was not found.')


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

    def __post_init__(self) -> None:
        self.rebuild()

    def rebuild(self) -> None:
        self.timeline = build_timeline(self.plan, self.names, self.interventions)
        self.cache = None

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


def _timestamp(message, wall: float) -> None:
    message.FromNanoseconds(int(wall * 1e9))


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


def _validate_request_id(request_id: str, *, uuid4: bool = False) -> None:
    """A valid, non-zero UUID; with ``uuid4`` (CancelJob declares ``format = UUID4``) a version-4 one."""
    if not request_id:
        return
    try:
        parsed = uuid.UUID(request_id)
    except ValueError:
        raise _invalid(f"request_id {request_id!r} is not a valid UUID.") from None
    if parsed.int == 0:
        raise _invalid("request_id must not be the zero UUID.")
    if uuid4 and (parsed.version != 4 or parsed.variant != uuid.RFC_4122):
        raise _invalid(f"request_id {request_id!r} is not a version-4 UUID.")


def _validate_job(spec, parent_project: str, parent_location: str) -> None:
    """What CreateJob rejects, as Google documents it; the rest is the validator's business.

    A model of its own on protobuf messages, sharing only constants with ``jobspec.validate``: an
    emulator that ran the validator could not catch a validator bug.
    """
    if spec.ByteSize() > MAX_JOB_BYTES:
        raise _invalid(f"The job definition is {spec.ByteSize()} bytes; at most {MAX_JOB_BYTES} are allowed.")
    if len(spec.task_groups) != 1:
        raise _invalid(
            "A job needs exactly one task group (only one TaskGroup is supported now), "
            f"got {len(spec.task_groups)}."
        )
    group = spec.task_groups[0]
    task_spec = group.task_spec
    if not task_spec.runnables:
        raise _invalid("taskGroups[0].taskSpec.runnables must contain at least one runnable.")
    for index, runnable in enumerate(task_spec.runnables):
        kind = runnable.WhichOneof("executable")
        where = f"taskGroups[0].taskSpec.runnables[{index}]"
        if kind is None:
            raise _invalid(f"{where} must set one of container, script or barrier.")
        if kind == "container" and not runnable.container.image_uri:
            raise _invalid(f"{where}.container.imageUri is required.")
        if kind == "script" and not (runnable.script.text or runnable.script.path):
            raise _invalid(f"{where}.script must set path or text.")
    if not 0 <= spec.priority < 100:
        raise _invalid(f"priority must be in [0, 100), got {spec.priority}.")
    if not 0 <= group.task_count <= MAX_TASKS:
        raise _invalid(f"taskGroups[0].taskCount must be in [1, {MAX_TASKS}], got {group.task_count}.")
    if group.parallelism < 0:
        raise _invalid(f"taskGroups[0].parallelism must be positive, got {group.parallelism}.")
    if group.scheduling_policy == TaskGroupPB.SchedulingPolicy.IN_ORDER and group.parallelism > 1:
        raise _invalid("taskGroups[0].parallelism must be 1 when schedulingPolicy is IN_ORDER.")
    if not 0 <= task_spec.max_retry_count <= MAX_RETRIES:
        raise _invalid(
            f"taskSpec.maxRetryCount must be in [0, {MAX_RETRIES}], got {task_spec.max_retry_count}."
        )
    if len(task_spec.lifecycle_policies) > 1:
        raise _invalid("taskSpec.lifecyclePolicies: only one lifecycle policy is supported.")
    _validate_labels(spec)
    _validate_instances(spec.allocation_policy, parent_project)
    locations = spec.allocation_policy.location.allowed_locations
    regions = {region_of_allowed_location(entry) for entry in locations}
    if None in regions:
        raise _invalid(f"allocationPolicy.location.allowedLocations has an invalid entry: {list(locations)}.")
    if len(regions) > 1:
        raise _invalid(
            f"allocationPolicy.location.allowedLocations spans several regions: {sorted(regions)}."
        )
    # Since the 2026-07-31 cutover the VMs must be inside the job's own region (reference section 1).
    if regions and regions != {parent_location}:
        raise _invalid(
            f"allocationPolicy.location.allowedLocations {list(locations)} are outside the job's location "
            f"{parent_location}."
        )


def _label_maps(spec):
    """(where, labels, Batch's predefined labels there) for the job, its runnables and its VMs."""
    yield "labels", spec.labels, PREDEFINED_JOB_LABELS
    for index, runnable in enumerate(spec.task_groups[0].task_spec.runnables):
        yield f"taskGroups[0].taskSpec.runnables[{index}].labels", runnable.labels, PREDEFINED_JOB_LABELS
    yield "allocationPolicy.labels", spec.allocation_policy.labels, PREDEFINED_VM_LABELS


def _validate_labels(spec) -> None:
    """Custom labels cannot override Batch's predefined ones: batch-* or reserved goog-/google-."""
    for where, labels, predefined in _label_maps(spec):
        dws = {DYNAMIC_WORKLOAD_SCHEDULER_LABEL} if where == "labels" else set()
        overriding = sorted(
            key
            for key in labels
            if key in predefined or (key.startswith(RESERVED_LABEL_PREFIXES) and key not in dws)
        )
        if overriding:
            raise _invalid(
                f"{where} {overriding}: a custom label cannot override a predefined label "
                "(batch-job-id, batch-job-uid, batch-node) or use a reserved prefix (goog-, google-)."
            )


def _validate_instances(allocation, parent_project: str) -> None:
    """A global instance template of the job's project; a boot disk from an image."""
    if not allocation.instances:
        return
    first = allocation.instances[0]
    template = first.instance_template
    if "/regions/" in f"/{template}":
        raise _invalid(
            f"Instance template {template!r} is regional; only global instance templates are supported."
        )
    owner = re.search(r"(?:^|/)projects/([^/]+)/", template)
    if owner and owner.group(1).isdigit() == parent_project.isdigit() and owner.group(1) != parent_project:
        raise _invalid(
            f"Instance template {template!r} is not in the job's project {parent_project}; only templates "
            "of the same project are supported."
        )
    if first.policy.boot_disk.snapshot:
        raise _invalid(
            "allocationPolicy.instances[0].policy.bootDisk: snapshot is not supported as boot disk."
        )


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


def _decode_page_token(token: str) -> int:
    if not token:
        return 0
    try:
        return int(base64.urlsafe_b64decode(token.encode()).decode())
    except ValueError:
        raise _invalid(f"Invalid page_token {token!r}.") from None


def _page(items: list, page_size: int, page_token: str) -> tuple[list, str]:
    if page_size < 0:
        raise _invalid("page_size must not be negative.")
    start = _decode_page_token(page_token)
    size = min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    end = start + size
    token = base64.urlsafe_b64encode(str(end).encode()).decode() if end < len(items) else ""
    return items[start:end], token


def _location(project: str, region: str) -> locations_pb2.Location:
    return locations_pb2.Location(
        name=f"projects/{project}/locations/{region}", location_id=region, display_name=region
    )


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
            parent_match = PARENT_RE.match(request.parent)
            if not parent_match:
                raise _invalid(
                    f"Invalid parent {request.parent!r}: expected projects/PROJECT/locations/LOCATION."
                )
            if request.job_id and not JOB_ID_RE.match(request.job_id):
                raise _invalid(
                    f"Invalid job_id {request.job_id!r}: it must match {JOB_ID_RE.pattern} "
                    "(at most 63 characters, lowercase letters, digits and hyphens)."
                )
            _validate_request_id(request.request_id)
            replay = self._replayed("CreateJob", request.request_id)
            if replay is not None:
                return self._render(replay, self.clock())
            if not request.HasField("job"):
                raise _invalid("job is required.")
            _validate_job(request.job, parent_match.group(1), parent_match.group(2))
            job_id = request.job_id or f"job-{uuid.uuid4().hex[:24]}"
            name = f"{request.parent}/jobs/{job_id}"
            now = self.clock()
            existing = self._jobs.get(name)
            if existing is not None and not existing.timeline.is_gone_at(existing.elapsed(now)):
                raise EmulatorError(grpc.StatusCode.ALREADY_EXISTS, f'Job "{name}" already exists.')
            record = self._new_record(name, request.job, parent_match.group(2), now)
            self._jobs.pop(name, None)  # a gone predecessor; re-inserting keeps creation order
            self._jobs[name] = record
            self._creates += 1
            if self._creates % PURGE_EVERY == 0:
                self._purge(now)
            self._remember("CreateJob", request.request_id, record)
            return self._render(record, now)

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
            queued=phases.queued,
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
            raise _not_found(name)
        return record

    def get_job(self, request) -> bytes:
        with self.lock:
            if not JOB_NAME_RE.match(request.name):
                raise _invalid(f"Invalid job name {request.name!r}.")
            now = self.clock()
            return self._render(self._live(request.name, now), now)

    def list_jobs(self, request) -> bytes:
        with self.lock:
            match = LIST_PARENT_RE.match(request.parent)
            if not match:
                raise _invalid(
                    f"Invalid parent {request.parent!r}: expected projects/PROJECT/locations/LOCATION."
                )
            if request.order_by not in JOB_ORDERINGS:
                raise _invalid(
                    f"Unsupported order_by {request.order_by!r}; supported: {sorted(JOB_ORDERINGS)[1:]}."
                )
            state_filter = self._state_filter(request.filter, JOB_FILTER_RE)
            now = self.clock()
            prefix = (
                request.parent + "/jobs/"
                if match.group(2) != "-"
                else f"projects/{match.group(1)}/locations/"
            )
            records = [
                r
                for r in self._jobs.values()
                if r.name.startswith(prefix) and not r.timeline.is_gone_at(r.elapsed(now))
            ]
            if state_filter:
                records = [r for r in records if r.timeline.job_state_at(r.elapsed(now)) == state_filter]
            key, reverse = JOB_ORDERINGS[request.order_by]
            records.sort(
                key=(lambda r: r.name) if key == "name" else (lambda r: (r.created, r.name)), reverse=reverse
            )
            page, token = _page(records, request.page_size, request.page_token)
            response = ListJobsResponsePB(next_page_token=token)
            for record in page:
                response.jobs.add().MergeFromString(self._render(record, now))
            return response.SerializeToString()

    @staticmethod
    def _state_filter(text: str, pattern: re.Pattern[str]) -> str | None:
        if not text.strip():
            return None
        match = pattern.match(text)
        if not match:
            raise _invalid(
                f"Unsupported filter {text!r}; the emulator understands state filters such as State=RUNNING."
            )
        return match.group(1)

    def cancel_job(self, request) -> bytes:
        return self._mutate(request, "cancel")

    def delete_job(self, request) -> bytes:
        return self._mutate(request, "delete")

    def _mutate(self, request, verb: str) -> bytes:
        rpc = "CancelJob" if verb == "cancel" else "DeleteJob"
        with self.lock:
            if not JOB_NAME_RE.match(request.name):
                raise _invalid(f"Invalid job name {request.name!r}.")
            _validate_request_id(request.request_id, uuid4=verb == "cancel")
            replay = self._replayed(rpc, request.request_id)
            if replay is not None:
                return self._render_operation(replay, self.clock())
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
            return self._render_operation(operation, now)

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
                raise _invalid(f"Invalid task name {request.name!r}.")
            now = self.clock()
            job_name, group, index = match.groups()
            record = self._live(job_name, now)
            if group != TASK_GROUP_ID or not index.isdigit() or int(index) >= record.plan.task_count:
                raise _not_found(request.name)
            return self._render_task(record, int(index), record.elapsed(now)).SerializeToString()

    def list_tasks(self, request) -> bytes:
        with self.lock:
            match = TASK_GROUP_RE.match(request.parent)
            if not match:
                raise _invalid(f"Invalid parent {request.parent!r}: expected .../jobs/JOB/taskGroups/GROUP.")
            state_filter = self._state_filter(request.filter, TASK_FILTER_RE)
            now = self.clock()
            record = self._live(match.group(1), now)
            if match.group(2) != TASK_GROUP_ID:
                raise _not_found(request.parent)
            t = record.elapsed(now)
            indexes = list(range(record.plan.task_count))
            if state_filter:
                indexes = [i for i in indexes if record.timeline.task_state_at(i, t) == state_filter]
            page, token = _page(indexes, request.page_size, request.page_token)
            response = ListTasksResponsePB(next_page_token=token)
            response.tasks.extend(self._render_task(record, i, t) for i in page)
            return response.SerializeToString()

    # -- operations --------------------------------------------------------------------------

    def get_operation(self, request) -> bytes:
        with self.lock:
            operation = self._operations.get(request.name)
            if operation is None:
                raise _not_found(request.name)
            return self._render_operation(operation, self.clock())

    def list_operations(self, request) -> bytes:
        with self.lock:
            prefix = request.name.rstrip("/") + "/operations/"
            now = self.clock()
            matching = [op for name, op in self._operations.items() if name.startswith(prefix)]
            page, token = _page(matching, request.page_size, request.page_token)
            response = operations_pb2.ListOperationsResponse(next_page_token=token)
            for operation in page:
                response.operations.add().MergeFromString(self._render_operation(operation, now))
            return response.SerializeToString()

    def delete_operation(self, request) -> bytes:
        with self.lock:
            if self._operations.pop(request.name, None) is None:
                raise _not_found(request.name)
            return empty_pb2.Empty().SerializeToString()

    def cancel_operation(self, request) -> bytes:
        with self.lock:
            operation = self._operations.get(request.name)
            if operation is None:
                raise _not_found(request.name)
            # Batch's own cancel/delete operations cannot be undone; the request is only recorded.
            operation.requested_cancellation = True
            return empty_pb2.Empty().SerializeToString()

    # -- locations ---------------------------------------------------------------------------

    def list_locations(self, request) -> bytes:
        match = PROJECT_NAME_RE.match(request.name)
        if not match:
            raise _invalid(f"Invalid name {request.name!r}: expected projects/PROJECT.")
        locations = [_location(match.group(1), region) for region in sorted(BATCH_REGIONS)]
        page, token = _page(locations, request.page_size, request.page_token)
        return locations_pb2.ListLocationsResponse(locations=page, next_page_token=token).SerializeToString()

    def get_location(self, request) -> bytes:
        match = LOCATION_NAME_RE.match(request.name)
        if not match:
            raise _invalid(f"Invalid name {request.name!r}: expected projects/PROJECT/locations/LOCATION.")
        if match.group(2) not in BATCH_REGIONS:
            raise _not_found(request.name)
        return _location(*match.groups()).SerializeToString()

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
            return [self._render(r, now) for r in live]

    def job_message(self, name: str) -> bytes:
        with self.lock:
            now = self.clock()
            return self._render(self._live(self._resolve(name), now), now)

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

    # -- rendering ---------------------------------------------------------------------------

    def _render(self, record: JobRecord, now: float) -> bytes:
        """The Job as a client sees it now, serialized; cached until something changes."""
        t = record.elapsed(now)
        version = record.timeline.version_at(t)
        if record.cache is not None and record.cache[0] == version:
            return record.cache[1]
        job = self._build_job(record, t)
        data = job.SerializeToString()
        record.cache = (version, data)
        return data

    def _build_job(self, record: JobRecord, t: float):
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
            self._add_instance(group_status, record.spec)
        # runDuration moves with the other fields (at each change), which keeps renders cacheable.
        as_of = changed if changed is not None else 0.0
        status.run_duration.FromNanoseconds(int(timeline.run_duration_at(as_of) / record.speed * 1e9))
        return job

    @staticmethod
    def _add_instance(group_status, spec) -> None:
        instance = group_status.instances.add(task_pack=spec.task_groups[0].task_count_per_node or 1)
        policies = spec.allocation_policy.instances
        policy = policies[0].policy if policies else None
        instance.machine_type = (policy.machine_type if policy else "") or "e2-standard-2"
        instance.provisioning_model = (policy.provisioning_model if policy else 0) or 1  # STANDARD

    def _render_task(self, record: JobRecord, index: int, t: float):
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

    def _render_operation(self, operation: OperationRecord, now: float) -> bytes:
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
        done_at = self._operation_done_at(operation)
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

    @staticmethod
    def _operation_done_at(operation: OperationRecord) -> float:
        timeline = operation.job.timeline
        if operation.verb == "delete":
            return timeline.gone_at
        cancelled = next((c.time for c in timeline.job_changes if c.new == CANCELLED), INF)
        return min(cancelled, timeline.gone_at)
