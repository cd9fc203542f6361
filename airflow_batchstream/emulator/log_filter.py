"""The part of Cloud Logging's query language the emulator's ``ListLogEntries`` understands.

Comparisons ``FIELD OP VALUE`` (``=``, ``!=``, ``:`` "has", ``<``, ``<=``, ``>``, ``>=``) on
``logName``, ``timestamp``, ``severity``, ``insertId``, ``textPayload``, ``resource.type``,
``resource.labels.KEY`` and ``labels.KEY``; a value is a quoted string, a bare word, or a
parenthesized disjunction ``("a" OR "b")``. Comparisons combine with ``AND``, ``OR``, ``NOT`` and
parentheses; adjacent comparisons are ANDed, as in Logging. String comparisons ignore case, as in
Logging; timestamps compare as instants (RFC 3339), severities by rank (``severity>=ERROR``).

One deliberate strictness: Logging lets ``OR`` bind tighter than ``AND`` (the Google API filter
grammar), an order people rarely expect, so the emulator refuses ``AND`` and ``OR`` mixed at one
level without parentheses (INVALID_ARGUMENT), to catch a client that relies on it by accident.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

#: Cloud Logging's limit on the length of a query.
MAX_FILTER_CHARS = 20_000

SEVERITIES = {
    "DEFAULT": 0,
    "DEBUG": 100,
    "INFO": 200,
    "NOTICE": 300,
    "WARNING": 400,
    "ERROR": 500,
    "CRITICAL": 600,
    "ALERT": 700,
    "EMERGENCY": 800,
}

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*")
      | (?P<op>>=|<=|!=|=|<|>|:)
      | (?P<paren>[()])
      | (?P<word>[^\s()"=<>!:]+)
    )""",
    re.VERBOSE,
)
_RFC3339 = re.compile(r"^(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|z|[+-]\d{2}:\d{2})?$")


class FilterError(ValueError):
    """A filter the emulator cannot read (Logging answers INVALID_ARGUMENT)."""


def parse_timestamp_ns(text: str) -> int:
    """Nanoseconds since the epoch of an RFC 3339 instant (``2026-11-30T18:10:00.123456789Z``)."""
    match = _RFC3339.match(text.strip())
    if not match:
        raise FilterError(f"Invalid timestamp {text!r}: expected RFC 3339, e.g. 2026-01-01T00:00:00Z.")
    day, clock, fraction, zone = match.groups()
    offset = "+00:00" if zone in (None, "Z", "z") else zone
    seconds = datetime.fromisoformat(f"{day}T{clock}{offset}").astimezone(timezone.utc).timestamp()
    return int(seconds) * 1_000_000_000 + int((fraction or "0").ljust(9, "0"))


# ----------------------------------------------------------------------------------------------
# The tree


@dataclass(frozen=True)
class Comparison:
    field: str
    op: str
    values: tuple[str, ...]  # more than one: the parenthesized disjunction form

    def __post_init__(self) -> None:
        # Read once: instants and ranks for timestamp and severity, lower case for text.
        if self.field == "timestamp":
            keys: tuple[Any, ...] = tuple(parse_timestamp_ns(v) for v in self.values)
        elif self.field == "severity":
            keys = tuple(_severity(v) for v in self.values)
        else:
            keys = tuple(v.lower() for v in self.values)
        object.__setattr__(self, "keys", keys)

    def matches(self, entry: Mapping[str, Any]) -> bool:
        found = entry.get(self.field)
        if found is None:
            return self.op == "!="
        if self.field not in ("timestamp", "severity"):
            found = str(found).lower()
            if self.op == ":":
                return any(key in found for key in self.keys)
        return any(_compare(found, self.op, key) for key in self.keys)


@dataclass(frozen=True)
class AnyOf:
    """``FIELD=("a" OR "b" ...)`` with many values: a set lookup, not a scan."""

    field: str
    values: frozenset[str]

    def matches(self, entry: Mapping[str, Any]) -> bool:
        found = entry.get(self.field)
        return found is not None and str(found).lower() in self.values


@dataclass(frozen=True)
class Not:
    node: Any

    def matches(self, entry: Mapping[str, Any]) -> bool:
        return not self.node.matches(entry)


@dataclass(frozen=True)
class All:
    nodes: tuple[Any, ...]

    def matches(self, entry: Mapping[str, Any]) -> bool:
        return all(node.matches(entry) for node in self.nodes)


@dataclass(frozen=True)
class Either:
    nodes: tuple[Any, ...]

    def matches(self, entry: Mapping[str, Any]) -> bool:
        return any(node.matches(entry) for node in self.nodes)


class MatchAll:
    def matches(self, entry: Mapping[str, Any]) -> bool:
        return True


