"""Deterministic Batch job ids and labels for Airflow task instances.

One job per Airflow try, never two (docs/design.md): the job id is a pure function of
``(dag_id, task_id, run_id, map_index, try_number)``, so a retried CreateJob, a worker that
restarts, or a second scheduler heartbeat all name the same job. Every try of one task instance
shares a *lineage* hash, stored as a label, so a try that adopts an earlier try's job (see
:mod:`airflow_batchstream.ownership`) can check the job belongs to its task instance.

Pure standard library: safe at DAG-parse time.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

MANAGED_BY_KEY = "managed-by"
MANAGED_BY_VALUE = "airflow-batchstream"
DAG_KEY = "airflow-dag"
TASK_KEY = "airflow-task"
RUN_KEY = "airflow-run"
MAP_INDEX_KEY = "airflow-map-index"
TRY_KEY = "airflow-try"
#: Hash of (dag, task, run, map index): equal for every try of one task instance. It makes the
#: sanitized (lossy, truncated) dag/task/run labels unambiguous.
LINEAGE_KEY = "batchstream-lineage"

#: Label keys this module owns; user labels may not set them.
RESERVED_LABEL_KEYS = frozenset(
    {MANAGED_BY_KEY, DAG_KEY, TASK_KEY, RUN_KEY, MAP_INDEX_KEY, TRY_KEY, LINEAGE_KEY}
)

_NAMESPACE = uuid.UUID("5b0c1f3e-8f55-5a55-9a11-ba7c857e2a0d")
_LINEAGE_HEX = 10  # 40 bits: a collision needs ~1M task instances sharing a readable prefix
_MAX_JOB_ID = 63


@dataclass(frozen=True)
class TaskInstanceIdentity:
    """Who a job belongs to: one try of one (possibly mapped) task instance."""

    dag_id: str
    task_id: str
    run_id: str
    map_index: int = -1
    try_number: int = 1

    @classmethod
    def from_context(cls, context: Mapping) -> TaskInstanceIdentity:
        ti = context["ti"]
        map_index = getattr(ti, "map_index", -1)
        return cls(
            dag_id=ti.dag_id,
            task_id=ti.task_id,
            run_id=ti.run_id,
            map_index=-1 if map_index is None else int(map_index),
            try_number=int(getattr(ti, "try_number", 1) or 1),
        )

    @property
    def lineage(self) -> str:
        return lineage_hash(self.dag_id, self.task_id, self.run_id, self.map_index)

    @property
    def job_id(self) -> str:
        return job_id_for(self.dag_id, self.task_id, self.run_id, self.map_index, self.try_number)

    def labels(self) -> dict[str, str]:
        return job_labels(self.dag_id, self.task_id, self.run_id, self.map_index, self.try_number)


def lineage_hash(dag_id: str, task_id: str, run_id: str, map_index: int = -1) -> str:
    """Short hex hash shared by all tries of one task instance."""
    key = "\x1f".join((dag_id, task_id, run_id, str(int(map_index))))
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:_LINEAGE_HEX]


def _readable(text: str) -> str:
    """Lowercase, ``[a-z0-9-]`` only, dashes collapsed and trimmed."""
    text = re.sub(r"[^a-z0-9]+", "-", text.lower())
    return text.strip("-")


def lineage_prefix(dag_id: str, task_id: str, run_id: str, map_index: int = -1) -> str:
    """``<readable dag-task>-<lineage hash>``: the part of the job id every try shares."""
    digest = lineage_hash(dag_id, task_id, run_id, map_index)
    # Leave room for "-t" + a 4-digit try number; a longer try number shortens the readable part.
    room = _MAX_JOB_ID - len(digest) - 1 - 6
    readable = _readable(f"{dag_id}-{task_id}")[:room].strip("-")
    if not readable or not readable[0].isalpha():
        readable = ("af-" + readable)[:room].strip("-")
    return f"{readable}-{digest}"


def job_id_for(dag_id: str, task_id: str, run_id: str, map_index: int = -1, try_number: int = 1) -> str:
    """The deterministic Batch job id of one try of one task instance.

    ``<readable dag-task prefix>-<10-hex hash of (dag, task, run, map index)>-t<try>``: the prefix
    makes it recognisable in the console, the hash makes it unique per task instance, the suffix
    per try. Always matches ``^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$``.
    """
    suffix = f"-t{int(try_number)}"
    prefix = lineage_prefix(dag_id, task_id, run_id, map_index)
    if len(prefix) + len(suffix) > _MAX_JOB_ID:
        readable, digest = prefix.rsplit("-", 1)
        readable = readable[: _MAX_JOB_ID - len(suffix) - len(digest) - 1].strip("-") or "af"
        prefix = f"{readable}-{digest}"
    return prefix + suffix


def sanitize_label_value(value: object) -> str:
    """Lowercase and map anything outside ``[a-z0-9_-]`` to ``-``, at most 63 characters."""
    return re.sub(r"[^a-z0-9_-]", "-", str(value).lower())[:63]


def sanitize_label_key(key: str) -> str:
    """As :func:`sanitize_label_value`, and keys must start with a letter."""
    key = sanitize_label_value(key)
    if not key or not key[0].isalpha():
        key = ("k" + key)[:63]
    return key


def job_labels(
    dag_id: str, task_id: str, run_id: str, map_index: int = -1, try_number: int = 1
) -> dict[str, str]:
    """The labels that record which task instance and try a job belongs to."""
    return {
        MANAGED_BY_KEY: MANAGED_BY_VALUE,
        DAG_KEY: sanitize_label_value(dag_id),
        TASK_KEY: sanitize_label_value(task_id),
        RUN_KEY: sanitize_label_value(run_id),
        MAP_INDEX_KEY: sanitize_label_value(int(map_index)),
        TRY_KEY: sanitize_label_value(int(try_number)),
        LINEAGE_KEY: lineage_hash(dag_id, task_id, run_id, map_index),
    }


def belongs_to(labels: Mapping[str, str], identity: TaskInstanceIdentity, *, same_try: bool = True) -> bool:
    """Whether a job's labels say it was made for ``identity`` (and, by default, the same try)."""
    wanted = identity.labels()
    keys = set(wanted) - ({TRY_KEY} if not same_try else set())
    return all(labels.get(key) == wanted[key] for key in keys)


def try_of(labels: Mapping[str, str]) -> int:
    try:
        return int(labels.get(TRY_KEY, "0"))
    except ValueError:
        return 0


def merge_labels(user_labels: Mapping[str, str] | None, identity_labels: Mapping[str, str]) -> dict[str, str]:
    """User labels plus ours; ours win, because re-attachment and adoption depend on them."""
    merged = {k: v for k, v in (user_labels or {}).items() if k not in RESERVED_LABEL_KEYS}
    merged.update(identity_labels)
    return merged


def request_id_for(resource_name: str, verb: str = "create") -> str:
    """A deterministic ``request_id``, so a retried mutation is deduplicated.

    Shaped as a version-4 UUID (RFC 4122 variant), never the zero UUID: Batch's CancelJobRequest
    declares ``request_id`` with ``(google.api.field_info).format = UUID4``, and CreateJob and
    DeleteJob ask for "a valid UUID". A random UUID4 would defeat deduplication, so its 122 free
    bits come from a hash of the verb and the resource name instead.
    """
    digest = hashlib.sha256(f"{_NAMESPACE}:{verb}:{resource_name}".encode()).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))
