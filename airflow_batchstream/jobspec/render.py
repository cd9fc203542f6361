"""DAG parameters -> a Batch v1 ``Job`` as a JSON-shaped dict, with image streaming on.

The output is camelCase, exactly what ``gcloud batch jobs submit --config`` and the REST API take,
and what ``google.cloud.batch_v1.Job.from_json(json.dumps(job))`` parses. Rendering checks each
parameter's type and form against :mod:`airflow_batchstream.jobspec.parameters` (raising
:class:`~airflow_batchstream.jobspec.parameters.InvalidParameters`), but not the job's rules (that is
:func:`airflow_batchstream.jobspec.validate.validate_job`). It is deterministic: equal arguments give
equal JSON, maps are emitted with sorted keys, inputs are copied, never aliased. Each helper builds
one fragment of the job and returns it, or None when there is nothing to say, so that Batch's own
defaults apply. The way back, from a field of the rendered job to the parameter that rendered it,
is :func:`name_parameters`, so that a problem the validator finds names what the user wrote.
"""

from __future__ import annotations

import copy
import inspect
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from types import SimpleNamespace
from typing import Any, Literal

from airflow_batchstream.jobspec.forms import Context
from airflow_batchstream.jobspec.gpus import is_gpu_machine
from airflow_batchstream.jobspec.parameters import (
    JOB_PARAMETERS,
    REQUIRED,
    Parameter,
    check_parameters,
    raise_for,
)
from airflow_batchstream.jobspec.problems import Problem

#: Reserved exit codes Batch gives a task that failed for infrastructure reasons, retried when
#: ``max_retries > 0``: 50001 Spot VM preempted, 50002 VM unreachable, 50003 VM rebooted,
#: 50004 task unresponsive, 50006 VM recreated. 50005 (maxRunDuration exceeded) is deliberately
#: absent: retrying a task that ran out of time would only run out of time again.
INFRASTRUCTURE_EXIT_CODES: tuple[int, ...] = (50001, 50002, 50003, 50004, 50006)

LogsDestination = Literal["CLOUD_LOGGING", "PATH", "NONE"]


def _signature_of(
    table: Mapping[str, Parameter], *, positional: tuple[str, ...] = (), returns: str
) -> inspect.Signature:
    """The signature of a function taking ``table``'s parameters: ``positional`` ones first (by
    position or name), the others by name, each with its annotation and default."""
    by_position, by_name = inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY
    return inspect.Signature(
        [
            inspect.Parameter(
                name,
                by_position if name in positional else by_name,
                default=inspect.Parameter.empty if parameter.default is REQUIRED else parameter.default,
                annotation=parameter.annotation,
            )
            for name, parameter in table.items()
        ],
        return_annotation=returns,
    )


