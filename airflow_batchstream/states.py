"""The one place that says what a Batch job state means, and why a job failed.

Every waiter (the operator's worker loop, the sensor's poke, the trigger) classifies a job through
:func:`outcome_of`, builds its XCom through :func:`summarize`, its failure text through
:func:`diagnose` and its trigger payload through :func:`event_payload`; the operator and sensor
turn a payload back into a result or an exception through :func:`result_from_payload`. "Done" is
therefore defined exactly once (the Google and Amazon providers each define it twice, and their
copies drifted: the Google one treats CANCELLED as still running).

Nothing here imports ``google.*``: it reads a ``google.cloud.batch_v1.Job`` by attribute only, so
the module stays cheap for DAG parsing and for unit tests.
"""

from __future__ import annotations

import enum
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from airflow_batchstream.exceptions import (
    BatchApiError,
    CredentialsRefused,
    JobCancelled,
    JobDeleted,
    JobFailed,
    JobTimedOut,
)

if TYPE_CHECKING:
    from google.cloud.batch_v1 import Job, Task


class Outcome(str, enum.Enum):
    """Where a job stands, from the waiter's point of view."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    DELETED = "deleted"
    NOT_FOUND = "not_found"

    @property
    def is_terminal(self) -> bool:
        return self is not Outcome.RUNNING

    @property
    def is_success(self) -> bool:
        return self is Outcome.SUCCEEDED


#: JobStatus.State name -> outcome. CANCELLATION_IN_PROGRESS is deliberately *running*: the job may
#: still be burning VMs, and it is never success. Unknown or unspecified states are running too
#: (a newer server may add states; waiting is the safe reading).
_JOB_STATES: Mapping[str, Outcome] = {
    "STATE_UNSPECIFIED": Outcome.RUNNING,
    "QUEUED": Outcome.RUNNING,
    "SCHEDULED": Outcome.RUNNING,
    "RUNNING": Outcome.RUNNING,
    "CANCELLATION_IN_PROGRESS": Outcome.RUNNING,
    "SUCCEEDED": Outcome.SUCCEEDED,
    "FAILED": Outcome.FAILED,
    "CANCELLED": Outcome.CANCELLED,
    "DELETION_IN_PROGRESS": Outcome.DELETED,
}

#: Reserved exit codes (batch-rules.md section 3): meaning, then what to do about it.
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

_TRANSITION = re.compile(r"from (?P<old>[A-Z_]+) to (?P<new>[A-Z_]+)")
_TASK_INDEX = re.compile(r"task(?:\s+with)?\s+index\s+(?P<index>\d+)", re.IGNORECASE)
_EXIT_CODE = re.compile(r"exit code (?P<code>-?\d+)", re.IGNORECASE)
_TASK_NAME_INDEX = re.compile(r"/tasks/(?P<index>\d+)$")
_JOB_NAME = re.compile(r"^projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)/jobs/(?P<job_id>[^/]+)$")
_LAST_EVENTS = 4


def state_name(state: Any) -> str:
    """The enum name of a Batch state (``JobStatus.State``/``TaskStatus.State``, int or str)."""
    if isinstance(state, str):
        return state
    name = getattr(state, "name", None)
    return name if isinstance(name, str) else str(state)


def outcome_of_state(state: Any) -> Outcome:
    return _JOB_STATES.get(state_name(state), Outcome.RUNNING)


def outcome_of(job: Job | None) -> Outcome:
    """Classify a job; ``None`` means GetJob said NOT_FOUND (deleted, or never created)."""
    if job is None:
        return Outcome.NOT_FOUND
    return outcome_of_state(job.status.state)


def is_terminal(job_or_state: Any) -> bool:
    return _outcome(job_or_state).is_terminal


def is_success(job_or_state: Any) -> bool:
    return _outcome(job_or_state).is_success


def _outcome(job_or_state: Any) -> Outcome:
    if isinstance(job_or_state, Outcome):
        return job_or_state
    if job_or_state is None or hasattr(job_or_state, "status"):
        return outcome_of(job_or_state)
    return outcome_of_state(job_or_state)


def parse_job_name(name: str) -> dict[str, str]:
    """``projects/P/locations/L/jobs/J`` -> ``{"project": P, "location": L, "job_id": J}`` (or {})."""
    match = _JOB_NAME.match(name or "")
    return match.groupdict() if match else {}


def console_url(job_name: str) -> str:
    parts = parse_job_name(job_name)
    if not parts:
        return ""
    return (
        "https://console.cloud.google.com/batch/jobsDetail/regions/{location}/jobs/{job_id}/details"
        "?project={project}".format(**parts)
    )


def logs_url(job_name: str, uid: str) -> str:
    from urllib.parse import quote

    parts = parse_job_name(job_name)
    if not parts or not uid:
        return ""
    query = quote(f'labels.job_uid="{uid}"', safe="")
    return f"https://console.cloud.google.com/logs/query;query={query}?project={parts['project']}"


# ----------------------------------------------------------------------------- summary


def task_counts(job: Job) -> dict[str, int]:
    """Task-state name -> count, summed over task groups (there is one today)."""
    counts: dict[str, int] = {}
    for group in job.status.task_groups.values():
        for state, count in group.counts.items():
            counts[state] = counts.get(state, 0) + int(count)
    return counts


def to_epoch(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.timestamp()
    seconds = getattr(value, "seconds", None)  # a raw protobuf Timestamp
    if seconds is not None:
        return seconds + getattr(value, "nanos", 0) / 1e9
    return None


def transitions(job: Job) -> list[tuple[float, str]]:
    """(epoch seconds, new job state) from the job's STATUS_CHANGED events, oldest first."""
    found: list[tuple[float, str]] = []
    for event in job.status.status_events:
        match = _TRANSITION.search(event.description or "")
        when = to_epoch(event.event_time)
        if match and when is not None and not _is_task_event(event):
            found.append((when, match.group("new")))
    return sorted(found)


