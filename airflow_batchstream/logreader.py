"""The Cloud Logging reader: one per process (per event loop, in a triggerer) and project, shared
by every wait that forwards its job's task log. What it decides is :mod:`.container_logs`; this
module makes the calls, with the real ``google.cloud.logging_v2`` client.

Imports ``google.cloud.logging_v2`` (most of a second, and ``requests``): like the hook module it
is imported inside ``execute``/``poke`` and, by the trigger, in a thread; never at DAG parse time.

In a triggerer the reader runs as one asyncio task with a context of its own, and only fetches:
each trigger prints its job's lines from its own coroutine (:meth:`AsyncLogReader.wait`), which
is what routes them to that task's log (Airflow binds the task instance to the trigger's
coroutine, not to a shared task).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import logging
import threading
import time
import weakref
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any

import grpc
from google.api_core import exceptions as api_exceptions
from google.cloud.logging_v2.services.logging_service_v2 import (
    LoggingServiceV2AsyncClient,
    LoggingServiceV2Client,
)
from google.cloud.logging_v2.services.logging_service_v2.transports import (
    LoggingServiceV2GrpcAsyncIOTransport,
    LoggingServiceV2GrpcTransport,
)
from google.cloud.logging_v2.types import ListLogEntriesRequest, LogEntry
from google.protobuf.json_format import MessageToDict

from airflow_batchstream import config, container_logs
from airflow_batchstream.container_logs import (
    PAGE_SIZE,
    JobLog,
    Read,
    ReadBudget,
    ReaderCore,
    TaskLine,
    task_index_of,
)

if TYPE_CHECKING:
    from airflow_batchstream.hooks import BatchStreamHook

log = logging.getLogger(__name__)

#: Per-call timeout; the client's own retry is off, so every request is one the budget counted.
RPC_TIMEOUT = 30.0
#: Severity from which a line counts as stderr (Batch writes stderr as ERROR, stdout as INFO).
STDERR_SEVERITY = 500
#: Errors a later read would meet again: the reads of those jobs stop.
PERMANENT_ERRORS = (
    api_exceptions.PermissionDenied,
    api_exceptions.Unauthenticated,
    api_exceptions.InvalidArgument,
    api_exceptions.NotFound,
)
#: Failures in a row (other than quota refusals) after which the jobs of the failing read are no
#: longer read: Logging cannot be reached from here.
MAX_FAILURES = 3
#: gRPC's default 4 MiB receive limit would turn a large page into a RESOURCE_EXHAUSTED that looks
#: like a quota refusal; the generated transports lift it the same way for the channels they make.
CHANNEL_OPTIONS = [("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)]


def line_of(entry: LogEntry) -> TaskLine:
    """The :class:`TaskLine` of a ``batch_task_logs`` entry (text, or a JSON line's ``message``)."""
    raw = LogEntry.pb(entry)
    kind = raw.WhichOneof("payload")
    if kind == "json_payload":
        payload = MessageToDict(raw.json_payload)
        text = str(payload["message"]) if "message" in payload else json.dumps(payload, sort_keys=True)
    else:
        text = raw.text_payload
    return TaskLine(
        job_uid=raw.labels.get("job_uid", ""),
        task_index=task_index_of(raw.labels.get("task_id", "")),
        stderr=raw.severity >= STDERR_SEVERITY,
        text=text.rstrip("\n"),
        timestamp_ns=raw.timestamp.ToNanoseconds(),
        insert_id=raw.insert_id,
    )


class _Reader:
    """What both drivers share: the core, the request of a read, and what its answer means."""

    def __init__(self, core: ReaderCore):
        self.core = core
        self.reads = 0  # requests made (for tests and the benchmark)
        self.refusals = 0  # RESOURCE_EXHAUSTED answers
        self.failures = 0  # other failures in a row

    def request(self, read: Read) -> ListLogEntriesRequest:
        return ListLogEntriesRequest(
            resource_names=[f"projects/{self.core.project}"],
            filter=read.filter,
            order_by="timestamp asc",
            page_size=PAGE_SIZE,
            page_token=read.page_token,
        )

    def next_read(self) -> tuple[Read | None, float]:
        """The read to make now (counted against the budget), or None and how long to wait."""
        now = time.monotonic()
        due = self.core.next_due()
        if due is None:
            return None, 0.0
        delay = max(self.core.budget.wait(now), due - now)
        if delay > 0:
            return None, delay
        read = self.core.next_read(now, time.time_ns())
        if read is None:
            return None, self.core.budget.spacing
        self.core.budget.spend(now)
        self.reads += 1
        return read, 0.0

    def answered(self, read: Read, response: Any) -> None:
        self.core.budget.served()
        self.failures = 0
        self.core.ingest(read, [line_of(entry) for entry in response.entries], response.next_page_token)

    def failed(self, read: Read, error: BaseException) -> None:
        """A read failed: its jobs are read again later, after a pause, or never again when the
        error will not go away. Never raised to a wait: a task does not fail because its log
        could not be read."""
        if isinstance(error, PERMANENT_ERRORS):
            log.warning("Cannot read task logs of project %s: %s", self.core.project, error)
            self.core.give_up(read, f"Cloud Logging refused to read them ({error})")
            return
        if not isinstance(error, api_exceptions.ResourceExhausted):
            self.failures += 1
            if self.failures >= MAX_FAILURES:
                # Unreachable (a network without access to Logging, say): the waits end on time.
                log.warning("Cannot reach Cloud Logging for project %s: %s", self.core.project, error)
                self.core.give_up(read, f"Cloud Logging could not be reached ({error})")
                self.failures = 0
                return
        self.core.abandon(read)
        pause = self.core.budget.refused()
        if isinstance(error, api_exceptions.ResourceExhausted):
            self.refusals += 1
            log.warning(
                "Cloud Logging refused a read of project %s (RESOURCE_EXHAUSTED: its read quota is "
                "shared with everything else that reads it); pausing %.0fs. Lower %s if it repeats.",
                self.core.project,
                pause,
                config.LOGGING_READS_PER_MINUTE.name,
            )
        else:
            log.warning(
                "Reading task logs of project %s failed (%s); retrying in %.0fs",
                self.core.project,
                error,
                pause,
            )


class AsyncLogReader(_Reader):
    """The reader of one event loop and project: one task that reads for every watched job."""

    def __init__(self, core: ReaderCore, client: LoggingServiceV2AsyncClient):
        super().__init__(core)
        self.client = client
        self._wake = asyncio.Event()
        self._arrived: dict[JobLog, asyncio.Event] = {}
        self._task: asyncio.Task | None = None

    def watch(self, job_log: JobLog) -> None:
        self.core.add(job_log)
        self._arrived[job_log] = asyncio.Event()
        if self._task is None or self._task.done():
            # A context of its own: created from a trigger's coroutine, it would otherwise carry
            # that trigger's task instance for its whole life.
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="batchstream-log-reader", context=contextvars.Context()
            )
        self._wake.set()

    def unwatch(self, job_log: JobLog) -> None:
        self.core.remove(job_log)
        self._arrived.pop(job_log, None)

    def drain(self, job_log: JobLog, after: float) -> None:
        job_log.drain(after)
        self._wake.set()

    async def wait(self, job_log: JobLog, timeout: float) -> None:
        """Return when ``job_log`` has lines to print (or is drained), or after ``timeout``."""
        arrived = self._arrived.get(job_log)
        if arrived is None or timeout <= 0:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(arrived.wait(), timeout)
        arrived.clear()

    async def _run(self) -> None:
        while self.core.logs:
            read, delay = self.next_read()
            if read is None:
                if delay:
                    self._wake.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), delay)
                continue
            try:
                response = await self.client.list_log_entries(
                    request=self.request(read), retry=None, timeout=RPC_TIMEOUT
                )
                self.answered(read, response)
            except Exception as error:  # this task serves every wait: it must not die
                self.failed(read, error)
                for job_log, arrived in self._arrived.items():
                    if job_log.unreadable is not None:
                        arrived.set()
                continue
            for uid in read.uids:
                for job_log in self.core.logs.get(uid, ()):
                    if job_log.drained or job_log.has_lines:
                        self._arrived[job_log].set()


