"""DAG parameters -> a Batch v1 ``Job`` as a JSON-shaped dict, with image streaming on.

The output is camelCase, exactly what ``gcloud batch jobs submit --config`` and the REST API take,
and what ``google.cloud.batch_v1.Job.from_json(json.dumps(job))`` parses. Rendering checks each
parameter's type and form against :mod:`airflow_batchstream.jobspec.parameters` (raising
:class:`~airflow_batchstream.jobspec.parameters.InvalidParameters`), but not the job's rules (that is
:func:`airflow_batchstream.jobspec.validate.validate_job`). It is deterministic: equal arguments give
equal JSON, maps are emitted with sorted keys, inputs are copied, never aliased. Each helper builds
one fragment of the job and returns it, or None when there is nothing to say, so that Batch's own
defaults apply.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from types import SimpleNamespace
from typing import Any, Literal

from airflow_batchstream.jobspec.forms import Context
from airflow_batchstream.jobspec.parameters import (
    JOB_PARAMETERS,
    check_parameters,
    documented,
    raise_for,
    signature_of,
)

#: Reserved exit codes Batch gives a task that failed for infrastructure reasons, retried when
#: ``max_retries > 0``: 50001 Spot VM preempted, 50002 VM unreachable, 50003 VM rebooted,
#: 50004 task unresponsive, 50006 VM recreated. 50005 (maxRunDuration exceeded) is deliberately
#: absent: retrying a task that ran out of time would only run out of time again.
INFRASTRUCTURE_EXIT_CODES: tuple[int, ...] = (50001, 50002, 50003, 50004, 50006)

LogsDestination = Literal["CLOUD_LOGGING", "PATH", "NONE"]


@documented(JOB_PARAMETERS, templated=False)
def render_job(image_uri: str, **parameters: Any) -> dict[str, Any]:
    """Build a one-task-group container job whose container streams its image.

    Takes the job parameters of :data:`~airflow_batchstream.jobspec.parameters.JOB_PARAMETERS`:
    ``image_uri`` by position or name, the others by name (its signature says so, with every
    default). ``job_overrides`` is merged into the result last (:func:`deep_merge`); its snake_case
    field names are spelled camelCase first, so they override their camelCase twins.

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
        compute_resource=compute_resource_fragment(given.cpu_milli, given.memory_mib),
        max_run_duration=given.max_run_duration,
        max_retries=given.max_retries,
        retry_exit_codes=given.retry_exit_codes,
    )
    group = task_group_fragment(task_spec, given.task_count, given.parallelism)
    job: dict[str, Any] = {"taskGroups": [group]}
    allocation = allocation_policy_fragment(
        instance=instance_policy_fragment(given.machine_type, given.spot),
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
_SIGNATURE = render_job.__signature__ = signature_of(
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


def compute_resource_fragment(cpu_milli: int | None, memory_mib: int | None) -> dict[str, Any] | None:
    """``computeResource`` per task; unset values keep Batch's defaults (2000 milli-CPU, 2000 MiB)."""
    resource: dict[str, Any] = {}
    _put(resource, "cpuMilli", cpu_milli)
    _put(resource, "memoryMib", memory_mib)
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


def instance_policy_fragment(machine_type: str | None, spot: bool = False) -> dict[str, Any] | None:
    """``instances[0]``: the VM shape and provisioning model, or None for Batch's choice."""
    policy: dict[str, Any] = {}
    _put(policy, "machineType", machine_type)
    if spot:
        policy["provisioningModel"] = "SPOT"
    return {"policy": policy} if policy else None


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
