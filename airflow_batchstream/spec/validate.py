"""Job dict + job location -> every problem at once, each with its JSON path, rule id and fix.

:func:`validate_job` never raises, whatever JSON-shaped value it is given: each rule reads the job
through tolerant accessors (a value of the wrong type reads as absent, since the structure check
has already reported it), and a rule that fails anyway is reported as ``J-INTERNAL`` instead of
hiding the others. It imports neither Airflow nor ``google.*``; the field table comes from
:mod:`airflow_batchstream.spec.schema`.

Rule ids (reference ids where ``reference/batch-rules.md`` has one, short own ids otherwise):

============== ======== ==========================================================================
id             severity rule
============== ======== ==========================================================================
J-FIELD        error    unknown or snake_case field name (nearest camelCase name suggested)
J-TYPE         error    JSON type does not match the field (object, array, string, integer, enum...)
J-DURATION     error    Duration is not ``^\\d+(\\.\\d{1,9})?s$`` (e.g. ``"3600s"``)
J-ONEOF        error    more than one member of a oneof (container/script/barrier, nfs/gcs/deviceName...)
J-OUTPUT       warning  output-only field set (``name``, ``uid``, ``status``...): ignored by Batch
J-DEPRECATED   warning  deprecated field (``taskSpec.environments``)
J-PARENT       error    job location not a region (``us-central1``); unknown region: ``unknown_region``
J-ID           error    job id not ``^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$`` (:func:`validate_job_id`)
J-SIZE         error    job JSON larger than 1 MiB
J-TG           error    exactly one task group
J-PRIORITY     error    priority outside ``[0, 100)``
J-INTERNAL     error    a rule failed on this input (a bug in this module; other rules still ran)
TG-SPEC        error    task group without ``taskSpec``
TG-COUNT       error    task count above 100000 or negative (taskCount 0 reads as unset: warning)
TG-PARALLEL    error    parallelism outside 1..5000, above the task count, or not 1 with IN_ORDER
TG-ENV         error    taskEnvironments and a different taskCount both set
TS-RUNNABLES   error    task spec without runnables
TS-RETRY       error    maxRetryCount outside 0..10
TS-LIFECYCLE   error    more than one lifecycle policy, or one without a RETRY_TASK/FAIL_TASK action
TS-MAXRUN      error    maxRunDuration or a runnable timeout above 14 days (7: FLEX_START, A3 unreserved)
TS-RESOURCES   error    negative computeResource value (0 reads as unset: Batch's default)
R-EXEC         error    runnable sets none of container/script/barrier, or a script neither path nor text
C-IMAGE        error    container without ``imageUri``
C-VOLUME       error    container volume not ``/host:/ctr`` or ``/host:/ctr:ro|rw``
VOL-SOURCE     error    volume without exactly one source, or a source missing its bucket/server/path
VOL-MOUNT      error    mountPath missing, relative, or ending in ``/``
VOL-DEVICE     error    deviceName names no disk in ``allocationPolicy.instances[0].policy.disks``
ENV-SECRET     error    secretVariables value not ``projects/P/secrets/S/versions/V``
LOGS-PATH      error    logsPolicy PATH without logsPath (logsPath/cloudLoggingOption ignored: warning)
LOGS-DEST      warning  no logsPolicy destination: Batch keeps no task logs
LOC-SHAPE      error    allowedLocations entry not ``regions/R`` or ``zones/R-x``
LOC-REGION     error    allowedLocations span more than one region
LOC-PARENT     policy   allowedLocations outside the job's region (``out_of_region_locations``)
AP-INSTANCES   error    more than one ``allocationPolicy.instances`` entry (only the first is used)
AP-IGNORED     warning  network with an instance template; placement.maxDistance (not implemented)
AP-TAGS        error    network tag not RFC 1035 (``^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$``)
N-TOPIC        error    notification pubsubTopic not ``projects/P/topics/T``
N-MESSAGE      error    notification message mixes job and task attributes (no message: warning)
L-1            error    more than 64 labels on one resource
L-2            error    label key/value syntax or length (Unicode lowercase letters per policy)
L-3            error    label key with the reserved ``goog-``/``google-`` prefix
L-4            error    more than 63 job + runnable labels, or more than 61 allocationPolicy labels
IS-OFF         policy   no container enables image streaming (``streaming_off``: a warning by default;
                        an error for the operator and ``batchstream render``)
IS-1           error    streaming image not ``LOC-docker.pkg.dev/PROJECT/REPO/IMAGE[:TAG][@sha256:...]``
                        (odd project id: warning; unknown AR location: ``unknown_region``)
IS-1b          policy   streaming image on an AR-hosted ``*.gcr.io`` host (``gcr_hosts``)
IS-2           error    image location does not contain the VMs' region
IS-3           error    streaming container sets options, blockExternalNetwork, username or password
IS-4           error    streaming and non-streaming containers mixed in one job
============== ======== ==========================================================================

"policy" severities follow :class:`~airflow_batchstream.spec.policy.ValidationPolicy`.
"""

