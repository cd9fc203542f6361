"""Field names as users write them: camelCase JSON names or the protos' original snake_case names.

Proto3's JSON mapping lets parsers accept both ("Parsers accept both the lowerCamelCase name (or
the one specified by the json_name option) and the original proto field name",
protobuf.dev/programming-guides/json), and Google's own Batch samples are snake_case configs
submitted with ``gcloud batch jobs submit --config``. :func:`camel_case_fields` rewrites such a
document into the camelCase spelling this package renders and checks; map keys (labels,
environment variables) are data and are never renamed.
"""

from __future__ import annotations

import re
from typing import Any

from airflow_batchstream.jobspec import schema

_UPPER = re.compile(r"([A-Z])")


def snake_case(json_name: str) -> str:
    """The proto field name behind a JSON name: ``imageUri`` -> ``image_uri``.

    ``tests/unit/test_validate_schema.py`` checks this against every field descriptor of the client.
    """
    return _UPPER.sub(r"_\1", json_name).lower()


#: message -> {original proto name: JSON name}, for the fields whose two spellings differ.
PROTO_NAMES: dict[str, dict[str, str]] = {
    message: {snake_case(name): name for name in fields if snake_case(name) != name}
    for message, fields in schema.MESSAGES.items()
}


def camel_case_fields(document: Any, message: str = schema.ROOT) -> Any:
    """``document`` with every snake_case field name of the Batch v1 schema spelled in camelCase.

    Never raises and never modifies its argument; returns the same object when nothing is renamed.
    Unknown names and values of the wrong type are left as they are, for the validator to report.
    A snake_case name whose camelCase twin is also present is left as written, so that the
    validator can report the field set twice (rule J-FIELD) instead of one spelling winning.

    :param document: a Job, or a part of one (e.g. ``job_overrides``), as a JSON-shaped dict.
    :param message: the schema message ``document`` is, ``Job`` by default.
    """
    if message not in schema.MESSAGES or not isinstance(document, dict):
        return document
    fields = schema.MESSAGES[message]
    aliases = PROTO_NAMES[message]
    renamed: dict[Any, Any] = {}
    changed = False
    for key, value in document.items():
        name = key
        if key not in fields and isinstance(key, str):
            camel = aliases.get(key)
            if camel is not None and camel not in document:
                name = camel
        kind = fields.get(name)
        converted = _convert(value, kind) if kind else value
        changed = changed or name != key or converted is not value
        renamed[name] = converted
    return renamed if changed else document


def _convert(value: Any, kind: str) -> Any:
    """A field's value with its nested messages renamed; scalars and map keys untouched."""
    if kind.startswith("map:"):
        inner = kind[4:]
        if inner not in schema.MESSAGES or not isinstance(value, dict):
            return value
        items = {key: camel_case_fields(item, inner) for key, item in value.items()}
        return items if any(items[key] is not value[key] for key in value) else value
    if kind.endswith("[]"):
        inner = kind[:-2]
        if inner not in schema.MESSAGES or not isinstance(value, (list, tuple)):
            return value
        items = [camel_case_fields(item, inner) for item in value]
        return items if any(new is not old for new, old in zip(items, value, strict=True)) else value
    return camel_case_fields(value, kind)