def render_job(image_uri: str, **parameters: Any) -> dict[str, Any]:
    """Build a one-task-group container job whose container streams its image.

    Takes the job parameters of :data:`~airflow_batchstream.jobspec.parameters.JOB_PARAMETERS`:
    ``image_uri`` by position or name, the others by name (its signature says so, with every
    default). ``job_overrides`` is merged into the result last (:func:`deep_merge`); its snake_case
    field names are spelled camelCase first, so they override their camelCase twins.

    .. parameters:begin (written by scripts/rules_doc.py from jobspec/parameters.py)

    :param image_uri: Artifact Registry image, ``LOC-docker.pkg.dev/PROJECT/REPO/IMAGE[:TAG][@sha256:...]``.
    :param commands: container commands (CMD override, appended to the ENTRYPOINT), a list of strings.
    :param entrypoint: container ENTRYPOINT override.
    :param environment: environment variables of every task, a mapping of strings.
    :param secret_environment: variable name → Secret Manager version ``projects/P/secrets/S/versions/V``.
    :param volumes: list of Batch volumes, camelCase mappings (``gcs``, ``nfs``, ``deviceName``,
        ``mountPath``), e.g. ``{"gcs": {"remotePath": "bucket"}, "mountPath": "/mnt/data"}``.
    :param container_volumes: docker-style ``/host:/ctr[:ro]`` mounts of the container.
    :param task_count: number of tasks, 1-100,000 (an array job: each task gets ``BATCH_TASK_INDEX`` and
        ``BATCH_TASK_COUNT``).
    :param parallelism: tasks running at once, 1-5,000; Batch's default when None.
    :param cpu_milli: CPU per task in milli-CPUs, at least 1; Batch's default (2000) when None.
    :param memory_mib: memory per task in MiB, at least 1; Batch's default (2000) when None.
    :param machine_type: Compute Engine machine type, e.g. ``e2-standard-4``; Batch's choice when None. Arm
        families (``t2a``, ``c4a``, ...) select the arm64 image.
    :param provisioning_model: ``STANDARD``, ``SPOT``, ``FLEX_START`` (Dynamic Workload Scheduler's
        best-effort start, at most 7 days of run time) or ``RESERVATION_BOUND``; Batch's default (standard)
        when None.
    :param spot: run on Spot VMs: the short form of ``provisioning_model='SPOT'``.
    :param accelerator_type: GPU type attached to each VM, e.g. ``nvidia-tesla-t4`` or ``nvidia-l4`` (N1
        machine types take attached GPUs; accelerator-optimized ones, ``a2-*``, ``a3-*``, ``a4-*``, ``g2-*``,
        come with theirs and need none).
    :param accelerator_count: GPUs of ``accelerator_type`` per VM; 1 when None.
    :param install_gpu_drivers: let Batch install the GPU drivers; when None, on for a job that asks for GPUs
        (``accelerator_type`` or an accelerator-optimized ``machine_type``). ``False`` needs drivers in the
        boot image.
    :param gpu_driver_version: NVIDIA driver version Batch installs, e.g. ``535.104.05`` (with
        ``accelerator_type``); Batch's choice when None.
    :param boot_disk_size_gb: boot disk size in GB, at least the image's (30 for Batch's images); Batch sizes
        it from the image and tasks when None.
    :param boot_disk_type: ``pd-balanced`` (Batch's default), ``pd-ssd``, ``pd-standard``, ``pd-extreme`` or a
        ``hyperdisk-*`` type.
    :param boot_disk_image: VM image: ``batch-debian``, ``batch-cos``, ``batch-hpc-rocky``, or
        ``projects/P/global/images/[family/]I``; Batch's default when None.
    :param boot_disk_mib: extra boot disk per task in MiB, added to Batch's own sizing (Batch ignores it when
        ``boot_disk_size_gb`` is set).
    :param reservation: Compute Engine reservation the VMs consume (its name), or ``NO_RESERVATION``; any
        matching reservation when None.
    :param min_cpu_platform: minimum CPU platform, e.g. ``Intel Ice Lake``.
    :param instance_template: global instance template of the job's project (name,
        ``global/instanceTemplates/T`` or ``projects/P/global/instanceTemplates/T``) that gives the VMs
        instead of the parameters above: not with ``machine_type``, GPU, boot disk, provisioning, reservation
        or CPU platform parameters.
    :param max_run_duration: per-task time limit: seconds, or a duration string ``"3600s"`` (Batch fails a job
        still running after 14 days, 7 with ``FLEX_START``, whatever it says).
    :param max_retries: Batch task retries, 0-10. Above 0 the task spec also gets one ``RETRY_TASK`` lifecycle
        policy on the infrastructure exit codes (50001-50004, 50006) and ``retry_exit_codes``, and such a
        policy fails every other non-zero exit code without retry.
    :param retry_exit_codes: further exit codes Batch retries when ``max_retries`` is above 0: list every
        application code worth retrying, since the ``RETRY_TASK`` policy fails all others.
    :param labels: job labels, a mapping of strings. The operator adds 7 of its own (``managed-by``,
        ``airflow-dag/task/run/map-index/try``, ``batchstream-lineage``), so at most 56 are yours, and its
        keys are refused.
    :param service_account: e-mail of the service account the job's VMs run as; the Compute Engine default
        when None.
    :param network: VPC network: ``global/networks/N``, ``projects/P/global/networks/N`` or its full URL.
    :param subnetwork: subnetwork: ``regions/R/subnetworks/S``, ``projects/P/regions/R/subnetworks/S`` or its
        full URL.
    :param no_external_ip: VMs without external IPs (they need Private Google Access or Cloud NAT).
    :param allowed_locations: ``regions/R`` or ``zones/R-x`` entries, all in the job's region; the job's
        region when None.
    :param logs_destination: ``CLOUD_LOGGING``, ``PATH`` (with an absolute ``logs_path``) or ``NONE`` (no
        ``logsPolicy``: Batch keeps no logs).
    :param logs_path: where ``PATH`` logs go: an absolute path, e.g. on a mounted bucket
        ``/mnt/data/logs/job.log``.
    :param image_streaming: stream the image (this provider's purpose). ``False`` submits a job that pulls its
        image, without the streaming rules or the image preflight; ``job_overrides`` may then not turn
        streaming on.
    :param job_overrides: mapping of Job fields (camelCase or snake_case) merged over the rendered job, for
        any field the other parameters do not cover: mappings merge, lists of mappings merge by index, other
        values replace. It may not turn image streaming off, nor set container fields streaming does not
        support.

    .. parameters:end

    :return: the job dict.
    :raises InvalidParameters: naming every parameter whose type or form is wrong.
    :raises TypeError: for a name that is not a job parameter (as any function would).
    """
    call = _SIGNATURE.bind(image_uri, **parameters)
    call.apply_defaults()
    context = Context(streaming=call.arguments["image_streaming"] is not False)
    checked, problems = check_parameters(call.arguments, JOB_PARAMETERS, context=context)
    raise_for(problems, "render_job")
    given = SimpleNamespace(**call.arguments)
    container = container_fragment(
        given.image_uri, given.commands, given.entrypoint, given.container_volumes, given.image_streaming
    )
    task_spec = task_spec_fragment(
        container,
        volumes=given.volumes,
        environment=environment_fragment(given.environment, given.secret_environment),
        compute_resource=compute_resource_fragment(given.cpu_milli, given.memory_mib, given.boot_disk_mib),
        max_run_duration=given.max_run_duration,
        max_retries=given.max_retries,
        retry_exit_codes=given.retry_exit_codes,
    )
    group = task_group_fragment(task_spec, given.task_count, given.parallelism)
    job: dict[str, Any] = {"taskGroups": [group]}
    allocation = allocation_policy_fragment(
        instance=instance_fragment(
            instance_policy_fragment(
                given.machine_type,
                provisioning_model="SPOT" if given.spot else given.provisioning_model,
                accelerators=accelerators_fragment(
                    given.accelerator_type, given.accelerator_count, given.gpu_driver_version
                ),
                boot_disk=boot_disk_fragment(
                    given.boot_disk_size_gb, given.boot_disk_type, given.boot_disk_image
                ),
                reservation=given.reservation,
                min_cpu_platform=given.min_cpu_platform,
            ),
            instance_template=given.instance_template,
            install_gpu_drivers=gpu_drivers(
                given.install_gpu_drivers, given.accelerator_type, given.machine_type
            ),
        ),
        service_account=given.service_account,
        network=network_fragment(given.network, given.subnetwork, given.no_external_ip),
        allowed_locations=given.allowed_locations,
    )
    _put(job, "allocationPolicy", allocation)
    _put(job, "labels", _sorted_map(given.labels))
    _put(job, "logsPolicy", logs_policy_fragment(given.logs_destination, given.logs_path))
    overrides = checked.get("job_overrides")  # spelled camelCase by its check
    return deep_merge(job, overrides) if overrides else job


