"""Job dict + job location -> every problem at once, each with its JSON path, rule id and fix.

:func:`validate_job` never raises, whatever JSON-shaped value it is given: each rule reads the job
through tolerant accessors (a value of the wrong type reads as absent, since the structure check
has already reported it), and a rule that fails anyway is reported as ``J-INTERNAL`` instead of
hiding the others. It imports neither Airflow nor ``google.*``; the field table comes from
:mod:`airflow_batchstream.jobspec.schema`.

Field names may be camelCase or the protos' snake_case, as gcloud accepts them: the structure check
reads the job as written, the other rules read it in camelCase (:func:`~airflow_batchstream.jobspec.
names.camel_case_fields`), and every problem is reported at the path the user wrote.

Every rule id and condition, with its severity and its source, is in
:mod:`airflow_batchstream.jobspec.catalog`, rendered as ``docs/rules.md``; problems take their
severity from there.
"""

from __future__ import annotations

import difflib
import json
import re
import reprlib
import shlex
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from functools import cached_property
from typing import Any

from airflow_batchstream.jobspec import catalog, schema
from airflow_batchstream.jobspec.images import (
    REGION_RE,
    ZONE_RE,
    ImageRef,
    location_contains,
    parse_image,
    region_of_allowed_location,
)
from airflow_batchstream.jobspec.limits import (  # shared with the parameter checks and the emulator
    DURATION_RE,
    DYNAMIC_WORKLOAD_SCHEDULER_LABEL,
    JOB_ID_RE,
    LIFECYCLE_ACTIONS,
    MAX_JOB_BYTES,
    MAX_JOB_LABELS,
    MAX_PARALLELISM,
    MAX_RETRIES,
    MAX_TASKS,
    MAX_VM_LABELS,
    PREDEFINED_JOB_LABELS,
    PREDEFINED_VM_LABELS,
    RESERVED_LABEL_PREFIXES,
    SECRET_RE,
    STREAMING_FIELDS,
)
from airflow_batchstream.jobspec.names import PROTO_NAMES, camel_case_fields, snake_case
from airflow_batchstream.jobspec.policy import DEFAULT_POLICY, ValidationPolicy, problems_at_level
from airflow_batchstream.jobspec.problems import Problem, Severity

PARENT_RE = re.compile(r"^projects/(?P<project>[^/]+)/locations/(?P<region>[^/]+)$")
#: RFC 4122's string form of a UUID, what ``request_id`` must be.
UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
TIMESTAMP_RE = re.compile(
    r"^(?P<base>[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2})(\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})$"
)
FIELD_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
INT_STRING_RE = re.compile(r"^-?[0-9]+$")
TOPIC_RE = re.compile(r"^projects/[^/]+/topics/[^/]+$")
#: An RFC 1035 label, which network tags must be.
TAG_RE = re.compile(r"^[A-Za-z]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?$")
ASCII_LABEL_KEY_RE = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
ASCII_LABEL_VALUE_RE = re.compile(r"^[a-z0-9_-]{0,63}$")
#: ``.../regions/R/instanceTemplates/T``: a regional template, which Batch does not support.
REGIONAL_TEMPLATE_RE = re.compile(r"(?:^|/)regions/[^/]+/instanceTemplates/")
TEMPLATE_PROJECT_RE = re.compile(r"(?:^|/)projects/(?P<project>[^/]+)/")

MAX_PATH_KEY = 80
INT_RANGES = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}
MAX_DURATION_SECONDS = 315_576_000_000  # protobuf Duration's own limit
MAX_RUN_SECONDS = 14 * 86_400
SEVEN_DAY_MAX_RUN_SECONDS = 7 * 86_400
#: The options field of ``docker run --volume`` (docs.docker.com, bind mounts and volumes).
DOCKER_VOLUME_OPTIONS = frozenset(
    {"ro", "rw", "z", "Z", "nocopy", "shared", "slave", "private", "rshared", "rslave", "rprivate",
     "consistent", "cached", "delegated"}
)  # fmt: skip
#: The ``mount`` option that makes a mount writable, which existing persistent disks do not take.
WRITE_MOUNT_OPTIONS = frozenset({"rw"})

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