from __future__ import annotations

import difflib
import json
import re
import reprlib
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

from airflow_batchstream.spec import schema
from airflow_batchstream.spec.images import (
    REGION_RE,
    ZONE_RE,
    ImageRef,
    location_contains,
    parse_image,
    region_of_allowed_location,
)
from airflow_batchstream.spec.limits import (  # shared with the parameter checks
    DURATION_RE,
    JOB_ID_RE,
    MAX_JOB_LABELS,
    MAX_LABELS_PER_RESOURCE,
    MAX_PARALLELISM,
    MAX_RETRIES,
    MAX_TASKS,
    SECRET_RE,
    STREAMING_FIELDS,
)
from airflow_batchstream.spec.policy import DEFAULT_POLICY, ValidationPolicy, problems_at_level
from airflow_batchstream.spec.problems import Problem, Severity

WARNING = Severity.WARNING

PARENT_RE = re.compile(r"^projects/[^/]+/locations/(?P<region>[^/]+)$")
TIMESTAMP_RE = re.compile(
    r"^(?P<base>[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2})(\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})$"
)
FIELD_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
INT_STRING_RE = re.compile(r"^-?[0-9]+$")
TOPIC_RE = re.compile(r"^projects/[^/]+/topics/[^/]+$")
TAG_RE = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
CONTAINER_VOLUME_RE = re.compile(r"^/[^:]*:/[^:]*(:(ro|rw))?$")
ASCII_LABEL_KEY_RE = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
ASCII_LABEL_VALUE_RE = re.compile(r"^[a-z0-9_-]{0,63}$")