_COMPARE: Mapping[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def _compare(found: Any, op: str, value: Any) -> bool:
    if op == ":":
        return found == value
    return _COMPARE[op](found, value)


def _severity(value: str) -> int:
    if value.isdigit():
        return int(value)
    if value.upper() not in SEVERITIES:
        raise FilterError(f"Unknown severity {value!r}: use one of {', '.join(SEVERITIES)}.")
    return SEVERITIES[value.upper()]


def required_values(node: Any, field: str) -> frozenset[str] | None:
    """The values ``field`` must have (lower case) for an entry to match, when the filter says so
    (the store then looks at those jobs only); None when it does not."""
    if isinstance(node, AnyOf) and node.field == field:
        return node.values
    if isinstance(node, Comparison) and node.field == field and node.op == "=":
        return frozenset(v.lower() for v in node.values)
    if isinstance(node, All):
        for child in node.nodes:
            found = required_values(child, field)
            if found is not None:
                return found
        return None
    if isinstance(node, Either):
        parts = [required_values(child, field) for child in node.nodes]
        if any(part is None for part in parts):
            return None
        return frozenset().union(*parts)
    return None


# ----------------------------------------------------------------------------------------------
# The parser


def parse(text: str) -> Any:
    """The tree of a filter (an empty one matches every entry).

    :raises FilterError: over 20,000 characters, or outside the subset (the message says where).
    """
    if len(text) > MAX_FILTER_CHARS:
        raise FilterError(
            f"The filter is {len(text)} characters long; Cloud Logging allows at most {MAX_FILTER_CHARS}."
        )
    tokens = _tokens(text)
    if not tokens:
        return MatchAll()
    parser = _Parser(tokens)
    node = parser.expression()
    if parser.position != len(tokens):
        raise FilterError(f"Unexpected {tokens[parser.position][1]!r} in the filter.")
    return node


def _tokens(text: str) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    position = 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if not match or match.end() == position:
            raise FilterError(f"Cannot read the filter at {text[position : position + 20]!r}.")
        kind = match.lastgroup
        value = match.group(kind)
        if kind == "string":
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        found.append((kind, value))
        position = match.end()
    return found


_FIELD = re.compile(
    r"^(?:logName|timestamp|severity|insertId|textPayload|resource\.type|resource\.labels\.\S+|labels\.\S+)$"
)


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]]):
        self.tokens = tokens
        self.position = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise FilterError("The filter ends too early.")
        self.position += 1
        return token

    def expression(self) -> Any:
        nodes = [self.unary()]
        joins: set[str] = set()
        while (token := self.peek()) is not None and token != ("paren", ")"):
            if token == ("word", "AND") or token == ("word", "OR"):
                self.take()
                joins.add(token[1])
            else:
                joins.add("AND")  # adjacent comparisons
            nodes.append(self.unary())
        if len(joins) > 1:
            raise FilterError(
                "AND and OR are mixed without parentheses; Logging binds OR first, which is rarely "
                "what was meant: parenthesize, e.g. a AND (b OR c)."
            )
        if len(nodes) == 1:
            return nodes[0]
        return Either(tuple(nodes)) if joins == {"OR"} else All(tuple(nodes))

    def unary(self) -> Any:
        token = self.peek()
        if token == ("word", "NOT"):
            self.take()
            return Not(self.unary())
        if token == ("paren", "("):
            self.take()
            node = self.expression()
            if self.take() != ("paren", ")"):
                raise FilterError("A '(' is not closed.")
            return node
        return self.comparison()

    def comparison(self) -> Any:
        kind, field = self.take()
        if kind != "word" or not _FIELD.match(field):
            raise FilterError(
                f'Expected a comparison such as labels.job_uid="...", got {field!r} (the emulator '
                "reads logName, timestamp, severity, insertId, textPayload, resource.* and labels.*)."
            )
        kind, op = self.take()
        if kind != "op":
            raise FilterError(f"Expected an operator after {field}, got {op!r}.")
        values = self.values()
        if op == "=" and len(values) > 1 and field not in ("timestamp", "severity"):
            return AnyOf(field, frozenset(v.lower() for v in values))
        return Comparison(field, op, values)

    def values(self) -> tuple[str, ...]:
        kind, value = self.take()
        if kind in ("string", "word"):
            return (value,)
        if (kind, value) != ("paren", "("):
            raise FilterError(f"Expected a value, got {value!r}.")
        values = [self._value()]
        while (token := self.take()) != ("paren", ")"):
            if token != ("word", "OR"):
                raise FilterError(f"Expected OR or ')' in a list of values, got {token[1]!r}.")
            values.append(self._value())
        return tuple(values)

    def _value(self) -> str:
        kind, value = self.take()
        if kind not in ("string", "word"):
            raise FilterError(f"Expected a value, got {value!r}.")
        return value
