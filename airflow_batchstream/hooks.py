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
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

import grpc
from airflow.providers.google.common.hooks.base_google import GoogleBaseHook, get_field
from airflow.sdk import BaseHook
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

from airflow_batchstream import _shared, config, credentials
from airflow_batchstream.container_logs import SyncForwarding
from airflow_batchstream.exceptions import BatchApiError, CredentialsRefused
from airflow_batchstream.identity import request_id_for
from airflow_batchstream.retry import RetryPolicy, acall, call, is_transient, status_name
from airflow_batchstream.states import Outcome, event_payload, outcome_of, parse_job_name
from airflow_batchstream.waiting import Waiter

#: Per-RPC timeout. The generated client's own retry is switched off (``retry=None``) so that
#: :mod:`airflow_batchstream.retry` is the only retry layer, with one budget.
RPC_TIMEOUT = 30.0

T = TypeVar("T")


def _location_of(job_name: str) -> str:
    return parse_job_name(job_name).get("location", "")


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


class BatchStreamHook(BaseHook):
    """Google Cloud Batch: idempotent create, reads, cancel, delete; sync and async.

    Against Google Cloud, the Airflow connection (credentials, default project, impersonation) is
    read by a ``GoogleBaseHook`` this hook holds as :attr:`google`. With an emulator address
    (``BATCHSTREAM_EMULATOR_HOST``, or ``emulator_host``) there is none: no connection is looked
    up, and the clients speak plain gRPC to the emulator with no credentials.

    Transient errors are retried per ``retry`` (:mod:`airflow_batchstream.retry`). Credentials
    Google refuses for good fail every call at once with :class:`CredentialsRefused` (naming the
    identity), even when gRPC reports them as a transient ``UNAVAILABLE``; see
    :mod:`airflow_batchstream.credentials`.

    :param gcp_conn_id: Airflow connection of type ``google_cloud_platform``.
    :param impersonation_chain: service account(s) to impersonate.
    :param emulator_host: ``host:port`` of a Batch emulator; defaults to ``BATCHSTREAM_EMULATOR_HOST``.
    :param api_endpoint: the Batch API endpoint (``host[:port]``), e.g. a Private Service Connect
        endpoint; defaults to the connection's ``api_endpoint`` extra, then Google's.
    :param retry: how transient errors are retried (default: ``[batchstream] api_retry_budget``
        seconds of backoff per call).
    :param kwargs: passed to ``GoogleBaseHook`` against Google Cloud (e.g. ``quota_project_id``).
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
        retry: RetryPolicy | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__()
        self.gcp_conn_id = gcp_conn_id
        self.impersonation_chain = impersonation_chain
        self.emulator_host = emulator_host or config.emulator_host()
        self.retry = retry or RetryPolicy(budget=config.API_RETRY_BUDGET.read())
        self._client: BatchServiceClient | None = None
        self._credentials: Any = None  # those of the clients, once built
        #: The connection's side against Google Cloud; None against the emulator.
        self.google: GoogleBaseHook | None = None
        self.api_endpoint: str | None = None
        if not self.emulator_host:
            self.google = GoogleBaseHook(
                gcp_conn_id=gcp_conn_id, impersonation_chain=impersonation_chain, **kwargs
            )
            self.api_endpoint = api_endpoint or get_field(self.google.extras, "api_endpoint") or None

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
        if self.google is not None:
            return (
                self.google.project_id,
                f"the {self.gcp_conn_id!r} connection (or application default credentials)",
            )
        return config.EMULATOR_PROJECT.read(), f"{config.EMULATOR_PROJECT.name}, the emulator's default"

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
            where = (
                f"set 'project' in the {self.gcp_conn_id!r} connection"
                if self.google is not None
                else f"set {config.EMULATOR_PROJECT.name}"
            )
            message = f"not given, and the project from {source}, {project!r}, is not valid: {why}"
            raise ParameterInvalid(
                [Problem("", "P-FORM", message, f"pass project_id, or {where}", parameter="project_id")],
                type(self).__name__,
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

    def get_credentials(self) -> Any:
        """The connection's google-auth credentials (None against the emulator, which needs none)."""
        return self.google.get_credentials() if self.google is not None else None

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
        if self.google is None:
            return None
        error = _refusal_without_io(exc)
        if error is None and is_transient(exc):
            error = credentials.permanent_refresh_error(self._credentials)
        return self._refused(error) if error is not None else None

    async def _arefusal(self, exc: BaseException) -> CredentialsRefused | None:
        """:meth:`_refusal` with the refresh (blocking I/O) in a thread."""
        if self.google is None:
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
            if self.google is None:
                channel = grpc.insecure_channel(self.emulator_host)
                self._client = BatchServiceClient(transport=BatchServiceGrpcTransport(channel=channel))
            else:
                from airflow.providers.google.common.consts import CLIENT_INFO

                self._client = BatchServiceClient(
                    credentials=self._load_credentials(),
                    client_info=CLIENT_INFO,
                    client_options=self.google.get_client_options(self.api_endpoint),
                )
        return self._client

    async def get_async_conn(self) -> BatchServiceAsyncClient:
        """The async client shared by every hook of this loop with the same connection and endpoint."""
        chain = self.impersonation_chain
        chain_key = tuple(chain) if isinstance(chain, (list, tuple)) else chain
        key = (self.gcp_conn_id, chain_key, self.endpoint)
        client, self._credentials = await _shared.shared_async_client(key, self._new_async_client)
        return client

    async def _new_async_client(self) -> tuple[BatchServiceAsyncClient, Any]:
        """A new async client and the credentials it uses (None against the emulator)."""
        if self.google is None:
            channel = grpc.aio.insecure_channel(self.emulator_host)
            return BatchServiceAsyncClient(transport=BatchServiceGrpcAsyncIOTransport(channel=channel)), None
        from airflow.providers.google.common.consts import CLIENT_INFO

        # Credential lookup may block (metadata server, impersonation); keep it off the loop.
        found = await asyncio.to_thread(self._load_credentials)
        client = BatchServiceAsyncClient(
            credentials=found,
            client_info=CLIENT_INFO,
            client_options=self.google.get_client_options(self.api_endpoint),
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

    def end_payload(
        self,
        job: Job | None,
        name: str,
        *,
        image_digest_hint: str = "",
        last_lines: Callable[[int | None], list[str]] | None = None,
    ) -> dict[str, Any]:
        """The payload of a job that has ended; for a FAILED one, its failed tasks and the last
        lines the failing task printed (``last_lines``, by task index) feed the diagnosis."""
        tasks = self.failed_tasks(name) if outcome_of(job) is Outcome.FAILED else ()
        return event_payload(
            job, job_name=name, tasks=tasks, image_digest_hint=image_digest_hint, last_lines=last_lines
        )

    def wait_for_job(
        self,
        name: str,
        *,
        poll_interval: float,
        deadline: float | None,
        image_digest_hint: str = "",
        container_logs: str | int = "all",
    ) -> dict[str, Any]:
        """Poll until the job ends or ``deadline`` (epoch seconds) passes; return the event payload.

        The same outcome rules and payload as :class:`~airflow_batchstream.triggers.BatchStreamJobTrigger`.
        A ``timeout`` payload leaves the job running: whether to cancel it is the owner's decision.
        Meanwhile the lines the job's tasks print go to the log, per ``container_logs``
        (:mod:`airflow_batchstream.container_logs`).
        """
        waiter = Waiter(poll_interval, deadline)
        forwarding = SyncForwarding(container_logs, poll_interval, self.log)
        try:
            while True:
                try:
                    job = self.get_job(name, missing_ok=True)
                except Exception as exc:
                    job, step = None, waiter.step_failed(exc)
                    if step.action == "error":
                        raise
                    self.log.warning("GetJob %s still failing (%s); waiting on", name, status_name(exc))
                else:
                    step = waiter.step(job)
                    forwarding.start(job, self)
                if step.progress:
                    self.log.info("%s", step.progress)
                if step.action == "finish":
                    forwarding.finish(job)
                    return self.end_payload(
                        job, name, image_digest_hint=image_digest_hint, last_lines=forwarding.last_lines
                    )
                if step.action == "timeout":
                    return event_payload(
                        job, job_name=name, timed_out=True, image_digest_hint=image_digest_hint
                    )
                forwarding.sleep(step.delay)
        finally:
            forwarding.close()

    # -- async API (triggers)

    async def aget_job(self, name: str) -> Job | None:
        """GetJob through the shared client and rate limiter; None on NOT_FOUND."""
        client = await self.get_async_conn()
        limiter = _shared.read_limiter(self.endpoint, _location_of(name))

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
        self,
        job: Job | None,
        name: str,
        *,
        image_digest_hint: str = "",
        last_lines: Callable[[int | None], list[str]] | None = None,
    ) -> dict[str, Any]:
        """The async twin of :meth:`end_payload`."""
        tasks = await self.afailed_tasks(name) if outcome_of(job) is Outcome.FAILED else ()
        return event_payload(
            job, job_name=name, tasks=tasks, image_digest_hint=image_digest_hint, last_lines=last_lines
        )

    async def afailed_tasks(self, job_name: str, *, limit: int = 3) -> list[Task]:
        client = await self.get_async_conn()
        request = _failed_tasks_request(job_name, limit)
        try:
            await _shared.read_limiter(self.endpoint, _location_of(job_name)).acquire()
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
