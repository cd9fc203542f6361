"""Why a Batch job is not a success, in words a DAG author can act on.

The failing task index and exit code, what a reserved exit code (50000-50006) means and what to
do about it, and the last status events. Reads ``google.cloud.batch_v1`` messages by attribute only.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from airflow_batchstream.states import Outcome, outcome_of, outcome_of_state, state_name
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
#: Longest status event a diagnosis quotes (they travel in the trigger's event).
_EVENT_CHARS = 600


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
    return [
        _clip(f"{_iso(e.event_time)} {e.type_ or 'EVENT'}: {e.description}") for e in events[-_LAST_EVENTS:]
    ]


def _clip(text: str) -> str:
    return text if len(text) <= _EVENT_CHARS else text[: _EVENT_CHARS - 1] + "…"


def _iso(value: Any) -> str:
    stamp = to_epoch(value)
    if stamp is None:
        return "-"
    return datetime.fromtimestamp(stamp, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _queued_advice(queued: float) -> str:
    """How long a job has waited in QUEUED, and what makes Batch find VMs for it sooner."""
    return (
        f"It has been QUEUED for {queued:.0f} s: Batch keeps a job queued until it can get its VMs "
        "(capacity, quota), and fails it after 2 days queued. GPUs are the usual shortage: allow more "
        "zones (allowed_locations), use provisioning_model='FLEX_START' (it waits for capacity by design) "
        "or a reservation, or choose another accelerator type."
    )


def failure_facts(
    job: Job | None,
    *,
    job_name: str = "",
    tasks: Iterable[Task] = (),
    last_lines: Callable[[int | None], list[str]] | None = None,
) -> dict[str, Any]:
    """What a diagnosis says, as plain data: small enough for a trigger event, whose payload Airflow
    prints whole ("Trigger fired event"), and turned into words once, by :func:`describe`, in the task.

    :param tasks: optional FAILED Task protos, which give exact per-task exit codes when the job's
        own events do not.
    :param last_lines: the last lines a task printed, by task index (the forwarded task log).
    """
    if job is None:
        return {"job_name": job_name, "state": "NOT_FOUND"}
    facts: dict[str, Any] = {
        "job_name": job.name,
        "state": state_name(job.status.state),
        "counts": task_counts(job),
        "events": _last_events(job),
    }
    if facts["state"] == "QUEUED":
        facts["queued_seconds"] = timeline(job).get("queued", 0.0)
    if outcome_of(job) is Outcome.FAILED:
        found = _failed_task_facts(job, tasks)
        facts["failure"] = [found[0][0], found[0][1]] if found else None
        index = found[0][0] if found else None
        lines = last_lines(index) if last_lines is not None else []
        if lines:
            facts["last_lines"] = lines
    return facts


def describe(facts: Mapping[str, Any]) -> str:
    """Why a job is not a success, in words: from :func:`failure_facts`.

    Names the failing task index and exit code, what a reserved exit code (50001-50006) means and
    what to do, the last few status events, and the last lines the failing task printed.
    """
    job_name = facts.get("job_name") or "(unknown)"
    if facts.get("state") == "NOT_FOUND":
        return (
            f"Batch job {job_name} was not found: it was deleted (Batch deletes jobs 60 "
            "days after they end) or never created."
        )
    state = facts.get("state", "STATE_UNSPECIFIED")
    outcome = outcome_of_state(state)
    lines = [f"Batch job {job_name} is {state} ({outcome.value})."]
    counts = facts.get("counts") or {}
    if counts:
        lines.append("Task counts: " + ", ".join(f"{k}={v}" for k, v in sorted(counts.items())) + ".")
    if outcome is Outcome.FAILED:
        failure = facts.get("failure")
        if failure:
            index, code = failure
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
    elif state == "QUEUED":
        lines.append(_queued_advice(facts.get("queued_seconds", 0.0)))
    events = facts.get("events") or []
    if events:
        lines.append("Last status events:")
        lines.extend(f"  {line}" for line in events)
    printed = facts.get("last_lines") or []
    if printed:
        failure = facts.get("failure") or [None, None]
        who = f"task {failure[0]}" if failure[0] is not None else "the failing task"
        lines.append(f"Last lines {who} printed:")
        lines.extend(f"  {line}" for line in printed)
    return "\n".join(lines)


def diagnose(job: Job | None, *, job_name: str = "", tasks: Iterable[Task] = ()) -> str:
    """Why a job is not a success, in words (:func:`describe` of :func:`failure_facts`)."""
    return describe(failure_facts(job, job_name=job_name, tasks=tasks))
