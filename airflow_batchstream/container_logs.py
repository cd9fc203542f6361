"""What the containers of a Batch job printed, forwarded to the Airflow task log: the rules, no I/O.

Batch writes each line a task prints to Cloud Logging, in ``projects/P/logs/batch_task_logs``,
labelled with the job's uid (``labels.job_uid``) and the task (``labels.task_id``,
``<uid>-group0-<index>``), severity ERROR for stderr. Cloud Logging allows few reads
(``ReadRequestsPerMinutePerProject``, often 60, and every page counts), so one reader per process
and project (:mod:`airflow_batchstream.logreader`) serves every waiting task: each read names many
jobs in one filter (:func:`job_filters`, within Logging's 20,000 characters), within a per-project
budget (:class:`ReadBudget`), and backs off when Logging says RESOURCE_EXHAUSTED.

Each wait keeps a :class:`JobLog`: where its job's log is read from, which entries it has seen
(Logging does not deduplicate across reads), and the lines it has yet to print. Lines are never
lost to a read: every read goes back :data:`LATE_SECONDS` before the last complete one, for entries
Logging indexed late, and an entry seen twice is printed once. They can repeat when the wait
itself starts again (a triggerer restart or a trigger moved to another triggerer rebuilds the
trigger, which reads the job's log from its start).

Light on purpose (the trigger module imports it): no ``google.*``.
"""

from __future__ import annotations

import asyncio
import importlib
import random
import re
import time
from collections import OrderedDict, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from airflow_batchstream import config
from airflow_batchstream.states import parse_job_name

if TYPE_CHECKING:
    from airflow_batchstream.hooks import BatchStreamHook
    from airflow_batchstream.logreader import AsyncLogReader, SyncLogReader

#: The module that reads Cloud Logging (the Logging client): imported only when a wait forwards.
LOGREADER_MODULE = "airflow_batchstream.logreader"

#: The log Batch writes task output to.
TASK_LOG = "batch_task_logs"
#: Cloud Logging's limit on the length of a query.
MAX_FILTER_CHARS = 20_000
#: Logging's largest page.
PAGE_SIZE = 1000
#: How far each read goes back before the last complete one, for entries Logging indexes late:
#: 2.5 times the 2 seconds Logging's own streaming read buffers for them (``TailLogEntries``'s
#: ``buffer_window`` default). Wider costs pages: every read returns this much of each log again.
LATE_SECONDS = 5.0
#: The "minute" of the read budget, in seconds (Logging counts its quota per minute).
BUDGET_WINDOW = 60.0
#: Lines kept per task for the failure diagnosis, and tasks kept (the most recent printers).
DIAGNOSIS_LINES = 10
DIAGNOSIS_TASKS = 64
#: Longest line the diagnosis quotes (the task log gets lines whole).
DIAGNOSIS_LINE_CHARS = 300
#: Longest a wait spends on that last read (the reader may be paused by quota refusals); the
#: log is then printed as far as it was read, with a warning.
DRAIN_TIMEOUT = 600.0

#: ``container_logs`` values besides a number of lines.
ALL, OFF = "all", "off"

_TASK_INDEX = re.compile(r"-group\d+-(\d+)(?:/|$)")


def tail_of(setting: str | int) -> int | None:
    """How many lines a ``container_logs`` setting prints: None for all of them, 0 for none."""
    if setting == ALL:
        return None
    if setting == OFF:
        return 0
    return int(setting)


def task_index_of(task_id: str) -> int | None:
    """The task index in a ``labels.task_id`` (``<uid>-group0-3``, or the older
    ``task/<uid>-group0-3/0/0``); None when it has neither form."""
    match = _TASK_INDEX.search(task_id or "")
    return int(match.group(1)) if match else None


def rfc3339(ns: int) -> str:
    """``2026-11-30T18:10:00.123456789Z``: an instant as Logging's filters compare it."""
    seconds, fraction = divmod(ns, 1_000_000_000)
    day = datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{day}.{fraction:09d}Z"


