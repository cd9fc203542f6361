"""BatchStreamHook: the only code that talks to the Batch API.

Imports ``grpc``, ``google.api_core``, ``google.auth``, ``requests`` and the Batch client (through
``airflow.providers.google.common.hooks.base_google`` and ``google.cloud.batch_v1``): import this
module only inside ``execute``/``poke``/``run``, never from a module a DAG file imports (the
operator, sensor and trigger modules all follow that rule, and a test checks it). The trigger
imports it in a thread, so that loading it does not stall the triggerer's event loop.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

import grpc
from airflow.providers.google.common.hooks.base_google import GoogleBaseHook
from google.api_core import exceptions as api_exceptions
from google.auth import exceptions as auth_exceptions
from google.cloud.batch_v1 import (
    BatchServiceAsyncClient,
    BatchServiceClient,
    CancelJobRequest,
    CreateJobRequest,
    DeleteJobRequest,
    Job,
    ListTasksRequest,
    Task,
)
from google.cloud.batch_v1.services.batch_service.transports import (
    BatchServiceGrpcAsyncIOTransport,
    BatchServiceGrpcTransport,
)

from airflow_batchstream import config, credentials, states
from airflow_batchstream.exceptions import BatchApiError, CredentialsRefused
from airflow_batchstream.identity import request_id_for
from airflow_batchstream.retry import RetryPolicy
from airflow_batchstream.waiting import Waiter

log = logging.getLogger(__name__)

#: Project used against the emulator when neither the call nor the connection names one.
EMULATOR_PROJECT_ENV = "BATCHSTREAM_EMULATOR_PROJECT"
DEFAULT_EMULATOR_PROJECT = "batchstream-emulator"

#: gRPC status names that mean "try again": they never end a wait or a submission on their own.
TRANSIENT_CODES = frozenset({"UNAVAILABLE", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED", "INTERNAL"})

#: Per-RPC timeout. The generated client's own retry is switched off (``retry=None``) so that
#: :class:`RetryPolicy` is the only retry layer, with one budget.
RPC_TIMEOUT = 30.0

#: Reads per second one triggerer process allows itself per region (Batch allows 15,000 reads
#: per minute per region for the whole project, i.e. 250/s; a triggerer takes at most 40% of it).
DEFAULT_READS_PER_SECOND = float(os.environ.get("BATCHSTREAM_TRIGGER_READS_PER_SECOND", "100"))

T = TypeVar("T")


# ----------------------------------------------------------------------------- retries


DEFAULT_RETRY = RetryPolicy()

#: Given a failed call's exception, the permanent error to raise instead of retrying, or None.
Refusal = Callable[[BaseException], "BaseException | None"]


def _no_refusal(exc: BaseException) -> None:
    return None


def status_name(exc: BaseException) -> str:
    """The gRPC status name of an API error (``""`` if it is not one)."""
    code = getattr(exc, "grpc_status_code", None)  # google.api_core.exceptions.GoogleAPICallError
    if code is None and callable(getattr(exc, "code", None)):  # a raw grpc.RpcError
        try:
            code = exc.code()
        except Exception:
            code = None
    name = getattr(code, "name", None)
    return name if isinstance(name, str) else ""


def is_transient(exc: BaseException) -> bool:
    return status_name(exc) in TRANSIENT_CODES


def call(
    fn: Callable[[], T], *, what: str, policy: RetryPolicy = DEFAULT_RETRY, refusal: Refusal = _no_refusal
) -> T:
    """Run ``fn``, retrying transient errors with backoff; other errors pass through at once, and
    so does the error ``refusal`` makes of one (a credential that cannot be refreshed)."""
    plan = policy.plan()
    while True:
        try:
            return fn()
        except Exception as exc:
            permanent = refusal(exc)
            if permanent is not None:
                raise permanent from exc
            delay = plan.next_delay() if is_transient(exc) else None
            if delay is None:
                raise
            log.warning("%s: transient %s, retrying in %.2fs", what, status_name(exc), delay)
            time.sleep(delay)


async def acall(
    fn: Callable[[], Awaitable[T]],
    *,
    what: str,
    policy: RetryPolicy = DEFAULT_RETRY,
    refusal: Callable[[BaseException], Awaitable[BaseException | None]] | None = None,
) -> T:
    """The async twin of :func:`call` (same policy, same classification)."""
    plan = policy.plan()
    while True:
        try:
            return await fn()
        except Exception as exc:
            permanent = await refusal(exc) if refusal is not None else None
            if permanent is not None:
                raise permanent from exc
            delay = plan.next_delay() if is_transient(exc) else None
            if delay is None:
                raise
            log.debug("%s: transient %s, retrying in %.2fs", what, status_name(exc), delay)
            await asyncio.sleep(delay)


# ----------------------------------------------------------------------------- rate limiting


class AsyncRateLimiter:
    """Token bucket: at most ``rate`` acquisitions per second on average (bursts up to ``burst``).

    Each waiter reserves its slot before sleeping, so waiters are served in arrival order. Sleeps
    are rounded up to ``tick`` seconds so that waiters wake in groups: with grpc.aio every loop
    wake-up has a fixed cost, and releasing 1,000 waiters one by one cost twice the CPU of the
    unthrottled burst in the benchmark. Over any window of at least ``tick`` the rate still holds.
    """

    def __init__(self, rate: float, burst: float | None = None, tick: float = 0.25):
        self.rate = float(rate)
        self.burst = float(burst if burst is not None else max(1.0, rate))
        self.tick = tick
        self._tokens = self.burst
        self._stamp = time.monotonic()

    async def acquire(self) -> None:
        now = time.monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        self._tokens -= 1.0
        if self._tokens < 0:
            wait = -self._tokens / self.rate
            await asyncio.sleep(math.ceil(wait / self.tick) * self.tick if self.tick else wait)


# One limiter per (event loop, endpoint, region), shared by every trigger of the triggerer process.
_LIMITERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple, AsyncRateLimiter]] = (
    weakref.WeakKeyDictionary()
)
# One async client (with its credentials) per (event loop, connection, impersonation, endpoint): not
# one per waiting job.
_ASYNC_CLIENTS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple, tuple[Any, Any]]] = (
    weakref.WeakKeyDictionary()
)
_ASYNC_LOCKS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()
_REGISTRY_LOCK = threading.Lock()


def read_limiter(endpoint: str, location: str) -> AsyncRateLimiter:
    loop = asyncio.get_running_loop()
    with _REGISTRY_LOCK:
        limiters = _LIMITERS.setdefault(loop, {})
        key = (endpoint, location)
        if key not in limiters:
            limiters[key] = AsyncRateLimiter(DEFAULT_READS_PER_SECOND)
        return limiters[key]


def shared_async_client_count() -> int:
    """How many async clients the current event loop holds (for tests and the benchmark)."""
    return len(_ASYNC_CLIENTS.get(asyncio.get_running_loop(), {}))


def _location_of(job_name: str) -> str:
    return states.parse_job_name(job_name).get("location", "")


def _refusal_without_io(exc: BaseException) -> BaseException | None:
    """A credential failure ``exc`` shows by itself: a google-auth error in its chain, or Batch's
    UNAUTHENTICATED (a service-account key signs its own tokens, so a deleted key or service
    account is refused by the API rather than by a token endpoint)."""
    return credentials.refusal_in_chain(exc) or (exc if status_name(exc) == "UNAUTHENTICATED" else None)


# Requests built once for the sync and the async call alike.


def _cancel_request(name: str) -> CancelJobRequest:
    return CancelJobRequest(name=name, request_id=request_id_for(name, "cancel"))


def _failed_tasks_request(job_name: str, limit: int) -> ListTasksRequest:
    # Batch supports one task group per job, named group0 (docs/batch-facts.md section 1).
    return ListTasksRequest(parent=f"{job_name}/taskGroups/group0", filter="State=FAILED", page_size=limit)


# ----------------------------------------------------------------------------- the hook


class BatchStreamHook(GoogleBaseHook):
    """Google Cloud Batch: idempotent create, reads, cancel, delete; sync and async.

    Connection, project fallback and impersonation come from ``GoogleBaseHook``. With
    ``BATCHSTREAM_EMULATOR_HOST`` set (or ``emulator_host`` given), the connection is not looked up
    and the clients speak plain gRPC to the emulator with no credentials.

    Credentials Google refuses for good fail every call at once with :class:`CredentialsRefused`
    (naming the identity), even when gRPC reports them as a transient ``UNAVAILABLE``; see
    :mod:`airflow_batchstream.credentials`.

    :param gcp_conn_id: Airflow connection of type ``google_cloud_platform``.
    :param impersonation_chain: service account(s) to impersonate.
    :param emulator_host: ``host:port`` of a Batch emulator; defaults to ``BATCHSTREAM_EMULATOR_HOST``.
    :param api_endpoint: the Batch API endpoint (``host[:port]``), e.g. a Private Service Connect
        endpoint; defaults to the connection's ``api_endpoint`` extra, then Google's.
    :param retry: the retry policy for transient errors.
    """

    conn_name_attr = "gcp_conn_id"
    default_conn_name = "google_cloud_default"
    conn_type = "google_cloud_platform"
    hook_name = "Google Cloud Batch (Image Streaming)"

    def __init__(
        self,
        gcp_conn_id: str = "google_cloud_default",
        impersonation_chain: str | Sequence[str] | None = None,
        *,
        emulator_host: str | None = None,
        api_endpoint: str | None = None,
        retry: RetryPolicy = DEFAULT_RETRY,
        **kwargs: Any,
    ) -> None:
        self.emulator_host = emulator_host or config.emulator_host()
        self.retry = retry
        self._client: BatchServiceClient | None = None
        self._credentials: Any = None  # those of the clients, once built
        if self.emulator_host:
            # GoogleBaseHook.__init__ would fetch the connection; the emulator needs none.
            super(GoogleBaseHook, self).__init__(**kwargs)
            self.gcp_conn_id = gcp_conn_id
            self.impersonation_chain = impersonation_chain
            self.quota_project_id = None
            self.extras = {}
            self._cached_credentials = None
            self._cached_project_id = None
            self.api_endpoint: str | None = None
        else:
            super().__init__(gcp_conn_id=gcp_conn_id, impersonation_chain=impersonation_chain, **kwargs)
            self.api_endpoint = api_endpoint or self._get_field("api_endpoint") or None

    # -- identity of the endpoint

    @property
    def endpoint(self) -> str:
        if self.emulator_host:
            return f"emulator:{self.emulator_host}"
        return self.api_endpoint or "batch.googleapis.com"

    @property
    def project_id(self) -> str:
        return self.default_project()[0]

    def default_project(self) -> tuple[str | None, str]:
        """The project used when a call names none, and where it comes from (for the log)."""
        if not self.emulator_host:
            return (
                super().project_id,
                f"the {self.gcp_conn_id!r} connection (or application default credentials)",
            )
        if self._get_field("project"):
            return self._get_field("project"), f"the {self.gcp_conn_id!r} connection"
        if os.environ.get(EMULATOR_PROJECT_ENV):
            return os.environ[EMULATOR_PROJECT_ENV], EMULATOR_PROJECT_ENV
        return DEFAULT_EMULATOR_PROJECT, f"the emulator's default (set project_id or {EMULATOR_PROJECT_ENV})"

    def resolve_project(self, project_id: str | None) -> str:
        """``project_id``, or the default project, logged with its source and held to the project id form.

        :raises ParameterInvalid: when there is no project, or the default one is not a project id.
        """
        if project_id:
            return project_id
        from airflow_batchstream.exceptions import ParameterInvalid
        from airflow_batchstream.jobspec.forms import project_reason
        from airflow_batchstream.jobspec.problems import Problem

        project, source = self.default_project()
        why = project_reason(project) if project else "there is none"
        if why:
            fix = f"pass project_id, or set 'project' in the {self.gcp_conn_id!r} connection"
            message = f"not given, and the project from {source}, {project!r}, is not valid: {why}"
            raise ParameterInvalid(
                [Problem("", "P-FORM", message, fix, parameter="project_id")], type(self).__name__
            )
        self.log.info("project_id not given: using project %r from %s", project, source)
        return project

    @staticmethod
    def parent(project_id: str, location: str) -> str:
        return f"projects/{project_id}/locations/{location}"

    @classmethod
    def job_name(cls, project_id: str, location: str, job_id: str) -> str:
        return f"{cls.parent(project_id, location)}/jobs/{job_id}"

    # -- credentials

    def _load_credentials(self) -> Any:
        """The connection's credentials; a lookup that can never work raises :class:`CredentialsRefused`."""
        try:
            found = self.get_credentials()
        except auth_exceptions.GoogleAuthError as exc:
            permanent = credentials.refusal_in_chain(exc)
            if permanent is None:
                raise
            raise self._refused(permanent) from exc
        self._credentials = found
        return found

    def _refused(self, error: BaseException) -> CredentialsRefused:
        who = credentials.identity_of(self._credentials, self.gcp_conn_id, self.impersonation_chain)
        return credentials.refused(error, who, impersonating=bool(self.impersonation_chain))

    def _refusal(self, exc: BaseException) -> CredentialsRefused | None:
        """The credential failure behind a failed call, if it is one (see :mod:`.credentials`)."""
        if self.emulator_host:
            return None
        error = _refusal_without_io(exc)
        if error is None and is_transient(exc):
            error = credentials.permanent_refresh_error(self._credentials)
        return self._refused(error) if error is not None else None

    async def _arefusal(self, exc: BaseException) -> CredentialsRefused | None:
        """:meth:`_refusal` with the refresh (blocking I/O) in a thread."""
        if self.emulator_host:
            return None
        error = _refusal_without_io(exc)
        if error is None and is_transient(exc):
            error = await asyncio.to_thread(credentials.permanent_refresh_error, self._credentials)
        return self._refused(error) if error is not None else None

    def _call(self, fn: Callable[[], T], what: str, policy: RetryPolicy | None = None) -> T:
        return call(fn, what=what, policy=policy or self.retry, refusal=self._refusal)

    async def _acall(self, fn: Callable[[], Awaitable[T]], what: str, policy: RetryPolicy | None = None) -> T:
        return await acall(fn, what=what, policy=policy or self.retry, refusal=self._arefusal)

    # -- clients

    def get_conn(self) -> BatchServiceClient:
        """The sync client, created on first use and kept for the hook's lifetime."""
        if self._client is None:
            if self.emulator_host:
                channel = grpc.insecure_channel(self.emulator_host)
                self._client = BatchServiceClient(transport=BatchServiceGrpcTransport(channel=channel))
            else:
                from airflow.providers.google.common.consts import CLIENT_INFO

                self._client = BatchServiceClient(
                    credentials=self._load_credentials(),
                    client_info=CLIENT_INFO,
                    client_options=self.get_client_options(self.api_endpoint),
                )
        return self._client

    def _async_key(self) -> tuple:
        chain = self.impersonation_chain
        chain_key = tuple(chain) if isinstance(chain, (list, tuple)) else chain
        return (self.gcp_conn_id, chain_key, self.endpoint)

    async def get_async_conn(self) -> BatchServiceAsyncClient:
        """The async client shared by every hook of this loop with the same connection and endpoint."""
        loop = asyncio.get_running_loop()
        key = self._async_key()
        clients = _ASYNC_CLIENTS.setdefault(loop, {})
        if key not in clients:
            lock = _ASYNC_LOCKS.setdefault(loop, asyncio.Lock())
            async with lock:
                if key not in clients:
                    clients[key] = await self._new_async_client()
        client, self._credentials = clients[key]
        return client

    async def _new_async_client(self) -> tuple[BatchServiceAsyncClient, Any]:
        """A new async client and the credentials it uses (None against the emulator)."""
        if self.emulator_host:
            channel = grpc.aio.insecure_channel(self.emulator_host)
            return BatchServiceAsyncClient(transport=BatchServiceGrpcAsyncIOTransport(channel=channel)), None
        from airflow.providers.google.common.consts import CLIENT_INFO

        # Credential lookup may block (metadata server, impersonation); keep it off the loop.
        found = await asyncio.to_thread(self._load_credentials)
        client = BatchServiceAsyncClient(
            credentials=found,
            client_info=CLIENT_INFO,
            client_options=self.get_client_options(self.api_endpoint),
        )
        return client, found

    # -- sync API

    def create_job(
        self, *, project_id: str | None, location: str, job_id: str, job: Mapping[str, Any]
    ) -> tuple[Job, bool]:
        """Create ``job_id`` from a camelCase Job dict; idempotent.

        The request carries a ``request_id`` derived from the job name, so a create retried after
        a lost response (or sent again by a later try) is deduplicated by the server.
        ALREADY_EXISTS fetches the existing job instead.

        :return: ``(job, created)``; ``created`` is False when the job already existed, and the
            caller must then check its labels before adopting it.
        """
        project = self.resolve_project(project_id)
        name = self.job_name(project, location, job_id)
        request = CreateJobRequest(
            parent=self.parent(project, location),
            job_id=job_id,
            job=Job.from_json(json.dumps(dict(job))),
            request_id=request_id_for(name),
        )
        client = self.get_conn()
        try:
            created = self._call(
                lambda: client.create_job(request=request, retry=None, timeout=RPC_TIMEOUT),
                f"CreateJob {name}",
            )
        except api_exceptions.AlreadyExists:
            existing = self.get_job(name, missing_ok=True)
            if existing is None:
                raise BatchApiError(f"CreateJob said {name} exists, but GetJob cannot find it") from None
            self.log.info("Batch job %s already exists; checking whether it is ours", name)
            return existing, False
        self.log.info("Created Batch job %s (uid %s)", created.name, created.uid)
        return created, True

    def get_job(self, name: str, *, missing_ok: bool = False) -> Job | None:
        """GetJob; with ``missing_ok`` a NOT_FOUND returns None instead of raising."""
        client = self.get_conn()
        try:
            return self._call(
                lambda: client.get_job(name=name, retry=None, timeout=RPC_TIMEOUT), f"GetJob {name}"
            )
        except api_exceptions.NotFound:
            if missing_ok:
                return None
            raise

    def cancel_job(self, name: str, *, policy: RetryPolicy | None = None) -> bool:
        """Ask Batch to cancel a job (idempotent request id); False if it is gone or already over.

        :param policy: retries for this call (default: the hook's); a killed task has seconds.
        """
        request = _cancel_request(name)
        client = self.get_conn()
        try:
            self._call(
                lambda: client.cancel_job(request=request, retry=None, timeout=RPC_TIMEOUT),
                f"CancelJob {name}",
                policy,
            )
        except (api_exceptions.NotFound, api_exceptions.FailedPrecondition) as exc:
            self.log.info("Batch job %s not cancelled: %s", name, exc)
            return False
        self.log.info("Requested cancellation of Batch job %s", name)
        return True

    def delete_job(self, name: str, *, reason: str = "deleted by airflow-batchstream") -> bool:
        """Ask Batch to delete a job; False if it is already gone."""
        request = DeleteJobRequest(name=name, reason=reason, request_id=request_id_for(name, "delete"))
        client = self.get_conn()
        try:
            self._call(
                lambda: client.delete_job(request=request, retry=None, timeout=RPC_TIMEOUT),
                f"DeleteJob {name}",
            )
        except api_exceptions.NotFound:
            return False
        return True

    def failed_tasks(self, job_name: str, *, limit: int = 3) -> list[Task]:
        """A few FAILED tasks of a job (best effort: [] on any error), for the diagnosis."""
        request = _failed_tasks_request(job_name, limit)
        try:
            pager = self.get_conn().list_tasks(request=request, retry=None, timeout=RPC_TIMEOUT)
            return [task for _, task in zip(range(limit), pager, strict=False)]
        except Exception as exc:
            self.log.debug("ListTasks for %s failed: %s", job_name, exc)
            return []

    def end_payload(self, job: Job | None, name: str, *, image_digest_hint: str = "") -> dict[str, Any]:
        """The payload of a job that has ended; for a FAILED one, its failed tasks feed the diagnosis."""
        tasks = self.failed_tasks(name) if states.outcome_of(job) is states.Outcome.FAILED else ()
        return states.event_payload(job, job_name=name, tasks=tasks, image_digest_hint=image_digest_hint)

    def wait_for_job(
        self, name: str, *, poll_interval: float, deadline: float | None, image_digest_hint: str = ""
    ) -> dict[str, Any]:
        """Poll until the job ends or ``deadline`` (epoch seconds) passes; return the event payload.

        The same outcome rules and payload as :class:`~airflow_batchstream.triggers.BatchStreamJobTrigger`.
        A ``timeout`` payload leaves the job running: whether to cancel it is the owner's decision.
        """
        waiter = Waiter(poll_interval, deadline)
        while True:
            try:
                job = self.get_job(name, missing_ok=True)
            except Exception as exc:
                if not is_transient(exc):
                    raise
                self.log.warning("GetJob %s still failing (%s); waiting on", name, status_name(exc))
                job, step = None, waiter.step_unreachable()
            else:
                step = waiter.step(job)
            if step.action == "finish":
                return self.end_payload(job, name, image_digest_hint=image_digest_hint)
            if step.action == "timeout":
                return states.event_payload(
                    job, job_name=name, timed_out=True, image_digest_hint=image_digest_hint
                )
            if job is not None:
                self.log.info(
                    "Batch job %s is %s; next check in %.1fs",
                    name,
                    states.state_name(job.status.state),
                    step.delay,
                )
            time.sleep(step.delay)

    # -- async API (triggers)

    async def aget_job(self, name: str) -> Job | None:
        """GetJob through the shared client and rate limiter; None on NOT_FOUND."""
        client = await self.get_async_conn()
        limiter = read_limiter(self.endpoint, _location_of(name))

        async def once() -> Job:
            await limiter.acquire()
            return await client.get_job(name=name, retry=None, timeout=RPC_TIMEOUT)

        try:
            return await self._acall(once, f"GetJob {name}")
        except api_exceptions.NotFound:
            return None

    async def acancel_job(self, name: str, *, policy: RetryPolicy | None = None) -> bool:
        """The async twin of :meth:`cancel_job`."""
        client = await self.get_async_conn()
        request = _cancel_request(name)
        try:
            await self._acall(
                lambda: client.cancel_job(request=request, retry=None, timeout=RPC_TIMEOUT),
                f"CancelJob {name}",
                policy,
            )
        except (api_exceptions.NotFound, api_exceptions.FailedPrecondition) as exc:
            self.log.info("Batch job %s not cancelled: %s", name, exc)
            return False
        self.log.info("Requested cancellation of Batch job %s", name)
        return True

    async def aend_payload(
        self, job: Job | None, name: str, *, image_digest_hint: str = ""
    ) -> dict[str, Any]:
        """The async twin of :meth:`end_payload`."""
        tasks = await self.afailed_tasks(name) if states.outcome_of(job) is states.Outcome.FAILED else ()
        return states.event_payload(job, job_name=name, tasks=tasks, image_digest_hint=image_digest_hint)

    async def afailed_tasks(self, job_name: str, *, limit: int = 3) -> list[Task]:
        client = await self.get_async_conn()
        request = _failed_tasks_request(job_name, limit)
        try:
            await read_limiter(self.endpoint, _location_of(job_name)).acquire()
            pager = await client.list_tasks(request=request, retry=None, timeout=RPC_TIMEOUT)
            found: list[Task] = []
            async for task in pager:
                found.append(task)
                if len(found) >= limit:
                    break
            return found
        except Exception as exc:
            self.log.debug("ListTasks for %s failed: %s", job_name, exc)
            return []
