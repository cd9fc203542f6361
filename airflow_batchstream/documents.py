"""The one loader of every JSON or YAML document the project reads, with limits.

``batchstream validate FILE``, ``batchstream render --overrides @FILE`` and ``--volume JSON``, and
emulator scenarios (``batchstream emulator --scenario FILE``) all read through
:func:`load_document` / :func:`parse_document`. A document is refused, with
:class:`DocumentError` saying which limit it hit, when it is

* larger than :data:`MAX_DOCUMENT_BYTES`, or would be once its YAML aliases are expanded (a
  "billion laughs" document is a few hundred bytes that expand to gigabytes; it is refused after
  reading its events, before anything is built from it),
* nested deeper than :data:`MAX_DEPTH` (no ``RecursionError`` anywhere downstream), or recursive
  (a YAML alias inside its own anchor),
* not UTF-8 text (binary), or empty (nothing, only whitespace or comments, or ``null``).

:func:`shape_problem` applies the same depth and cycle limits to values built in Python (the
operator's ``job_overrides`` and ``volumes``). Pure standard library; PyYAML is imported only when
a YAML document is parsed.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

#: Largest document read, in bytes (and the largest a YAML document may expand to through its
#: aliases, counted as the length of its scalars). A Batch job is at most 1 MiB of JSON.
MAX_DOCUMENT_BYTES = 8 * 1024 * 1024
#: Deepest nesting of objects and arrays. A Batch job nests about 10 levels.
MAX_DEPTH = 64


class DocumentError(ValueError):
    """A document that cannot be read or parsed, or that breaks a limit; the message says which."""


def load_document(source: str | Path, *, what: str = "") -> Any:
    """Read and parse a JSON or YAML document from a file, or from stdin when ``source`` is ``-``.

    ``.json`` files are parsed as JSON (exact error positions); anything else as YAML, which also
    reads JSON.

    :param source: file path or ``-``.
    :param what: how to name the document in messages; the path by default.
    :raises DocumentError: unreadable, unparsable, empty, or over a limit, with the reason.
    """
    name = what or str(source)
    data = _read_bytes(str(source), name)
    return parse_document(_decode(data, name), name, "json" if str(source).endswith(".json") else "yaml")


def parse_document(text: str, name: str, syntax: str = "yaml") -> Any:
    """Parse ``text`` (``syntax`` ``json`` or ``yaml``) within the limits; never returns None.

    :param name: how to name the document in messages, e.g. ``--volume`` or a file path.
    :raises DocumentError: unparsable, empty, or over a limit.
    """
    if len(text.encode("utf-8", "surrogatepass")) > MAX_DOCUMENT_BYTES:
        raise DocumentError(f"{name} is larger than the {_mib(MAX_DOCUMENT_BYTES)} limit")
    if not text.strip():
        raise DocumentError(f"{name} is empty")
    value = _parse_json(text, name) if syntax == "json" else _parse_yaml(text, name)
    if value is None:
        raise DocumentError(f"{name} holds no document (it is empty, only comments, or null)")
    return value


def shape_problem(value: Any, max_depth: int = MAX_DEPTH) -> str | None:
    """Why ``value`` cannot be processed safely (too deep, or containing itself), or None.

    Iterative, so it never hits the recursion limit itself; stops at the first problem.
    """
    stack: list[tuple[Any, int, frozenset[int]]] = [(value, 1, frozenset())]
    while stack:
        item, depth, ancestors = stack.pop()
        if not isinstance(item, (Mapping, list, tuple)):
            continue
        if id(item) in ancestors:
            return "contains itself (a recursive structure)"
        if depth > max_depth:
            return f"is nested deeper than the limit of {max_depth} levels"
        children = item.values() if isinstance(item, Mapping) else item
        inner = ancestors | {id(item)}
        stack.extend((child, depth + 1, inner) for child in children)
    return None


def _read_bytes(source: str, name: str) -> bytes:
    try:
        if source == "-":
            data = sys.stdin.buffer.read(MAX_DOCUMENT_BYTES + 1)
        else:
            with open(source, "rb") as stream:
                data = stream.read(MAX_DOCUMENT_BYTES + 1)
    except OSError as exc:
        raise DocumentError(f"cannot read {name}: {exc.strerror or exc}") from exc
    if len(data) > MAX_DOCUMENT_BYTES:
        raise DocumentError(f"{name} is larger than the {_mib(MAX_DOCUMENT_BYTES)} limit")
    return data


def _decode(data: bytes, name: str) -> str:
    if b"\x00" in data:
        raise DocumentError(f"{name} is binary, not JSON or YAML text (it contains NUL bytes)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DocumentError(
            f"{name} is not UTF-8 text (byte {exc.start} is {data[exc.start : exc.start + 1]!r})"
        ) from exc


def _parse_json(text: str, name: str) -> Any:
    try:
        value = json.loads(text)
    except RecursionError:  # far deeper than MAX_DEPTH: the parser gave up first
        raise DocumentError(f"{name} is nested deeper than the limit of {MAX_DEPTH} levels") from None
    except ValueError as exc:
        raise DocumentError(f"{name} is not valid JSON: {exc}") from exc
    problem = shape_problem(value)
    if problem:
        raise DocumentError(f"{name} {problem}")
    return value


def _parse_yaml(text: str, name: str) -> Any:
    import yaml  # only when a YAML document is read

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        _check_yaml_events(yaml.parse(text, Loader=loader), name)
        return yaml.load(text, Loader=loader)
    except yaml.YAMLError as exc:
        raise DocumentError(f"{name} is not valid YAML or JSON: {_one_line(exc)}") from exc


def _check_yaml_events(events: Iterator[Any], name: str) -> None:
    """Bound depth, recursion and alias-expanded size from the event stream, before building anything.

    Every node costs one, a scalar also its length; an alias costs what its anchor expands to, so
    the count is the size of the document with every alias written out.
    """
    import yaml

    anchored: dict[str, tuple[int, int]] = {}  # anchor -> (expanded size, nesting depth)
    open_nodes: list[list[Any]] = []  # [anchor, expanded size, depth below]: collections being read
    total = 0
    for event in events:
        if isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
            _check_depth(len(open_nodes) + 1, name)
            open_nodes.append([event.anchor, 1, 1])
            size, depth = 1, None
        elif isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
            anchor, size, depth = open_nodes.pop()
            if anchor is not None:
                anchored[anchor] = (size, depth)
            _account(open_nodes, size, depth)
            continue
        elif isinstance(event, yaml.ScalarEvent):
            size, depth = len(event.value) + 1, 0
            if event.anchor is not None:
                anchored[event.anchor] = (size, depth)
        elif isinstance(event, yaml.AliasEvent):
            if event.anchor not in anchored:
                if any(node[0] == event.anchor for node in open_nodes):
                    raise DocumentError(f"{name} contains itself (alias *{event.anchor} inside its anchor)")
                continue  # undefined: the parser says so when the document is built
            size, depth = anchored[event.anchor]
            _check_depth(len(open_nodes) + depth, name)
        else:
            continue
        total += size
        if total > MAX_DOCUMENT_BYTES:
            how = " through its YAML aliases" if isinstance(event, yaml.AliasEvent) else ""
            raise DocumentError(f"{name} expands{how} beyond the {_mib(MAX_DOCUMENT_BYTES)} limit")
        if depth is not None:
            _account(open_nodes, size, depth)


def _account(open_nodes: list[list[Any]], size: int, depth: int) -> None:
    """Add a finished node to the collection that holds it (its size and depth are known now)."""
    if open_nodes:
        parent = open_nodes[-1]
        parent[1] += size
        parent[2] = max(parent[2], depth + 1)


def _check_depth(depth: int, name: str) -> None:
    if depth > MAX_DEPTH:
        raise DocumentError(f"{name} is nested deeper than the limit of {MAX_DEPTH} levels")


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())


def _mib(count: int) -> str:
    return f"{count // (1024 * 1024)} MiB"