def quote(value: str) -> str:
    """A string value in a Logging filter."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(frozen=True)
class TaskLine:
    """One line a task printed (one Cloud Logging entry)."""

    job_uid: str
    task_index: int | None
    stderr: bool
    text: str
    timestamp_ns: int
    insert_id: str

    @property
    def key(self) -> tuple[int, str]:
        # Logging treats entries with the same timestamp and insertId as one.
        return (self.timestamp_ns, self.insert_id)

    def format(self) -> str:
        """``[task 3] text`` or ``[task 3 stderr] text``: how the task log shows it."""
        where = "task ?" if self.task_index is None else f"task {self.task_index}"
        return f"[{where}{' stderr' if self.stderr else ''}] {self.text}"


def drain_delay(job: Any, now: float | None = None) -> float:
    """Seconds from now until the read that ends a finished job's log: Cloud Logging indexes the
    last lines a moment after Batch reports the end, so that read starts ``[batchstream]
    logs_drain_seconds`` after the job's last update (at once when the wait noticed the end late)."""
    ended = job.update_time.timestamp() if job is not None and job.update_time else None
    now = time.time() if now is None else now
    settle = config.LOGS_DRAIN_SECONDS.read()
    return settle if ended is None else max(0.0, min(settle, ended + settle - now))


def job_log_for(job: Any, tail: int | None, interval: float) -> JobLog | None:
    """The :class:`JobLog` of a wait for ``job`` (a ``batch_v1.Job``), or None when there is
    nothing to forward: ``container_logs="off"``, or the job does not log to Cloud Logging."""
    destination = job.logs_policy.destination if job.logs_policy else None
    if tail == 0 or not job.uid or getattr(destination, "name", destination) != "CLOUD_LOGGING":
        return None
    created = job.create_time
    since = int(created.timestamp() * 1e9) if created else time.time_ns()
    return JobLog(job.uid, since, tail=tail, interval=interval)


# ----------------------------------------------------------------------------------------------
# Filters


def log_name(project: str) -> str:
    return f"projects/{project}/logs/{TASK_LOG}"


def job_filters(
    project: str, since: Mapping[str, int], max_chars: int = MAX_FILTER_CHARS
) -> list[tuple[str, list[str]]]:
    """Filters reading the task logs of many jobs, each within ``max_chars``, and the uids each names.

    Jobs read from the same instant share one ``timestamp>=`` restriction, so a filter names each
    job once (``labels.job_uid=("u1" OR "u2" ...)``); every job has an explicit lower bound. The
    parts are parenthesized: Logging binds OR before AND.

    :param since: job uid -> nanoseconds since the epoch its entries are read from.
    """
    head = f"logName={quote(log_name(project))} AND ("
    filters: list[tuple[str, list[str]]] = []
    groups: list[tuple[int, list[str]]] = []
    length = len(head) + 1

    def flush() -> None:
        nonlocal groups, length
        if groups:
            body = " OR ".join(_group(stamp, uids) for stamp, uids in groups)
            filters.append((f"{head}{body})", [uid for _stamp, uids in groups for uid in uids]))
        groups, length = [], len(head) + 1

    for uid, stamp in sorted(since.items(), key=lambda item: (item[1], item[0])):
        same_group = bool(groups) and groups[-1][0] == stamp
        if same_group:
            # ' OR "uid"', and the parentheses a second uid brings (see _group).
            added = len(" OR ") + len(quote(uid)) + (2 if len(groups[-1][1]) == 1 else 0)
        else:
            added = len(_group(stamp, [uid])) + (len(" OR ") if groups else 0)
        if length + added > max_chars and groups:
            flush()
            same_group, added = False, len(_group(stamp, [uid]))
        if length + added > max_chars:
            raise ValueError(f"job uid {uid!r} does not fit in a {max_chars}-character filter")
        if same_group:
            groups[-1][1].append(uid)
        else:
            groups.append((stamp, [uid]))
        length += added
    flush()
    return filters


def _group(stamp: int, uids: list[str]) -> str:
    names = quote(uids[0]) if len(uids) == 1 else "(" + " OR ".join(map(quote, uids)) + ")"
    return f"(timestamp>={quote(rfc3339(stamp))} AND labels.job_uid={names})"


# ----------------------------------------------------------------------------------------------
# Budget


