"""Scenarios: what happens to each emulated job, decided without touching the job spec.

A scenario is a list of rules; the first rule whose ``match`` fits a job decides its fate, and a
job no rule matches simply succeeds after the default phases. File format (YAML or JSON)::

    phases:                 # defaults for every job, emulated seconds (divided by --speed)
      queued: 2
      scheduled: 2
      assigned: 1
      running: 5
      cancelling: 2
      deleting: 2
    rules:
      - name: flaky            # optional, shown in logs
        match: {image: "*/flaky:*"}          # fnmatch glob on any container imageUri
        preempt_first_attempt: true          # attempt 0 of every task ends with exit code 50001
      - match: {label: "fate=fail"}          # job label key=value
        exit_codes: {"0": 3}                 # task index -> code; "*" = every task
      - match: {command: "retry-me"}         # substring of entrypoint + commands or script text
        exit_codes: {"*": [1, 0]}            # a list gives one code per attempt (last repeats)
        phases: {running: 1}
      - match: {command: "sleep infinity"}
        stay_running: true                   # RUNNING until cancelled, deleted or finish_job()
      - match: {label: "vm=broken"}
        fail_before_running: 50002           # attempt 0 fails in ASSIGNED: SCHEDULED -> FAILED
      - match: {image: "*/gpu-*"}
        stay_queued: true                    # QUEUED (no capacity) until release_job(), cancel, delete
      - match: {command: "noisy"}
        output:                              # what tasks print (Cloud Logging's batch_task_logs)
          "*": ["hello from task {task}"]    # a string is a stdout line; "*" = every task
          "1":                               # task index -> its lines (replaces "*" for it)
            - {stdout: "loading"}
            - {stderr: "boom", attempt: 0}   # printed by attempt 0 only

Without ``output`` every task attempt prints :data:`DEFAULT_OUTPUT`, and an attempt that exits
with a code of its own (not one of Batch's reserved 5000x codes) ends with a stderr line naming it.
``{task}`` and ``{attempt}`` in a line are replaced by the task index and attempt number.

A bare list is accepted as ``rules``. ``exit_code: N`` is short for ``exit_codes: {"*": N}``.
Several keys in one ``match`` must all fit; an empty ``match`` fits every job.

Files are read by :func:`airflow_batchstream.documents.load_document` (size, alias and nesting
limits). A scenario of the wrong shape raises :class:`ScenarioError` naming the place, e.g.
``rules[0].exit_codes["*"]: expected an integer exit code, got 'x'``.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import math
import reprlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from airflow_batchstream.emulator.timeline import INF, PREEMPTED, Attempt

ALL_TASKS = "*"
STDOUT, STDERR = "stdout", "stderr"
#: Batch's reserved exit codes: the VM, not the container, ended the attempt.
RESERVED_LOW, RESERVED_HIGH = 50000, 50006


class ScenarioError(ValueError):
    """A scenario of the wrong shape; the message names where (``rules[0].phases``) and what."""


def _int(value: Any, where: str) -> int:
    """An integer, or its decimal text (JSON object keys are text)."""
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ScenarioError(f"{where}: expected an integer exit code, got {reprlib.repr(value)}")
    return value


def _bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise ScenarioError(f"{where}: expected true or false, got {reprlib.repr(value)}")
    return value


def _mapping(value: Any, where: str) -> Mapping[Any, Any]:
    if not isinstance(value, Mapping):
        raise ScenarioError(f"{where}: expected a mapping, got {reprlib.repr(value)}")
    return value


@dataclass(frozen=True)
class Phases:
    """Phase lengths in emulated seconds (at speed 1 they are wall seconds)."""

    queued: float = 2.0
    scheduled: float = 2.0
    assigned: float = 1.0
    running: float = 5.0
    cancelling: float = 2.0
    deleting: float = 2.0

    def merged(self, overrides: Mapping[str, Any], where: str = "phases") -> Phases:
        """These phases with some replaced; unknown names and negative lengths are errors."""
        known = {f.name for f in dataclasses.fields(self)}
        unknown = set(_mapping(overrides, where)) - known
        if unknown:
            raise ScenarioError(
                f"{where}: unknown phase(s) {sorted(map(str, unknown))}; known: {sorted(known)}"
            )
        for name, value in overrides.items():
            number = value if isinstance(value, (int, float)) and not isinstance(value, bool) else math.nan
            if not 0 <= number < math.inf:
                raise ScenarioError(
                    f"{where}.{name}: expected seconds (a number, 0 or more), got {reprlib.repr(value)}"
                )
        return dataclasses.replace(self, **{name: float(value) for name, value in overrides.items()})


@dataclass(frozen=True)
class JobFacts:
    """What rules can match on, extracted from a job spec by the store."""

    images: tuple[str, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    commands: tuple[str, ...] = ()


@dataclass(frozen=True)
class Match:
    """Which jobs a rule applies to; every given criterion must hold."""

    image: str | None = None
    label: str | None = None
    command: str | None = None

    def matches(self, facts: JobFacts) -> bool:
        if self.image is not None and not any(fnmatch.fnmatchcase(i, self.image) for i in facts.images):
            return False
        if self.label is not None:
            key, sep, value = self.label.partition("=")
            if key not in facts.labels or (sep and facts.labels[key] != value):
                return False
        return self.command is None or any(self.command in c for c in facts.commands)


@dataclass(frozen=True)
class Line:
    """One line a task prints: its stream, its text, and the attempt that prints it (None: every one)."""

    text: str
    stream: str = STDOUT
    attempt: int | None = None

    def render(self, task_index: int, attempt: int) -> str:
        return self.text.replace("{task}", str(task_index)).replace("{attempt}", str(attempt))


#: What every task attempt prints when the scenario says nothing (spread over its RUNNING time).
DEFAULT_OUTPUT = (
    Line("task {task} attempt {attempt}: started"),
    Line("task {task} attempt {attempt}: working"),
)


def _line(value: Any, where: str) -> Line:
    """``"text"`` (stdout), or ``{stdout|stderr: "text", attempt: N}``."""
    if isinstance(value, str):
        return Line(value)
    entry = _mapping(value, where)
    streams = [key for key in (STDOUT, STDERR) if key in entry]
    unknown = set(entry) - {STDOUT, STDERR, "attempt"}
    if len(streams) != 1 or unknown or not isinstance(entry[streams[0]], str):
        raise ScenarioError(
            f"{where}: expected a string, or a mapping with one of 'stdout'/'stderr' (a string) and "
            f"an optional 'attempt', got {reprlib.repr(value)}"
        )
    attempt = entry.get("attempt")
    if attempt is not None and (isinstance(attempt, bool) or not isinstance(attempt, int) or attempt < 0):
        raise ScenarioError(f"{where}.attempt: expected an attempt number (0 or more), got {attempt!r}")
    return Line(entry[streams[0]], streams[0], attempt)


def _normalize_output(output: Mapping[Any, Any], where: str = "output") -> dict[int | str, tuple[Line, ...]]:
    normalized: dict[int | str, tuple[Line, ...]] = {}
    for key, value in _mapping(output, where).items():
        at = f"{where}[{key!r}]"
        index: int | str = ALL_TASKS if key == ALL_TASKS else _task_index(key, f"{at} (a task index or '*')")
        if not isinstance(value, (list, tuple)):
            raise ScenarioError(f"{at}: expected a list of lines, got {reprlib.repr(value)}")
        normalized[index] = tuple(
            v if isinstance(v, Line) else _line(v, f"{at}[{n}]") for n, v in enumerate(value)
        )
    return normalized


def _task_index(value: Any, where: str) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ScenarioError(f"{where}: expected a task index, got {reprlib.repr(value)}")
    return value


@dataclass(frozen=True)
class Rule:
    """One scenario rule: a match and the fate of the jobs it matches."""

    match: Match = Match()
    phases: Mapping[str, float] = field(default_factory=dict)
    exit_codes: Mapping[int | str, int | Sequence[int]] = field(default_factory=dict)
    preempt_first_attempt: bool = False
    stay_running: bool = False
    fail_before_running: int | None = None
    output: Mapping[int | str, Sequence[Line]] | None = None
    stay_queued: bool = False
    name: str | None = None

    def __post_init__(self) -> None:
        Phases().merged(self.phases)  # fail at load time, not at the first matching job
        if self.fail_before_running == 0:
            raise ScenarioError("fail_before_running needs a non-zero exit code (e.g. 50002)")
        object.__setattr__(self, "exit_codes", _normalize_exit_codes(self.exit_codes))
        if self.output is not None:
            object.__setattr__(self, "output", _normalize_output(self.output))


def _normalize_exit_codes(
    codes: Mapping[Any, Any], where: str = "exit_codes"
) -> dict[int | str, tuple[int, ...]]:
    normalized: dict[int | str, tuple[int, ...]] = {}
    for key, value in _mapping(codes, where).items():
        at = f"{where}[{key!r}]"
        index: int | str = ALL_TASKS if key == ALL_TASKS else _int(key, f"{at} (a task index or '*')")
        values = value if isinstance(value, (list, tuple)) else [value]
        sequence = tuple(_int(v, at) for v in values)
        if not sequence:
            raise ScenarioError(f"{at} must not be empty")
        normalized[index] = sequence
    return normalized


@dataclass(frozen=True)
class Fate:
    """The resolved destiny of one job: its phases and how each task attempt ends."""

    phases: Phases = Phases()
    exit_codes: Mapping[int | str, tuple[int, ...]] = field(default_factory=dict)
    preempt_first_attempt: bool = False
    stay_running: bool = False
    fail_before_running: int | None = None
    output: Mapping[int | str, Sequence[Line]] | None = None
    stay_queued: bool = False
    rule: str | None = None

    def lines(self, task_index: int, attempt: int) -> list[Line]:
        """What attempt ``attempt`` of task ``task_index`` prints while it runs, in order."""
        if self.output is None:
            return list(DEFAULT_OUTPUT)
        chosen = self.output.get(task_index, self.output.get(ALL_TASKS, ()))
        return [line for line in chosen if line.attempt in (None, attempt)]

    def last_line(self, exit_code: int) -> Line | None:
        """The line an attempt prints as it exits with ``exit_code``: only the default output has
        one (a VM that Batch lost, reserved codes 50000-50006, prints nothing)."""
        if self.output is not None or RESERVED_LOW <= exit_code <= RESERVED_HIGH:
            return None
        if exit_code == 0:
            return Line("task {task} attempt {attempt}: done")
        return Line(f"task {{task}} attempt {{attempt}}: exiting with code {exit_code}", STDERR)

    def attempt(self, task_index: int, attempt: int) -> Attempt:
        """How attempt ``attempt`` of task ``task_index`` ends."""
        if attempt == 0 and self.fail_before_running is not None:
            return Attempt(0.0, self.fail_before_running, before_running=True)
        if attempt == 0 and self.preempt_first_attempt:
            # A preemption interrupts the work half way, as a Spot VM reclaim would.
            return Attempt(self.phases.running / 2, PREEMPTED)
        if self.stay_running:
            return Attempt(INF, 0)
        codes = self.exit_codes.get(task_index, self.exit_codes.get(ALL_TASKS, (0,)))
        first_attempt_taken = self.fail_before_running is not None or self.preempt_first_attempt
        number = attempt - 1 if first_attempt_taken else attempt
        return Attempt(self.phases.running, codes[min(number, len(codes) - 1)])


@dataclass(frozen=True)
class Scenario:
    """Default phases plus rules; the first matching rule wins."""

    rules: tuple[Rule, ...] = ()
    phases: Phases = Phases()

    def fate_for(self, facts: JobFacts) -> Fate:
        for number, rule in enumerate(self.rules):
            if rule.match.matches(facts):
                return Fate(
                    phases=self.phases.merged(rule.phases),
                    exit_codes=rule.exit_codes,
                    preempt_first_attempt=rule.preempt_first_attempt,
                    stay_running=rule.stay_running,
                    fail_before_running=rule.fail_before_running,
                    output=rule.output,
                    stay_queued=rule.stay_queued,
                    rule=rule.name or f"rule {number}",
                )
        return Fate(phases=self.phases)

    @classmethod
    def from_obj(cls, obj: Mapping[str, Any] | Sequence[Any]) -> Scenario:
        """Build from the parsed file shape (a mapping with ``rules``/``phases``, or a rule list).

        :raises ScenarioError: naming where the shape is wrong.
        """
        if isinstance(obj, Mapping):
            unknown = set(obj) - {"rules", "phases"}
            if unknown:
                raise ScenarioError(
                    f"unknown scenario key(s) {sorted(map(str, unknown))}; expected 'rules', 'phases'"
                )
            rules, phases = obj.get("rules") or [], obj.get("phases") or {}
        elif isinstance(obj, (list, tuple)):
            rules, phases = obj, {}
        else:
            raise ScenarioError(
                "a scenario is a mapping with 'rules' and 'phases', or a list of rules; "
                f"got {reprlib.repr(obj)}"
            )
        if not isinstance(rules, (list, tuple)):
            raise ScenarioError(f"rules: expected a list of rules, got {reprlib.repr(rules)}")
        built = tuple(_rule_from_obj(rule, f"rules[{n}]") for n, rule in enumerate(rules))
        return cls(rules=built, phases=Phases().merged(phases))

    @classmethod
    def from_file(cls, path: str | Path) -> Scenario:
        """Read a YAML or JSON scenario file through the one safe loader.

        :raises DocumentError: unreadable, empty, or over a limit.
        :raises ScenarioError: the wrong shape.
        """
        from airflow_batchstream.documents import load_document

        return cls.from_obj(load_document(path))

    @classmethod
    def coerce(cls, value: Scenario | Mapping[str, Any] | Sequence[Any] | str | Path | None) -> Scenario:
        """Accept a Scenario, its dict/list form, a file path, or None (everything succeeds)."""
        if value is None:
            return cls()
        if isinstance(value, Scenario):
            return value
        if isinstance(value, (str, Path)):
            return cls.from_file(value)
        return cls.from_obj(value)


#: What a rule and its ``match`` may say in a file: the dataclasses' fields, plus ``exit_code``.
_RULE_KEYS = {f.name for f in dataclasses.fields(Rule)} | {"exit_code"}
_MATCH_KEYS = {f.name for f in dataclasses.fields(Match)}


def _rule_from_obj(obj: Rule | Mapping[str, Any], where: str = "rule") -> Rule:
    if isinstance(obj, Rule):
        return obj
    if not isinstance(obj, Mapping):
        raise ScenarioError(f"{where}: a scenario rule must be a mapping, got {reprlib.repr(obj)}")
    unknown = set(obj) - _RULE_KEYS
    if unknown:
        raise ScenarioError(
            f"{where}: unknown rule key(s) {sorted(map(str, unknown))}; known: {sorted(_RULE_KEYS)}"
        )
    match = _mapping(obj.get("match") or {}, f"{where}.match")
    unknown_match = set(match) - _MATCH_KEYS
    if unknown_match:
        raise ScenarioError(
            f"{where}.match: unknown key(s) {sorted(map(str, unknown_match))}; known: {sorted(_MATCH_KEYS)}"
        )
    exit_codes = dict(_mapping(obj.get("exit_codes") or {}, f"{where}.exit_codes"))
    if "exit_code" in obj:
        exit_codes[ALL_TASKS] = obj["exit_code"]
    fail_before_running = obj.get("fail_before_running")
    phases = obj.get("phases") or {}
    Phases().merged(phases, f"{where}.phases")  # here, so that the message names the rule
    return Rule(
        match=Match(**{k: str(v) for k, v in match.items()}),
        phases=dict(phases),
        exit_codes=_normalize_exit_codes(exit_codes, f"{where}.exit_codes"),
        preempt_first_attempt=_bool(
            obj.get("preempt_first_attempt", False), f"{where}.preempt_first_attempt"
        ),
        stay_running=_bool(obj.get("stay_running", False), f"{where}.stay_running"),
        stay_queued=_bool(obj.get("stay_queued", False), f"{where}.stay_queued"),
        fail_before_running=None
        if fail_before_running is None
        else _int(fail_before_running, f"{where}.fail_before_running"),
        output=None if obj.get("output") is None else _normalize_output(obj["output"], f"{where}.output"),
        name=None if obj.get("name") is None else str(obj["name"]),
    )