def _is_task_event(event: Any) -> bool:
    return state_name(event.task_state) not in ("STATE_UNSPECIFIED", "0") or bool(
        (event.description or "").lower().startswith("task ")
    )


def timeline(job: Job, *, now: float | None = None) -> dict[str, float]:
    """Seconds spent queued, scheduled and running (and in total), from the status events.

    A state still in progress counts up to ``now``; a finished job counts up to its last event.
    """
    created = to_epoch(job.create_time)
    steps = transitions(job)
    if created is not None and (not steps or steps[0][0] >= created):
        steps.insert(0, (created, "QUEUED"))
    if not steps:
        return {}
    end = steps[-1][0] if outcome_of(job).is_terminal else (now if now is not None else time.time())
    spent: dict[str, float] = {}
    for (start, state), (stop, _next) in zip(steps, [*steps[1:], (end, "")], strict=True):
        key = state.lower()
        if key in ("queued", "scheduled", "running"):
            spent[key] = round(spent.get(key, 0.0) + max(0.0, stop - start), 3)
    spent["total"] = round(max(0.0, end - steps[0][0]), 3)
    return spent


def image_digest(job: Job) -> str:
    """The ``sha256:...`` digest the job pins its (first) container image to, if it does."""
    for group in job.task_groups:
        for runnable in group.task_spec.runnables:
            uri = runnable.container.image_uri
            if "@sha256:" in uri:
                return uri.split("@", 1)[1]
    return ""


def summarize(job: Job, *, image_digest_hint: str = "") -> dict[str, Any]:
    """The compact XCom of a job: never the whole proto (DESIGN.md "Compact XCom")."""
    parts = parse_job_name(job.name)
    return {
        "job_name": job.name,
        "job_id": parts.get("job_id", ""),
        "project": parts.get("project", ""),
        "location": parts.get("location", ""),
        "uid": job.uid,
        "state": state_name(job.status.state),
        "outcome": outcome_of(job).value,
        "task_counts": task_counts(job),
        "timeline": timeline(job),
        "console_url": console_url(job.name),
        "logs_url": logs_url(job.name, job.uid),
        "image_digest": image_digest(job) or image_digest_hint,
    }