#: ``render_job``'s signature, from the table: what ``help()``, ``inspect`` and the binding of each
#: call see.
_SIGNATURE = render_job.__signature__ = _signature_of(
    JOB_PARAMETERS, positional=("image_uri",), returns="dict[str, Any]"
)


def container_fragment(
    image_uri: str,
    commands: Sequence[str] | None = None,
    entrypoint: str | None = None,
    container_volumes: Sequence[str] | None = None,
    image_streaming: bool = True,
) -> dict[str, Any]:
    """The ``container`` runnable: only the fields image streaming supports (rule IS-3)."""
    container: dict[str, Any] = {"imageUri": image_uri}
    _put(container, "commands", _list(commands))
    _put(container, "entrypoint", entrypoint)
    _put(container, "volumes", _list(container_volumes))
    if image_streaming:
        container["enableImageStreaming"] = True
    return container


def environment_fragment(
    variables: Mapping[str, str] | None, secret_variables: Mapping[str, str] | None
) -> dict[str, Any] | None:
    """An ``Environment``: plain variables and Secret Manager-backed ones."""
    env: dict[str, Any] = {}
    _put(env, "variables", _sorted_map(variables))
    _put(env, "secretVariables", _sorted_map(secret_variables))
    return env or None


def compute_resource_fragment(
    cpu_milli: int | None, memory_mib: int | None, boot_disk_mib: int | None = None
) -> dict[str, Any] | None:
    """``computeResource`` per task; unset values keep Batch's defaults (2000 milli-CPU, 2000 MiB,
    no extra boot disk)."""
    resource: dict[str, Any] = {}
    _put(resource, "cpuMilli", cpu_milli)
    _put(resource, "memoryMib", memory_mib)
    _put(resource, "bootDiskMib", boot_disk_mib)
    return resource or None