class SyncLogReader(_Reader):
    """The reader of a worker process and project: reads while the wait would sleep."""

    def __init__(self, core: ReaderCore, client: LoggingServiceV2Client):
        super().__init__(core)
        self.client = client

    def watch(self, job_log: JobLog) -> None:
        self.core.add(job_log)

    def unwatch(self, job_log: JobLog) -> None:
        self.core.remove(job_log)

    def drain(self, job_log: JobLog, after: float) -> None:
        job_log.drain(after)

    def pump(self, until: float, emit: Callable[[JobLog], None]) -> None:
        """Read what is due until ``until`` (monotonic), sleeping in between (what is due now is
        read even when ``until`` has passed); ``emit`` gets each job log a page brought lines to."""
        while True:
            read, delay = self.next_read()
            if read is None:
                left = until - time.monotonic()
                if left <= 0:
                    return
                time.sleep(min(delay or left, left))
                continue
            try:
                response = self.client.list_log_entries(
                    request=self.request(read), retry=None, timeout=RPC_TIMEOUT
                )
                self.answered(read, response)
            except Exception as error:
                self.failed(read, error)
                continue
            for uid in read.uids:
                for job_log in list(self.core.logs.get(uid, ())):
                    emit(job_log)


# ----------------------------------------------------------------------------------------------
# One reader per process (event loop) and project


