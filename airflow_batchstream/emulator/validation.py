"""What the emulated CreateJob, GetJob, ListJobs, CancelJob and DeleteJob refuse: the request checks.

A model of its own, on protobuf messages, deliberately separate from the validator
(``airflow_batchstream.jobspec.validate``) and sharing only its constants (limits, name patterns):
the tests run the validator's output against this emulator, and an emulator that ran the validator
could not catch a validator bug. It checks what Batch documents refusing at the API (names and
request ids, one task group, runnables, reserved labels, allowed locations, retry counts, the 1 MB
limit; docs/batch-facts.md section 6) and the accelerators Compute Engine cannot give a machine type
(:mod:`airflow_batchstream.jobspec.gpus`), not everything the validator reports, so do not merge
the two.
"""

from __future__ import annotations

import base64
import re
import uuid

import grpc
from google.cloud.batch_v1 import types as batch

from airflow_batchstream.jobspec import gpus
from airflow_batchstream.jobspec.images import PROJECT_ID_RE, REGION_RE, region_of_allowed_location
from airflow_batchstream.jobspec.limits import (
    DYNAMIC_WORKLOAD_SCHEDULER_LABEL,
    JOB_ID_RE,
    MAX_JOB_BYTES,
    MAX_RETRIES,
    MAX_TASKS,
    PREDEFINED_JOB_LABELS,
    PREDEFINED_VM_LABELS,
    RESERVED_LABEL_PREFIXES,
)

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

TASK_GROUP_ID = "group0"
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
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


def invalid(message: str) -> EmulatorError:
    return EmulatorError(grpc.StatusCode.INVALID_ARGUMENT, message)


def not_found(name: str) -> EmulatorError:
    return EmulatorError(grpc.StatusCode.NOT_FOUND, f'Resource "{name}" was not found.')


def validate_request_id(request_id: str, *, uuid4: bool = False) -> None:
    """A valid, non-zero UUID; with ``uuid4`` (CancelJob declares ``format = UUID4``) a version-4 one."""
    if not request_id:
        return
    try:
        parsed = uuid.UUID(request_id)
    except ValueError:
        raise invalid(f"request_id {request_id!r} is not a valid UUID.") from None
    if parsed.int == 0:
        raise invalid("request_id must not be the zero UUID.")
    if uuid4 and (parsed.version != 4 or parsed.variant != uuid.RFC_4122):
        raise invalid(f"request_id {request_id!r} is not a version-4 UUID.")


