"""Cloud Logging for emulated jobs: what each task printed, as Batch writes it to ``batch_task_logs``.

A job that logs to Cloud Logging (``logsPolicy.destination: CLOUD_LOGGING``) writes one entry per
printed line to ``projects/P/logs/batch_task_logs``, labelled the way Batch labels them
(``job_uid``, ``task_id`` ``<uid>-group0-<index>``, ``task_group_name``, ``hostname``), with
severity INFO for stdout and ERROR for stderr. What a task prints comes from the scenario
(:meth:`~airflow_batchstream.emulator.scenario.Fate.lines`); its lines are spread evenly over the
attempt's planned RUNNING time (every half emulated second for an attempt that runs until stopped)
and each appears when its time comes, never after the attempt ended. The line an attempt prints as
it exits appears at its end. Like everything about a job, the lines follow from its timeline: they
are computed once per timeline and only looked up by time.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from google.api import monitored_resource_pb2
from google.cloud.batch_v1 import types as batch
from google.cloud.logging_v2.types import ListLogEntriesResponse, LogEntry
from google.protobuf import timestamp_pb2

from airflow_batchstream.emulator import log_filter
from airflow_batchstream.emulator.scenario import STDERR, Line
from airflow_batchstream.emulator.timeline import ASSIGNED, INF, PENDING, RUNNING
from airflow_batchstream.emulator.validation import invalid

if TYPE_CHECKING:
    from airflow_batchstream.emulator.store import JobRecord

LogEntryPB = LogEntry.pb()
ListLogEntriesResponsePB = ListLogEntriesResponse.pb()
TASK_LOG = "batch_task_logs"
INFO, ERROR = log_filter.SEVERITIES["INFO"], log_filter.SEVERITIES["ERROR"]
#: Seconds (emulated) between the lines of an attempt that runs until something stops it.
OPEN_ENDED_SPACING = 0.5
DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE = 50, 1000
_CLOUD_LOGGING = batch.LogsPolicy.Destination.CLOUD_LOGGING


@dataclass(frozen=True)
class PrintedLine:
    """One line a task printed: when (emulated seconds since the job's creation), who, and what."""

    time: float
    task_index: int
    attempt: int
    number: int  # of the line within its attempt
    stream: str
    text: str


def printed_lines(record: JobRecord) -> list[PrintedLine]:
    """Every line the job's tasks print over its whole timeline, in time order (cached per timeline)."""
    if record.log_lines is not None:
        return record.log_lines
    found: list[PrintedLine] = []
    if record.spec.logs_policy.destination == _CLOUD_LOGGING:
        for index, changes in enumerate(record.timeline.task_changes):
            found.extend(_task_lines(record, index, changes))
    found.sort(key=lambda line: (line.time, line.task_index, line.attempt, line.number))
    record.log_lines = found
    return found


def _task_lines(record: JobRecord, index: int, changes: Iterable[Any]) -> list[PrintedLine]:
    found: list[PrintedLine] = []
    attempt, started = -1, None
    for change in changes:
        if change.old == PENDING and change.new == ASSIGNED:
            attempt += 1
        elif change.new == RUNNING:
            started = change.time
            found.extend(_attempt_lines(record, index, attempt, started, record.fate.lines(index, attempt)))
        elif change.old == RUNNING and started is not None:
            # Lines planned after the attempt's actual end (a cancel, a forced end) are never printed.
            found = [line for line in found if not (line.attempt == attempt and line.time > change.time)]
            last = record.fate.last_line(change.exit_code) if change.exit_code is not None else None
            if last is not None:
                found.append(_printed(index, attempt, change.time, 10**6, last))
            started = None
    return found


def _attempt_lines(
    record: JobRecord, index: int, attempt: int, started: float, lines: list[Line]
) -> list[PrintedLine]:
    planned = record.plan.attempt(index, attempt).running
    spacing = OPEN_ENDED_SPACING if planned == INF else planned / (len(lines) + 1)
    return [
        _printed(index, attempt, started + spacing * (number + 1), number, line)
        for number, line in enumerate(lines)
    ]


def _printed(index: int, attempt: int, time: float, number: int, line: Line) -> PrintedLine:
    return PrintedLine(time, index, attempt, number, line.stream, line.render(index, attempt))


# ----------------------------------------------------------------------------------------------
# ListLogEntries


def list_log_entries(request: Any, records: Iterable[JobRecord], now: float) -> bytes:
    """Answer a ``ListLogEntriesRequest`` from the jobs' printed lines visible at ``now``.

    :raises EmulatorError: INVALID_ARGUMENT for a request Logging would refuse (no or a wrong
        resource name, a filter it cannot read, a page size over 1000, a foreign page token).
    """
    projects = _projects(request.resource_names)
    if request.order_by not in ("", "timestamp asc", "timestamp desc"):
        raise invalid(f'Invalid order_by {request.order_by!r}: use "timestamp asc" or "timestamp desc".')
    if not 0 <= request.page_size <= MAX_PAGE_SIZE:
        raise invalid(f"page_size must be within 0..{MAX_PAGE_SIZE}, got {request.page_size}.")
    try:
        tree = log_filter.parse(request.filter)
    except log_filter.FilterError as error:
        raise invalid(f"Invalid filter: {error}") from None
    uids = log_filter.required_values(tree, "labels.job_uid")
    matching: list[tuple[int, str, PrintedLine, JobRecord]] = []
    for record in records:
        project = record.name.split("/")[1]
        if project not in projects or (uids is not None and record.uid.lower() not in uids):
            continue
        elapsed = record.elapsed(now)
        for line in printed_lines(record):
            if line.time > elapsed:
                break
            fields = _fields(record, project, line)
            if tree.matches(fields):
                matching.append((fields["timestamp"], fields["insertId"], line, record))
    matching.sort(key=lambda m: (m[0], m[1]), reverse=request.order_by == "timestamp desc")
    start = _page_start(request)
    size = request.page_size or DEFAULT_PAGE_SIZE
    response = ListLogEntriesResponsePB()
    for _ts, _id, line, record in matching[start : start + size]:
        response.entries.append(_entry(record, line))
    if start + size < len(matching):
        response.next_page_token = _page_token(request, start + size)
    return response.SerializeToString()


def _projects(resource_names: Iterable[str]) -> set[str]:
    names = list(resource_names)
    if not names:
        raise invalid("resource_names is required, e.g. projects/my-project.")
    if len(names) > 100:
        raise invalid("At most 100 resource_names may be given.")
    projects = set()
    for name in names:
        parts = name.split("/")
        if len(parts) != 2 or parts[0] != "projects" or not parts[1]:
            raise invalid(f"Invalid resource name {name!r}: the emulator serves projects/PROJECT.")
        projects.add(parts[1])
    return projects


def _fields(record: JobRecord, project: str, line: PrintedLine) -> dict[str, Any]:
    """What a filter can compare, for one printed line."""
    wall = record.wall(line.time)
    return {
        "logName": f"projects/{project}/logs/{TASK_LOG}",
        "timestamp": round(wall * 1e6) * 1000,  # microseconds, as the emulator's clock has
        "severity": ERROR if line.stream == STDERR else INFO,
        "insertId": _insert_id(record.uid, line),
        "textPayload": line.text,
        "resource.type": "batch.googleapis.com/Job",
        "resource.labels.job_id": record.uid,
        "labels.job_uid": record.uid,
        "labels.task_id": f"{record.uid}-group0-{line.task_index}",
    }


def _insert_id(uid: str, line: PrintedLine) -> str:
    key = f"{uid}/{line.task_index}/{line.attempt}/{line.number}".encode()
    return hashlib.blake2b(key, digest_size=10).hexdigest()


def _entry(record: JobRecord, line: PrintedLine) -> Any:
    project = record.name.split("/")[1]
    location = record.name.split("/")[3]
    job_id = record.name.rsplit("/", 1)[1]
    fields = _fields(record, project, line)
    stamp = timestamp_pb2.Timestamp()
    stamp.FromNanoseconds(fields["timestamp"])
    entry = LogEntryPB(
        log_name=fields["logName"],
        text_payload=line.text,
        severity=fields["severity"],
        insert_id=fields["insertId"],
        resource=monitored_resource_pb2.MonitoredResource(
            type="batch.googleapis.com/Job",
            labels={"job_id": record.uid, "location": record.names.zone, "resource_container": project},
        ),
        labels={
            "job_uid": record.uid,
            "task_id": fields["labels.task_id"],
            "task_group_name": (
                f"projects/{project_number(project)}/locations/{location}/jobs/{job_id}/taskGroups/group0"
            ),
            "hostname": f"{record.uid}-group0-{line.task_index}-vm",
        },
    )
    entry.timestamp.CopyFrom(stamp)
    entry.receive_timestamp.CopyFrom(stamp)
    return entry


def project_number(project: str) -> int:
    """A stable stand-in for the project's number (Batch names task groups by project number)."""
    return int.from_bytes(hashlib.sha256(project.encode()).digest()[:5], "big")


def _fingerprint(request: Any) -> str:
    # Logging wants every other parameter of a paged call to stay the same.
    key = json.dumps([list(request.resource_names), request.filter, request.order_by])
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def _page_token(request: Any, offset: int) -> str:
    return base64.urlsafe_b64encode(f"{offset}:{_fingerprint(request)}".encode()).decode()


def _page_start(request: Any) -> int:
    if not request.page_token:
        return 0
    try:
        offset, fingerprint = base64.urlsafe_b64decode(request.page_token.encode()).decode().split(":")
        start = int(offset)
    except (ValueError, UnicodeDecodeError):
        raise invalid(f"Invalid page_token {request.page_token!r}.") from None
    if fingerprint != _fingerprint(request):
        raise invalid(
            "page_token does not belong to this query: resource_names, filter and order_by changed."
        )
    return start
