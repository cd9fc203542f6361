"""What every rule shares: the context it reads, the walks over the job, tolerant accessors, paths.

Every rule reads the job through the tolerant accessors (:func:`as_dict`, :func:`as_list`,
:func:`as_int`): a value of the wrong type reads as absent, since the structure check has already
reported it. The walks (task groups, task specs, runnables, containers, volumes, label maps) are
done once per job, in :class:`Context`, and shared by the rules. A problem takes its severity from
the rule catalog (:func:`found`, :func:`at_level`).
"""

from __future__ import annotations

import json
import re
import reprlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from airflow_batchstream.jobspec import catalog, schema
from airflow_batchstream.jobspec.images import ImageRef, parse_image, region_of_allowed_location
from airflow_batchstream.jobspec.names import camel_case_fields, snake_case
from airflow_batchstream.jobspec.policy import ValidationPolicy, problems_at_level
from airflow_batchstream.jobspec.problems import Problem, Severity

FIELD_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
INT_STRING_RE = re.compile(r"^-?[0-9]+$")
MAX_PATH_KEY = 80

#: Bounded repr: a value nested thousands deep or megabytes long must not break a message.
_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxstring, _REPR.maxother, _REPR.maxlist, _REPR.maxdict = 3, 60, 60, 4, 4

_JSON_TYPE_NAMES = {
    dict: "object",
    list: "array",
    tuple: "array",
    str: "string",
    bool: "boolean",
    int: "integer",
    float: "number",
    type(None): "null",
}


def found(rule: str, condition: str, path: str, message: str, fix: str) -> Problem:
    """A problem of ``rule``'s ``condition``, with the severity the catalog gives it."""
    return Problem(path, rule, message, fix, _SEVERITIES[rule, condition])


_SEVERITIES = {
    key: Severity(condition.severity)
    for key, condition in catalog.CONDITION.items()
    if condition.severity != "policy"
}


def at_level(context: Context, rule: str, condition: str, path: str, message: str, fix: str) -> list[Problem]:
    """A problem of a ``policy`` condition, at the level ``context.policy`` sets (none when off)."""
    return problems_at_level(catalog.level(context.policy, rule, condition), path, rule, message, fix)


@dataclass
class Context:
    """What every rule sees; the walks over the job are done once and shared by the rules.

    ``raw`` is the job as written. The structure check (the first rule) sets ``renamed`` when it
    met a snake_case field name; the other rules then read ``job``, the camelCase copy.
    """

    raw: dict
    region: str | None
    project: str | None
    policy: ValidationPolicy
    renamed: bool = False

    @cached_property
    def job(self) -> dict:
        return camel_case_fields(self.raw) if self.renamed else self.raw

    @cached_property
    def task_groups(self) -> tuple[tuple[str, dict], ...]:
        return tuple(_task_groups(self.job))

    @cached_property
    def task_specs(self) -> tuple[tuple[str, dict, dict], ...]:
        return tuple(_task_specs(self.task_groups))

    @cached_property
    def runnables(self) -> tuple[tuple[str, dict], ...]:
        return tuple(_runnables(self.task_specs))

    @cached_property
    def containers(self) -> tuple[tuple[str, dict], ...]:
        return tuple(_containers(self.runnables))

    @cached_property
    def volumes(self) -> tuple[tuple[str, dict], ...]:
        return tuple(_task_volumes(self.task_specs))

    @cached_property
    def instance_policy(self) -> dict:
        """``allocationPolicy.instances[0].policy``: the VMs, when no template gives them."""
        instances = instances_of(self.job)
        return as_dict(as_dict(instances[0]).get("policy")) if instances else {}

    @cached_property
    def instance_template(self) -> Any:
        """``instances[0].instanceTemplate``: when set, Batch takes the VMs (disks, network) from it."""
        instances = instances_of(self.job)
        return as_dict(instances[0]).get("instanceTemplate") if instances else None

    @cached_property
    def label_maps(self) -> tuple[tuple[str, dict, str], ...]:
        return tuple(_label_maps(self.job, self.runnables))

    @cached_property
    def _images(self) -> dict[tuple[str, str], tuple[ImageRef | None, list[Problem]]]:
        return {}

    def image(self, uri: str, path: str) -> tuple[ImageRef | None, list[Problem]]:
        """``parse_image`` once per (uri, path): IS-1 and IS-2 both need it."""
        key = (uri, path)
        if key not in self._images:
            self._images[key] = parse_image(uri, self.policy, path)
        return self._images[key]