def duration(value: int | float | str) -> str:
    """A protobuf Duration string: ``3600`` -> ``"3600s"``; a string (``"90.5s"``) unchanged."""
    if isinstance(value, str):
        return value
    if isinstance(value, float) and not value.is_integer():
        return f"{value:.9f}".rstrip("0") + "s"
    return f"{int(value)}s"


def lifecycle_policies_fragment(
    max_retries: int, retry_exit_codes: Iterable[int] | None = None
) -> list[dict[str, Any]] | None:
    """One ``RETRY_TASK`` policy on infrastructure and chosen exit codes, or None without retries.

    Batch supports a single lifecycle policy, and RETRY_TASK fails non-matching codes at once.
    """
    if int(max_retries) <= 0:
        return None
    codes = sorted(set(INFRASTRUCTURE_EXIT_CODES) | set(retry_exit_codes or ()))
    return [{"action": "RETRY_TASK", "actionCondition": {"exitCodes": codes}}]


def task_spec_fragment(
    container: Mapping[str, Any],
    *,
    volumes: Sequence[Mapping[str, Any]] | None = None,
    environment: Mapping[str, Any] | None = None,
    compute_resource: Mapping[str, Any] | None = None,
    max_run_duration: int | str | None = None,
    max_retries: int = 0,
    retry_exit_codes: Iterable[int] | None = None,
) -> dict[str, Any]:
    """A ``TaskSpec`` with the one container runnable."""
    spec: dict[str, Any] = {"runnables": [{"container": dict(container)}]}
    _put(spec, "computeResource", compute_resource)
    _put(spec, "maxRunDuration", None if max_run_duration is None else duration(max_run_duration))
    if int(max_retries) > 0:
        spec["maxRetryCount"] = int(max_retries)
    _put(spec, "lifecyclePolicies", lifecycle_policies_fragment(max_retries, retry_exit_codes))
    _put(spec, "environment", environment)
    _put(spec, "volumes", copy.deepcopy(_list(volumes)))
    return spec


def task_group_fragment(
    task_spec: Mapping[str, Any], task_count: int = 1, parallelism: int | None = None
) -> dict[str, Any]:
    """The job's single ``TaskGroup``."""
    group: dict[str, Any] = {"taskCount": task_count}
    _put(group, "parallelism", parallelism)
    group["taskSpec"] = dict(task_spec)
    return group


def instance_policy_fragment(
    machine_type: str | None,
    *,
    provisioning_model: str | None = None,
    accelerators: list[dict[str, Any]] | None = None,
    boot_disk: Mapping[str, Any] | None = None,
    reservation: str | None = None,
    min_cpu_platform: str | None = None,
) -> dict[str, Any] | None:
    """``instances[0].policy``: the VM shape, GPUs, boot disk and provisioning; None for Batch's choice."""
    policy: dict[str, Any] = {}
    _put(policy, "machineType", machine_type)
    _put(policy, "provisioningModel", provisioning_model)
    _put(policy, "accelerators", accelerators)
    _put(policy, "bootDisk", boot_disk)
    _put(policy, "reservation", reservation)
    _put(policy, "minCpuPlatform", min_cpu_platform)
    return policy or None


def accelerators_fragment(
    accelerator_type: str | None, count: int | None = None, driver_version: str | None = None
) -> list[dict[str, Any]] | None:
    """``policy.accelerators``: one GPU type (``count`` 1 by default), or None (no attached GPU)."""
    if accelerator_type is None:
        return None
    accelerator: dict[str, Any] = {"type": accelerator_type, "count": 1 if count is None else count}
    _put(accelerator, "driverVersion", driver_version)
    return [accelerator]


