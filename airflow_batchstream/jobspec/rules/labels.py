"""Labels on the job, its runnables and its VMs: how many, their characters, and the keys Batch
keeps for itself (L-1 .. L-4).

Conditions: :mod:`airflow_batchstream.jobspec.catalog.labels`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator

from airflow_batchstream.jobspec.limits import (
    DYNAMIC_WORKLOAD_SCHEDULER_LABEL,
    MAX_JOB_LABELS,
    MAX_VM_LABELS,
    PREDEFINED_JOB_LABELS,
    PREDEFINED_VM_LABELS,
    RESERVED_LABEL_PREFIXES,
)
from airflow_batchstream.jobspec.problems import Problem
from airflow_batchstream.jobspec.rules._walk import Context, as_dict, found, key_path

ASCII_LABEL_KEY_RE = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
ASCII_LABEL_VALUE_RE = re.compile(r"^[a-z0-9_-]{0,63}$")


def check_vm_label_count(context: Context) -> Iterator[Problem]:
    labels = as_dict(as_dict(context.job.get("allocationPolicy")).get("labels"))
    if len(labels) > MAX_VM_LABELS:
        yield found(
            "L-1",
            "vm-limit",
            "allocationPolicy.labels",
            f"{len(labels)} custom labels for each VM, disk and GPU; Batch allows {MAX_VM_LABELS} "
            f"(64 per resource, {len(PREDEFINED_VM_LABELS)} of them its own)",
            f"keep at most {MAX_VM_LABELS} allocationPolicy labels",
        )


def check_job_label_count(context: Context) -> Iterator[Problem]:
    job = set(as_dict(context.job.get("labels")))
    runnables = [
        (f"{path}.labels", set(as_dict(runnable.get("labels")))) for path, runnable in context.runnables
    ]
    over = [
        (path, keys) for path, keys in [("labels", set()), *runnables] if len(job | keys) > MAX_JOB_LABELS
    ]
    for path, keys in over:
        own = f" + {len(keys - job)} on this runnable" if path != "labels" else ""
        yield found(
            "L-4",
            "job-limit",
            path,
            f"{len(job | keys)} custom labels ({len(job)} on the job{own}); Batch allows "
            f"{MAX_JOB_LABELS} on the job and its runnables (64 per resource, 1 of them its own)",
            f"keep at most {MAX_JOB_LABELS} distinct labels across the job and each runnable",
        )
    total = job.union(*(keys for _, keys in runnables))
    if not over and len(total) > MAX_JOB_LABELS:
        yield found(
            "L-4",
            "summed",
            "labels",
            f"{len(total)} distinct custom labels on the job and all its runnables together; Batch "
            f"allows {MAX_JOB_LABELS} 'on the job and its runnables', which may count them together",
            f"keep at most {MAX_JOB_LABELS} distinct labels across the job and all runnables to be safe",
        )


_LABEL_CATEGORIES = frozenset({"Ll", "Lo", "Nd", "Nl", "No"})


def _unicode_label_ok(text: str, *, key: bool) -> bool:
    """Google's ``[\\p{Ll}\\p{Lo}\\p{N}_-]`` with stdlib ``unicodedata``; a key starts with a letter."""
    if key and (not text or unicodedata.category(text[0]) not in ("Ll", "Lo")):
        return False
    return all(char in "_-" or unicodedata.category(char) in _LABEL_CATEGORIES for char in text)


def _label_ok(text: str, *, key: bool, charset: str) -> bool:
    if len(text) > 63 or len(text.encode("utf-8", "surrogatepass")) > 128:
        return False
    if charset == "ascii":
        return bool((ASCII_LABEL_KEY_RE if key else ASCII_LABEL_VALUE_RE).match(text))
    return _unicode_label_ok(text, key=key)


def check_label_syntax(context: Context) -> Iterator[Problem]:
    charset = context.policy.label_charset
    for path, labels, _ in context.label_maps:
        for key, value in labels.items():
            where = key_path(path, key)
            if isinstance(key, str) and not _label_ok(key, key=True, charset=charset):
                yield found(
                    "L-2",
                    "syntax",
                    where,
                    f"label key {key!r} is invalid: 1-63 lowercase letters, digits, '_' or '-', "
                    "starting with a letter",
                    f"use e.g. {_label_example(key, key=True)!r}",
                )
            if isinstance(value, str) and not _label_ok(value, key=False, charset=charset):
                yield found(
                    "L-2",
                    "syntax",
                    where,
                    f"label value {value!r} is invalid: at most 63 lowercase letters, digits, '_' or '-'",
                    f"use e.g. {_label_example(value, key=False)!r}",
                )


def _label_example(text: str, *, key: bool) -> str:
    cleaned = re.sub(r"[^a-z0-9_-]+", "-", text.lower()).strip("-")[:63]
    for prefix in RESERVED_LABEL_PREFIXES if key else ():
        cleaned = cleaned.removeprefix(prefix)
    if key and not cleaned[:1].isalpha():
        cleaned = ("k-" + cleaned)[:63]
    return cleaned


_PREDEFINED_LABELS = {
    "job": PREDEFINED_JOB_LABELS,
    "runnable": PREDEFINED_JOB_LABELS,
    "vm": PREDEFINED_VM_LABELS,
}


def check_reserved_labels(context: Context) -> Iterator[Problem]:
    for path, labels, resource in context.label_maps:
        for key in labels:
            if not isinstance(key, str):
                continue
            if key in _PREDEFINED_LABELS[resource]:
                yield found(
                    "L-3",
                    "predefined",
                    key_path(path, key),
                    f"label {key!r} is one of Batch's predefined labels, which custom labels cannot override",
                    f"rename it, e.g. {'my-' + key.removeprefix('batch-')!r}",
                )
            elif key.startswith(RESERVED_LABEL_PREFIXES) and not (
                resource == "job" and key == DYNAMIC_WORKLOAD_SCHEDULER_LABEL
            ):
                yield found(
                    "L-3",
                    "reserved-prefix",
                    key_path(path, key),
                    f"label key {key!r} uses a prefix reserved for Batch's predefined labels "
                    "(goog-, google-)",
                    "rename the label without the goog-/google- prefix",
                )
