"""Job dict + job location -> every problem at once, each with its JSON path, rule id and fix.

:func:`validate_job` never raises, whatever JSON-shaped value it is given: each rule reads the job
through tolerant accessors (a value of the wrong type reads as absent, since the structure check
has already reported it), and a rule that fails anyway is reported as ``J-INTERNAL`` instead of
hiding the others. It imports neither Airflow nor ``google.*``; the field table comes from
:mod:`airflow_batchstream.jobspec.schema`.

Field names may be camelCase or the protos' snake_case, as gcloud accepts them: the structure check
reads the job as written, the other rules read it in camelCase (:func:`~airflow_batchstream.jobspec.
names.camel_case_fields`), and every problem is reported at the path the user wrote.

The rules live in :mod:`airflow_batchstream.jobspec.rules`, one module per family; :data:`RULES`
below says which run, in which order. Every rule id and condition, with its severity and its
source, is in :mod:`airflow_batchstream.jobspec.catalog`, rendered as ``docs/rules.md``; problems
take their severity from there.
"""

from __future__ import annotations

import re
from dataclasses import replace

from airflow_batchstream.jobspec import catalog
from airflow_batchstream.jobspec.images import REGION_RE, ZONE_RE
from airflow_batchstream.jobspec.limits import JOB_ID_RE
from airflow_batchstream.jobspec.policy import DEFAULT_POLICY, ValidationPolicy, problems_at_level
from airflow_batchstream.jobspec.problems import Problem
from airflow_batchstream.jobspec.rules import (
    gpu,
    job,
    labels,
    placement,
    runnables,
    streaming,
    structure,
    tasks,
)
from airflow_batchstream.jobspec.rules._walk import Context, Rule, describe, found, written_path
from airflow_batchstream.jobspec.rules.structure import fix_type

PARENT_RE = re.compile(r"^projects/(?P<project>[^/]+)/locations/(?P<region>[^/]+)$")
#: RFC 4122's string form of a UUID, what ``request_id`` must be.
UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")

#: Every rule, in the order its problems are reported. The structure check comes first: it tells
#: the others whether to read the camelCase copy of the job. The order is written here, not
#: collected as the rule modules are imported, so that it cannot depend on the order of imports.
RULES: tuple[tuple[str, Rule], ...] = (
    ("J-FIELD", structure.check_structure),
    ("J-DEPRECATED", structure.check_deprecated),
    ("J-SIZE", job.check_size),
    ("J-TG", job.check_task_group_count),
    ("J-PRIORITY", job.check_priority),
    ("TG-SPEC", tasks.check_task_spec_present),
    ("TG-COUNT", tasks.check_task_count),
    ("TG-PARALLEL", tasks.check_parallelism),
    ("TG-ENV", tasks.check_task_environments),
    ("TS-RUNNABLES", tasks.check_runnables_present),
    ("TS-RETRY", tasks.check_max_retries),
    ("TS-LIFECYCLE", tasks.check_lifecycle_policies),
    ("TS-MAXRUN", tasks.check_run_duration),
    ("TS-RESOURCES", tasks.check_compute_resource),
    ("R-EXEC", runnables.check_executable),
    ("C-IMAGE", runnables.check_image_present),
    ("C-VOLUME", runnables.check_container_volumes),
    ("C-NETWORK", runnables.check_blocked_network),
    ("ENV-SECRET", runnables.check_secret_variables),
    ("VOL-SOURCE", runnables.check_volume_source),
    ("VOL-MOUNT", runnables.check_mount_path),
    ("VOL-DEVICE", runnables.check_device_names),
    ("VOL-OPTIONS", runnables.check_existing_disk_mount_options),
    ("LOGS-PATH", placement.check_logs_policy),
    ("LOGS-DEST", placement.check_logs_destination),
    ("LOC-SHAPE", placement.check_allowed_location_shape),
    ("LOC-REGION", placement.check_allowed_locations_one_region),
    ("LOC-PARENT", placement.check_allowed_locations_in_job_region),
    ("AP-INSTANCES", placement.check_instances),
    ("AP-IGNORED", placement.check_ignored_allocation_fields),
    ("AP-TEMPLATE", placement.check_instance_template),
    ("AP-BOOTDISK", placement.check_boot_disk),
    ("AP-TAGS", placement.check_network_tags),
    ("GPU-TYPE", gpu.check_accelerator_types),
    ("GPU-MACHINE", gpu.check_gpu_machine),
    ("GPU-COUNT", gpu.check_accelerator_counts),
    ("GPU-DRIVERS", gpu.check_gpu_drivers),
    ("GPU-STREAMING", gpu.check_gpu_streaming),
    ("AP-PROVISIONING", gpu.check_provisioning),
    ("AP-RESERVATION", gpu.check_reservation),
    ("N-TOPIC", placement.check_notification_topics),
    ("N-MESSAGE", placement.check_notification_messages),
    ("L-1", labels.check_vm_label_count),
    ("L-4", labels.check_job_label_count),
    ("L-2", labels.check_label_syntax),
    ("L-3", labels.check_reserved_labels),
    ("IS-OFF", streaming.check_streaming_enabled),
    ("IS-1", streaming.check_streaming_images),
    ("IS-2", streaming.check_image_location),
    ("IS-3", streaming.check_streaming_container_fields),
    ("IS-4", streaming.check_streaming_not_mixed),
)


