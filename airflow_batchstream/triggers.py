"""BatchStreamJobTrigger: wait for a Batch job in the triggerer, with an absolute deadline.

Why not Airflow 3.3's shared streams (``BaseEventTrigger.shared_stream_key`` /
``open_shared_stream`` / ``filter_shared_stream``)? The triggerer runner does take that path for
task-deferral triggers too (``TriggerRunner.run_trigger`` checks only ``isinstance(trigger,
BaseEventTrigger)`` and a non-None key), but it does not fit a job waiter:

* ``open_shared_stream`` is a classmethod that receives the kwargs of *one* trigger of the group;
  it cannot know which jobs the other subscribers wait for. One shared poll would therefore have
  to ListJobs the whole region each round: the ListJobs filter grammar is undocumented
  (docs/batch-facts.md section 2), Batch keeps finished jobs for 60 days (thousands of jobs per page
  walk), and list consistency for a just-created job is not documented.
* The stream contract is "yield forever, or raise", and a raise is propagated to *every*
  subscriber: one failed shared poll would fail all waiting tasks, the opposite of "transient
  errors never end a wait".
* Per-trigger deadlines and backoff, and ``on_kill`` (which the runner does call on the shared
  path too), would all live in ``filter_shared_stream`` anyway.

So each trigger keeps its own tiny loop (a :class:`~airflow_batchstream.waiting.Waiter`) and what
is expensive is shared instead (:mod:`airflow_batchstream._shared`): one async gRPC client per
(event loop, connection, impersonation, endpoint) and one read limiter per (event loop, endpoint,
region), with backoff while a job's state does not change.

The hook module (grpc, google.api_core, the Batch client: one to two seconds of imports on a small
machine) is loaded in a thread by the first trigger of a triggerer process, never on its event
loop, which every other trigger of that triggerer shares.
"""

from __future__ import annotations

import asyncio
import importlib
import time
from collections.abc import AsyncIterator, Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_batchstream import config
from airflow_batchstream.container_logs import ALL, AsyncForwarding
from airflow_batchstream.retry import RetryPolicy, status_name
from airflow_batchstream.states import error_payload, event_payload
from airflow_batchstream.waiting import Waiter

if TYPE_CHECKING:
    from airflow_batchstream.hooks import BatchStreamHook

#: Seconds ``on_kill`` may spend cancelling (the runner bounds it by [triggerer] on_kill_timeout).
ON_KILL_BUDGET = 20.0

#: The module that talks to Batch; imported off the event loop by :func:`load_hooks`.
HOOKS_MODULE = "airflow_batchstream.hooks"

#: The event is held until this long after deferral. Airflow 3.3's scheduler fails a deferred
#: task whose trigger fires before it has processed the executor's report of the worker's
#: defer-exit ("state mismatch", apache/airflow#71580 and #72716): the job succeeded, the task
#: fails, and its retry would start the job again. Real Batch jobs take longer than this to get a
#: VM, so only jobs that end within seconds of deferral wait a little longer.
DEFER_SETTLE_SECONDS = 10.0