def missing_summary(job_name: str) -> dict[str, Any]:
    parts = parse_job_name(job_name)
    return {
        "job_name": job_name,
        "job_id": parts.get("job_id", ""),
        "project": parts.get("project", ""),
        "location": parts.get("location", ""),
        "uid": "",
        "state": "NOT_FOUND",
        "outcome": Outcome.NOT_FOUND.value,
        "task_counts": {},
        "timeline": {},
        "console_url": console_url(job_name),
        "logs_url": "",
        "image_digest": "",
    }


# ----------------------------------------------------------------------------- diagnosis


def explain_exit_code(code: int) -> str:
    """``exit code 50001: the Spot/preemptible VM was preempted; retry it: ...``."""
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


def diagnose(job: Job | None, *, job_name: str = "", tasks: Iterable[Task] = ()) -> str:
    """Why a job is not a success, in words a DAG author can act on.

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
    events = _last_events(job)
    if events:
        lines.append("Last status events:")
        lines.extend(f"  {line}" for line in events)
    return "\n".join(lines)


# ----------------------------------------------------------------------------- waiting


#: While a job's state and task counts do not change, the delay between checks grows with the time
#: the job has spent unchanged (``LAG_FRACTION`` of it), from ``poll_interval`` up to this multiple
#: of it. So the end of a job is noticed at most ~10% of its time-in-state late (and never later
#: than ``poll_interval`` for a job that changed within the last ``10 * poll_interval``), while a
#: job that sits RUNNING for hours is read up to 4x less often. ``max_poll_interval`` overrides
#: the cap (``poll_interval`` itself turns the backoff off).
DEFAULT_CAP_FACTOR = 4.0
LAG_FRACTION = 0.1


class PollBackoff:
    """Poll delays for one wait: ``poll_interval``, growing while nothing changes.

    The delay is ``LAG_FRACTION`` of the time since the last change, clamped to
    ``[poll_interval, cap_factor * poll_interval]``, and never runs past the deadline, so the wait
    wakes up in time to report a timeout. Shared by the worker loop and the trigger.
    """

    def __init__(
        self,
        poll_interval: float,
        *,
        deadline: float | None = None,
        cap_factor: float = DEFAULT_CAP_FACTOR,
        lag_fraction: float = LAG_FRACTION,
    ):
        self.poll_interval = max(0.01, float(poll_interval))
        self.deadline = deadline
        self.cap = self.poll_interval * max(1.0, cap_factor)
        self.lag_fraction = lag_fraction
        self._changed_at: float | None = None
        self._delay = self.poll_interval
        self._last: Any = object()

    def observe(self, fingerprint: Any, now: float | None = None) -> None:
        """Record what was seen; the longer it stays the same, the longer the next delay."""
        now = time.time() if now is None else now
        if fingerprint != self._last or self._changed_at is None:
            self._changed_at = now
            self._last = fingerprint
        unchanged_for = now - self._changed_at
        self._delay = min(self.cap, max(self.poll_interval, self.lag_fraction * unchanged_for))

    def next_delay(self, now: float | None = None) -> float:
        if self.deadline is None:
            return self._delay
        remaining = self.deadline - (time.time() if now is None else now)
        return max(0.0, min(self._delay, remaining))

    def expired(self, now: float | None = None) -> bool:
        return self.deadline is not None and (time.time() if now is None else now) >= self.deadline


@dataclass(frozen=True)
class Step:
    """What a waiter does next: ``finish`` (terminal), ``timeout`` (deadline passed) or ``sleep``."""

    action: str
    outcome: Outcome
    delay: float = 0.0


class Waiter:
    """The waiting rules without the I/O: feed it each GetJob result (or, when GetJob keeps failing
    transiently, call :meth:`step_unreachable`), and do what the step says.

    The worker loop (``BatchStreamHook.wait_for_job``) and the trigger (``BatchStreamJobTrigger.run``)
    are thin drivers around it, so both end a wait for exactly the same reasons.
    """

    def __init__(
        self, poll_interval: float, deadline: float | None, *, max_poll_interval: float | None = None
    ):
        cap_factor = DEFAULT_CAP_FACTOR
        if max_poll_interval is not None:
            cap_factor = max(1.0, float(max_poll_interval) / max(0.01, float(poll_interval)))
        self.backoff = PollBackoff(poll_interval, deadline=deadline, cap_factor=cap_factor)

    def step(self, job: Job | None, now: float | None = None) -> Step:
        outcome = outcome_of(job)
        if outcome.is_terminal:
            return Step("finish", outcome)
        if self.backoff.expired(now):
            return Step("timeout", outcome)
        self.backoff.observe(fingerprint(job), now)
        return Step("sleep", outcome, self.backoff.next_delay(now))

    def step_unreachable(self, now: float | None = None) -> Step:
        """GetJob kept failing with a transient error: that never ends a wait, only the deadline does."""
        if self.backoff.expired(now):
            return Step("timeout", Outcome.RUNNING)
        return Step("sleep", Outcome.RUNNING, self.backoff.next_delay(now))


def fingerprint(job: Job | None) -> Any:
    """What counts as "something changed" for backoff: state and task counts.

    Read from the underlying protobuf message when there is one: it runs on every poll of every
    waiting job, and proto-plus map access costs ~10x more.
    """
    if job is None:
        return None
    to_pb = getattr(type(job), "pb", None)
    if to_pb is not None:
        raw = to_pb(job)
        groups = raw.status.task_groups
        return (
            raw.status.state,
            tuple(sorted((k, tuple(sorted(g.counts.items()))) for k, g in groups.items())),
        )
    return (state_name(job.status.state), tuple(sorted(task_counts(job).items())))


#: Trigger payload statuses.
SUCCESS, FAILED, TIMEOUT, ERROR = "success", "failed", "timeout", "error"


def event_payload(
    job: Job | None,
    *,
    job_name: str,
    timed_out: bool = False,
    tasks: Iterable[Task] = (),
    image_digest_hint: str = "",
) -> dict[str, Any]:
    """The one payload shape of every wait's end: ``{"status", "summary", "diagnosis"}``."""
    summary = (
        summarize(job, image_digest_hint=image_digest_hint) if job is not None else missing_summary(job_name)
    )
    outcome = outcome_of(job)
    if outcome.is_success:
        return {"status": SUCCESS, "summary": summary, "diagnosis": ""}
    if timed_out:
        state = diagnose(job, job_name=job_name) if job is not None else "Its state is unknown."
        text = f"Timed out waiting for Batch job {job_name}.\n{state}"
        return {"status": TIMEOUT, "summary": summary, "diagnosis": text}
    return {"status": FAILED, "summary": summary, "diagnosis": diagnose(job, job_name=job_name, tasks=tasks)}


