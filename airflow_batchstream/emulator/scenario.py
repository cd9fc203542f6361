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

A bare list is accepted as ``rules``. ``exit_code: N`` is short for ``exit_codes: {"*": N}``.
Several keys in one ``match`` must all fit; an empty ``match`` fits every job.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from airflow_batchstream.emulator.timeline import INF, PREEMPTED, Attempt

ALL_TASKS = "*"


@dataclass(frozen=True)
class Phases:
    """Phase lengths in emulated seconds (at speed 1 they are wall seconds)."""

    queued: float = 2.0
    scheduled: float = 2.0
    assigned: float = 1.0
    running: float = 5.0
    cancelling: float = 2.0
    deleting: float = 2.0

    def merged(self, overrides: Mapping[str, Any]) -> Phases:
        """These phases with some replaced; unknown names and negative lengths are errors."""
        known = {f.name for f in dataclasses.fields(self)}
        unknown = set(overrides) - known
        if unknown:
            raise ValueError(f"unknown phase(s) {sorted(unknown)}; known: {sorted(known)}")
        values = {name: float(value) for name, value in overrides.items()}
        negative = [name for name, value in values.items() if value < 0]
        if negative:
            raise ValueError(f"phase(s) {negative} must not be negative")
        return dataclasses.replace(self, **values)


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
class Rule:
    """One scenario rule: a match and the fate of the jobs it matches."""

    match: Match = Match()
    phases: Mapping[str, float] = field(default_factory=dict)
    exit_codes: Mapping[int | str, int | Sequence[int]] = field(default_factory=dict)
    preempt_first_attempt: bool = False
    stay_running: bool = False
    fail_before_running: int | None = None
    name: str | None = None

    def __post_init__(self) -> None:
        Phases().merged(self.phases)  # fail at load time, not at the first matching job
        if self.fail_before_running == 0:
            raise ValueError("fail_before_running needs a non-zero exit code (e.g. 50002)")
        object.__setattr__(self, "exit_codes", _normalize_exit_codes(self.exit_codes))


def _normalize_exit_codes(codes: Mapping[Any, Any]) -> dict[int | str, tuple[int, ...]]:
    normalized: dict[int | str, tuple[int, ...]] = {}
    for key, value in codes.items():
        index: int | str = ALL_TASKS if key == ALL_TASKS else int(key)
        sequence = tuple(int(v) for v in value) if isinstance(value, (list, tuple)) else (int(value),)
        if not sequence:
            raise ValueError(f"exit_codes[{key!r}] must not be empty")
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
    rule: str | None = None

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
                    rule=rule.name or f"rule {number}",
                )
        return Fate(phases=self.phases)

    @classmethod
    def from_obj(cls, obj: Mapping[str, Any] | Sequence[Any]) -> Scenario:
        """Build from the parsed file shape (a mapping with ``rules``/``phases``, or a rule list)."""
        if isinstance(obj, Mapping):
            unknown = set(obj) - {"rules", "phases"}
            if unknown:
                raise ValueError(f"unknown scenario key(s) {sorted(unknown)}; expected 'rules', 'phases'")
            rules, phases = obj.get("rules") or [], obj.get("phases") or {}
        else:
            rules, phases = obj, {}
        return cls(rules=tuple(_rule_from_obj(r) for r in rules), phases=Phases().merged(phases))

    @classmethod
    def from_file(cls, path: str | Path) -> Scenario:
        """Read a YAML or JSON scenario file."""
        text = Path(path).read_text(encoding="utf-8")
        if str(path).endswith(".json"):
            return cls.from_obj(json.loads(text))
        import yaml  # only when a YAML file is given

        return cls.from_obj(yaml.safe_load(text) or {})

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


def _rule_from_obj(obj: Rule | Mapping[str, Any]) -> Rule:
    if isinstance(obj, Rule):
        return obj
    if not isinstance(obj, Mapping):
        raise ValueError(f"a scenario rule must be a mapping, got {obj!r}")
    unknown = set(obj) - _RULE_KEYS
    if unknown:
        raise ValueError(f"unknown rule key(s) {sorted(unknown)}; known: {sorted(_RULE_KEYS)}")
    match = obj.get("match") or {}
    unknown_match = set(match) - _MATCH_KEYS
    if unknown_match:
        raise ValueError(f"unknown match key(s) {sorted(unknown_match)}; known: {sorted(_MATCH_KEYS)}")
    exit_codes = dict(obj.get("exit_codes") or {})
    if "exit_code" in obj:
        exit_codes[ALL_TASKS] = obj["exit_code"]
    return Rule(
        match=Match(**{k: str(v) for k, v in match.items()}),
        phases=dict(obj.get("phases") or {}),
        exit_codes=exit_codes,
        preempt_first_attempt=bool(obj.get("preempt_first_attempt", False)),
        stay_running=bool(obj.get("stay_running", False)),
        fail_before_running=int(obj["fail_before_running"])
        if obj.get("fail_before_running") is not None
        else None,
        name=obj.get("name"),
    )
