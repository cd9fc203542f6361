"""The job as a whole: its size, its one task group, its priority (J-SIZE, J-TG, J-PRIORITY).

Conditions: :mod:`airflow_batchstream.jobspec.catalog.job`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from airflow_batchstream.jobspec.limits import MAX_JOB_BYTES
from airflow_batchstream.jobspec.problems import Problem
from airflow_batchstream.jobspec.rules._walk import Context, as_int, found


def check_size(context: Context) -> Iterator[Problem]:
    try:  # the job as written: what gcloud or the REST API would send
        size = len(json.dumps(context.raw, separators=(",", ":")).encode("utf-8"))
    except (TypeError, ValueError, UnicodeEncodeError, RecursionError):
        return  # not serializable: the structure check has said why
    if size > MAX_JOB_BYTES:
        yield found(
            "J-SIZE",
            "limit",
            "",
            f"the job is {size:,} bytes of JSON; Batch accepts a job definition of at most 1 MB "
            f"({MAX_JOB_BYTES:,} bytes)",
            "move large data (scripts, environment) to Cloud Storage or Secret Manager",
        )


def check_task_group_count(context: Context) -> Iterator[Problem]:
    groups = context.job.get("taskGroups")
    if groups is None:
        yield found(
            "J-TG",
            "missing",
            "taskGroups",
            "taskGroups is missing",
            "add exactly one task group with a taskSpec",
        )
    elif isinstance(groups, (list, tuple)) and len(groups) != 1:
        yield found(
            "J-TG",
            "count",
            "taskGroups",
            f"the job has {len(groups)} task groups; Batch supports exactly one",
            "use one task group (run several tasks with taskCount, or submit several jobs)",
        )


def check_priority(context: Context) -> Iterator[Problem]:
    priority = as_int(context.job.get("priority"))
    if priority is not None and not 0 <= priority < 100:
        yield found(
            "J-PRIORITY", "range", "priority", f"priority {priority} is outside [0, 100)", "use 0..99"
        )
