"""The one place that says what a Batch job state means, and how a wait's end travels.

Every waiter (the operator's worker loop, the sensor's poke, the trigger) classifies a job through
:func:`outcome_of` and ends with the payload of :func:`event_payload` (or :func:`error_payload`);
the operator and sensor turn a payload back into a result or an exception through
:func:`result_from_payload`. "Done" is therefore defined exactly once (the Google and Amazon
providers each define it twice, and their copies drifted: the Google one treats CANCELLED as still
running). What the payload carries comes from :mod:`.summary` (the XCom) and :mod:`.diagnosis`
(why a job failed); how a wait paces itself is :mod:`.waiting`.

Nothing here imports ``google.*``: it reads a ``google.cloud.batch_v1.Job`` by attribute only, so
the module stays cheap for DAG parsing and for unit tests.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping
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

_JOB_NAME = re.compile(r"^projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)/jobs/(?P<job_id>[^/]+)$")


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


def parse_job_name(name: str) -> dict[str, str]:
    """``projects/P/locations/L/jobs/J`` -> ``{"project": P, "location": L, "job_id": J}`` (or {})."""
    match = _JOB_NAME.match(name or "")
    return match.groupdict() if match else {}


# ----------------------------------------------------------------------------- payload protocol

#: Trigger payload statuses.
SUCCESS, FAILED, TIMEOUT, ERROR = "success", "failed", "timeout", "error"

# The payload's summary and diagnosis are imported where a payload is built: both read this
# module's vocabulary, and what only classifies a job or reads a payload (a DAG file's operator,
# the sensor) needs neither.


def event_payload(
    job: Job | None,
    *,
    job_name: str,
    timed_out: bool = False,
    tasks: Iterable[Task] = (),
    image_digest_hint: str = "",
) -> dict[str, Any]:
    """The one payload shape of every wait's end: ``{"status", "summary", "diagnosis"}``."""
    from airflow_batchstream.diagnosis import diagnose
    from airflow_batchstream.summary import missing_summary, summarize

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
    from airflow_batchstream.summary import missing_summary

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
