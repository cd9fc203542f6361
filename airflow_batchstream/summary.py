"""The compact summary of a Batch job: what a task pushes to XCom and what its links point at.

Job name and id, uid, state and outcome, task counts, seconds spent queued, scheduled and
running, the console and logs URLs, the pinned image digest: never the whole proto
(docs/design.md, "Compact XCom"). Reads a ``google.cloud.batch_v1.Job`` by attribute only.
"""

from __future__ import annotations

import re
import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from airflow_batchstream.states import Outcome, outcome_of, parse_job_name, state_name

if TYPE_CHECKING:
    from google.cloud.batch_v1 import Job

_TRANSITION = re.compile(r"from (?P<old>[A-Z_]+) to (?P<new>[A-Z_]+)")


#: Batch fails a job still running 14 days after its creation: no line of it is written later.
MAX_JOB_SECONDS = 14 * 24 * 3600
#: Lines reach Cloud Logging a little after the job ends: the logs link's range runs this far past it.
LATE_LINES_SECONDS = 300


def console_domain() -> str:
    """The Cloud console's domain, as the Google provider's own links take it, read now.

    ``GOOGLE_CLOUD_HIGH_VALUE_COOKIE_DOMAIN`` (``google.com`` when unset), the provider's setting for
    a universe other than Google's; its links read it once at import, these when they are built.
    """
    from airflow.providers.google.common.hooks.base_google import GoogleBaseHook

    return GoogleBaseHook.get_high_value_cookie_domain()


def console_url(job_name: str, *, domain: str | None = None) -> str:
    """The job's page in the Cloud console (``domain``: :func:`console_domain` when None)."""
    parts = parse_job_name(job_name)
    if not parts:
        return ""
    return (
        "https://console.cloud.{domain}/batch/jobsDetail/regions/{location}/jobs/{job_id}/details"
        "?project={project}".format(domain=domain or console_domain(), **parts)
    )


def logs_url(
    job_name: str,
    uid: str,
    *,
    start: float | None = None,
    end: float | None = None,
    domain: str | None = None,
) -> str:
    """Logs Explorer on the job's ``labels.job_uid``, over the job's time range when it is known.

    Logs Explorer opens on a recent window by default, which hides an older job's lines; the range
    runs from ``start`` (the job's creation) to ``end`` (its end) plus :data:`LATE_LINES_SECONDS`,
    or, while the job runs, to the latest it can end (:data:`MAX_JOB_SECONDS`).

    :param start: epoch seconds of the job's creation; no range without it.
    :param end: epoch seconds of the job's end; None while it runs.
    """
    from urllib.parse import quote

    parts = parse_job_name(job_name)
    if not parts or not uid:
        return ""
    query = quote(f'labels.job_uid="{uid}"', safe="")
    time_range = ""
    if start is not None:
        stop = end + LATE_LINES_SECONDS if end is not None else start + MAX_JOB_SECONDS
        time_range = ";timeRange=" + quote(f"{_rfc3339(start)}/{_rfc3339(stop)}", safe="")
    host = f"console.cloud.{domain or console_domain()}"
    return f"https://{host}/logs/query;query={query}{time_range}?project={parts['project']}"


def _rfc3339(epoch: float) -> str:
    return datetime.fromtimestamp(int(epoch), tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def end_time(job: Job) -> float | None:
    """Epoch seconds the job reached its final state (None while it runs, or when not recorded)."""
    if not outcome_of(job).is_terminal:
        return None
    steps = transitions(job)
    return steps[-1][0] if steps else None


def task_counts(job: Job) -> dict[str, int]:
    """Task-state name -> count, summed over task groups (there is one today)."""
    counts: dict[str, int] = {}
    for group in job.status.task_groups.values():
        for state, count in group.counts.items():
            counts[state] = counts.get(state, 0) + int(count)
    return counts


def to_epoch(value: Any) -> float | None:
    """Epoch seconds of a timestamp as the Batch client gives it (a datetime or a protobuf Timestamp)."""
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
    """The compact XCom of a job."""
    parts = parse_job_name(job.name)
    domain = console_domain()
    start = to_epoch(job.create_time)
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
        "console_url": console_url(job.name, domain=domain),
        "logs_url": logs_url(job.name, job.uid, start=start, end=end_time(job), domain=domain),
        "image_digest": image_digest(job) or image_digest_hint,
    }


def missing_summary(job_name: str) -> dict[str, Any]:
    """The summary of a job GetJob cannot find (or could not read): its name and console link only."""
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