#: ``error`` payloads say which error ended the wait when it is one the task should fail with by name.
_ERRORS: Mapping[str, type[BatchApiError]] = {"credentials": CredentialsRefused}


def error_payload(job_name: str, message: str, error: BaseException | None = None) -> dict[str, Any]:
    """The payload of a wait an API error ended (``error`` is that error, if known)."""
    payload = {"status": ERROR, "summary": missing_summary(job_name), "diagnosis": message}
    kind = next((name for name, cls in _ERRORS.items() if isinstance(error, cls)), None)
    if kind is not None:
        payload["error"] = kind
    return payload


_FAILURES: Mapping[str, type[JobFailed]] = {
    Outcome.FAILED.value: JobFailed,
    Outcome.CANCELLED.value: JobCancelled,
    Outcome.DELETED.value: JobDeleted,
    Outcome.NOT_FOUND.value: JobDeleted,
}


def result_from_payload(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The summary of a successful wait, or the specific exception for any other end."""
    status = payload.get("status")
    summary = dict(payload.get("summary") or {})
    diagnosis = payload.get("diagnosis") or ""
    if status == SUCCESS:
        return summary
    if status == TIMEOUT:
        raise JobTimedOut(diagnosis, summary=summary)
    if status == ERROR:
        error = _ERRORS.get(payload.get("error", ""), BatchApiError)
        raise error(diagnosis or "the wait for the Batch job ended with an API error")
    error = _FAILURES.get(summary.get("outcome", ""), JobFailed)
    raise error(diagnosis, summary=summary)