def validate_job(spec, parent_project: str, parent_location: str) -> None:
    """What CreateJob rejects in a Job, as Google documents it; the rest is the validator's business."""
    if spec.ByteSize() > MAX_JOB_BYTES:
        raise invalid(f"The job definition is {spec.ByteSize()} bytes; at most {MAX_JOB_BYTES} are allowed.")
    if len(spec.task_groups) != 1:
        raise invalid(
            "A job needs exactly one task group (only one TaskGroup is supported now), "
            f"got {len(spec.task_groups)}."
        )
    group = spec.task_groups[0]
    task_spec = group.task_spec
    if not task_spec.runnables:
        raise invalid("taskGroups[0].taskSpec.runnables must contain at least one runnable.")
    for index, runnable in enumerate(task_spec.runnables):
        kind = runnable.WhichOneof("executable")
        where = f"taskGroups[0].taskSpec.runnables[{index}]"
        if kind is None:
            raise invalid(f"{where} must set one of container, script or barrier.")
        if kind == "container" and not runnable.container.image_uri:
            raise invalid(f"{where}.container.imageUri is required.")
        if kind == "script" and not (runnable.script.text or runnable.script.path):
            raise invalid(f"{where}.script must set path or text.")
    if not 0 <= spec.priority < 100:
        raise invalid(f"priority must be in [0, 100), got {spec.priority}.")
    if not 0 <= group.task_count <= MAX_TASKS:
        raise invalid(f"taskGroups[0].taskCount must be in [1, {MAX_TASKS}], got {group.task_count}.")
    if group.parallelism < 0:
        raise invalid(f"taskGroups[0].parallelism must be positive, got {group.parallelism}.")
    if group.scheduling_policy == TaskGroupPB.SchedulingPolicy.IN_ORDER and group.parallelism > 1:
        raise invalid("taskGroups[0].parallelism must be 1 when schedulingPolicy is IN_ORDER.")
    if not 0 <= task_spec.max_retry_count <= MAX_RETRIES:
        raise invalid(
            f"taskSpec.maxRetryCount must be in [0, {MAX_RETRIES}], got {task_spec.max_retry_count}."
        )
    if len(task_spec.lifecycle_policies) > 1:
        raise invalid("taskSpec.lifecyclePolicies: only one lifecycle policy is supported.")
    _validate_labels(spec)
    _validate_instances(spec.allocation_policy, parent_project)
    locations = spec.allocation_policy.location.allowed_locations
    regions = {region_of_allowed_location(entry) for entry in locations}
    if None in regions:
        raise invalid(f"allocationPolicy.location.allowedLocations has an invalid entry: {list(locations)}.")
    if len(regions) > 1:
        raise invalid(f"allocationPolicy.location.allowedLocations spans several regions: {sorted(regions)}.")
    # Since the 2026-07-31 cutover the VMs must be inside the job's own region
    # (docs/batch-facts.md section 1).
    if regions and regions != {parent_location}:
        raise invalid(
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
            raise invalid(
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
        raise invalid(
            f"Instance template {template!r} is regional; only global instance templates are supported."
        )
    owner = re.search(r"(?:^|/)projects/([^/]+)/", template)
    if owner and owner.group(1).isdigit() == parent_project.isdigit() and owner.group(1) != parent_project:
        raise invalid(
            f"Instance template {template!r} is not in the job's project {parent_project}; only templates "
            "of the same project are supported."
        )
    if first.policy.boot_disk.snapshot:
        raise invalid(
            "allocationPolicy.instances[0].policy.bootDisk: snapshot is not supported as boot disk."
        )
    for index, accelerator in enumerate(first.policy.accelerators):
        _validate_accelerator(first.policy.machine_type, index, accelerator.type_, accelerator.count)


def _validate_accelerator(machine_type: str, index: int, kind: str, count: int) -> None:
    """Accelerators Compute Engine cannot give the machine type. Batch documents none of its own
    refusals; "Accelerator field is invalid" is what it was seen answering for a mismatch."""
    where = f"Accelerator field is invalid: allocationPolicy.instances[0].policy.accelerators[{index}]"
    if kind not in gpus.ACCELERATOR_TYPES:
        raise invalid(f'{where}: accelerator type "{kind}" is not available.')
    if not machine_type:
        return  # Batch picks a machine type that takes the accelerator
    built_in = gpus.built_in_gpus(machine_type)
    canonical = gpus.canonical_accelerator(kind)
    if built_in is not None and (canonical, count) != (built_in.type, built_in.count):
        raise invalid(
            f'{where}: machine type "{machine_type}" comes with {built_in.count} x {built_in.type}, '
            f'not {count} x "{kind}".'
        )
    if built_in is None and not gpus.is_n1(machine_type):
        raise invalid(f'{where}: machine type "{machine_type}" cannot be used with accelerators.')
    allowed = gpus.N1_GPUS.get(canonical, {}) if gpus.is_n1(machine_type) else None
    if allowed is not None and count not in allowed:
        counts = ", ".join(map(str, allowed)) or "none"
        raise invalid(
            f'{where}: the accelerator count "{count}" is not allowed. The allowed numbers of accelerator '
            f'"{kind}" to use with machine type "{machine_type}" are: [{counts}].'
        )


def _decode_page_token(token: str) -> int:
    if not token:
        return 0
    try:
        return int(base64.urlsafe_b64decode(token.encode()).decode())
    except ValueError:
        raise invalid(f"Invalid page_token {token!r}.") from None


def page(items: list, page_size: int, page_token: str) -> tuple[list, str]:
    """One page of ``items`` and the token of the next one (empty on the last page)."""
    if page_size < 0:
        raise invalid("page_size must not be negative.")
    start = _decode_page_token(page_token)
    size = min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    end = start + size
    token = base64.urlsafe_b64encode(str(end).encode()).decode() if end < len(items) else ""
    return items[start:end], token


def parse_parent(parent: str, *, any_location: bool = False) -> tuple[str, str]:
    """``projects/P/locations/L`` -> ``(P, L)``; with ``any_location`` (ListJobs) L may be ``-``."""
    match = (LIST_PARENT_RE if any_location else PARENT_RE).match(parent)
    if not match:
        raise invalid(f"Invalid parent {parent!r}: expected projects/PROJECT/locations/LOCATION.")
    return match.group(1), match.group(2)


def validate_job_id(job_id: str) -> None:
    """An empty job id (the server picks one) or one Batch accepts."""
    if job_id and not JOB_ID_RE.match(job_id):
        raise invalid(
            f"Invalid job_id {job_id!r}: it must match {JOB_ID_RE.pattern} "
            "(at most 63 characters, lowercase letters, digits and hyphens)."
        )


def job_ordering(order_by: str) -> tuple[str, bool]:
    """ListJobs' ``order_by`` -> (record field, descending)."""
    if order_by not in JOB_ORDERINGS:
        raise invalid(f"Unsupported order_by {order_by!r}; supported: {sorted(JOB_ORDERINGS)[1:]}.")
    return JOB_ORDERINGS[order_by]


def state_filter(text: str, pattern: re.Pattern[str]) -> str | None:
    """The state a ListJobs/ListTasks filter asks for (None: no filter)."""
    if not text.strip():
        return None
    match = pattern.match(text)
    if not match:
        raise invalid(
            f"Unsupported filter {text!r}; the emulator understands state filters such as State=RUNNING."
        )
    return match.group(1)