def validate_job(job: object, location: str, policy: ValidationPolicy | None = None) -> list[Problem]:
    """Check a job against the Batch v1 and image-streaming rules; never raises.

    :param job: the Job as a JSON-shaped dict, e.g. from :func:`render_job` or a file; field names
        camelCase or snake_case.
    :param location: the job's region (``us-central1``), or its parent ``projects/P/locations/R``,
        which also lets the rules compare projects (an instance template of another project).
    :param policy: the configurable parts; :data:`DEFAULT_POLICY` when None.
    :return: every problem found, errors and warnings, in rule order.
    """
    policy = policy or DEFAULT_POLICY
    problems = validate_location(location, policy)
    if not isinstance(job, dict):
        problems.append(
            found(
                "J-TYPE", "kind", "", f"the job must be a JSON object, got {describe(job)}", fix_type("Job")
            )
        )
        return problems
    region = _region_of(location)
    context = Context(
        job, region if region and REGION_RE.match(region) else None, _project_of(location), policy
    )
    checked = len(problems)
    for rule_id, check in RULES:
        try:
            problems.extend(check(context))
        except Exception as exc:  # a bug in one rule must not hide every other problem
            problems.append(
                found(
                    "J-INTERNAL",
                    "failed",
                    "",
                    f"rule {rule_id} ({check.__name__}) failed on this job: {exc!r}",
                    "report this as a bug in airflow-batchstream, with the job",
                )
            )
    if context.renamed:  # the rules read the camelCase copy: name each path as the user wrote it
        problems[checked:] = [replace(p, path=written_path(job, p.path)) for p in problems[checked:]]
    return problems


def validate_location(location: object, policy: ValidationPolicy = DEFAULT_POLICY) -> list[Problem]:
    """Check the job's location: a region (or ``projects/P/locations/R``) that Batch serves.

    :param location: e.g. ``us-central1``.
    :param policy: ``batch_regions`` and the ``unknown_region`` level.
    """
    region = _region_of(location)
    if region is None or not REGION_RE.match(region):
        hint = ""
        if isinstance(location, str) and ZONE_RE.match(location):
            hint = f" ({location!r} is a zone; jobs live in regions)"
        return [
            found(
                "J-PARENT",
                "not-a-region",
                "location",
                f"job location {location!r} is not a region{hint}",
                "pass the job's region, e.g. us-central1",
            )
        ]
    if region not in policy.batch_regions:
        return problems_at_level(
            catalog.level(policy, "J-PARENT", "unknown-region"),
            "location",
            "J-PARENT",
            f"job location {region!r} is not a known Batch region",
            "check the spelling (see cloud.google.com/batch/docs/locations) or add it to "
            "ValidationPolicy.batch_regions",
        )
    return []


def validate_job_id(job_id: object) -> list[Problem]:
    """Check a job id: 1-63 chars, lowercase letter first, ``[a-z0-9-]``, no trailing ``-``.

    :param job_id: the ``job_id`` of the CreateJob request.
    """
    if isinstance(job_id, str) and JOB_ID_RE.match(job_id):
        return []
    too_long = isinstance(job_id, str) and len(job_id) > 63
    return [
        found(
            "J-ID",
            "syntax",
            "jobId",
            f"job id {job_id!r} is too long: {len(job_id)} characters, at most 63"
            if too_long
            else f"job id {job_id!r} does not match ^[a-z]([a-z0-9-]{{0,61}}[a-z0-9])?$",
            "use at most 63 lowercase letters, digits and '-', starting with a letter and not ending "
            "with '-', e.g. etl-20240101-1a2b3c",
        )
    ]


def validate_request_id(request_id: object) -> list[Problem]:
    """Check a CreateJob ``request_id``: unset, or a UUID (8-4-4-4-12 hex digits) other than zero.

    :param request_id: the ``request_id`` of a CreateJob, CancelJob or DeleteJob request.
    """
    if request_id is None or request_id == "":
        return []
    if isinstance(request_id, str) and UUID_RE.match(request_id) and int(request_id.replace("-", ""), 16):
        return []
    return [
        found(
            "J-REQID",
            "uuid",
            "requestId",
            f"request id {request_id!r} is not a valid UUID other than the zero UUID",
            "use a UUID such as the one `python -c 'import uuid; print(uuid.uuid4())'` prints, or "
            "leave the request id unset",
        )
    ]


def _region_of(location: object) -> str | None:
    if not isinstance(location, str):
        return None
    match = PARENT_RE.match(location)
    return match.group("region") if match else location


def _project_of(location: object) -> str | None:
    """The project of a parent ``projects/P/locations/R``; None for a bare region."""
    match = PARENT_RE.match(location) if isinstance(location, str) else None
    return match.group("project") if match else None