_ASYNC_READERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Hashable, AsyncLogReader]] = (
    weakref.WeakKeyDictionary()
)
_SYNC_READERS: dict[Hashable, SyncLogReader] = {}
_LOCK = threading.Lock()


def _key(hook: BatchStreamHook, project: str) -> Hashable:
    chain = hook.impersonation_chain
    return (project, hook.endpoint, hook.gcp_conn_id, tuple(chain) if isinstance(chain, list) else chain)


def _budget() -> ReadBudget:
    return ReadBudget(config.LOGGING_READS_PER_MINUTE.read(), window=container_logs.BUDGET_WINDOW)


def sync_reader(hook: BatchStreamHook, project: str) -> SyncLogReader:
    """This process's reader of ``project``'s task logs, through ``hook``'s connection."""
    key = _key(hook, project)
    with _LOCK:
        if key not in _SYNC_READERS:
            _SYNC_READERS[key] = SyncLogReader(ReaderCore(project, _budget()), _sync_client(hook))
        return _SYNC_READERS[key]


async def async_reader(hook: BatchStreamHook, project: str) -> AsyncLogReader:
    """The running loop's reader of ``project``'s task logs (its client built off the loop)."""
    readers = _ASYNC_READERS.setdefault(asyncio.get_running_loop(), {})
    key = _key(hook, project)
    if key not in readers:
        client = await _async_client(hook)
        if key not in readers:  # another wait built one meanwhile
            readers[key] = AsyncLogReader(ReaderCore(project, _budget()), client)
    return readers[key]


def _sync_client(hook: BatchStreamHook) -> LoggingServiceV2Client:
    if hook.google is None:
        channel = grpc.insecure_channel(hook.emulator_host, options=CHANNEL_OPTIONS)
        return LoggingServiceV2Client(transport=LoggingServiceV2GrpcTransport(channel=channel))
    from airflow.providers.google.common.consts import CLIENT_INFO

    return LoggingServiceV2Client(
        credentials=hook.get_credentials(),
        client_info=CLIENT_INFO,
        client_options=hook.google.get_client_options(),
    )


async def _async_client(hook: BatchStreamHook) -> LoggingServiceV2AsyncClient:
    if hook.google is None:
        channel = grpc.aio.insecure_channel(hook.emulator_host, options=CHANNEL_OPTIONS)
        return LoggingServiceV2AsyncClient(transport=LoggingServiceV2GrpcAsyncIOTransport(channel=channel))
    from airflow.providers.google.common.consts import CLIENT_INFO

    # Credential lookup may block (metadata server, impersonation); keep it off the loop.
    found = await asyncio.to_thread(hook.get_credentials)
    return LoggingServiceV2AsyncClient(
        credentials=found, client_info=CLIENT_INFO, client_options=hook.google.get_client_options()
    )