class ReadBudget:
    """At most ``per_minute`` reads in any ``window`` seconds, evenly spaced, and a pause after a
    RESOURCE_EXHAUSTED (someone else used the project's quota too).

    :param per_minute: reads allowed per window.
    :param window: the "minute", in seconds.
    """

    def __init__(self, per_minute: float, *, window: float = 60.0, clock=time.monotonic):
        self.per_minute = max(1, int(per_minute))
        self.window = window
        self.spacing = window / self.per_minute
        self.clock = clock
        self._reads: deque[float] = deque()
        self._paused_until = 0.0
        self._refusals = 0

    def wait(self, now: float | None = None) -> float:
        """Seconds until the next read is allowed (0: now)."""
        now = self.clock() if now is None else now
        while self._reads and self._reads[0] <= now - self.window:
            self._reads.popleft()
        ready = self._paused_until
        if self._reads:
            ready = max(ready, self._reads[-1] + self.spacing)
        if len(self._reads) >= self.per_minute:
            ready = max(ready, self._reads[0] + self.window)
        return max(0.0, ready - now)

    def spend(self, now: float | None = None) -> None:
        """Count one read, made now."""
        self._reads.append(self.clock() if now is None else now)

    def refused(self, now: float | None = None) -> float:
        """Logging said RESOURCE_EXHAUSTED: pause, longer each time in a row (a sixth of the
        window, growing by half, up to half the window, with jitter: the quota frees up as its
        sliding minute moves on); returns the pause in seconds."""
        now = self.clock() if now is None else now
        self._refusals += 1
        pause = min(self.window / 2, self.window / 6 * 1.5 ** (self._refusals - 1))
        pause *= random.uniform(0.8, 1.2)
        self._paused_until = max(self._paused_until, now + pause)
        return pause

    def served(self) -> None:
        """A read succeeded: the next refusal pauses briefly again."""
        self._refusals = 0


# ----------------------------------------------------------------------------------------------
# One wait's view of its job's log


class JobLog:
    """One wait's view of its job's task log.

    :param uid: the job's uid.
    :param since_ns: where its log starts (the job's creation).
    :param tail: lines to print: None for every line as it arrives, N for the last N lines once
        the job ended.
    :param interval: seconds between reads of this job while it runs.
    """

    def __init__(self, uid: str, since_ns: int, *, tail: int | None, interval: float):
        self.uid = uid
        self.tail = tail
        self.interval = max(1.0, float(interval))
        #: Entries before this instant (less :data:`LATE_SECONDS`) have been read.
        self.cursor_ns = since_ns
        self.due = 0.0  # monotonic time of the next read; 0: as soon as possible
        self.drain_after: float | None = None  # monotonic: the read that ends the wait starts after it
        self.drained = False
        #: Why this log can never be read (no permission, say); None while it can.
        self.unreadable: str | None = None
        self._seen: dict[tuple[int, str], None] = {}
        self._pending: deque[TaskLine] = deque(maxlen=tail) if tail else deque()
        self._skipped = 0  # lines the tail left out
        self._tails: OrderedDict[int | None, deque[str]] = OrderedDict()

    @property
    def since_ns(self) -> int:
        return self.cursor_ns - int(LATE_SECONDS * 1e9)

    def accept(self, line: TaskLine) -> bool:
        """Take a line a read found; False if it was seen before."""
        if line.key in self._seen or line.timestamp_ns < self.since_ns:
            return False
        self._seen[line.key] = None
        if self.tail is not None and len(self._pending) == self.tail:
            self._skipped += 1
        self._pending.append(line)
        kept = self._tails.pop(line.task_index, None) or deque(maxlen=DIAGNOSIS_LINES)
        kept.append(_clip(line.format()))
        self._tails[line.task_index] = kept
        if len(self._tails) > DIAGNOSIS_TASKS:
            self._tails.popitem(last=False)
        return True

    def read_complete(self, started_ns: int, started: float) -> None:
        """A read that started at ``started_ns`` (wall) / ``started`` (monotonic) has returned
        every page: move the cursor, forget entries older than the next read's bound."""
        self.cursor_ns = max(self.cursor_ns, started_ns)
        bound = self.since_ns
        for key in [key for key in self._seen if key[0] < bound]:
            del self._seen[key]
        self.due = started + self.interval
        if self.drain_after is not None:
            if started >= self.drain_after:
                self.drained = True
            else:  # the read that ends the log is still to come, and comes when due
                self.due = min(self.due, self.drain_after)

    def drain(self, after: float) -> None:
        """The job ended: one more complete read, started after ``after`` (monotonic), ends the log."""
        self.drain_after = after
        self.due = min(self.due, after)

    @property
    def has_lines(self) -> bool:
        """Whether :meth:`take` would return lines now."""
        return bool(self._pending) and (self.tail is None or self.drained)

    def take(self) -> list[str]:
        """The lines to print now (formatted): every new one, or in tail mode the last ``tail``
        ones once the log is drained."""
        if self.tail is not None and not self.drained:
            return []
        lines = [line.format() for line in self._pending]
        if self._skipped and self.drained:
            lines.insert(0, f"[{self._skipped} earlier lines not shown: container_logs={self.tail}]")
            self._skipped = 0
        self._pending.clear()
        return lines

    def last_lines(self, task_index: int | None) -> list[str]:
        """The last lines task ``task_index`` printed (for the diagnosis; clipped)."""
        return list(self._tails.get(task_index, ()))


