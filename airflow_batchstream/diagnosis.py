"""Why a Batch job is not a success, in words a DAG author can act on.

The failing task index and exit code, what a reserved exit code (50000-50006) means and what to
do about it, and the last status events. Reads ``google.cloud.batch_v1`` messages by attribute only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from airflow_batchstream.states import Outcome, outcome_of, state_name
from airflow_batchstream.summary import task_counts, timeline, to_epoch

if TYPE_CHECKING:
    from google.cloud.batch_v1 import Job, Task

#: Reserved exit codes (docs/batch-facts.md section 3): meaning, then what to do about it.
RESERVED_EXIT_CODES: Mapping[int, tuple[str, str]] = {
    50000: (
        "the task failed for a reason Batch does not classify",
        "read the task's status events and logs",
    ),
    50001: (
        "the Spot/preemptible VM was preempted",
        "set max_retries > 0 (Batch then retries 50001-50004 and 50006) or run on standard VMs (spot=False)",
    ),
    50002: (
        "Batch stopped receiving updates from the VM (VM reporting timeout)",
        "set max_retries > 0 so that Batch retries it; if it repeats, check the VM's network and quota",
    ),
    50003: (
        "the VM was rebooted while the task ran",
        "set max_retries > 0 so that Batch retries it",
    ),
    50004: (
        "the VM and task became unresponsive",
        "set max_retries > 0 so that Batch retries it; check memory pressure (memory_mib) if it repeats",
    ),
    50005: (
        "the task ran longer than its maximum run duration",
        "raise max_run_duration or make the task faster; retrying will not help",
    ),
    50006: (
        "the VM was recreated while the task ran",
        "set max_retries > 0 so that Batch retries it",
    ),
}

_TASK_INDEX = re.compile(r"task(?:\s+with)?\s+index\s+(?P<index>\d+)", re.IGNORECASE)
_EXIT_CODE = re.compile(r"exit code (?P<code>-?\d+)", re.IGNORECASE)
_TASK_NAME_INDEX = re.compile(r"/tasks/(?P<index>\d+)$")
_LAST_EVENTS = 4


def explain_exit_code(code: int) -> str:
    """``exit code 50001 (reserved by Batch): the Spot/preemptible VM was preempted; what to do: ...``."""
    if code in RESERVED_EXIT_CODES:
        meaning, advice = RESERVED_EXIT_CODES[code]
        return f"exit code {code} (reserved by Batch): {meaning}; what to do: {advice}"
    return f"exit code {code}: returned by the container itself; see the task's logs"


def _failed_task_facts(job: Job, tasks: Iterable[Task]) -> list[tuple[int | None, int | None, str]]:
    """(task index, exit code, source text) for each failure we can find, tasks first."""
    facts: list[tuple[int | None, int | None, str]] = []
    for task in tasks:
        index_match = _TASK_NAME_INDEX.search(task.name)
        index = int(index_match.group("index")) if index_match else None
        for event in reversed(list(task.status.status_events)):
            code = event.task_execution.exit_code if event.task_execution else 0
            if code or state_name(event.task_state) == "FAILED":
                facts.append((index, code or _parse_int(_EXIT_CODE, event.description), event.description))
                break
    for event in reversed(list(job.status.status_events)):
        text = event.description or ""
        code = _parse_int(_EXIT_CODE, text)
        if code is None and event.task_execution and event.task_execution.exit_code:
            code = event.task_execution.exit_code
        if code is not None and code != 0:
            facts.append((_parse_int(_TASK_INDEX, text), code, text))
    return facts


def _parse_int(pattern: re.Pattern[str], text: str) -> int | None:
    match = pattern.search(text or "")
    return int(match.group(1)) if match else None


def _last_events(job: Job) -> list[str]:
    events = sorted(job.status.status_events, key=lambda e: to_epoch(e.event_time) or 0.0)
    return [f"{_iso(e.event_time)} {e.type_ or 'EVENT'}: {e.description}" for e in events[-_LAST_EVENTS:]]


def _iso(value: Any) -> str:
    stamp = to_epoch(value)
    if stamp is None:
        return "-"
    return datetime.fromtimestamp(stamp, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _queued_advice(job: Job) -> str:
    """How long a job has waited in QUEUED, and what makes Batch find VMs for it sooner."""
    queued = timeline(job).get("queued", 0.0)
    return (
        f"It has been QUEUED for {queued:.0f} s: Batch keeps a job queued until it can get its VMs "
        "(capacity, quota), and fails it after 2 days queued. GPUs are the usual shortage: allow more "
        "zones (allowed_locations), use provisioning_model='FLEX_START' (it waits for capacity by design) "
        "or a reservation, or choose another accelerator type."
    )


def diagnose(job: Job | None, *, job_name: str = "", tasks: Iterable[Task] = ()) -> str:
    """Why a job is not a success.

    Names the failing task index and exit code, what a reserved exit code (50001-50006) means and
    what to do, and the last few status events. ``tasks`` are optional Task protos (failed ones)
    that give exact per-task exit codes when the job's own events do not.
    """
    outcome = outcome_of(job)
    if job is None:
        return (
            f"Batch job {job_name or '(unknown)'} was not found: it was deleted (Batch deletes jobs 60 "
            "days after they end) or never created."
        )
    lines = [f"Batch job {job.name} is {state_name(job.status.state)} ({outcome.value})."]
    counts = task_counts(job)
    if counts:
        lines.append("Task counts: " + ", ".join(f"{k}={v}" for k, v in sorted(counts.items())) + ".")
    if outcome is Outcome.FAILED:
        facts = _failed_task_facts(job, tasks)
        if facts:
            index, code, _text = facts[0]
            where = f"Task index {index}" if index is not None else "A task"
            lines.append(
                f"{where} failed with {explain_exit_code(code)}." if code is not None else f"{where} failed."
            )
        else:
            lines.append("No failing task was reported; see the status events below.")
    elif outcome is Outcome.CANCELLED:
        lines.append("The job was cancelled (by a user, an API call or a killed Airflow task).")
    elif outcome is Outcome.DELETED:
        lines.append("The job is being deleted; its results cannot be awaited.")
    elif state_name(job.status.state) == "QUEUED":
        lines.append(_queued_advice(job))
    events = _last_events(job)
    if events:
        lines.append("Last status events:")
        lines.extend(f"  {line}" for line in events)
    return "\n".join(lines)