def boot_disk_fragment(
    size_gb: int | None, disk_type: str | None = None, image: str | None = None
) -> dict[str, Any] | None:
    """``policy.bootDisk``, or None: Batch then picks the image and sizes the disk itself."""
    disk: dict[str, Any] = {}
    _put(disk, "image", image)
    _put(disk, "sizeGb", size_gb)
    _put(disk, "type", disk_type)
    return disk or None


def describe_boot_disk(job: Mapping[str, Any]) -> str:
    """The boot disk a rendered job asks for, in words: ``200 GB, pd-ssd, image batch-cos``."""
    first = (job.get("allocationPolicy") or {}).get("instances") or [{}]
    if first[0].get("instanceTemplate"):
        return f"the instance template's ({first[0]['instanceTemplate']})"
    disk = (first[0].get("policy") or {}).get("bootDisk") or {}
    size = f"{disk['sizeGb']} GB" if disk.get("sizeGb") else "sized by Batch"
    extra = ((job.get("taskGroups") or [{}])[0].get("taskSpec") or {}).get("computeResource") or {}
    if extra.get("bootDiskMib") and not disk.get("sizeGb"):
        size += f" + {extra['bootDiskMib']} MiB per task"
    image = disk.get("image") or "Batch's default image"
    return f"{size}, {disk.get('type') or 'pd-balanced'}, image {image}"


def gpu_drivers(install: bool | None, accelerator_type: str | None, machine_type: str | None) -> bool:
    """Whether Batch installs GPU drivers: as asked, or (None) when the job asks for GPUs.

    Batch's own default is not to, and Google's samples note that the GPUs are then unusable
    unless the image brings its drivers: so a GPU job gets them unless it says otherwise.
    """
    if install is not None:
        return install
    return accelerator_type is not None or is_gpu_machine(machine_type)


def instance_fragment(
    policy: Mapping[str, Any] | None,
    *,
    instance_template: str | None = None,
    install_gpu_drivers: bool = False,
) -> dict[str, Any] | None:
    """``instances[0]``: a policy or a template, and whether Batch installs GPU drivers."""
    instance: dict[str, Any] = {}
    _put(instance, "policy", dict(policy) if policy else None)
    _put(instance, "instanceTemplate", instance_template)
    if install_gpu_drivers:
        instance["installGpuDrivers"] = True
    return instance or None


def network_fragment(
    network: str | None, subnetwork: str | None, no_external_ip: bool = False
) -> dict[str, Any] | None:
    """``allocationPolicy.network`` with one interface, or None for the default network."""
    interface: dict[str, Any] = {}
    _put(interface, "network", network)
    _put(interface, "subnetwork", subnetwork)
    if no_external_ip:
        interface["noExternalIpAddress"] = True
    return {"networkInterfaces": [interface]} if interface else None


def allocation_policy_fragment(
    *,
    instance: Mapping[str, Any] | None = None,
    service_account: str | None = None,
    network: Mapping[str, Any] | None = None,
    allowed_locations: Sequence[str] | None = None,
) -> dict[str, Any] | None:
    """``allocationPolicy``: where and on what the VMs run; None when every default applies."""
    allocation: dict[str, Any] = {}
    if allowed_locations:
        allocation["location"] = {"allowedLocations": list(allowed_locations)}
    if instance:
        allocation["instances"] = [dict(instance)]
    if service_account:
        allocation["serviceAccount"] = {"email": service_account}
    _put(allocation, "network", network)
    return allocation or None


def logs_policy_fragment(
    destination: LogsDestination = "CLOUD_LOGGING", path: str | None = None
) -> dict | None:
    """``logsPolicy``: Cloud Logging, a file path, or None (``NONE``: logs are not kept)."""
    if destination == "NONE":
        return None
    policy: dict[str, Any] = {"destination": destination}
    _put(policy, "logsPath", path)
    return policy


