"""Structure: every field known (camelCase or snake_case), of the right JSON type, at most one
member per oneof, no output-only field set, no deprecated field (J-FIELD, J-TYPE, J-DURATION,
J-ONEOF, J-OUTPUT, J-DEPRECATED).

The walk follows :mod:`airflow_batchstream.jobspec.schema` over the job as written; it is the first
rule, and tells the others (``Context.renamed``) whether they must read the camelCase copy.
Conditions: :mod:`airflow_batchstream.jobspec.catalog.structure`.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from airflow_batchstream.jobspec import schema
from airflow_batchstream.jobspec.limits import DURATION_RE
from airflow_batchstream.jobspec.names import PROTO_NAMES, snake_case
from airflow_batchstream.jobspec.problems import Problem
from airflow_batchstream.jobspec.rules._walk import (
    Context,
    as_int,
    bounded_repr,
    describe,
    enum_name,
    field_path,
    found,
    is_json_string,
    key_path,
    short,
)

TIMESTAMP_RE = re.compile(
    r"^(?P<base>[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2})(\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})$"
)
INT_RANGES = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}
MAX_DURATION_SECONDS = 315_576_000_000  # protobuf Duration's own limit


def fix_type(kind: str) -> str:
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


def check_structure(context: Context) -> list[Problem]:
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
                out.append(_unknown_field(key, message, fields, field_path(path, key)))
                continue
            if name in value:
                out.append(_both_spellings(key, name, message, field_path(path, key)))
                continue
            kind = fields[name]
            out.renamed = True
        child_path = f"{path}.{key}" if path else key
        if (message, name) in schema.OUTPUT_ONLY and item not in (None, "", {}, []):
            out.append(
                found(
                    "J-OUTPUT",
                    "set",
                    child_path,
                    f"{key!r} is output only; Batch ignores it in a create request",
                    f"remove it ({schema.OUTPUT_ONLY[(message, name)]})",
                )
            )
        if item is not None:  # null means "unset" in proto3 JSON
            _check_field(item, kind, child_path, out)
    for group in _ONEOF_SPELLINGS.get(message, ()):
        present = [
            camel if value.get(camel) is not None else snake
            for camel, snake in group
            if value.get(camel) is not None or value.get(snake) is not None
        ]
        if len(present) > 1:
            out.append(
                found(
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
        if isinstance(key, str) and is_json_string(key) and item is not None:
            _check_value(item, kind, key_path(path, key), out)
            continue
        item_path = key_path(path, key)
        if not isinstance(key, str):
            out.append(_type_problem(item_path, "a string key", key, "quote the key"))
        elif not is_json_string(key):
            out.append(_surrogate_problem(item_path, key))
        else:
            out.append(_type_problem(item_path, kind, item, fix_type(kind)))


def _check_array(value: Any, kind: str, path: str, out: _Findings) -> None:
    if not isinstance(value, (list, tuple)):
        fix = f"wrap the value in a list: [{short(value)}]"
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
            out.append(_type_problem(path, f"an object ({kind})", value, fix_type(kind)))
        return
    checker = _SCALAR_CHECKS.get(kind) or _check_enum
    problem = checker(value, kind, path)
    if problem is not None:
        out.append(problem)


def _check_string(value: Any, kind: str, path: str) -> Problem | None:
    if is_json_string(value):
        return None
    if isinstance(value, str):
        return _surrogate_problem(path, value)
    return _type_problem(path, "a string", value, fix_type(kind))


def _surrogate_problem(path: str, text: str) -> Problem:
    return found(
        "J-TYPE",
        "text",
        path,
        f"{text!r} contains a lone surrogate, which is not valid Unicode text and cannot be sent",
        "fix the text's encoding (it was probably decoded with errors='surrogateescape')",
    )


def _check_bool(value: Any, kind: str, path: str) -> Problem | None:
    return None if isinstance(value, bool) else _type_problem(path, "a boolean", value, fix_type(kind))


def _check_int(value: Any, kind: str, path: str) -> Problem | None:
    number = as_int(value)
    if number is None:
        return _type_problem(path, f"an integer ({kind})", value, fix_type(kind))
    low, high = INT_RANGES[kind]
    if not low <= number <= high:
        return found(
            "J-TYPE", "kind", path, f"{number} is out of the {kind} range", f"use a value in [{low}, {high}]"
        )
    return None


def _check_duration(value: Any, kind: str, path: str) -> Problem | None:
    match = DURATION_RE.match(value) if isinstance(value, str) else None
    if match and int(match.group("seconds")) <= MAX_DURATION_SECONDS:
        return None
    fix = 'write seconds with an "s" suffix, e.g. "3600s" or "1.5s"'
    if as_int(value) is not None:
        fix = f'write "{as_int(value)}s"'
    message = f'{describe(value)} is not a duration like "3600s" (at most {MAX_DURATION_SECONDS}s)'
    return found("J-DURATION", "syntax", path, message, fix)


def _check_timestamp(value: Any, kind: str, path: str) -> Problem | None:
    match = TIMESTAMP_RE.match(value) if isinstance(value, str) else None
    if match:
        try:
            datetime.strptime(match.group("base"), "%Y-%m-%dT%H:%M:%S")
            return None
        except ValueError:
            pass
    return _type_problem(path, "an RFC 3339 timestamp", value, fix_type(kind))


def _check_enum(value: Any, kind: str, path: str) -> Problem | None:
    enum = kind.removeprefix("enum:")
    if enum_name(value, enum) is not None:
        return None
    suggestion = ""
    if isinstance(value, str):
        close = difflib.get_close_matches(value.upper(), schema.ENUMS[enum], n=1)
        suggestion = f"; did you mean {close[0]!r}?" if close else ""
    message = f"{describe(value)} is not a {enum} value{suggestion}"
    return found("J-TYPE", "kind", path, message, fix_type(kind))


_SCALAR_CHECKS: dict[str, Callable[[Any, str, str], Problem | None]] = {
    "string": _check_string,
    "bool": _check_bool,
    "int32": _check_int,
    "int64": _check_int,
    "Duration": _check_duration,
    "Timestamp": _check_timestamp,
}


def _type_problem(path: str, expected: str, value: Any, fix: str) -> Problem:
    return found("J-TYPE", "kind", path, f"expected {expected}, got {describe(value)}", fix)


def _unknown_field(key: Any, message: str, fields: dict[str, str], path: str) -> Problem:
    shown = bounded_repr(key)
    if not isinstance(key, str):
        return found(
            "J-FIELD", "unknown", path, f"field name {shown} in {message} is not a string", "quote the name"
        )
    suggestion = _suggest(key, fields)
    if suggestion:
        return found(
            "J-FIELD",
            "unknown",
            path,
            f"unknown field {shown} in {message}; did you mean {suggestion!r}?",
            f"rename {shown} to {suggestion!r}",
        )
    return found(
        "J-FIELD",
        "unknown",
        path,
        f"unknown field {shown} in {message}",
        f"remove it; {message} fields are {', '.join(fields)}",
    )


def _both_spellings(key: str, name: str, message: str, path: str) -> Problem:
    return found(
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


def check_deprecated(context: Context) -> Iterator[Problem]:
    for path, spec, _ in context.task_specs:
        if spec.get("environments"):
            yield found(
                "J-DEPRECATED",
                "environments",
                f"{path}.environments",
                "taskSpec.environments is deprecated",
                "move the variables to taskSpec.environment.variables",
            )