def _clip(text: str) -> str:
    return text if len(text) <= DIAGNOSIS_LINE_CHARS else text[: DIAGNOSIS_LINE_CHARS - 1] + "…"


# ----------------------------------------------------------------------------------------------
# The reader's decisions


@dataclass
class Read:
    """One ListLogEntries call: the filter, the jobs it names, and where it resumes."""

    filter: str
    uids: list[str]
    started_ns: int
    started: float
    page_token: str = ""


class ReaderCore:
    """Which read to make next for the jobs a process waits for, and where its entries go.

    The drivers (:mod:`airflow_batchstream.logreader`) call :meth:`next_read` when the budget
    allows, make the call, and hand the page to :meth:`ingest`.
    """

    def __init__(self, project: str, budget: ReadBudget, *, max_chars: int = MAX_FILTER_CHARS):
        self.project = project
        self.budget = budget
        self.max_chars = max_chars
        self.logs: dict[str, list[JobLog]] = {}
        self._continuation: Read | None = None

    def add(self, log: JobLog) -> None:
        self.logs.setdefault(log.uid, []).append(log)

    def remove(self, log: JobLog) -> None:
        logs = self.logs.get(log.uid, [])
        if log in logs:
            logs.remove(log)
        if not logs:
            self.logs.pop(log.uid, None)

    def next_due(self) -> float | None:
        """Monotonic time at which some job wants a read (None: none is waited for)."""
        if self._continuation is not None:
            return 0.0
        dues = [log.due for logs in self.logs.values() for log in logs]
        return min(dues) if dues else None

    def next_read(self, now: float, wall_ns: int) -> Read | None:
        """The read to make now, if a job is due: the next page of an unfinished read first, then
        the jobs that have waited longest (with as many others as fit in the filter)."""
        if self._continuation is not None:
            return self._continuation
        due = self.next_due()
        if due is None or due > now:
            return None
        order = sorted(self.logs.items(), key=lambda item: min(log.due for log in item[1]))
        since = {uid: min(log.since_ns for log in logs) for uid, logs in order}
        overdue = order[0][0]
        for text, uids in job_filters(self.project, since, self.max_chars):
            if overdue in uids:
                return Read(text, uids, wall_ns, now)
        return None  # unreachable: every uid is in some filter

    def ingest(self, read: Read, lines: Iterable[TaskLine], next_page_token: str) -> None:
        """Hand a page's lines to the waits of their jobs; a read without a next page is complete."""
        for line in lines:
            for log in self.logs.get(line.job_uid, ()):
                log.accept(line)
        if next_page_token:
            read.page_token = next_page_token
            self._continuation = read
            return
        self._continuation = None
        for uid in read.uids:
            for log in self.logs.get(uid, ()):
                log.read_complete(read.started_ns, read.started)

    def abandon(self, read: Read) -> None:
        """A read failed: its next page (if it was one) is asked again from the start next time."""
        self._continuation = None

    def give_up(self, read: Read, reason: str) -> None:
        """A read failed for good (no permission, a filter Logging refuses): its jobs' logs are
        not read again, and their waits end without waiting for them."""
        self._continuation = None
        for uid in read.uids:
            for log in self.logs.pop(uid, ()):
                log.unreadable = reason
                log.drained = True


# ----------------------------------------------------------------------------------------------
# One wait's forwarding