def deep_merge(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` updated by ``overrides``.

    * two mappings merge key by key, recursively;
    * two lists whose items are all mappings merge element by element, by index: ``overrides[i]``
      merges into ``base[i]``, items beyond the end of ``base`` are appended, and items of
      ``base`` beyond the end of ``overrides`` are kept (so ``{"taskGroups": [{"parallelism": 2}]}``
      changes the one task group instead of replacing it);
    * anything else (scalars, lists of scalars such as ``commands``, a mapping over a list) replaces.

    Neither argument is modified; the result shares no mutable value with them.
    """
    merged = copy.deepcopy(dict(base))
    for key, value in overrides.items():
        merged[key] = _merged(merged.get(key), value)
    return merged


def _merged(current: Any, value: Any) -> Any:
    if isinstance(current, Mapping) and isinstance(value, Mapping):
        return deep_merge(current, value)
    if _mappings(current) and _mappings(value):
        head = [
            _merged(current[i], item) if i < len(current) else copy.deepcopy(item)
            for i, item in enumerate(value)
        ]
        return head + list(current[len(value) :])
    return copy.deepcopy(value)


def _mappings(value: Any) -> bool:
    """A non-empty list (or tuple) whose items are all mappings."""
    return (
        isinstance(value, (list, tuple)) and bool(value) and all(isinstance(item, Mapping) for item in value)
    )


def _put(target: dict[str, Any], key: str, value: Any) -> None:
    """Set ``key`` only when ``value`` says something, so Batch's defaults stay in charge."""
    if value is not None and value != [] and value != {}:
        target[key] = value


def _list(values: Iterable[Any] | None) -> list[Any] | None:
    return None if values is None else list(values)


def _sorted_map(values: Mapping[str, Any] | None) -> dict[str, Any] | None:
    return None if not values else {key: values[key] for key in sorted(values)}


# --------------------------------------------------------------------------------------------
# Naming the parameter behind a problem the validator found in the rendered job

_SEGMENT_RE = re.compile(r'\.?([A-Za-z_][A-Za-z0-9_]*)|\[([0-9]+)\]|\[("(?:[^"\\]|\\.)*")\]')


def path_segments(path: str) -> tuple[Any, ...] | None:
    """``a.b[0]["k"]`` -> ``("a", "b", 0, "k")``; None when the path is not in that syntax."""

    segments: list[Any] = []
    position = 0
    while position < len(path):
        match = _SEGMENT_RE.match(path, position)
        if not match or match.end() == position:
            return None
        name, index, quoted = match.groups()
        segments.append(name if name is not None else int(index) if index is not None else json.loads(quoted))
        position = match.end()
    return tuple(segments)


def _override_paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """The paths of the values ``job_overrides`` sets (lists of mappings merge by index)."""
    if isinstance(value, Mapping) and value:
        for key, item in value.items():
            yield from _override_paths(item, (*prefix, key))
    elif isinstance(value, (list, tuple)) and value and all(isinstance(item, Mapping) for item in value):
        for index, item in enumerate(value):
            yield from _override_paths(item, (*prefix, index))
    else:
        yield prefix


def name_parameters(
    problems: list[Problem], table: Mapping[str, Parameter], overrides: Any = None
) -> list[Problem]:
    """The problems, each naming the parameter that rendered the field it is about (if one did).

    A field ``job_overrides`` sets (or whose object it changed) is named ``job_overrides``;
    otherwise the parameter whose Batch field holds the path; otherwise, for request-level paths
    such as ``location``, the parameter of that name.
    """
    overridden = list(_override_paths(overrides)) if isinstance(overrides, Mapping) and overrides else []
    fields = sorted(
        ((path_segments(p.field), p.name) for p in table.values() if p.field),
        key=lambda item: -len(item[0] or ()),
    )
    named = []
    for problem in problems:
        segments = path_segments(problem.path) if problem.path and not problem.parameter else None
        name = _parameter_of(segments, fields, overridden) if segments else None
        if name is None and problem.path in table and not problem.parameter:
            name = problem.path
        named.append(replace(problem, parameter=name) if name else problem)
    return named


def _parameter_of(
    segments: tuple[Any, ...], fields: list[tuple[Any, str]], overridden: list[tuple[Any, ...]]
) -> str | None:
    if any(segments[: len(path)] == path for path in overridden):
        return "job_overrides"  # the override set this value, or an object holding it
    for field, name in fields:
        if field is not None and segments[: len(field)] == field:
            return name
    if any(path[: len(segments)] == segments for path in overridden):
        return "job_overrides"  # the override changed something inside this object
    return None
