"""Every condition the checks report, with its severity, its source and how certain that source is.

Each family of rules keeps its conditions in a module of the same name as its checks
(``catalog/labels.py`` beside ``rules/labels.py``; ``catalog/preflight.py`` documents the checks of
:mod:`airflow_batchstream.preflight.checks`), and :data:`CONDITIONS` puts them together in one table: the
one definition of each condition. The validator and the image parser take the severity of every
problem they report from it, and ``scripts/rules_doc.py`` renders it into ``docs/rules.md`` and the
README's rule table (a test keeps both in sync). The policy: a condition
is an error only when Google's documentation or the Batch v1 protos (or, for the image preflight,
the OCI specifications) say so; where nothing settles it, it is a warning or a
:class:`~airflow_batchstream.jobspec.policy.ValidationPolicy` item. Two image-streaming rules are
errors by design (IS-1, IS-3): Batch would run such a job *without* streaming, silently, and
streaming is this provider's contract.
"""

from __future__ import annotations

from airflow_batchstream.jobspec.catalog import (
    gpu,
    job,
    labels,
    placement,
    preflight,
    runnables,
    streaming,
    structure,
    tasks,
)
from airflow_batchstream.jobspec.catalog.model import Certainty, Condition, Source
from airflow_batchstream.jobspec.policy import PolicyLevel, ValidationPolicy
from airflow_batchstream.jobspec.problems import Severity

__all__ = ["CONDITION", "CONDITIONS", "Certainty", "Condition", "Source", "level", "severity"]

#: Every condition, family by family: the order of ``docs/rules.md`` and of the README's table.
CONDITIONS: tuple[Condition, ...] = (
    *structure.CONDITIONS,
    *job.CONDITIONS,
    *tasks.CONDITIONS,
    *runnables.CONDITIONS,
    *placement.CONDITIONS,
    *gpu.CONDITIONS,
    *labels.CONDITIONS,
    *streaming.CONDITIONS,
    *preflight.CONDITIONS,
)
CONDITION: dict[tuple[str, str], Condition] = {(c.rule, c.name): c for c in CONDITIONS}


def severity(rule: str, name: str) -> Severity:
    """The fixed severity of an ``error`` or ``warning`` condition."""
    return Severity(CONDITION[rule, name].severity)


def level(policy: ValidationPolicy, rule: str, name: str) -> PolicyLevel:
    """The level a ``policy`` condition has under ``policy``."""
    return getattr(policy, CONDITION[rule, name].policy or "")