class _Forwarding:
    """One wait's forwarding of its job's task log into the task log: started by the first GetJob
    that finds the job, printed while the wait sleeps, drained once the job ended.

    :param setting: the task's ``container_logs`` (``"all"``, ``"off"`` or a number of lines).
    :param interval: seconds between reads of the job's log while it runs (the wait's poll interval).
    :param logger: where lines go: the task's (or, in the triggerer, the trigger's) logger.
    """

    def __init__(self, setting: str | int, interval: float, logger: Any):
        self.tail = tail_of(setting)
        self.interval = interval
        self.logger = logger
        self.job_log: JobLog | None = None
        self.given_up = False

    def give_up(self, error: BaseException | str) -> None:
        """Forwarding cannot go on (no Logging client, no credentials, no permission): the wait
        goes on without it."""
        self.given_up = True
        self.logger.warning(
            "The job's task logs will not be forwarded: %s. Grant the connection's identity "
            "logging.logEntries.list (roles/logging.viewer), or set container_logs='off'.",
            error,
        )

    def last_lines(self, task_index: int | None) -> list[str]:
        """The last lines task ``task_index`` printed, for the diagnosis ([] when not forwarded)."""
        return self.job_log.last_lines(task_index) if self.job_log is not None else []

    def _end(self) -> None:
        """Print the rest (the tail included), saying so if the last read never came."""
        if self.job_log.unreadable is None and not self.job_log.drained:
            self.logger.warning(
                "The job's task log could not be read to its end within %.0fs (Cloud Logging kept "
                "refusing reads?): later lines are missing here; the logs link shows them all.",
                DRAIN_TIMEOUT,
            )
        self.close()

    def close(self) -> None:
        """Stop reading (the wait ended, timed out or was killed); print what was read, the tail
        so far included."""
        if self.reader is not None and self.job_log is not None:
            self.job_log.drained = True
            self._print(self.job_log)
            self.reader.unwatch(self.job_log)
        self.reader = None

    def _print(self, job_log: JobLog) -> None:
        if job_log is not self.job_log:
            return
        for line in job_log.take():
            self.logger.info("%s", line)
        if job_log.unreadable is not None and not self.given_up:
            self.give_up(job_log.unreadable)


class SyncForwarding(_Forwarding):
    """Forwarding for a wait in a worker (the operator's loop, the sensor's pokes)."""

    reader: SyncLogReader | None = None

    def start(self, job: Any, hook: BatchStreamHook) -> None:
        """Begin with the first GetJob result that found the job (later calls do nothing); the
        reader uses ``hook``'s connection or emulator."""
        if self.job_log is None and job is not None and not self.given_up:
            try:
                job_log = job_log_for(job, self.tail, self.interval)
                if job_log is not None:
                    from airflow_batchstream.logreader import sync_reader

                    self.reader = sync_reader(hook, parse_job_name(job.name)["project"])
                    self.reader.watch(job_log)
                    self.job_log = job_log
            except Exception as error:
                self.give_up(error)

    def sleep(self, seconds: float) -> None:
        """Sleep ``seconds``, reading and printing the job's lines meanwhile."""
        if self.reader is None:
            time.sleep(seconds)
        else:
            self.reader.pump(time.monotonic() + seconds, self._print)

    def catch_up(self) -> None:
        """Make the reads that are due now, and print what they bring, without waiting."""
        if self.reader is not None:
            self.reader.pump(time.monotonic(), self._print)

    def finish(self, job: Any) -> None:
        """The job ended: read its log once more (see :func:`drain_delay`), print the rest."""
        if self.reader is None or self.job_log is None:
            return
        self.reader.drain(self.job_log, time.monotonic() + drain_delay(job))
        give_up = time.monotonic() + DRAIN_TIMEOUT
        while not self.job_log.drained and time.monotonic() < give_up:
            self.reader.pump(min(give_up, time.monotonic() + 1.0), self._print)
        self._end()


class AsyncForwarding(_Forwarding):
    """Forwarding for a wait in the triggerer; lines are printed from the trigger's coroutine."""

    reader: AsyncLogReader | None = None

    async def start(self, job: Any, hook: BatchStreamHook) -> None:
        """Begin with the first GetJob result that found the job; the reader's module (the Logging
        client) is imported in a thread, off the event loop every trigger shares."""
        if self.job_log is None and job is not None and not self.given_up:
            try:
                job_log = job_log_for(job, self.tail, self.interval)
                if job_log is not None:
                    logreader = await asyncio.to_thread(importlib.import_module, LOGREADER_MODULE)
                    project = parse_job_name(job.name)["project"]
                    self.reader = await logreader.async_reader(hook, project)
                    self.reader.watch(job_log)
                    self.job_log = job_log
            except Exception as error:
                self.give_up(error)

    async def sleep(self, seconds: float) -> None:
        if self.reader is None or self.job_log is None:
            await asyncio.sleep(seconds)
            return
        until = time.monotonic() + seconds
        while (left := until - time.monotonic()) > 0:
            await self.reader.wait(self.job_log, left)
            self._print(self.job_log)

    async def finish(self, job: Any) -> None:
        """The job ended: read its log once more (see :func:`drain_delay`), print the rest."""
        if self.reader is None or self.job_log is None:
            return
        self.reader.drain(self.job_log, time.monotonic() + drain_delay(job))
        give_up = time.monotonic() + DRAIN_TIMEOUT
        while not self.job_log.drained and (left := give_up - time.monotonic()) > 0:
            await self.reader.wait(self.job_log, left)
            self._print(self.job_log)
        self._end()