class BatchStreamJobTrigger(BaseTrigger):
    """Fire one event when a Batch job ends, is gone, or its deadline passes.

    The event payload is ``{"status": "success"|"failed"|"timeout"|"error", "summary": {...},
    "facts": {...}}`` (:func:`~airflow_batchstream.states.event_payload`): the operator's
    ``execute_complete`` needs no further API call, and words its diagnosis itself.

    :param job_name: full resource name ``projects/P/locations/L/jobs/J``.
    :param deadline: absolute epoch seconds after which the wait ends with ``timeout`` (None: no
        deadline). Absolute, so a triggerer restart does not reset it.
    :param poll_interval: seconds between checks after a change; grows up to 4x while nothing changes
        (default: ``[batchstream] default_poll_interval``).
    :param gcp_conn_id: Airflow connection id.
    :param impersonation_chain: service account(s) to impersonate.
    :param cancel_on_kill: cancel the job when the deadline passes or the user kills the task.
    :param emulator_host: Batch emulator address, captured at defer time (``BATCHSTREAM_EMULATOR_HOST``)
        so that the triggerer talks to the same endpoint as the worker did.
    :param api_endpoint: the Batch API endpoint the worker used (the connection's ``api_endpoint``
        extra), serialized for the same reason; None means the connection's, then Google's.
    :param image_digest: digest the operator resolved, carried into the summary.
    :param max_poll_interval: longest delay between checks while nothing changes (default
        ``4 * poll_interval``); ``poll_interval`` itself disables the backoff.
    :param not_before: epoch seconds before which the event is not fired (default: now, at defer
        time, plus :data:`DEFER_SETTLE_SECONDS`); serialized, so a rebuild keeps it.
    :param container_logs: the lines the job's tasks print, logged while waiting: ``"all"``,
        ``"off"``, or a number N for the last N lines once the job ended
        (:mod:`airflow_batchstream.container_logs`).
    """

    def __init__(
        self,
        *,
        job_name: str,
        deadline: float | None = None,
        poll_interval: float | None = None,
        gcp_conn_id: str = "google_cloud_default",
        impersonation_chain: str | Sequence[str] | None = None,
        cancel_on_kill: bool = True,
        emulator_host: str | None = None,
        api_endpoint: str | None = None,
        image_digest: str = "",
        max_poll_interval: float | None = None,
        not_before: float | None = None,
        container_logs: str | int = ALL,
    ):
        super().__init__()
        self.job_name = job_name
        self.deadline = deadline
        self.poll_interval = (
            poll_interval if poll_interval is not None else config.DEFAULT_POLL_INTERVAL.read()
        )
        self.gcp_conn_id = gcp_conn_id
        self.impersonation_chain = impersonation_chain
        self.cancel_on_kill = cancel_on_kill
        self.emulator_host = emulator_host if emulator_host is not None else config.emulator_host()
        self.api_endpoint = api_endpoint
        self.image_digest = image_digest
        self.max_poll_interval = max_poll_interval
        self.not_before = time.time() + DEFER_SETTLE_SECONDS if not_before is None else not_before
        self.container_logs = container_logs
        self._hook: BatchStreamHook | None = None

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "job_name": self.job_name,
                "deadline": self.deadline,
                "poll_interval": self.poll_interval,
                "gcp_conn_id": self.gcp_conn_id,
                "impersonation_chain": self.impersonation_chain,
                "cancel_on_kill": self.cancel_on_kill,
                "emulator_host": self.emulator_host,
                "api_endpoint": self.api_endpoint,
                "image_digest": self.image_digest,
                "max_poll_interval": self.max_poll_interval,
                "not_before": self.not_before,
                "container_logs": self.container_logs,
            },
        )

    async def get_hook(self) -> BatchStreamHook:
        if self._hook is None:
            hooks = await load_hooks()
            emulator_host = self.emulator_host or None

            def build() -> BatchStreamHook:
                return hooks.BatchStreamHook(
                    gcp_conn_id=self.gcp_conn_id,
                    impersonation_chain=self.impersonation_chain,
                    emulator_host=emulator_host,
                    api_endpoint=self.api_endpoint,
                    # A short budget per call: when it runs out on a transient error the loop
                    # goes on waiting and re-checks the deadline, rather than retrying past it.
                    retry=RetryPolicy(budget=max(30.0, 2 * float(self.poll_interval))),
                )

            # Without the emulator the hook fetches the connection: keep that off the loop too.
            self._hook = build() if emulator_host else await asyncio.to_thread(build)
        return self._hook

    async def run(self) -> AsyncIterator[TriggerEvent]:
        payload = await self.wait()
        await asyncio.sleep(max(0.0, self.not_before - time.time()))
        yield TriggerEvent(payload)

    async def wait(self) -> dict[str, Any]:
        """The payload of the wait's end; never raises for an API error (it becomes ``error``).

        Progress and the lines the job's tasks print are logged from this coroutine, which is what
        puts them in this task's log.
        """
        waiter = Waiter(self.poll_interval, self.deadline, max_poll_interval=self.max_poll_interval)
        forwarding = AsyncForwarding(self.container_logs, self.poll_interval, self.log)
        try:
            while True:
                try:
                    hook = await self.get_hook()
                    job = await hook.aget_job(self.job_name)
                except Exception as exc:
                    job, step = None, waiter.step_failed(exc)
                    if step.action == "error":
                        self.log.error("Waiting for Batch job %s failed: %s", self.job_name, exc)
                        return error_payload(self.job_name, f"GetJob {self.job_name} failed: {exc}", exc)
                    self.log.warning(
                        "GetJob %s still failing (%s); waiting on", self.job_name, status_name(exc)
                    )
                else:
                    step = waiter.step(job)
                    await forwarding.start(job, hook)
                if step.progress:
                    self.log.info("%s", step.progress)
                if step.action == "finish":
                    await forwarding.finish(job)
                    return await hook.aend_payload(
                        job,
                        self.job_name,
                        image_digest_hint=self.image_digest,
                        last_lines=forwarding.last_lines,
                    )
                if step.action == "timeout":
                    return await self._time_out(job)
                await forwarding.sleep(step.delay)
        finally:
            forwarding.close()

    async def _time_out(self, job: Any) -> dict[str, Any]:
        if self.cancel_on_kill:
            try:
                await (await self.get_hook()).acancel_job(self.job_name)
            except Exception as exc:
                self.log.warning("Could not cancel timed-out Batch job %s: %s", self.job_name, exc)
        return event_payload(job, job_name=self.job_name, timed_out=True, image_digest_hint=self.image_digest)

    async def on_kill(self) -> None:
        """Cancel the job when a user marks the deferred task failed/success or clears it.

        Airflow 3.3's triggerer calls this only for that user action (the runner cancels the
        trigger task with ``__airflow_user_action__`` and awaits ``on_kill()`` bounded by
        ``[triggerer] on_kill_timeout``); not on triggerer restarts, redistribution, trigger
        timeouts or normal completion.
        """
        if not self.cancel_on_kill:
            return
        hook = await self.get_hook()
        started = time.monotonic()
        cancelled = await hook.acancel_job(self.job_name, policy=RetryPolicy(budget=ON_KILL_BUDGET))
        self.log.info(
            "Task killed: cancel of Batch job %s %s (%.1fs)",
            self.job_name,
            "requested" if cancelled else "not needed",
            time.monotonic() - started,
        )


async def load_hooks() -> ModuleType:
    """The hook module, imported in a thread the first time so the event loop never stalls on it."""
    return await asyncio.to_thread(importlib.import_module, HOOKS_MODULE)