MAX_PATH_KEY = 80
INT_RANGES = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}
MAX_DURATION_SECONDS = 315_576_000_000  # protobuf Duration's own limit
MAX_RUN_SECONDS = 14 * 86_400
SEVEN_DAY_MAX_RUN_SECONDS = 7 * 86_400
MAX_JOB_BYTES = 1024 * 1024
MAX_VM_LABELS = 61
RESERVED_LABEL_PREFIXES = ("goog-", "google-")
LIFECYCLE_ACTIONS = ("RETRY_TASK", "FAIL_TASK")

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

    :param job: the Job as a JSON-shaped dict (camelCase), e.g. from :func:`render_job` or a file.
    :param location: the job's region (``us-central1``), or its parent ``projects/P/locations/R``.
    :param policy: the configurable parts; :data:`DEFAULT_POLICY` when None.
    :return: every problem found, errors and warnings, in rule order.
    """
    policy = policy or DEFAULT_POLICY
    problems = validate_location(location, policy)
    if not isinstance(job, dict):
        problems.append(
            Problem("", "J-TYPE", f"the job must be a JSON object, got {_describe(job)}", _fix_type("Job"))
        )
        return problems
    region = _region_of(location)
    context = _Context(job, region if region and REGION_RE.match(region) else None, policy)
    for rule_id, check in _RULES:
        try:
            problems.extend(check(context))
        except Exception as exc:  # a bug in one rule must not hide every other problem
            problems.append(
                Problem(
                    "",
                    "J-INTERNAL",
                    f"rule {rule_id} ({check.__name__}) failed on this job: {exc!r}",
                    "report this as a bug in airflow-batchstream, with the job",
                )
            )
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
            Problem(
                "location",
                "J-PARENT",
                f"job location {location!r} is not a region{hint}",
                "pass the job's region, e.g. us-central1",
            )
        ]
    if region not in policy.batch_regions:
        return problems_at_level(
            policy.unknown_region,
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
        Problem(
            "jobId",
            "J-ID",
            f"job id {job_id!r} is too long: {len(job_id)} characters, at most 63"
            if too_long
            else f"job id {job_id!r} does not match ^[a-z]([a-z0-9-]{{0,61}}[a-z0-9])?$",
            "use at most 63 lowercase letters, digits and '-', starting with a letter and not ending "
            "with '-', e.g. etl-20240101-1a2b3c",
        )
    ]


# --------------------------------------------------------------------------------------------
# Rule registry and tolerant accessors


@dataclass(frozen=True)
class _Context:
    """What every rule sees; the walks over the job are done once and shared by the rules."""

    job: dict
    region: str | None
    policy: ValidationPolicy

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


def _instance_template(job: dict) -> Any:
    """``instances[0].instanceTemplate``: when set, Batch takes the VMs (disks, network) from it."""
    instances = _instances(job)
    return _obj(instances[0]).get("instanceTemplate") if instances else None


def _instance_policy(job: dict) -> dict:
    instances = _instances(job)
    return _obj(_obj(instances[0]).get("policy")) if instances else {}


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
    """J-FIELD, J-TYPE, J-DURATION, J-ONEOF, J-OUTPUT: walk the job along the v1 schema."""
    # The walk appends to one list rather than yielding: it is the hot path of validation.
    out: list[Problem] = []
    _check_message(context.job, schema.ROOT, "", out)
    return out


def _check_message(value: dict, message: str, path: str, out: list[Problem]) -> None:
    fields = schema.MESSAGES[message]
    for key, item in value.items():
        kind = fields.get(key) if isinstance(key, str) else None
        if kind is None:
            out.append(_unknown_field(key, message, fields, _field_path(path, key)))
            continue
        field_path = f"{path}.{key}" if path else key
        if (message, key) in schema.OUTPUT_ONLY and item not in (None, "", {}, []):
            out.append(
                Problem(
                    field_path,
                    "J-OUTPUT",
                    f"{key!r} is output only; Batch ignores it in a create request",
                    f"remove it ({schema.OUTPUT_ONLY[(message, key)]})",
                    WARNING,
                )
            )
        if item is not None:  # null means "unset" in proto3 JSON
            _check_field(item, kind, field_path, out)
    for group in schema.ONEOFS.get(message, ()):
        present = [name for name in group if value.get(name) is not None]
        if len(present) > 1:
            out.append(
                Problem(
                    path,
                    "J-ONEOF",
                    f"{' and '.join(present)} are set together, but {message} takes only one of "
                    f"{', '.join(group)}",
                    f"keep one of {', '.join(present)} and remove the others",
                )
            )


def _check_field(value: Any, kind: str, path: str, out: list[Problem]) -> None:
    if kind.startswith("map:"):
        _check_map(value, kind[4:], path, out)
    elif kind.endswith("[]"):
        _check_array(value, kind[:-2], path, out)
    else:
        _check_value(value, kind, path, out)


def _check_map(value: Any, kind: str, path: str, out: list[Problem]) -> None:
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


def _check_array(value: Any, kind: str, path: str, out: list[Problem]) -> None:
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


def _check_value(value: Any, kind: str, path: str, out: list[Problem]) -> None:
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
    return Problem(
        path,
        "J-TYPE",
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
        return Problem(
            path, "J-TYPE", f"{number} is out of the {kind} range", f"use a value in [{low}, {high}]"
        )
    return None


def _check_duration(value: Any, kind: str, path: str) -> Problem | None:
    match = DURATION_RE.match(value) if isinstance(value, str) else None
    if match and int(match.group("seconds")) <= MAX_DURATION_SECONDS:
        return None
    fix = 'write seconds with an "s" suffix, e.g. "3600s" or "1.5s"'
    if _int(value) is not None:
        fix = f'write "{_int(value)}s"'
    return Problem(path, "J-DURATION", f'{_describe(value)} is not a duration like "3600s"', fix)


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
    return Problem(path, "J-TYPE", f"{_describe(value)} is not a {enum} value{suggestion}", _fix_type(kind))


_SCALAR_CHECKS: dict[str, Callable[[Any, str, str], Problem | None]] = {
    "string": _check_string,
    "bool": _check_bool,
    "int32": _check_int,
    "int64": _check_int,
    "Duration": _check_duration,
    "Timestamp": _check_timestamp,
}


def _type_problem(path: str, expected: str, value: Any, fix: str) -> Problem:
    return Problem(path, "J-TYPE", f"expected {expected}, got {_describe(value)}", fix)


def _short(value: Any) -> str:
    """The value as JSON when it is small (what the user wrote), else a bounded repr."""
    if isinstance(value, (str, int, float, bool)) or value is None:
        text = json.dumps(value)
        return text if len(text) <= 40 else text[:37] + "..."
    return _REPR.repr(value)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _unknown_field(key: Any, message: str, fields: dict[str, str], path: str) -> Problem:
    shown = _REPR.repr(key)
    if not isinstance(key, str):
        return Problem(path, "J-FIELD", f"field name {shown} in {message} is not a string", "quote the name")
    if "_" in key and _camel(key) in fields:
        camel = _camel(key)
        return Problem(
            path,
            "J-FIELD",
            f"{shown} is a snake_case name; Batch job configs use camelCase JSON names",
            f"rename {shown} to {camel!r}",
        )
    suggestion = _suggest(key, fields)
    if suggestion:
        return Problem(
            path,
            "J-FIELD",
            f"unknown field {shown} in {message}; did you mean {suggestion!r}?",
            f"rename {shown} to {suggestion!r}",
        )
    return Problem(
        path,
        "J-FIELD",
        f"unknown field {shown} in {message}",
        f"remove it; {message} fields are {', '.join(fields)}",
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
            yield Problem(
                f"{path}.environments",
                "J-DEPRECATED",
                "taskSpec.environments is deprecated",
                "move the variables to taskSpec.environment.variables",
                WARNING,
            )


# --------------------------------------------------------------------------------------------
# Job


@_rule("J-SIZE")
def check_size(context: _Context) -> Iterator[Problem]:
    try:
        size = len(json.dumps(context.job, separators=(",", ":")).encode("utf-8"))
    except (TypeError, ValueError, UnicodeEncodeError, RecursionError):
        return  # not serializable: the structure check has said why
    if size > MAX_JOB_BYTES:
        yield Problem(
            "",
            "J-SIZE",
            f"the job is {size} bytes of JSON; Batch accepts at most {MAX_JOB_BYTES}",
            "move large data (scripts, environment) to Cloud Storage or Secret Manager",
        )


@_rule("J-TG")
def check_task_group_count(context: _Context) -> Iterator[Problem]:
    groups = context.job.get("taskGroups")
    if groups is None:
        yield Problem(
            "taskGroups", "J-TG", "taskGroups is missing", "add exactly one task group with a taskSpec"
        )
    elif isinstance(groups, (list, tuple)) and len(groups) != 1:
        yield Problem(
            "taskGroups",
            "J-TG",
            f"the job has {len(groups)} task groups; Batch supports exactly one",
            "use one task group (run several tasks with taskCount, or submit several jobs)",
        )


@_rule("J-PRIORITY")
def check_priority(context: _Context) -> Iterator[Problem]:
    priority = _int(context.job.get("priority"))
    if priority is not None and not 0 <= priority < 100:
        yield Problem("priority", "J-PRIORITY", f"priority {priority} is outside [0, 100)", "use 0..99")


# --------------------------------------------------------------------------------------------
# Task groups and task specs


@_rule("TG-SPEC")
def check_task_spec_present(context: _Context) -> Iterator[Problem]:
    for path, group in context.task_groups:
        if group.get("taskSpec") is None:
            yield Problem(f"{path}.taskSpec", "TG-SPEC", "the task group has no taskSpec", "add a taskSpec")


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
        if _int(group.get("taskCount")) == 0 and not group.get("taskEnvironments"):
            yield Problem(
                f"{path}.taskCount",
                "TG-COUNT",
                "taskCount 0 reads as unset, so Batch runs 1 task",
                "set taskCount to the number of tasks (1 or more), or remove it",
                WARNING,
            )
        count = _task_count(group)
        if not 1 <= count <= MAX_TASKS:
            yield Problem(
                f"{path}.taskCount",
                "TG-COUNT",
                f"task count {count} is outside 1..{MAX_TASKS}",
                f"use 1..{MAX_TASKS} tasks per task group (split larger work across jobs)",
            )


@_rule("TG-PARALLEL")
def check_parallelism(context: _Context) -> Iterator[Problem]:
    for path, group in context.task_groups:
        parallelism = _set_int(group.get("parallelism"))
        count = _task_count(group)
        where = f"{path}.parallelism"
        if parallelism is not None and not 1 <= parallelism <= MAX_PARALLELISM:
            yield Problem(
                where,
                "TG-PARALLEL",
                f"parallelism {parallelism} is outside 1..{MAX_PARALLELISM}",
                "use 1..5000",
            )
        elif parallelism is not None and 1 <= count < parallelism:
            yield Problem(
                where,
                "TG-PARALLEL",
                f"parallelism {parallelism} is above the task count {count}",
                f"set parallelism to at most {count}, or remove it",
            )
        if _enum_name(group.get("schedulingPolicy"), "TaskGroup.SchedulingPolicy") == "IN_ORDER":
            if parallelism is not None and parallelism != 1:
                yield Problem(
                    where,
                    "TG-PARALLEL",
                    f"parallelism {parallelism} with schedulingPolicy IN_ORDER; IN_ORDER needs 1",
                    "set parallelism to 1, or use AS_SOON_AS_POSSIBLE",
                )
            elif parallelism is None and count > 1:
                yield Problem(
                    where,
                    "TG-PARALLEL",
                    f"schedulingPolicy IN_ORDER with {count} tasks and no parallelism; the default is "
                    "min(taskCount, 5000), not 1",
                    "set parallelism to 1",
                    WARNING,
                )


@_rule("TG-ENV")
def check_task_environments(context: _Context) -> Iterator[Problem]:
    for path, group in context.task_groups:
        environments = group.get("taskEnvironments")
        count = _set_int(group.get("taskCount"))
        listed = len(environments) if isinstance(environments, (list, tuple)) else 0
        if listed and count is not None and count != listed:
            yield Problem(
                f"{path}.taskCount",
                "TG-ENV",
                f"taskCount {count} with {listed} taskEnvironments; Batch ignores "
                "taskCount and runs one task per environment",
                "remove taskCount (or make it equal the number of taskEnvironments)",
            )


@_rule("TS-RUNNABLES")
def check_runnables_present(context: _Context) -> Iterator[Problem]:
    for path, spec, _ in context.task_specs:
        runnables = spec.get("runnables")
        if runnables is None or (isinstance(runnables, (list, tuple)) and not runnables):
            yield Problem(
                f"{path}.runnables", "TS-RUNNABLES", "the task spec has no runnables", "add a container"
            )


@_rule("TS-RETRY")
def check_max_retries(context: _Context) -> Iterator[Problem]:
    for path, spec, _ in context.task_specs:
        retries = _int(spec.get("maxRetryCount"))
        if retries is not None and not 0 <= retries <= MAX_RETRIES:
            yield Problem(
                f"{path}.maxRetryCount",
                "TS-RETRY",
                f"maxRetryCount {retries} is outside 0..{MAX_RETRIES}",
                f"use 0..{MAX_RETRIES}",
            )


@_rule("TS-LIFECYCLE")
def check_lifecycle_policies(context: _Context) -> Iterator[Problem]:
    for path, spec, _ in context.task_specs:
        policies = _arr(spec.get("lifecyclePolicies"))
        where = f"{path}.lifecyclePolicies"
        if len(policies) > 1:
            yield Problem(
                where,
                "TS-LIFECYCLE",
                f"{len(policies)} lifecycle policies; Batch supports only one",
                "merge the exit codes into a single policy",
            )
        for index, policy in enumerate(policies):
            action = _obj(policy).get("action")
            if (
                isinstance(policy, dict)
                and _enum_name(action, "LifecyclePolicy.Action") not in LIFECYCLE_ACTIONS
            ):
                yield Problem(
                    f"{where}[{index}].action",
                    "TS-LIFECYCLE",
                    f"lifecycle action {action!r} is not RETRY_TASK or FAIL_TASK",
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
    reason = _seven_day_reason(_instance_policy(context.job))
    cap = SEVEN_DAY_MAX_RUN_SECONDS if reason else MAX_RUN_SECONDS
    why = f"{cap // 86_400} days" + (f" with {reason}" if reason else "")
    durations = [
        (f"{path}.maxRunDuration", spec.get("maxRunDuration")) for path, spec, _ in context.task_specs
    ]
    durations += [(f"{path}.timeout", runnable.get("timeout")) for path, runnable in context.runnables]
    for path, value in durations:
        seconds = _duration_seconds(value)
        if seconds is not None and seconds > cap:
            yield Problem(
                path,
                "TS-MAXRUN",
                f"{value} is longer than Batch's run-time limit of {why} ({cap}s)",
                f'use at most "{cap}s"; longer work must be split into several jobs',
            )


@_rule("TS-RESOURCES")
def check_compute_resource(context: _Context) -> Iterator[Problem]:
    for path, spec, _ in context.task_specs:
        resource = _obj(spec.get("computeResource"))
        for name in ("cpuMilli", "memoryMib", "bootDiskMib"):
            value = _int(resource.get(name))
            if value is not None and value < 0:
                yield Problem(
                    f"{path}.computeResource.{name}",
                    "TS-RESOURCES",
                    f"{name} {value} is negative",
                    "use a positive value, or remove it for Batch's default (0 also means default)",
                )


# --------------------------------------------------------------------------------------------
# Runnables, containers, environments, volumes


@_rule("R-EXEC")
def check_executable(context: _Context) -> Iterator[Problem]:
    for path, runnable in context.runnables:
        if all(runnable.get(name) is None for name in ("container", "script", "barrier")):
            yield Problem(
                path, "R-EXEC", "the runnable has no container, script or barrier", "add a container"
            )
        script = runnable.get("script")
        if isinstance(script, dict) and not (script.get("path") or script.get("text")):
            yield Problem(
                f"{path}.script", "R-EXEC", "the script has neither path nor text", "set text or path"
            )


@_rule("C-IMAGE")
def check_image_present(context: _Context) -> Iterator[Problem]:
    for path, container in context.containers:
        if not container.get("imageUri"):
            yield Problem(
                f"{path}.imageUri",
                "C-IMAGE",
                "the container has no imageUri",
                "set imageUri, e.g. us-central1-docker.pkg.dev/my-project/my-repo/my-image:1.0",
            )


@_rule("C-VOLUME")
def check_container_volumes(context: _Context) -> Iterator[Problem]:
    for path, container in context.containers:
        for index, volume in enumerate(_arr(container.get("volumes"))):
            if isinstance(volume, str) and not CONTAINER_VOLUME_RE.match(volume):
                yield Problem(
                    f"{path}.volumes[{index}]",
                    "C-VOLUME",
                    f"container volume {volume!r} is not /host/path:/container/path[:ro|rw]",
                    "write absolute paths, e.g. /mnt/disks/data:/data:ro",
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
                yield Problem(
                    _key_path(f"{path}.secretVariables", name),
                    "ENV-SECRET",
                    f"secret {secret!r} is not a Secret Manager version name",
                    "use projects/PROJECT/secrets/SECRET/versions/VERSION (e.g. versions/latest)",
                )


def _task_volumes(context: _Context) -> Iterator[tuple[str, dict]]:
    for path, spec, _ in context.task_specs:
        for index, volume in enumerate(_arr(spec.get("volumes"))):
            if isinstance(volume, dict):
                yield f"{path}.volumes[{index}]", volume


@_rule("VOL-SOURCE")
def check_volume_source(context: _Context) -> Iterator[Problem]:
    required = {"gcs": ("remotePath",), "nfs": ("server", "remotePath")}
    for path, volume in _task_volumes(context):
        sources = [name for name in ("nfs", "gcs", "deviceName") if volume.get(name) is not None]
        if not sources:
            yield Problem(
                path,
                "VOL-SOURCE",
                "the volume has no source",
                'set one of gcs {"remotePath": "bucket"}, nfs {"server", "remotePath"} or deviceName',
            )
        for source, keys in required.items():
            spec = volume.get(source)
            for key in keys if isinstance(spec, dict) else ():
                if not spec.get(key):
                    yield Problem(
                        f"{path}.{source}.{key}", "VOL-SOURCE", f"{source} volume without {key}", f"set {key}"
                    )


@_rule("VOL-MOUNT")
def check_mount_path(context: _Context) -> Iterator[Problem]:
    for path, volume in _task_volumes(context):
        mount = volume.get("mountPath")
        where = f"{path}.mountPath"
        if mount is None or mount == "":
            yield Problem(
                where, "VOL-MOUNT", "the volume has no mountPath", "set an absolute path, e.g. /mnt/data"
            )
        elif isinstance(mount, str) and (not mount.startswith("/") or mount.endswith("/")):
            yield Problem(
                where,
                "VOL-MOUNT",
                f"mountPath {mount!r} must be absolute and must not end with '/'",
                f"use e.g. /{mount.strip('/') or 'mnt/data'}",
            )


@_rule("VOL-DEVICE")
def check_device_names(context: _Context) -> Iterator[Problem]:
    if _instance_template(context.job):
        return  # the disks live in the template, which we cannot see
    disks = {_obj(disk).get("deviceName") for disk in _arr(_instance_policy(context.job).get("disks"))}
    for path, volume in _task_volumes(context):
        device = volume.get("deviceName")
        if isinstance(device, str) and device not in disks:
            yield Problem(
                f"{path}.deviceName",
                "VOL-DEVICE",
                f"deviceName {device!r} matches no disk in allocationPolicy.instances[0].policy.disks",
                "add a disk with that deviceName, or fix the name",
            )


# --------------------------------------------------------------------------------------------
# Logs, locations, allocation, notifications


_DESTINATION = "LogsPolicy.Destination"


@_rule("LOGS-PATH")
def check_logs_policy(context: _Context) -> Iterator[Problem]:
    logs = _obj(context.job.get("logsPolicy"))
    destination = _enum_name(logs.get("destination"), _DESTINATION)
    if destination == "PATH" and not logs.get("logsPath"):
        yield Problem(
            "logsPolicy.logsPath",
            "LOGS-PATH",
            "logsPolicy destination PATH needs logsPath",
            "set logsPath to a file on a mounted volume, e.g. /mnt/data/logs/job.log",
        )
    elif logs.get("logsPath") and destination != "PATH":
        yield Problem(
            "logsPolicy.logsPath",
            "LOGS-PATH",
            f"logsPath is ignored with destination {destination!r}",
            "set destination to PATH, or remove logsPath",
            WARNING,
        )
    if logs.get("cloudLoggingOption") and destination != "CLOUD_LOGGING":
        yield Problem(
            "logsPolicy.cloudLoggingOption",
            "LOGS-PATH",
            f"cloudLoggingOption is ignored with destination {destination!r}",
            "set destination to CLOUD_LOGGING, or remove cloudLoggingOption",
            WARNING,
        )


@_rule("LOGS-DEST")
def check_logs_destination(context: _Context) -> Iterator[Problem]:
    destination = _enum_name(_obj(context.job.get("logsPolicy")).get("destination"), _DESTINATION)
    if destination in (None, "DESTINATION_UNSPECIFIED"):
        yield Problem(
            "logsPolicy.destination",
            "LOGS-DEST",
            "no logs destination: Batch will keep no task logs",
            'set logsPolicy {"destination": "CLOUD_LOGGING"}',
            WARNING,
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
            yield Problem(
                path,
                "LOC-SHAPE",
                f"allowed location {entry!r} is not regions/REGION or zones/ZONE",
                "write e.g. regions/us-central1 or zones/us-central1-a",
            )


@_rule("LOC-REGION")
def check_allowed_locations_one_region(context: _Context) -> Iterator[Problem]:
    regions = sorted(_allowed_regions(context.job))
    if len(regions) > 1:
        yield Problem(
            "allocationPolicy.location.allowedLocations",
            "LOC-REGION",
            f"allowedLocations span regions {', '.join(regions)}; Batch allows one region",
            "keep one region, or several zones of one region",
        )


@_rule("LOC-PARENT")
def check_allowed_locations_in_job_region(context: _Context) -> Iterator[Problem]:
    for path, entry in _allowed_locations(context.job):
        region = region_of_allowed_location(entry)
        if region and context.region and region != context.region:
            yield from problems_at_level(
                context.policy.out_of_region_locations,
                path,
                "LOC-PARENT",
                f"allowed location {entry!r} is outside the job's region {context.region!r}",
                f"submit the job in {region}, or allow only locations in {context.region}",
            )


@_rule("AP-INSTANCES")
def check_instances(context: _Context) -> Iterator[Problem]:
    instances = _instances(context.job)
    if len(instances) > 1:
        yield Problem(
            "allocationPolicy.instances",
            "AP-INSTANCES",
            f"{len(instances)} instance policies; Batch uses only instances[0]",
            "keep one entry in allocationPolicy.instances",
        )


@_rule("AP-IGNORED")
def check_ignored_allocation_fields(context: _Context) -> Iterator[Problem]:
    allocation = _obj(context.job.get("allocationPolicy"))
    if allocation.get("network") and _instance_template(context.job):
        yield Problem(
            "allocationPolicy.network",
            "AP-IGNORED",
            "network is ignored when instances[0] uses an instanceTemplate",
            "set the network in the instance template, and remove allocationPolicy.network",
            WARNING,
        )
    if _obj(allocation.get("placement")).get("maxDistance") is not None:
        yield Problem(
            "allocationPolicy.placement.maxDistance",
            "AP-IGNORED",
            "placement.maxDistance is not implemented by Batch and is ignored",
            "remove maxDistance",
            WARNING,
        )


@_rule("AP-TAGS")
def check_network_tags(context: _Context) -> Iterator[Problem]:
    for index, tag in enumerate(_arr(_obj(context.job.get("allocationPolicy")).get("tags"))):
        if isinstance(tag, str) and not TAG_RE.match(tag):
            yield Problem(
                f"allocationPolicy.tags[{index}]",
                "AP-TAGS",
                f"network tag {tag!r} is not 1-63 lowercase letters, digits and '-' starting with a letter",
                "use e.g. batch-workers",
            )


@_rule("N-TOPIC")
def check_notification_topics(context: _Context) -> Iterator[Problem]:
    for index, notification in enumerate(_arr(context.job.get("notifications"))):
        topic = _obj(notification).get("pubsubTopic")
        if isinstance(notification, dict) and not (isinstance(topic, str) and TOPIC_RE.match(topic)):
            yield Problem(
                f"notifications[{index}].pubsubTopic",
                "N-TOPIC",
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
            yield Problem(
                path, "N-MESSAGE", "the notification has no message, so none is sent", _N_FIX, WARNING
            )
        elif isinstance(message, dict):
            kind = _enum_name(message.get("type"), "JobNotification.Type")
            job_level = kind == "JOB_STATE_CHANGED" or bool(message.get("newJobState"))
            task_level = kind == "TASK_STATE_CHANGED" or bool(message.get("newTaskState"))
            if job_level and task_level:
                yield Problem(
                    path,
                    "N-MESSAGE",
                    f"message mixes job-level and task-level attributes: {_short(message)}",
                    _N_FIX,
                )


_N_FIX = (
    'use {"type": "JOB_STATE_CHANGED", "newJobState": ...} or '
    '{"type": "TASK_STATE_CHANGED", "newTaskState": ...}'
)


# --------------------------------------------------------------------------------------------
# Labels


def _label_maps(context: _Context) -> Iterator[tuple[str, dict, str]]:
    """(path, labels, budget) with budget "job" (job + runnables) or "vm" (allocationPolicy)."""
    job = context.job
    yield "labels", _obj(job.get("labels")), "job"
    for path, runnable in context.runnables:
        yield f"{path}.labels", _obj(runnable.get("labels")), "job"
    yield "allocationPolicy.labels", _obj(_obj(job.get("allocationPolicy")).get("labels")), "vm"


@_rule("L-1")
def check_label_count_per_resource(context: _Context) -> Iterator[Problem]:
    for path, labels, _ in _label_maps(context):
        if len(labels) > MAX_LABELS_PER_RESOURCE:
            yield Problem(
                path,
                "L-1",
                f"{len(labels)} labels; a resource takes at most {MAX_LABELS_PER_RESOURCE}",
                "remove labels",
            )


@_rule("L-4")
def check_custom_label_budget(context: _Context) -> Iterator[Problem]:
    maps = list(_label_maps(context))
    job_total = sum(len(labels) for _, labels, budget in maps if budget == "job")
    vm_total = sum(len(labels) for _, labels, budget in maps if budget == "vm")
    if job_total > MAX_JOB_LABELS:
        yield Problem(
            "labels",
            "L-4",
            f"{job_total} custom labels on the job and its runnables; Batch allows {MAX_JOB_LABELS}",
            "remove labels (Batch adds its own predefined ones)",
        )
    if vm_total > MAX_VM_LABELS:
        yield Problem(
            "allocationPolicy.labels",
            "L-4",
            f"{vm_total} allocationPolicy labels; Batch allows {MAX_VM_LABELS} on each VM, disk and GPU",
            "remove labels",
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
    for path, labels, _ in _label_maps(context):
        for key, value in labels.items():
            where = _key_path(path, key)
            if isinstance(key, str) and not _label_ok(key, key=True, charset=charset):
                yield Problem(
                    where,
                    "L-2",
                    f"label key {key!r} is invalid: 1-63 lowercase letters, digits, '_' or '-', "
                    "starting with a letter",
                    f"use e.g. {_label_example(key, key=True)!r}",
                )
            if isinstance(value, str) and not _label_ok(value, key=False, charset=charset):
                yield Problem(
                    where,
                    "L-2",
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


@_rule("L-3")
def check_reserved_label_prefixes(context: _Context) -> Iterator[Problem]:
    for path, labels, _ in _label_maps(context):
        for key in labels:
            if isinstance(key, str) and key.startswith(RESERVED_LABEL_PREFIXES):
                yield Problem(
                    _key_path(path, key),
                    "L-3",
                    f"label key {key!r} uses a reserved prefix (goog-, google-)",
                    "rename the label without the goog-/google- prefix",
                )


# --------------------------------------------------------------------------------------------
# Image streaming


@_rule("IS-OFF")
def check_streaming_enabled(context: _Context) -> Iterator[Problem]:
    containers = list(context.containers)
    if containers and not any(_streaming(container) for _, container in containers):
        yield from problems_at_level(
            context.policy.streaming_off,
            containers[0][0],
            "IS-OFF",
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
                yield Problem(
                    f"{path}.imageUri",
                    "IS-2",
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
            yield Problem(
                f"{path}.{name}",
                "IS-3",
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
            yield Problem(
                f"{path}.enableImageStreaming",
                "IS-4",
                "this container does not stream its image while another in the job does",
                'set "enableImageStreaming": true on every container runnable, or on none',
            )