Rule = Callable[[Context], Iterable[Problem]]


def as_dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list:
    return list(value) if isinstance(value, (list, tuple)) else []


def as_int(value: Any) -> int | None:
    """An int64 as JSON gives it: a number or a decimal string; None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and INT_STRING_RE.match(value):
        return int(value)
    return None


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def field_path(path: str, key: Any) -> str:
    """``a.b`` for a name that reads as a field, ``a["odd key"]`` for anything else."""
    if isinstance(key, str) and FIELD_NAME_RE.match(key) and len(key) <= MAX_PATH_KEY:
        return _join(path, key)
    return key_path(path, key)


def key_path(path: str, key: Any) -> str:
    """A map entry's path: ``labels["team"]`` (JSON-quoted, so any key reads unambiguously)."""
    if not isinstance(key, str):
        return f"{path}[{bounded_repr(key)}]"
    if len(key) > MAX_PATH_KEY:  # absurd keys are shortened: the path must stay readable
        key = key[: MAX_PATH_KEY - 3] + "..."
    if key.isascii() and key.isprintable() and '"' not in key and "\\" not in key:
        return f'{path}["{key}"]'  # what json.dumps would give, without its cost
    # Readable non-ASCII keys, but escaped lone surrogates: a path must always be printable.
    return f"{path}[{json.dumps(key, ensure_ascii=not is_json_string(key))}]"


