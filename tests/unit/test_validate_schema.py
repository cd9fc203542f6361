"""The spec package's hand-kept Batch v1 schema table must equal google-cloud-batch's messages.

Run this module as a script to print a fresh table for ``airflow_batchstream/jobspec/schema.py``::

    .venv/bin/python -m tests.unit.test_validate_schema
"""

from __future__ import annotations

import functools
import pprint

import pytest

from airflow_batchstream.jobspec import schema
from airflow_batchstream.jobspec.names import PROTO_NAMES, snake_case

batch_v1 = pytest.importorskip("google.cloud.batch_v1")

_PACKAGE = "google.cloud.batch.v1."
_WELL_KNOWN = {"google.protobuf.Duration": "Duration", "google.protobuf.Timestamp": "Timestamp"}
# FieldDescriptor.type numbers -> our scalar kinds (descriptor.proto's Type enum).
_SCALARS = {9: "string", 8: "bool", 5: "int32", 3: "int64"}


def _short(full_name: str) -> str:
    return _WELL_KNOWN.get(full_name) or full_name.removeprefix(_PACKAGE)


def _kind(field) -> str:
    if field.enum_type is not None:
        return f"enum:{_short(field.enum_type.full_name)}"
    if field.message_type is None:
        return _SCALARS[field.type]
    return _short(field.message_type.full_name)


@functools.cache
def build_schema() -> tuple[dict, dict, dict]:
    """Walk ``Job``'s descriptor: messages -> {jsonName: kind}, enums -> {name: number}, oneofs."""
    messages: dict[str, dict[str, str]] = {}
    enums: dict[str, dict[str, int]] = {}
    oneofs: dict[str, tuple[tuple[str, ...], ...]] = {}
    pending = [batch_v1.Job.pb().DESCRIPTOR]
    while pending:
        descriptor = pending.pop()
        name = _short(descriptor.full_name)
        if name in messages or name in _WELL_KNOWN.values():
            continue
        fields: dict[str, str] = {}
        for field in descriptor.fields:
            message_type = field.message_type
            if message_type is not None and message_type.GetOptions().map_entry:
                value = message_type.fields_by_name["value"]
                fields[field.json_name] = f"map:{_kind(value)}"
                if value.message_type is not None:
                    pending.append(value.message_type)
                continue
            kind = _kind(field)
            fields[field.json_name] = kind + ("[]" if field.is_repeated else "")
            if message_type is not None:
                pending.append(message_type)
            if field.enum_type is not None:
                enums[kind.removeprefix("enum:")] = {v.name: v.number for v in field.enum_type.values}
        messages[name] = fields
        # A one-field oneof is a proto3 "optional" presence marker, not a real choice.
        groups = tuple(
            tuple(f.json_name for f in oneof.fields) for oneof in descriptor.oneofs if len(oneof.fields) > 1
        )
        if groups:
            oneofs[name] = groups
    return messages, enums, oneofs


def test_messages_match_google_cloud_batch() -> None:
    messages, _, _ = build_schema()
    assert messages == schema.MESSAGES


def test_enums_match_google_cloud_batch() -> None:
    _, enums, _ = build_schema()
    assert enums == schema.ENUMS


def test_oneofs_match_google_cloud_batch() -> None:
    _, _, oneofs = build_schema()
    assert oneofs == schema.ONEOFS


def test_snake_case_spellings_are_the_descriptors_field_names() -> None:
    # The validator accepts a field's original proto name beside its JSON name, as protobuf's
    # JSON parsers do; PROTO_NAMES derives one from the other, and this proves the derivation.
    pending, seen = [batch_v1.Job.pb().DESCRIPTOR], set()
    while pending:
        descriptor = pending.pop()
        name = _short(descriptor.full_name)
        if name in seen or name in _WELL_KNOWN.values():
            continue
        seen.add(name)
        for field in descriptor.fields:
            # proto-plus appends "_" to names Python reserves (type -> type_); the protos' is "type".
            proto_name = field.name.removesuffix("_")
            assert snake_case(field.json_name) == proto_name, (name, field.name)
            if proto_name != field.json_name and not descriptor.GetOptions().map_entry:
                assert PROTO_NAMES[name][proto_name] == field.json_name
            if field.message_type is not None:
                pending.append(field.message_type)
    assert set(schema.MESSAGES) <= seen


def test_output_only_fields_exist_in_the_schema() -> None:
    for (message, field_name), _ in schema.OUTPUT_ONLY.items():
        assert field_name in schema.MESSAGES[message]


def test_field_names_the_rules_rely_on_exist() -> None:
    from airflow_batchstream.jobspec.limits import STREAMING_FIELDS

    container = schema.MESSAGES["Runnable.Container"]
    assert set(STREAMING_FIELDS) <= set(container)
    # IS-3 must forbid exactly the rest; a new Container field would show up here first.
    assert set(container) - STREAMING_FIELDS == {"options", "blockExternalNetwork", "username", "password"}


if __name__ == "__main__":
    found_messages, found_enums, found_oneofs = build_schema()
    for title, table in (("MESSAGES", found_messages), ("ENUMS", found_enums), ("ONEOFS", found_oneofs)):
        print(f"{title} = {pprint.pformat(dict(sorted(table.items())), sort_dicts=False, width=100)}\n")
