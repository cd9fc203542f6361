"""What a condition of the rule catalog is: its certainty, its sources, and the pages several
families of conditions cite."""

from __future__ import annotations

import enum
from typing import Literal, NamedTuple


class Certainty(str, enum.Enum):
    """How well a condition's source settles it."""

    #: A Google documentation page (Batch, Artifact Registry, Resource Manager), or for registry and
    #: Docker rules the OCI or Docker specification, states it.
    DOCUMENTED = "documented"
    #: A field comment of the Batch v1 protos (google/cloud/batch/v1/*.proto, the same text as
    #: google-cloud-batch's ``types``), or protobuf's own JSON mapping of them.
    PROTO = "proto"
    #: Derived; no source states it: only ever a warning or a ValidationPolicy item.
    INFERRED = "inferred"
    #: Not a Batch rule: the validator reporting its own failure.
    INTERNAL = "internal"


class Source(NamedTuple):
    """Where a condition comes from.

    :param where: a URL, or a proto field such as ``job.proto TaskGroup.parallelism``.
    :param quote: the words there that state it, verbatim (a few words elided with ``...``).
    """

    where: str
    quote: str


class Condition(NamedTuple):
    """One thing a rule checks.

    :param rule: the rule id problems carry, e.g. ``TG-PARALLEL``.
    :param name: the condition's name within the rule, e.g. ``in-order``.
    :param checks: what is reported, in a few words.
    :param severity: ``error`` (stops submission), ``warning``, or ``policy`` (the level is the
        :class:`~airflow_batchstream.jobspec.policy.ValidationPolicy` field named by ``policy``).
    :param certainty: how well ``sources`` settle it.
    :param sources: where it comes from.
    :param policy: the ValidationPolicy field that sets the level of a ``policy`` condition.
    :param note: why it has this severity, when the sources alone do not say.
    :param stage: ``validate`` (the job spec) or ``preflight`` (the image, read from its registry).
    """

    rule: str
    name: str
    checks: str
    severity: Literal["error", "warning", "policy"]
    certainty: Certainty
    sources: tuple[Source, ...] = ()
    policy: str | None = None
    note: str = ""
    stage: Literal["validate", "preflight"] = "validate"


def proto(field: str, quote: str) -> Source:
    """A field comment of the Batch v1 protos: ``field`` is e.g. ``job.proto TaskGroup.parallelism``."""
    return Source(f"google/cloud/batch/v1/{field}", quote)


DOC, PROTO, INFER = Certainty.DOCUMENTED, Certainty.PROTO, Certainty.INFERRED

QUOTAS = "https://cloud.google.com/batch/quotas"
QUOTA_ERROR = Source(QUOTAS, "Attempts to exceed a quota or limit return an error.")
STREAMING = "https://cloud.google.com/batch/docs/use-image-streaming"
DISTRIBUTION = "https://github.com/opencontainers/distribution-spec/blob/main/spec.md"
#: The note of a warning whose limit no Google page enforces.
UNSAID = "no Google source says Batch refuses it"