def is_json_string(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    if value.isascii():
        return True
    try:
        value.encode("utf-8")  # lone surrogates cannot be sent
    except UnicodeEncodeError:
        return False
    return True


def _task_groups(job: dict) -> Iterator[tuple[str, dict]]:
    for index, group in enumerate(as_list(job.get("taskGroups"))):
        if isinstance(group, dict):
            yield f"taskGroups[{index}]", group


def _task_specs(groups: Iterable[tuple[str, dict]]) -> Iterator[tuple[str, dict, dict]]:
    """(path, taskSpec, its task group) for every task spec that is an object."""
    for path, group in groups:
        spec = group.get("taskSpec")
        if isinstance(spec, dict):
            yield f"{path}.taskSpec", spec, group


def _runnables(specs: Iterable[tuple[str, dict, dict]]) -> Iterator[tuple[str, dict]]:
    for path, spec, _ in specs:
        for index, runnable in enumerate(as_list(spec.get("runnables"))):
            if isinstance(runnable, dict):
                yield f"{path}.runnables[{index}]", runnable


def _containers(runnables: Iterable[tuple[str, dict]]) -> Iterator[tuple[str, dict]]:
    for path, runnable in runnables:
        container = runnable.get("container")
        if isinstance(container, dict):
            yield f"{path}.container", container


def _task_volumes(specs: Iterable[tuple[str, dict, dict]]) -> Iterator[tuple[str, dict]]:
    for path, spec, _ in specs:
        for index, volume in enumerate(as_list(spec.get("volumes"))):
            if isinstance(volume, dict):
                yield f"{path}.volumes[{index}]", volume


def _label_maps(job: dict, runnables: Iterable[tuple[str, dict]]) -> Iterator[tuple[str, dict, str]]:
    """(path, labels, resource) with resource ``job``, ``runnable`` or ``vm`` (allocationPolicy:
    the VMs, persistent disks and GPUs)."""
    yield "labels", as_dict(job.get("labels")), "job"
    for path, runnable in runnables:
        yield f"{path}.labels", as_dict(runnable.get("labels")), "runnable"
    yield "allocationPolicy.labels", as_dict(as_dict(job.get("allocationPolicy")).get("labels")), "vm"


def is_streaming(container: dict) -> bool:
    return container.get("enableImageStreaming") is True


def instances_of(job: dict) -> list:
    return as_list(as_dict(job.get("allocationPolicy")).get("instances"))


def enum_name(value: Any, enum: str) -> str | None:
    """An enum value as its name, whether JSON gave the name or the number; None if neither."""
    values = schema.ENUMS[enum]
    if isinstance(value, str):
        return value if value in values else None
    if isinstance(value, int) and not isinstance(value, bool):
        return next((name for name, number in values.items() if number == value), None)
    return None


def allowed_locations(job: dict) -> list[tuple[str, Any]]:
    entries = as_list(as_dict(as_dict(job.get("allocationPolicy")).get("location")).get("allowedLocations"))
    return [(f"allocationPolicy.location.allowedLocations[{i}]", entry) for i, entry in enumerate(entries)]


def allowed_regions(job: dict) -> set[str]:
    """The regions of the well-formed ``allowedLocations`` entries."""
    return {region for _, entry in allowed_locations(job) if (region := region_of_allowed_location(entry))}


def vm_regions(context: Context) -> tuple[set[str], str]:
    """The regions the VMs may run in, and where that came from (for messages)."""
    regions = allowed_regions(context.job)
    if regions:
        return regions, "allocationPolicy.location.allowedLocations"
    return ({context.region} if context.region else set()), "the job location"


#: One step of a path as this module writes them: ``.field``, ``[3]`` or ``["map key"]``.
_PATH_STEP = re.compile(r'\.?([A-Za-z_][A-Za-z0-9_]*)|(\[(?:"(?:[^"\\]|\\.)*"|[^\]]*)\])')


def written_path(raw: Any, path: str) -> str:
    """``path`` as the rules name it (camelCase) spelled the way the job was written.

    A camelCase field the written object does not have, but whose snake_case name it has, is
    written snake_case; every other step is kept. A path this module did not write is returned
    as it is.
    """
    steps = list(_PATH_STEP.finditer(path))
    if "".join(step.group(0) for step in steps) != path:
        return path
    written: list[str] = []
    node = raw
    for step in steps:
        field, bracket = step.groups()
        if field is None:
            written.append(bracket)
            node = _child(node, bracket)
            continue
        if isinstance(node, dict) and field not in node and snake_case(field) in node:
            field = snake_case(field)
        written.append(f".{field}" if written else field)
        node = node.get(field) if isinstance(node, dict) else None
    return "".join(written)


def _child(node: Any, bracket: str) -> Any:
    """What ``[3]`` or ``["key"]`` designates in ``node``, or None."""
    inner = bracket[1:-1]
    if isinstance(node, (list, tuple)) and inner.isdigit():
        index = int(inner)
        return node[index] if index < len(node) else None
    if isinstance(node, dict) and inner.startswith('"'):
        try:
            return node.get(json.loads(inner))
        except ValueError:
            return None
    return None


def bounded_repr(value: Any) -> str:
    """``repr`` cut short: at most 3 levels, 60 characters of a string, 4 items of a container."""
    return _REPR.repr(value)


def describe(value: Any) -> str:
    """The value's JSON type and a bounded repr of it: ``array [1, 2, 3, 4, ...]``."""
    kind = _JSON_TYPE_NAMES.get(type(value), type(value).__name__)
    return f"{kind} {_REPR.repr(value)}"


def short(value: Any) -> str:
    """The value as JSON when it is small (what the user wrote), else a bounded repr."""
    if isinstance(value, (str, int, float, bool)) or value is None:
        text = json.dumps(value)
        return text if len(text) <= 40 else text[:37] + "..."
    return _REPR.repr(value)