# --------------------------------------------------------------------------------------------
# Public entry points


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
            _found(
                "J-TYPE", "kind", "", f"the job must be a JSON object, got {_describe(job)}", _fix_type("Job")
            )
        )
        return problems
    region = _region_of(location)
    context = _Context(
        job, region if region and REGION_RE.match(region) else None, _project_of(location), policy
    )
    checked = len(problems)
    for rule_id, check in _RULES:
        try:
            problems.extend(check(context))
        except Exception as exc:  # a bug in one rule must not hide every other problem
            problems.append(
                _found(
                    "J-INTERNAL",
                    "failed",
                    "",
                    f"rule {rule_id} ({check.__name__}) failed on this job: {exc!r}",
                    "report this as a bug in airflow-batchstream, with the job",
                )
            )
    if context.renamed:  # the rules read the camelCase copy: name each path as the user wrote it
        problems[checked:] = [replace(p, path=_written_path(job, p.path)) for p in problems[checked:]]
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
            _found(
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
        _found(
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
        _found(
            "J-REQID",
            "uuid",
            "requestId",
            f"request id {request_id!r} is not a valid UUID other than the zero UUID",
            "use a UUID such as the one `python -c 'import uuid; print(uuid.uuid4())'` prints, or "
            "leave the request id unset",
        )
    ]


def _found(rule: str, condition: str, path: str, message: str, fix: str) -> Problem:
    """A problem of ``rule``'s ``condition``, with the severity the catalog gives it."""
    return Problem(path, rule, message, fix, _SEVERITIES[rule, condition])


_SEVERITIES = {
    key: Severity(condition.severity)
    for key, condition in catalog.CONDITION.items()
    if condition.severity != "policy"
}


def _at_level(
    context: _Context, rule: str, condition: str, path: str, message: str, fix: str
) -> list[Problem]:
    """A problem of a ``policy`` condition, at the level ``context.policy`` sets (none when off)."""
    return problems_at_level(catalog.level(context.policy, rule, condition), path, rule, message, fix)


# --------------------------------------------------------------------------------------------
# Rule registry and tolerant accessors


@dataclass
class _Context:
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
        instances = _instances(self.job)
        return _obj(_obj(instances[0]).get("policy")) if instances else {}

    @cached_property
    def instance_template(self) -> Any:
        """``instances[0].instanceTemplate``: when set, Batch takes the VMs (disks, network) from it."""
        instances = _instances(self.job)
        return _obj(instances[0]).get("instanceTemplate") if instances else None

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


_Rule = Callable[[_Context], Iterable[Problem]]
_RULES: list[tuple[str, _Rule]] = []


def _rule(rule_id: str) -> Callable[[_Rule], _Rule]:
    """Register a rule; rules run in registration order, which is the order problems come out."""

    def register(check: _Rule) -> _Rule:
        _RULES.append((rule_id, check))
        return check

    return register


def _obj(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _arr(value: Any) -> list:
    return list(value) if isinstance(value, (list, tuple)) else []


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _int(value: Any) -> int | None:
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


def _field_path(path: str, key: Any) -> str:
    """``a.b`` for a name that reads as a field, ``a["odd key"]`` for anything else."""
    if isinstance(key, str) and FIELD_NAME_RE.match(key) and len(key) <= MAX_PATH_KEY:
        return _join(path, key)
    return _key_path(path, key)


def _key_path(path: str, key: Any) -> str:
    """A map entry's path: ``labels["team"]`` (JSON-quoted, so any key reads unambiguously)."""
    if not isinstance(key, str):
        return f"{path}[{_REPR.repr(key)}]"
    if len(key) > MAX_PATH_KEY:  # absurd keys are shortened: the path must stay readable
        key = key[: MAX_PATH_KEY - 3] + "..."
    if key.isascii() and key.isprintable() and '"' not in key and "\\" not in key:
        return f'{path}["{key}"]'  # what json.dumps would give, without its cost
    # Readable non-ASCII keys, but escaped lone surrogates: a path must always be printable.
    return f"{path}[{json.dumps(key, ensure_ascii=not _is_json_string(key))}]"


def _task_groups(job: dict) -> Iterator[tuple[str, dict]]:
    for index, group in enumerate(_arr(job.get("taskGroups"))):
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
        for index, runnable in enumerate(_arr(spec.get("runnables"))):
            if isinstance(runnable, dict):
                yield f"{path}.runnables[{index}]", runnable


def _containers(runnables: Iterable[tuple[str, dict]]) -> Iterator[tuple[str, dict]]:
    for path, runnable in runnables:
        container = runnable.get("container")
        if isinstance(container, dict):
            yield f"{path}.container", container


def _streaming(container: dict) -> bool:
    return container.get("enableImageStreaming") is True


def _instances(job: dict) -> list:
    return _arr(_obj(job.get("allocationPolicy")).get("instances"))


def _enum_name(value: Any, enum: str) -> str | None:
    """An enum value as its name, whether JSON gave the name or the number; None if neither."""
    values = schema.ENUMS[enum]
    if isinstance(value, str):
        return value if value in values else None
    if isinstance(value, int) and not isinstance(value, bool):
        return next((name for name, number in values.items() if number == value), None)
    return None


def _region_of(location: object) -> str | None:
    if not isinstance(location, str):
        return None
    match = PARENT_RE.match(location)
    return match.group("region") if match else location


def _project_of(location: object) -> str | None:
    """The project of a parent ``projects/P/locations/R``; None for a bare region."""
    match = PARENT_RE.match(location) if isinstance(location, str) else None
    return match.group("project") if match else None


#: One step of a path as this module writes them: ``.field``, ``[3]`` or ``["map key"]``.
_PATH_STEP = re.compile(r'\.?([A-Za-z_][A-Za-z0-9_]*)|(\[(?:"(?:[^"\\]|\\.)*"|[^\]]*)\])')


def _written_path(raw: Any, path: str) -> str:
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


#: Bounded repr: a value nested thousands deep or megabytes long must not break a message.
_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxstring, _REPR.maxother, _REPR.maxlist, _REPR.maxdict = 3, 60, 60, 4, 4


def _describe(value: Any) -> str:
    kind = _JSON_TYPE_NAMES.get(type(value), type(value).__name__)
    return f"{kind} {_REPR.repr(value)}"


# --------------------------------------------------------------------------------------------
# Structure: every field known, of the right JSON type, at most one member per oneof


def _fix_type(kind: str) -> str:
    examples = {
        "string": 'a JSON string, e.g. "abc"',
        "bool": "true or false (no quotes)",
        "int32": 'an integer, e.g. 3 or "3"',
        "int64": 'an integer, e.g. 3 or "3"',
        "Duration": 'a duration string in seconds, e.g. "3600s"',
        "Timestamp": 'an RFC 3339 time, e.g. "2024-01-01T00:00:00Z"',
    }
    if kind.startswith("enum:"):
        names = ", ".join(schema.ENUMS[kind[5:]])
        return f"use one of {names}"
    return f"use {examples.get(kind, f'a JSON object ({kind})')}"


@_rule("J-FIELD")
def check_structure(context: _Context) -> list[Problem]:
    """J-FIELD, J-TYPE, J-DURATION, J-ONEOF, J-OUTPUT: walk the job as written along the v1 schema."""
    # The walk appends to one list rather than yielding: it is the hot path of validation.
    out = _Findings()
    _check_message(context.raw, schema.ROOT, "", out)
    context.renamed = out.renamed
    return out


class _Findings(list):
    """The structure walk's problems, and whether it met a snake_case field name."""

    renamed = False


#: message -> its oneofs, each member as (camelCase, snake_case) spellings.
_ONEOF_SPELLINGS = {
    message: tuple(tuple((name, snake_case(name)) for name in group) for group in groups)
    for message, groups in schema.ONEOFS.items()
}


def _check_message(value: dict, message: str, path: str, out: _Findings) -> None:
    fields = schema.MESSAGES[message]
    for key, item in value.items():
        name = key
        kind = fields.get(key) if isinstance(key, str) else None
        if kind is None:
            name = PROTO_NAMES[message].get(key) if isinstance(key, str) else None
            if name is None:
                out.append(_unknown_field(key, message, fields, _field_path(path, key)))
                continue
            if name in value:
                out.append(_both_spellings(key, name, message, _field_path(path, key)))
                continue
            kind = fields[name]
            out.renamed = True
        field_path = f"{path}.{key}" if path else key
        if (message, name) in schema.OUTPUT_ONLY and item not in (None, "", {}, []):
            out.append(
                _found(
                    "J-OUTPUT",
                    "set",
                    field_path,
                    f"{key!r} is output only; Batch ignores it in a create request",
                    f"remove it ({schema.OUTPUT_ONLY[(message, name)]})",
                )
            )
        if item is not None:  # null means "unset" in proto3 JSON
            _check_field(item, kind, field_path, out)
    for group in _ONEOF_SPELLINGS.get(message, ()):
        present = [
            camel if value.get(camel) is not None else snake
            for camel, snake in group
            if value.get(camel) is not None or value.get(snake) is not None
        ]
        if len(present) > 1:
            out.append(
                _found(
                    "J-ONEOF",
                    "several",
                    path,
                    f"{' and '.join(present)} are set together, but {message} takes only one of "
                    f"{', '.join(camel for camel, _ in group)}",
                    f"keep one of {', '.join(present)} and remove the others",
                )
            )


def _check_field(value: Any, kind: str, path: str, out: _Findings) -> None:
    if kind.startswith("map:"):
        _check_map(value, kind[4:], path, out)
    elif kind.endswith("[]"):
        _check_array(value, kind[:-2], path, out)
    else:
        _check_value(value, kind, path, out)


def _check_map(value: Any, kind: str, path: str, out: _Findings) -> None:
    if not isinstance(value, dict):
        out.append(_type_problem(path, f"an object mapping strings to {kind}", value, "a JSON object"))
        return
    for key, item in value.items():
        if isinstance(key, str) and _is_json_string(key) and item is not None:
            _check_value(item, kind, _key_path(path, key), out)
            continue
        item_path = _key_path(path, key)
        if not isinstance(key, str):
            out.append(_type_problem(item_path, "a string key", key, "quote the key"))
        elif not _is_json_string(key):
            out.append(_surrogate_problem(item_path, key))
        else:
            out.append(_type_problem(item_path, kind, item, _fix_type(kind)))


def _check_array(value: Any, kind: str, path: str, out: _Findings) -> None:
    if not isinstance(value, (list, tuple)):
        fix = f"wrap the value in a list: [{_short(value)}]"
        out.append(_type_problem(path, f"an array of {kind}", value, fix))
        return
    for index, item in enumerate(value):
        item_path = f"{path}[{index}]"
        if item is None:
            out.append(_type_problem(item_path, kind, item, "remove the null element"))
        else:
            _check_value(item, kind, item_path, out)


def _check_value(value: Any, kind: str, path: str, out: _Findings) -> None:
    if kind in schema.MESSAGES:
        if isinstance(value, dict):
            _check_message(value, kind, path, out)
        else:
            out.append(_type_problem(path, f"an object ({kind})", value, _fix_type(kind)))
        return
    checker = _SCALAR_CHECKS.get(kind) or _check_enum
    problem = checker(value, kind, path)
    if problem is not None:
        out.append(problem)


def _is_json_string(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    if value.isascii():
        return True
    try:
        value.encode("utf-8")  # lone surrogates cannot be sent
    except UnicodeEncodeError:
        return False
    return True


def _check_string(value: Any, kind: str, path: str) -> Problem | None:
    if _is_json_string(value):
        return None
    if isinstance(value, str):
        return _surrogate_problem(path, value)
    return _type_problem(path, "a string", value, _fix_type(kind))


def _surrogate_problem(path: str, text: str) -> Problem:
    return _found(
        "J-TYPE",
        "text",
        path,
        f"{text!r} contains a lone surrogate, which is not valid Unicode text and cannot be sent",
        "fix the text's encoding (it was probably decoded with errors='surrogateescape')",
    )


def _check_bool(value: Any, kind: str, path: str) -> Problem | None:
    return None if isinstance(value, bool) else _type_problem(path, "a boolean", value, _fix_type(kind))


def _check_int(value: Any, kind: str, path: str) -> Problem | None:
    number = _int(value)
    if number is None:
        return _type_problem(path, f"an integer ({kind})", value, _fix_type(kind))
    low, high = INT_RANGES[kind]
    if not low <= number <= high:
        return _found(
            "J-TYPE", "kind", path, f"{number} is out of the {kind} range", f"use a value in [{low}, {high}]"
        )
    return None


def _check_duration(value: Any, kind: str, path: str) -> Problem | None:
    match = DURATION_RE.match(value) if isinstance(value, str) else None
    if match and int(match.group("seconds")) <= MAX_DURATION_SECONDS:
        return None
    fix = 'write seconds with an "s" suffix, e.g. "3600s" or "1.5s"'
    if _int(value) is not None:
        fix = f'write "{_int(value)}s"'
    message = f'{_describe(value)} is not a duration like "3600s" (at most {MAX_DURATION_SECONDS}s)'
    return _found("J-DURATION", "syntax", path, message, fix)


def _check_timestamp(value: Any, kind: str, path: str) -> Problem | None:
    match = TIMESTAMP_RE.match(value) if isinstance(value, str) else None
    if match:
        try:
            datetime.strptime(match.group("base"), "%Y-%m-%dT%H:%M:%S")
            return None
        except ValueError:
            pass
    return _type_problem(path, "an RFC 3339 timestamp", value, _fix_type(kind))


def _check_enum(value: Any, kind: str, path: str) -> Problem | None:
    enum = kind.removeprefix("enum:")
    if _enum_name(value, enum) is not None:
        return None
    suggestion = ""
    if isinstance(value, str):
        close = difflib.get_close_matches(value.upper(), schema.ENUMS[enum], n=1)
        suggestion = f"; did you mean {close[0]!r}?" if close else ""
    message = f"{_describe(value)} is not a {enum} value{suggestion}"
    return _found("J-TYPE", "kind", path, message, _fix_type(kind))


_SCALAR_CHECKS: dict[str, Callable[[Any, str, str], Problem | None]] = {
    "string": _check_string,
    "bool": _check_bool,
    "int32": _check_int,
    "int64": _check_int,
    "Duration": _check_duration,
    "Timestamp": _check_timestamp,
}


def _type_problem(path: str, expected: str, value: Any, fix: str) -> Problem:
    return _found("J-TYPE", "kind", path, f"expected {expected}, got {_describe(value)}", fix)


def _short(value: Any) -> str:
    """The value as JSON when it is small (what the user wrote), else a bounded repr."""
    if isinstance(value, (str, int, float, bool)) or value is None:
        text = json.dumps(value)
        return text if len(text) <= 40 else text[:37] + "..."
    return _REPR.repr(value)


def _unknown_field(key: Any, message: str, fields: dict[str, str], path: str) -> Problem:
    shown = _REPR.repr(key)
    if not isinstance(key, str):
        return _found(
            "J-FIELD", "unknown", path, f"field name {shown} in {message} is not a string", "quote the name"
        )
    suggestion = _suggest(key, fields)
    if suggestion:
        return _found(
            "J-FIELD",
            "unknown",
            path,
            f"unknown field {shown} in {message}; did you mean {suggestion!r}?",
            f"rename {shown} to {suggestion!r}",
        )
    return _found(
        "J-FIELD",
        "unknown",
        path,
        f"unknown field {shown} in {message}",
        f"remove it; {message} fields are {', '.join(fields)}",
    )


def _both_spellings(key: str, name: str, message: str, path: str) -> Problem:
    return _found(
        "J-FIELD",
        "both-spellings",
        path,
        f"{key!r} and {name!r} are the same {message} field, set twice; which value Batch would use "
        "is undefined",
        f"keep one of {key!r} and {name!r}",
    )


def _suggest(key: str, fields: dict[str, str]) -> str | None:
    by_folded = {name.lower(): name for name in fields}
    folded = key.replace("_", "").replace("-", "").lower()
    if folded in by_folded:
        return by_folded[folded]
    close = difflib.get_close_matches(folded, list(by_folded), n=1, cutoff=0.6)
    return by_folded[close[0]] if close else None


@_rule("J-DEPRECATED")
def check_deprecated(context: _Context) -> Iterator[Problem]:
    for path, spec, _ in context.task_specs:
        if spec.get("environments"):
            yield _found(
                "J-DEPRECATED",
                "environments",
                f"{path}.environments",
                "taskSpec.environments is deprecated",
                "move the variables to taskSpec.environment.variables",
            )


# --------------------------------------------------------------------------------------------
# Job


@_rule("J-SIZE")
def check_size(context: _Context) -> Iterator[Problem]:
    try:  # the job as written: what gcloud or the REST API would send
        size = len(json.dumps(context.raw, separators=(",", ":")).encode("utf-8"))
    except (TypeError, ValueError, UnicodeEncodeError, RecursionError):
        return  # not serializable: the structure check has said why
    if size > MAX_JOB_BYTES:
        yield _found(
            "J-SIZE",
            "limit",
            "",
            f"the job is {size:,} bytes of JSON; Batch accepts a job definition of at most 1 MB "
            f"({MAX_JOB_BYTES:,} bytes)",
            "move large data (scripts, environment) to Cloud Storage or Secret Manager",
        )


@_rule("J-TG")
def check_task_group_count(context: _Context) -> Iterator[Problem]:
    groups = context.job.get("taskGroups")
    if groups is None:
        yield _found(
            "J-TG",
            "missing",
            "taskGroups",
            "taskGroups is missing",
            "add exactly one task group with a taskSpec",
        )
    elif isinstance(groups, (list, tuple)) and len(groups) != 1:
        yield _found(
            "J-TG",
            "count",
            "taskGroups",
            f"the job has {len(groups)} task groups; Batch supports exactly one",
            "use one task group (run several tasks with taskCount, or submit several jobs)",
        )


@_rule("J-PRIORITY")
def check_priority(context: _Context) -> Iterator[Problem]:
    priority = _int(context.job.get("priority"))
    if priority is not None and not 0 <= priority < 100:
        yield _found(
            "J-PRIORITY", "range", "priority", f"priority {priority} is outside [0, 100)", "use 0..99"
        )


# --------------------------------------------------------------------------------------------
# Task groups and task specs


@_rule("TG-SPEC")
def check_task_spec_present(context: _Context) -> Iterator[Problem]:
    for path, group in context.task_groups:
        if group.get("taskSpec") is None:
            yield _found(
                "TG-SPEC", "missing", f"{path}.taskSpec", "the task group has no taskSpec", "add a taskSpec"
            )


def _set_int(value: Any) -> int | None:
    """An integer field's value, None when unset: proto3 reads 0 (and null) as "not set"."""
    number = _int(value)
    return None if number == 0 else number


def _task_count(group: dict) -> int:
    """The number of tasks Batch will run: taskEnvironments win over taskCount; default 1."""
    environments = group.get("taskEnvironments")
    if isinstance(environments, (list, tuple)) and environments:
        return len(environments)
    count = _set_int(group.get("taskCount"))
    return 1 if count is None else count


@_rule("TG-COUNT")
def check_task_count(context: _Context) -> Iterator[Problem]:
    for path, group in context.task_groups:
        where = f"{path}.taskCount"
        if _int(group.get("taskCount")) == 0 and not group.get("taskEnvironments"):
            yield _found(
                "TG-COUNT",
                "zero",
                where,
                "taskCount 0 reads as unset, so Batch runs 1 task",
                "set taskCount to the number of tasks (1 or more), or remove it",
            )
        count = _task_count(group)
        if count < 0:
            yield _found(
                "TG-COUNT", "negative", where, f"task count {count} is negative", "use 1 or more tasks"
            )
        elif count > MAX_TASKS:
            yield _found(
                "TG-COUNT",
                "limit",
                where,
                f"{count:,} tasks; Batch runs at most {MAX_TASKS:,} tasks per task group",
                f"use at most {MAX_TASKS:,} tasks per task group (split larger work across jobs)",
            )


@_rule("TG-PARALLEL")
def check_parallelism(context: _Context) -> Iterator[Problem]:
    for path, group in context.task_groups:
        parallelism = _set_int(group.get("parallelism"))
        count = _task_count(group)
        where = f"{path}.parallelism"
        if parallelism is not None and parallelism < 0:
            yield _found(
                "TG-PARALLEL", "negative", where, f"parallelism {parallelism} is negative", "use 1 or more"
            )
        elif parallelism is not None and parallelism > MAX_PARALLELISM:
            yield _found(
                "TG-PARALLEL",
                "limit",
                where,
                f"parallelism {parallelism:,}; Batch runs at most {MAX_PARALLELISM:,} tasks of a job at once",
                f"use at most {MAX_PARALLELISM:,}",
            )
        elif parallelism is not None and 1 <= count < parallelism:
            yield _found(
                "TG-PARALLEL",
                "above-count",
                where,
                f"parallelism {parallelism} is above the task count {count}; at most {count} can run at once",
                f"set parallelism to at most {count}, or remove it",
            )
        if _enum_name(group.get("schedulingPolicy"), "TaskGroup.SchedulingPolicy") == "IN_ORDER":
            if parallelism is not None and parallelism != 1:
                yield _found(
                    "TG-PARALLEL",
                    "in-order",
                    where,
                    f"parallelism {parallelism} with schedulingPolicy IN_ORDER; IN_ORDER needs 1",
                    "set parallelism to 1, or use AS_SOON_AS_POSSIBLE",
                )
            elif parallelism is None and count > 1:
                yield _found(
                    "TG-PARALLEL",
                    "in-order-default",
                    where,
                    f"schedulingPolicy IN_ORDER with {count} tasks and no parallelism; the default is "
                    "min(taskCount, 5000), not 1",
                    "set parallelism to 1",
                )


@_rule("TG-ENV")
def check_task_environments(context: _Context) -> Iterator[Problem]:
    for path, group in context.task_groups:
        environments = group.get("taskEnvironments")
        count = _set_int(group.get("taskCount"))
        listed = len(environments) if isinstance(environments, (list, tuple)) else 0
        if listed and count is not None and count != listed:
            yield _found(
                "TG-ENV",
                "count-ignored",
                f"{path}.taskCount",
                f"taskCount {count} is ignored beside {listed} taskEnvironments: Batch runs one task "
                "per environment",
                "remove taskCount (or make it equal the number of taskEnvironments)",
            )


@_rule("TS-RUNNABLES")
def check_runnables_present(context: _Context) -> Iterator[Problem]:
    for path, spec, _ in context.task_specs:
        runnables = spec.get("runnables")
        if runnables is None or (isinstance(runnables, (list, tuple)) and not runnables):
            yield _found(
                "TS-RUNNABLES",
                "missing",
                f"{path}.runnables",
                "the task spec has no runnables",
                "add a container",
            )


@_rule("TS-RETRY")
def check_max_retries(context: _Context) -> Iterator[Problem]:
    for path, spec, _ in context.task_specs:
        retries = _int(spec.get("maxRetryCount"))
        if retries is not None and not 0 <= retries <= MAX_RETRIES:
            yield _found(
                "TS-RETRY",
                "range",
                f"{path}.maxRetryCount",
                f"maxRetryCount {retries} is outside 0..{MAX_RETRIES}",
                f"use 0..{MAX_RETRIES}",
            )


@_rule("TS-LIFECYCLE")
def check_lifecycle_policies(context: _Context) -> Iterator[Problem]:
    for path, spec, _ in context.task_specs:
        policies = _arr(spec.get("lifecyclePolicies"))
        where = f"{path}.lifecyclePolicies"
        if len(policies) > 1:
            yield _found(
                "TS-LIFECYCLE",
                "count",
                where,
                f"{len(policies)} lifecycle policies; Batch supports only one",
                "merge the exit codes into a single policy",
            )
        for index, policy in enumerate(policies):
            action = _obj(policy).get("action")
            if (
                isinstance(policy, dict)
                and _enum_name(action, "LifecyclePolicy.Action") not in LIFECYCLE_ACTIONS
            ):
                yield _found(
                    "TS-LIFECYCLE",
                    "no-action",
                    f"{where}[{index}].action",
                    f"lifecycle action {action!r} is not RETRY_TASK or FAIL_TASK; what Batch does with "
                    "it is not documented",
                    "set action to RETRY_TASK (retry listed codes, fail others) or FAIL_TASK",
                )


def _duration_seconds(value: Any) -> float | None:
    match = DURATION_RE.match(value) if isinstance(value, str) else None
    return float(value[:-1]) if match else None


def _seven_day_reason(policy: dict) -> str | None:
    """Why the run-time cap is 7 days instead of 14: FLEX_START, or A3 VMs without a reservation."""
    model = _enum_name(policy.get("provisioningModel"), "AllocationPolicy.ProvisioningModel")
    if model == "FLEX_START":
        return "FLEX_START"
    machine = policy.get("machineType")
    a3 = isinstance(machine, str) and machine.startswith("a3-")
    standard = model in (None, "PROVISIONING_MODEL_UNSPECIFIED", "STANDARD")
    if a3 and standard and policy.get("reservation") == "NO_RESERVATION":
        return "an A3 machine type and NO_RESERVATION"
    return None


@_rule("TS-MAXRUN")
def check_run_duration(context: _Context) -> Iterator[Problem]:
    reason = _seven_day_reason(context.instance_policy)
    cap = SEVEN_DAY_MAX_RUN_SECONDS if reason else MAX_RUN_SECONDS
    why = f"{cap // 86_400} days" + (f" with {reason}" if reason else "")
    limits = [
        (f"{path}.maxRunDuration", spec.get("maxRunDuration"), "negative")
        for path, spec, _ in context.task_specs
    ]
    limits += [
        (f"{path}.timeout", runnable.get("timeout"), "negative-timeout")
        for path, runnable in context.runnables
    ]
    for path, value, negative in limits:
        seconds = _duration_seconds(value)
        if seconds is not None and seconds < 0:
            yield _found(
                "TS-MAXRUN",
                negative,
                path,
                f"{value} is negative",
                'use a positive duration such as "3600s", or remove it',
            )
        elif seconds is not None and seconds > cap:
            yield _found(
                "TS-MAXRUN",
                "run-limit",
                path,
                f"{value} is longer than Batch's run-time limit of {why} ({cap}s): Batch fails a job "
                "still running then",
                f"expect the job to end within {cap}s, or split the work into several jobs",
            )


@_rule("TS-RESOURCES")
def check_compute_resource(context: _Context) -> Iterator[Problem]:
    for path, spec, _ in context.task_specs:
        resource = _obj(spec.get("computeResource"))
        for name in ("cpuMilli", "memoryMib", "bootDiskMib"):
            value = _int(resource.get(name))
            if value is not None and value < 0:
                yield _found(
                    "TS-RESOURCES",
                    "negative",
                    f"{path}.computeResource.{name}",
                    f"{name} {value} is negative",
                    "use a positive value, or remove it for Batch's default (0 also means default)",
                )


# --------------------------------------------------------------------------------------------
# Runnables, containers, environments, volumes


@_rule("R-EXEC")
def check_executable(context: _Context) -> Iterator[Problem]:
    for path, runnable in context.runnables:
        if all(runnable.get(name) is None for name in ("container", "script", "barrier")):
            yield _found(
                "R-EXEC", "none", path, "the runnable has no container, script or barrier", "add a container"
            )
        script = runnable.get("script")
        if isinstance(script, dict) and not (script.get("path") or script.get("text")):
            yield _found(
                "R-EXEC",
                "empty-script",
                f"{path}.script",
                "the script has neither path nor text",
                "set text or path",
            )


@_rule("C-IMAGE")
def check_image_present(context: _Context) -> Iterator[Problem]:
    for path, container in context.containers:
        if not container.get("imageUri"):
            yield _found(
                "C-IMAGE",
                "missing",
                f"{path}.imageUri",
                "the container has no imageUri",
                "set imageUri, e.g. us-central1-docker.pkg.dev/my-project/my-repo/my-image:1.0",
            )


@_rule("C-VOLUME")
def check_container_volumes(context: _Context) -> Iterator[Problem]:
    for path, container in context.containers:
        for index, volume in enumerate(_arr(container.get("volumes"))):
            if isinstance(volume, str):
                yield from _container_volume_problems(volume, f"{path}.volumes[{index}]")


def _container_volume_problems(volume: str, path: str) -> Iterator[Problem]:
    """``docker run --volume`` syntax: ``[SOURCE:]TARGET[:OPTION[,OPTION...]]``."""
    parts = volume.split(":")
    if len(parts) > 3 or "" in parts:
        yield _found(
            "C-VOLUME",
            "syntax",
            path,
            f"container volume {volume!r} is not [SOURCE:]TARGET[:OPTIONS] (docker --volume syntax)",
            "write e.g. /mnt/disks/data:/data or /mnt/disks/data:/data:ro",
        )
        return
    source, target = (None, parts[0]) if len(parts) == 1 else (parts[0], parts[1])
    if not target.startswith("/"):
        yield _found(
            "C-VOLUME",
            "relative-target",
            path,
            f"container path {target!r} in {volume!r} is not absolute; Docker refuses relative ones",
            f"write /{target}",
        )
    if source is not None and not source.startswith("/"):
        yield _found(
            "C-VOLUME",
            "named-volume",
            path,
            f"{source!r} in {volume!r} is not a host path: Docker reads it as a named volume",
            f"mount a directory of the VM, e.g. /mnt/disks/{source}:{target}",
        )
    options = parts[2].split(",") if len(parts) == 3 else []
    unknown = [option for option in options if option not in DOCKER_VOLUME_OPTIONS]
    if unknown:
        yield _found(
            "C-VOLUME",
            "option",
            path,
            f"volume option(s) {', '.join(map(repr, unknown))} in {volume!r} are not docker --volume options",
            f"use options such as ro, rw, z or Z ({', '.join(sorted(DOCKER_VOLUME_OPTIONS))})",
        )


def _network_options(options: str) -> list[str]:
    """The ``--network``/``--net`` settings among ``docker run`` options."""
    try:
        words = shlex.split(options)
    except ValueError:  # unbalanced quotes: Docker would not parse it either; read plain words
        words = options.split()
    return [
        word for word in words if word in ("--network", "--net") or word.startswith(("--network=", "--net="))
    ]


@_rule("C-NETWORK")
def check_blocked_network(context: _Context) -> Iterator[Problem]:
    for path, container in context.containers:
        options = container.get("options")
        if (
            _streaming(container)
            or container.get("blockExternalNetwork") is not True
            or not isinstance(options, str)
        ):
            continue  # a streaming container's options are IS-3's business
        networks = _network_options(options)
        if networks:
            yield _found(
                "C-NETWORK",
                "blocked",
                f"{path}.options",
                f"options set {networks[0]} while blockExternalNetwork is true; Batch takes no network "
                "option for a container whose external network is blocked",
                "remove the --network option, or set blockExternalNetwork to false",
            )


def _environments(context: _Context) -> Iterator[tuple[str, dict]]:
    for path, spec, group in context.task_specs:
        yield f"{path}.environment", _obj(spec.get("environment"))
        group_path = path.removesuffix(".taskSpec")
        for index, env in enumerate(_arr(group.get("taskEnvironments"))):
            yield f"{group_path}.taskEnvironments[{index}]", _obj(env)
    for path, runnable in context.runnables:
        yield f"{path}.environment", _obj(runnable.get("environment"))


@_rule("ENV-SECRET")
def check_secret_variables(context: _Context) -> Iterator[Problem]:
    for path, env in _environments(context):
        for name, secret in _obj(env.get("secretVariables")).items():
            if isinstance(secret, str) and not SECRET_RE.match(secret):
                yield _found(
                    "ENV-SECRET",
                    "format",
                    _key_path(f"{path}.secretVariables", name),
                    f"secret {secret!r} is not a Secret Manager version name",
                    "use projects/PROJECT/secrets/SECRET/versions/VERSION (e.g. versions/latest)",
                )


def _task_volumes(specs: Iterable[tuple[str, dict, dict]]) -> Iterator[tuple[str, dict]]:
    for path, spec, _ in specs:
        for index, volume in enumerate(_arr(spec.get("volumes"))):
            if isinstance(volume, dict):
                yield f"{path}.volumes[{index}]", volume


@_rule("VOL-SOURCE")
def check_volume_source(context: _Context) -> Iterator[Problem]:
    required = {"gcs": ("remotePath",), "nfs": ("server", "remotePath")}
    for path, volume in context.volumes:
        sources = [name for name in ("nfs", "gcs", "deviceName") if volume.get(name) is not None]
        if not sources:
            yield _found(
                "VOL-SOURCE",
                "none",
                path,
                "the volume has no source, so there is nothing to mount",
                'set one of gcs {"remotePath": "bucket"}, nfs {"server", "remotePath"} or deviceName',
            )
        for source, keys in required.items():
            spec = volume.get(source)
            for key in keys if isinstance(spec, dict) else ():
                if not spec.get(key):
                    yield _found(
                        "VOL-SOURCE",
                        "incomplete",
                        f"{path}.{source}.{key}",
                        f"{source} volume without {key}",
                        f"set {key}",
                    )


@_rule("VOL-MOUNT")
def check_mount_path(context: _Context) -> Iterator[Problem]:
    for path, volume in context.volumes:
        mount = volume.get("mountPath")
        where = f"{path}.mountPath"
        if mount is None or mount == "":
            yield _found(
                "VOL-MOUNT",
                "missing",
                where,
                "the volume has no mountPath",
                "set an absolute path, e.g. /mnt/data",
            )
            continue
        if not isinstance(mount, str):
            continue
        suggestion = f"/{mount.strip('/') or 'mnt/data'}"
        if not mount.startswith("/"):
            yield _found(
                "VOL-MOUNT",
                "relative",
                where,
                f"mountPath {mount!r} is not absolute",
                f"use e.g. {suggestion}",
            )
        if len(mount) > 1 and mount.endswith("/"):
            yield _found(
                "VOL-MOUNT",
                "trailing-slash",
                where,
                f"mountPath {mount!r} ends with '/', which the Batch API is reported to refuse",
                f"use {suggestion}",
            )


def _disks(context: _Context) -> list[dict]:
    """``instances[0].policy.disks``, the disks volumes can name."""
    return [disk for disk in _arr(context.instance_policy.get("disks")) if isinstance(disk, dict)]


@_rule("VOL-DEVICE")
def check_device_names(context: _Context) -> Iterator[Problem]:
    if context.instance_template:
        return  # the disks live in the template, which we cannot see
    disks = {disk.get("deviceName") for disk in _disks(context)}
    for path, volume in context.volumes:
        device = volume.get("deviceName")
        if isinstance(device, str) and device not in disks:
            yield _found(
                "VOL-DEVICE",
                "unknown",
                f"{path}.deviceName",
                f"deviceName {device!r} matches no disk in allocationPolicy.instances[0].policy.disks",
                "add a disk with that deviceName, or fix the name",
            )


@_rule("VOL-OPTIONS")
def check_existing_disk_mount_options(context: _Context) -> Iterator[Problem]:
    existing = {disk.get("deviceName") for disk in _disks(context) if disk.get("existingDisk")}
    for path, volume in context.volumes:
        if volume.get("deviceName") not in existing:
            continue
        for index, entry in enumerate(_arr(volume.get("mountOptions"))):
            options = entry.split(",") if isinstance(entry, str) else []
            if WRITE_MOUNT_OPTIONS.intersection(options):
                yield _found(
                    "VOL-OPTIONS",
                    "existing-disk-write",
                    f"{path}.mountOptions[{index}]",
                    f"mount option {entry!r} writes to an existing persistent disk, which Batch mounts "
                    "read-only (multi-writer mode restrictions)",
                    "remove rw (use ro or no option), or write to a new disk",
                )


# --------------------------------------------------------------------------------------------
# Logs, locations, allocation, notifications


_DESTINATION = "LogsPolicy.Destination"


@_rule("LOGS-PATH")
def check_logs_policy(context: _Context) -> Iterator[Problem]:
    logs = _obj(context.job.get("logsPolicy"))
    destination = _enum_name(logs.get("destination"), _DESTINATION)
    if destination == "PATH" and not logs.get("logsPath"):
        yield _found(
            "LOGS-PATH",
            "missing",
            "logsPolicy.logsPath",
            "logsPolicy destination PATH needs logsPath",
            "set logsPath to a file on a mounted volume, e.g. /mnt/data/logs/job.log",
        )
    elif logs.get("logsPath") and destination != "PATH":
        yield _found(
            "LOGS-PATH",
            "ignored",
            "logsPolicy.logsPath",
            f"logsPath is ignored with destination {destination!r}",
            "set destination to PATH, or remove logsPath",
        )
    if logs.get("cloudLoggingOption") and destination != "CLOUD_LOGGING":
        yield _found(
            "LOGS-PATH",
            "ignored",
            "logsPolicy.cloudLoggingOption",
            f"cloudLoggingOption is ignored with destination {destination!r}",
            "set destination to CLOUD_LOGGING, or remove cloudLoggingOption",
        )


@_rule("LOGS-DEST")
def check_logs_destination(context: _Context) -> Iterator[Problem]:
    destination = _enum_name(_obj(context.job.get("logsPolicy")).get("destination"), _DESTINATION)
    if destination in (None, "DESTINATION_UNSPECIFIED"):
        yield _found(
            "LOGS-DEST",
            "none",
            "logsPolicy.destination",
            "no logs destination: Batch will keep no task logs",
            'set logsPolicy {"destination": "CLOUD_LOGGING"}',
        )


def _allowed_locations(job: dict) -> list[tuple[str, Any]]:
    entries = _arr(_obj(_obj(job.get("allocationPolicy")).get("location")).get("allowedLocations"))
    return [(f"allocationPolicy.location.allowedLocations[{i}]", entry) for i, entry in enumerate(entries)]


def _allowed_regions(job: dict) -> set[str]:
    """The regions of the well-formed ``allowedLocations`` entries."""
    return {region for _, entry in _allowed_locations(job) if (region := region_of_allowed_location(entry))}


def _vm_regions(context: _Context) -> tuple[set[str], str]:
    """The regions the VMs may run in, and where that came from (for messages)."""
    regions = _allowed_regions(context.job)
    if regions:
        return regions, "allocationPolicy.location.allowedLocations"
    return ({context.region} if context.region else set()), "the job location"


@_rule("LOC-SHAPE")
def check_allowed_location_shape(context: _Context) -> Iterator[Problem]:
    for path, entry in _allowed_locations(context.job):
        if isinstance(entry, str) and region_of_allowed_location(entry) is None:
            yield _found(
                "LOC-SHAPE",
                "format",
                path,
                f"allowed location {entry!r} is not regions/REGION or zones/ZONE",
                "write e.g. regions/us-central1 or zones/us-central1-a",
            )


@_rule("LOC-REGION")
def check_allowed_locations_one_region(context: _Context) -> Iterator[Problem]:
    regions = sorted(_allowed_regions(context.job))
    if len(regions) > 1:
        yield _found(
            "LOC-REGION",
            "several",
            "allocationPolicy.location.allowedLocations",
            f"allowedLocations span regions {', '.join(regions)}; Batch allows one region",
            "keep one region, or several zones of one region",
        )


@_rule("LOC-PARENT")
def check_allowed_locations_in_job_region(context: _Context) -> Iterator[Problem]:
    for path, entry in _allowed_locations(context.job):
        region = region_of_allowed_location(entry)
        if region and context.region and region != context.region:
            yield from _at_level(
                context,
                "LOC-PARENT",
                "outside",
                path,
                f"allowed location {entry!r} is outside the job's region {context.region!r}",
                f"submit the job in {region}, or allow only locations in {context.region}",
            )


@_rule("AP-INSTANCES")
def check_instances(context: _Context) -> Iterator[Problem]:
    instances = _instances(context.job)
    if len(instances) > 1:
        yield _found(
            "AP-INSTANCES",
            "several",
            "allocationPolicy.instances",
            f"{len(instances)} instance policies; Batch uses only instances[0]",
            "keep one entry in allocationPolicy.instances",
        )


@_rule("AP-IGNORED")
def check_ignored_allocation_fields(context: _Context) -> Iterator[Problem]:
    allocation = _obj(context.job.get("allocationPolicy"))
    if allocation.get("network") and context.instance_template:
        yield _found(
            "AP-IGNORED",
            "network",
            "allocationPolicy.network",
            "network is ignored when instances[0] uses an instanceTemplate",
            "set the network in the instance template, and remove allocationPolicy.network",
        )
    if _obj(allocation.get("placement")).get("maxDistance") is not None:
        yield _found(
            "AP-IGNORED",
            "max-distance",
            "allocationPolicy.placement.maxDistance",
            "placement.maxDistance is not implemented by Batch and is ignored",
            "remove maxDistance",
        )


@_rule("AP-TEMPLATE")
def check_instance_template(context: _Context) -> Iterator[Problem]:
    template = context.instance_template
    if not isinstance(template, str):
        return
    path = "allocationPolicy.instances[0].instanceTemplate"
    fix = "use a global instance template of the job's project, e.g. projects/P/global/instanceTemplates/T"
    if REGIONAL_TEMPLATE_RE.search(template):
        yield _found(
            "AP-TEMPLATE",
            "regional",
            path,
            f"instance template {template!r} is regional; Batch supports only global templates",
            fix,
        )
    match = TEMPLATE_PROJECT_RE.search(template)
    owner = match.group("project") if match else None
    # A project number and a project id name the same project in two ways: only like is compared.
    if (
        owner
        and context.project
        and owner.isdigit() == context.project.isdigit()
        and owner != context.project
    ):
        yield _found(
            "AP-TEMPLATE",
            "other-project",
            path,
            f"instance template {template!r} belongs to project {owner!r}, not the job's project "
            f"{context.project!r}; Batch supports only templates of the job's project",
            fix,
        )


@_rule("AP-BOOTDISK")
def check_boot_disk(context: _Context) -> Iterator[Problem]:
    snapshot = _obj(context.instance_policy.get("bootDisk")).get("snapshot")
    if snapshot:
        yield _found(
            "AP-BOOTDISK",
            "snapshot",
            "allocationPolicy.instances[0].policy.bootDisk.snapshot",
            f"boot disk from snapshot {_short(snapshot)}; Batch boots only from images",
            "set bootDisk.image (e.g. batch-debian or projects/P/global/images/I) instead of snapshot",
        )


@_rule("AP-TAGS")
def check_network_tags(context: _Context) -> Iterator[Problem]:
    for index, tag in enumerate(_arr(_obj(context.job.get("allocationPolicy")).get("tags"))):
        if not isinstance(tag, str):
            continue
        path = f"allocationPolicy.tags[{index}]"
        if not TAG_RE.match(tag):
            yield _found(
                "AP-TAGS",
                "rfc1035",
                path,
                f"network tag {tag!r} is not 1-63 letters, digits and '-' starting with a letter "
                "and not ending with '-' (RFC 1035)",
                "use e.g. batch-workers",
            )
        elif tag != tag.lower():
            yield _found(
                "AP-TAGS",
                "uppercase",
                path,
                f"network tag {tag!r} has uppercase letters; Compute Engine network tags are lowercase",
                f"use {tag.lower()!r}",
            )


@_rule("N-TOPIC")
def check_notification_topics(context: _Context) -> Iterator[Problem]:
    for index, notification in enumerate(_arr(context.job.get("notifications"))):
        if not isinstance(notification, dict):
            continue
        topic = notification.get("pubsubTopic")
        path = f"notifications[{index}].pubsubTopic"
        if topic is None or topic == "":
            yield _found(
                "N-TOPIC",
                "missing",
                path,
                "the notification has no pubsubTopic, so Batch sends no notification for it",
                "set pubsubTopic, e.g. projects/my-project/topics/batch-events, or remove the entry",
            )
        elif isinstance(topic, str) and not TOPIC_RE.match(topic):
            yield _found(
                "N-TOPIC",
                "format",
                path,
                f"pubsubTopic {topic!r} is not projects/PROJECT/topics/TOPIC",
                "use the topic's full name, e.g. projects/my-project/topics/batch-events",
            )


@_rule("N-MESSAGE")
def check_notification_messages(context: _Context) -> Iterator[Problem]:
    for index, notification in enumerate(_arr(context.job.get("notifications"))):
        if not isinstance(notification, dict):
            continue
        path = f"notifications[{index}].message"
        message = notification.get("message")
        if message is None:
            yield _found(
                "N-MESSAGE", "missing", path, "the notification has no message, so none is sent", _N_FIX
            )
        elif isinstance(message, dict):
            kind = _enum_name(message.get("type"), "JobNotification.Type")
            job_level = kind == "JOB_STATE_CHANGED" or bool(message.get("newJobState"))
            task_level = kind == "TASK_STATE_CHANGED" or bool(message.get("newTaskState"))
            if job_level and task_level:
                yield _found(
                    "N-MESSAGE",
                    "mixed",
                    path,
                    f"message mixes job-level and task-level attributes: {_short(message)}",
                    _N_FIX,
                )


_N_FIX = (
    'use {"type": "JOB_STATE_CHANGED", "newJobState": ...} or '
    '{"type": "TASK_STATE_CHANGED", "newTaskState": ...}'
)


# --------------------------------------------------------------------------------------------
# Labels


def _label_maps(job: dict, runnables: Iterable[tuple[str, dict]]) -> Iterator[tuple[str, dict, str]]:
    """(path, labels, resource) with resource ``job``, ``runnable`` or ``vm`` (allocationPolicy:
    the VMs, persistent disks and GPUs)."""
    yield "labels", _obj(job.get("labels")), "job"
    for path, runnable in runnables:
        yield f"{path}.labels", _obj(runnable.get("labels")), "runnable"
    yield "allocationPolicy.labels", _obj(_obj(job.get("allocationPolicy")).get("labels")), "vm"


@_rule("L-1")
def check_vm_label_count(context: _Context) -> Iterator[Problem]:
    labels = _obj(_obj(context.job.get("allocationPolicy")).get("labels"))
    if len(labels) > MAX_VM_LABELS:
        yield _found(
            "L-1",
            "vm-limit",
            "allocationPolicy.labels",
            f"{len(labels)} custom labels for each VM, disk and GPU; Batch allows {MAX_VM_LABELS} "
            f"(64 per resource, {len(PREDEFINED_VM_LABELS)} of them its own)",
            f"keep at most {MAX_VM_LABELS} allocationPolicy labels",
        )


@_rule("L-4")
def check_job_label_count(context: _Context) -> Iterator[Problem]:
    job = set(_obj(context.job.get("labels")))
    runnables = [
        (f"{path}.labels", set(_obj(runnable.get("labels")))) for path, runnable in context.runnables
    ]
    over = [
        (path, keys) for path, keys in [("labels", set()), *runnables] if len(job | keys) > MAX_JOB_LABELS
    ]
    for path, keys in over:
        own = f" + {len(keys - job)} on this runnable" if path != "labels" else ""
        yield _found(
            "L-4",
            "job-limit",
            path,
            f"{len(job | keys)} custom labels ({len(job)} on the job{own}); Batch allows "
            f"{MAX_JOB_LABELS} on the job and its runnables (64 per resource, 1 of them its own)",
            f"keep at most {MAX_JOB_LABELS} distinct labels across the job and each runnable",
        )
    total = job.union(*(keys for _, keys in runnables))
    if not over and len(total) > MAX_JOB_LABELS:
        yield _found(
            "L-4",
            "summed",
            "labels",
            f"{len(total)} distinct custom labels on the job and all its runnables together; Batch "
            f"allows {MAX_JOB_LABELS} 'on the job and its runnables', which may count them together",
            f"keep at most {MAX_JOB_LABELS} distinct labels across the job and all runnables to be safe",
        )


_LABEL_CATEGORIES = frozenset({"Ll", "Lo", "Nd", "Nl", "No"})


def _unicode_label_ok(text: str, *, key: bool) -> bool:
    """Google's ``[\\p{Ll}\\p{Lo}\\p{N}_-]`` with stdlib ``unicodedata``; a key starts with a letter."""
    if key and (not text or unicodedata.category(text[0]) not in ("Ll", "Lo")):
        return False
    return all(char in "_-" or unicodedata.category(char) in _LABEL_CATEGORIES for char in text)


def _label_ok(text: str, *, key: bool, charset: str) -> bool:
    if len(text) > 63 or len(text.encode("utf-8", "surrogatepass")) > 128:
        return False
    if charset == "ascii":
        return bool((ASCII_LABEL_KEY_RE if key else ASCII_LABEL_VALUE_RE).match(text))
    return _unicode_label_ok(text, key=key)


@_rule("L-2")
def check_label_syntax(context: _Context) -> Iterator[Problem]:
    charset = context.policy.label_charset
    for path, labels, _ in context.label_maps:
        for key, value in labels.items():
            where = _key_path(path, key)
            if isinstance(key, str) and not _label_ok(key, key=True, charset=charset):
                yield _found(
                    "L-2",
                    "syntax",
                    where,
                    f"label key {key!r} is invalid: 1-63 lowercase letters, digits, '_' or '-', "
                    "starting with a letter",
                    f"use e.g. {_label_example(key, key=True)!r}",
                )
            if isinstance(value, str) and not _label_ok(value, key=False, charset=charset):
                yield _found(
                    "L-2",
                    "syntax",
                    where,
                    f"label value {value!r} is invalid: at most 63 lowercase letters, digits, '_' or '-'",
                    f"use e.g. {_label_example(value, key=False)!r}",
                )


def _label_example(text: str, *, key: bool) -> str:
    cleaned = re.sub(r"[^a-z0-9_-]+", "-", text.lower()).strip("-")[:63]
    for prefix in RESERVED_LABEL_PREFIXES if key else ():
        cleaned = cleaned.removeprefix(prefix)
    if key and not cleaned[:1].isalpha():
        cleaned = ("k-" + cleaned)[:63]
    return cleaned


_PREDEFINED_LABELS = {
    "job": PREDEFINED_JOB_LABELS,
    "runnable": PREDEFINED_JOB_LABELS,
    "vm": PREDEFINED_VM_LABELS,
}


@_rule("L-3")
def check_reserved_labels(context: _Context) -> Iterator[Problem]:
    for path, labels, resource in context.label_maps:
        for key in labels:
            if not isinstance(key, str):
                continue
            if key in _PREDEFINED_LABELS[resource]:
                yield _found(
                    "L-3",
                    "predefined",
                    _key_path(path, key),
                    f"label {key!r} is one of Batch's predefined labels, which custom labels cannot override",
                    f"rename it, e.g. {'my-' + key.removeprefix('batch-')!r}",
                )
            elif key.startswith(RESERVED_LABEL_PREFIXES) and not (
                resource == "job" and key == DYNAMIC_WORKLOAD_SCHEDULER_LABEL
            ):
                yield _found(
                    "L-3",
                    "reserved-prefix",
                    _key_path(path, key),
                    f"label key {key!r} uses a prefix reserved for Batch's predefined labels "
                    "(goog-, google-)",
                    "rename the label without the goog-/google- prefix",
                )


# --------------------------------------------------------------------------------------------
# Image streaming


@_rule("IS-OFF")
def check_streaming_enabled(context: _Context) -> Iterator[Problem]:
    containers = list(context.containers)
    if containers and not any(_streaming(container) for _, container in containers):
        yield from _at_level(
            context,
            "IS-OFF",
            "off",
            containers[0][0],
            "no container enables image streaming",
            'set "enableImageStreaming": true on the container',
        )


@_rule("IS-1")
def check_streaming_images(context: _Context) -> Iterator[Problem]:
    for path, container in context.containers:
        uri = container.get("imageUri")
        if _streaming(container) and isinstance(uri, str) and uri:
            yield from context.image(uri, f"{path}.imageUri")[1]


@_rule("IS-2")
def check_image_location(context: _Context) -> Iterator[Problem]:
    regions, source = _vm_regions(context)
    for path, container in context.containers:
        uri = container.get("imageUri")
        if not (_streaming(container) and isinstance(uri, str)):
            continue
        ref = context.image(uri, f"{path}.imageUri")[0]
        for region in sorted(regions) if ref else ():
            if not location_contains(ref.location, region, context.policy):
                yield _found(
                    "IS-2",
                    "location",
                    f"{path}.imageUri",
                    f"image location {ref.location!r} does not contain the VMs' region {region!r} "
                    f"(from {source}); the image will not be streamed",
                    f"push the image to {region}-docker.pkg.dev (or a multi-region containing "
                    f"{region}), or run the job in the image's location",
                )


_CONTAINER_FIELDS = schema.MESSAGES["Runnable.Container"]


@_rule("IS-3")
def check_streaming_container_fields(context: _Context) -> Iterator[Problem]:
    for path, container in context.containers:
        if not _streaming(container):
            continue
        for name, value in container.items():
            if name in STREAMING_FIELDS or name not in _CONTAINER_FIELDS or value in (None, "", False):
                continue  # unknown names are J-FIELD's business
            yield _found(
                "IS-3",
                "fields",
                f"{path}.{name}",
                f"{name}={_short(value)} is not supported with image streaming; Batch ignores it silently",
                f"remove {name}; a streaming container takes only {', '.join(sorted(STREAMING_FIELDS))}",
            )


@_rule("IS-4")
def check_streaming_not_mixed(context: _Context) -> Iterator[Problem]:
    containers = list(context.containers)
    if not any(_streaming(container) for _, container in containers):
        return
    for path, container in containers:
        if not _streaming(container):
            yield _found(
                "IS-4",
                "mixed",
                f"{path}.enableImageStreaming",
                "this container does not stream its image while another in the job does",
                'set "enableImageStreaming": true on every container runnable, or on none',
            )
