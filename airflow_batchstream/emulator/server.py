"""The gRPC front of the emulator: :class:`BatchEmulator`, a ``grpc.aio`` server on loopback.

The server runs its own event loop in one background thread, so tests (sync or async) and the
CLI drive it the same way. Handlers are generic: they receive the request bytes, parse them with
the message types of the installed google-cloud-batch (so a request that does not parse is an
INVALID_ARGUMENT, as it is for Batch) and answer bytes the store has already serialized.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from google.cloud.batch_v1 import types as batch
from google.cloud.location import locations_pb2
from google.cloud.logging_v2.types import ListLogEntriesRequest
from google.longrunning import operations_pb2
from google.protobuf.message import DecodeError

from airflow_batchstream.emulator.faults import FaultInjector, QuotaLimiter
from airflow_batchstream.emulator.scenario import Scenario
from airflow_batchstream.emulator.store import Store
from airflow_batchstream.emulator.validation import EmulatorError

log = logging.getLogger("airflow_batchstream.emulator")

BATCH_SERVICE = "google.cloud.batch.v1.BatchService"
OPERATIONS_SERVICE = "google.longrunning.Operations"
LOCATIONS_SERVICE = "google.cloud.location.Locations"
#: Cloud Logging's reads, on the same address: what the jobs' tasks printed (.cloud_logging).
LOGGING_SERVICE = "google.logging.v2.LoggingServiceV2"
#: The emulator's own test controls, for clients in other processes (the e2e tests hold jobs
#: RUNNING and end them from the test). Requests and answers are JSON bytes; see
#: :func:`airflow_batchstream.emulator.client.finish_job`.
CONTROL_SERVICE = "batchstream.emulator.Control"


@dataclass(frozen=True)
class Rpc:
    """One RPC the emulator serves: where it lives, what it parses, what it logs as target."""

    service: str
    request: type
    method: str  # Store method name
    target: Callable[[Any], str]


def _name(request) -> str:
    return request.name


def _parent(request) -> str:
    return request.parent


def _new_job(request) -> str:
    return f"{request.parent}/jobs/{request.job_id or '?'}"


def _resources(request) -> str:
    return ",".join(request.resource_names)


RPCS: Mapping[str, Rpc] = {
    "CreateJob": Rpc(BATCH_SERVICE, batch.CreateJobRequest.pb(), "create_job", _new_job),
    "GetJob": Rpc(BATCH_SERVICE, batch.GetJobRequest.pb(), "get_job", _name),
    "ListJobs": Rpc(BATCH_SERVICE, batch.ListJobsRequest.pb(), "list_jobs", _parent),
    "CancelJob": Rpc(BATCH_SERVICE, batch.CancelJobRequest.pb(), "cancel_job", _name),
    "DeleteJob": Rpc(BATCH_SERVICE, batch.DeleteJobRequest.pb(), "delete_job", _name),
    "GetTask": Rpc(BATCH_SERVICE, batch.GetTaskRequest.pb(), "get_task", _name),
    "ListTasks": Rpc(BATCH_SERVICE, batch.ListTasksRequest.pb(), "list_tasks", _parent),
    "GetOperation": Rpc(OPERATIONS_SERVICE, operations_pb2.GetOperationRequest, "get_operation", _name),
    "ListOperations": Rpc(OPERATIONS_SERVICE, operations_pb2.ListOperationsRequest, "list_operations", _name),
    "DeleteOperation": Rpc(
        OPERATIONS_SERVICE, operations_pb2.DeleteOperationRequest, "delete_operation", _name
    ),
    "CancelOperation": Rpc(
        OPERATIONS_SERVICE, operations_pb2.CancelOperationRequest, "cancel_operation", _name
    ),
    "ListLocations": Rpc(LOCATIONS_SERVICE, locations_pb2.ListLocationsRequest, "list_locations", _name),
    "GetLocation": Rpc(LOCATIONS_SERVICE, locations_pb2.GetLocationRequest, "get_location", _name),
    "ListLogEntries": Rpc(LOGGING_SERVICE, ListLogEntriesRequest.pb(), "list_log_entries", _resources),
}


def format_address(host: str, port: int) -> str:
    """``host:port``, bracketing IPv6 literals as gRPC targets require."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class BatchEmulator:
    """A local ``google.cloud.batch.v1.BatchService`` for tests and offline development.

    :param speed: emulated seconds per wall second (``> 1`` is faster); fixed per job at creation.
    :param scenario: what happens to jobs: a :class:`Scenario`, its dict/list form, a YAML/JSON
        file path, or ``None`` (every task succeeds after the default phases).
    :param clock: wall clock, seconds since the epoch (tests of time may pass their own).
    :param authenticate: stands in for Google's check of the caller's credentials: given a call's
        metadata (``{"authorization": "Bearer ..."}``), the reason to refuse it with
        UNAUTHENTICATED, or None to serve it. None (the default): every call is served.
    """

    def __init__(
        self,
        speed: float = 1.0,
        scenario: Scenario | Mapping[str, Any] | Sequence[Any] | str | Path | None = None,
        *,
        clock: Callable[[], float] = time.time,
        authenticate: Callable[[Mapping[str, str]], str | None] | None = None,
    ) -> None:
        self._authenticate = authenticate
        self._initial_scenario = Scenario.coerce(scenario)
        self._store = Store(speed=speed, scenario=self._initial_scenario, clock=clock)
        self._faults = FaultInjector()
        self._quota = QuotaLimiter()
        self._counts: Counter[str] = Counter()
        self._counts_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_requested: asyncio.Event | None = None
        self._address: str | None = None
        self._grace = 0.5

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0, *, tls: tuple[bytes, bytes] | None = None) -> str:
        """Serve on ``host:port`` (port 0 picks a free one) and return the ``host:port`` address.

        :param tls: ``(private key PEM, certificate chain PEM)``: serve TLS instead of plain gRPC,
            so that clients built for Google's endpoint (credentials, TLS) can be pointed at it.
        """
        if self._thread is not None:
            raise RuntimeError(f"the emulator is already serving on {self._address}")
        ready = threading.Event()
        outcome: dict[str, Any] = {}
        self._thread = threading.Thread(
            target=self._serve, args=(host, port, tls, ready, outcome), name="batch-emulator", daemon=True
        )
        self._thread.start()
        ready.wait()
        if "error" in outcome:
            self._thread.join()
            self._thread = None
            raise outcome["error"]
        self._address = format_address(host, outcome["port"])
        return self._address

    def stop(self, grace: float = 0.5) -> None:
        """Stop serving (in-flight calls get ``grace`` seconds) and wait for the server thread."""
        if self._thread is None:
            return
        self._grace = grace
        self._loop.call_soon_threadsafe(self._stop_requested.set)
        self._thread.join()
        self._thread = None
        self._address = None

    def __enter__(self) -> BatchEmulator:
        if self._thread is None:
            self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def address(self) -> str:
        """``host:port`` the emulator serves on (set by :meth:`start`)."""
        if self._address is None:
            raise RuntimeError("the emulator is not serving; call start() first")
        return self._address

    @property
    def speed(self) -> float:
        return self._store.speed

    def _serve(self, host: str, port: int, tls: Any, ready: threading.Event, outcome: dict[str, Any]) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._run_server(host, port, tls, ready, outcome))
        except BaseException as error:  # surfaced to start() if it happened before ready
            outcome.setdefault("error", error)
            ready.set()
        finally:
            loop.close()

    async def _run_server(
        self, host: str, port: int, tls: Any, ready: threading.Event, outcome: dict[str, Any]
    ) -> None:
        self._stop_requested = asyncio.Event()
        # No SO_REUSEPORT: a second emulator on a busy port must fail, not share it silently.
        server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
        server.add_generic_rpc_handlers([*self._generic_handlers(), self._control_handler()])
        address = format_address(host, port)
        if tls is None:
            outcome["port"] = server.add_insecure_port(address)
        else:
            outcome["port"] = server.add_secure_port(address, grpc.ssl_server_credentials([tls]))
        await server.start()
        ready.set()
        await self._stop_requested.wait()
        await server.stop(self._grace)

    def _generic_handlers(self) -> list[grpc.GenericRpcHandler]:
        by_service: dict[str, dict[str, grpc.RpcMethodHandler]] = {}
        for name, rpc in RPCS.items():
            # No (de)serializers: handlers get and return bytes, so parse errors stay ours.
            by_service.setdefault(rpc.service, {})[name] = grpc.unary_unary_rpc_method_handler(
                self._handler(name, rpc)
            )
        return [
            grpc.method_handlers_generic_handler(service, methods) for service, methods in by_service.items()
        ]

    def _handler(self, name: str, rpc: Rpc):
        method = getattr(self._store, rpc.method)

        async def handle(data: bytes, context: grpc.aio.ServicerContext) -> bytes:
            started = time.perf_counter()
            with self._counts_lock:
                self._counts[name] += 1
            target, code = "-", grpc.StatusCode.OK
            try:
                try:
                    request = rpc.request.FromString(data)
                except DecodeError as error:
                    raise EmulatorError(
                        grpc.StatusCode.INVALID_ARGUMENT, f"Invalid request: {error}"
                    ) from None
                target = rpc.target(request) or "-"
                if self._authenticate is not None:
                    refusal = self._authenticate(dict(context.invocation_metadata() or ()))
                    if refusal:
                        raise EmulatorError(grpc.StatusCode.UNAUTHENTICATED, refusal)
                delay = self._faults.delay(name)
                if delay:
                    await asyncio.sleep(delay)
                refusal = self._quota.admit(name, target)
                if refusal is not None:
                    raise EmulatorError(grpc.StatusCode.RESOURCE_EXHAUSTED, refusal)
                fault = self._faults.draw(name)
                if fault is not None and not fault.lost:
                    raise EmulatorError(fault.code, fault.message)
                response = method(request)
                if fault is not None:
                    raise EmulatorError(fault.code, fault.message)
                return response
            except EmulatorError as error:
                code = error.code
                await context.abort(error.code, error.message)
            except Exception:
                code = grpc.StatusCode.INTERNAL
                log.exception("%s %s failed", name, target)
                await context.abort(grpc.StatusCode.INTERNAL, "emulator internal error")
            finally:
                if log.isEnabledFor(logging.INFO):
                    elapsed = (time.perf_counter() - started) * 1000
                    log.info("%s %s %s %.1fms", name, target, code.name, elapsed)

        return handle

    def _control_handler(self) -> grpc.GenericRpcHandler:
        """``FinishJob {"name", "exit_code"}`` and ``ReleaseJob {"name"}``: :meth:`finish_job` and
        :meth:`release_job` for clients in other processes."""

        def control(act: Callable[[dict], None]):
            async def handle(data: bytes, context: grpc.aio.ServicerContext) -> bytes:
                try:
                    act(json.loads(data))
                except KeyError as error:
                    await context.abort(grpc.StatusCode.NOT_FOUND, f"no job {error}")
                except (ValueError, TypeError) as error:
                    await context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(error))
                return b"{}"

            return grpc.unary_unary_rpc_method_handler(handle)

        handlers = {
            "FinishJob": control(lambda r: self.finish_job(str(r["name"]), int(r.get("exit_code", 0)))),
            "ReleaseJob": control(lambda r: self.release_job(str(r["name"]))),
        }
        return grpc.method_handlers_generic_handler(CONTROL_SERVICE, handlers)

    # -- observation -------------------------------------------------------------------------

    def jobs(self) -> list[batch.Job]:
        """Every job that exists now, with its current state."""
        return [batch.Job.deserialize(data) for data in self._store.job_messages()]

    def job(self, name: str) -> batch.Job:
        """One job by full name (or bare job id when unambiguous); KeyError if it does not exist."""
        try:
            return batch.Job.deserialize(self._store.job_message(name))
        except EmulatorError:
            raise KeyError(name) from None

    @property
    def call_counts(self) -> dict[str, int]:
        """RPC name -> calls received (faulty ones included), e.g. ``{"CreateJob": 1, "GetJob": 42}``."""
        with self._counts_lock:
            return dict(self._counts)

    @property
    def quota_refusals(self) -> dict[str, int]:
        """Quota kind (``read``, ``mutation``, ``logging_read``) -> calls refused RESOURCE_EXHAUSTED."""
        return dict(self._quota.refused)

    def reset_counts(self) -> None:
        with self._counts_lock:
            self._counts.clear()

    # -- control -----------------------------------------------------------------------------

    def set_scenario(
        self, scenario: Scenario | Mapping[str, Any] | Sequence[Any] | str | Path | None
    ) -> None:
        """Decide the fate of jobs created from now on (existing jobs keep theirs)."""
        parsed = Scenario.coerce(scenario)
        with self._store.lock:
            self._store.scenario = parsed

    def set_faults(self, *, rpcs: Iterable[str] | None = None, **settings: Any) -> None:
        """Answer a ``fraction`` of calls (of ``rpcs``, or all) with one of ``codes``; the keyword
        arguments are :meth:`FaultInjector.configure`'s. ``set_faults()`` turns them off."""
        if rpcs is not None:
            rpcs = tuple(rpcs)
            unknown = set(rpcs) - set(RPCS)
            if unknown:
                raise ValueError(f"unknown RPC(s) {sorted(unknown)}; known: {sorted(RPCS)}")
        self._faults.configure(rpcs=rpcs, **settings)

    def inject_fault(self, rpc: str, code: str | grpc.StatusCode = "UNAVAILABLE", count: int = 1) -> None:
        """Fail the next ``count`` calls of ``rpc`` with ``code``, before they take effect."""
        self._check_rpc(rpc)
        self._faults.queue(rpc, code, count)

    def lose_next_response(self, rpc: str = "CreateJob", count: int = 1) -> None:
        """Let the next ``count`` calls of ``rpc`` take effect but answer them UNAVAILABLE."""
        self._check_rpc(rpc)
        self._faults.queue(rpc, "UNAVAILABLE", count, lost=True)

    def clear_faults(self) -> None:
        """Turn off random and queued faults, latency and quotas."""
        self._faults.clear()
        self._quota.configure()

    def set_quota(
        self,
        reads_per_minute: int | None = None,
        mutations_per_minute: int | None = None,
        window: float = 60.0,
        *,
        logging_reads_per_minute: int | None = None,
    ) -> None:
        """Enforce Batch's per-region quotas (Batch: 15,000 reads, 6,000 mutations a minute) and
        Cloud Logging's per-project read quota (``ReadRequestsPerMinutePerProject``, 60 in many
        projects; every ListLogEntries page counts): calls beyond them get RESOURCE_EXHAUSTED.
        ``None`` lifts a quota; ``window`` is the "minute" in seconds (shrink it in tests)."""
        self._quota.configure(reads_per_minute, mutations_per_minute, window, logging_reads_per_minute)

    @staticmethod
    def _check_rpc(rpc: str) -> None:
        if rpc not in RPCS:
            raise ValueError(f"unknown RPC {rpc!r}; known: {sorted(RPCS)}")

    def finish_job(self, name: str, exit_code: int = 0) -> None:
        """End a job's unfinished tasks now with ``exit_code`` (no retries): ends stay-running jobs."""
        self._call_store(self._store.finish_job, name, exit_code)

    def release_job(self, name: str) -> None:
        """Let a job a ``stay_queued`` rule holds in QUEUED go on now (capacity was found)."""
        self._call_store(self._store.release_job, name)

    def task_environment(self, name: str, index: int) -> dict[str, str]:
        """The environment variables task ``index`` of a job sees now, Batch's ``BATCH_*`` ones
        included (the emulator runs no container; this is what one would get)."""
        return self._call_store(self._store.task_environment, name, index)

    @staticmethod
    def _call_store(method: Callable[..., Any], name: str, *args: Any) -> Any:
        """A store control: KeyError for an unknown job, ValueError for one in the wrong state."""
        try:
            return method(name, *args)
        except EmulatorError as error:
            if error.code == grpc.StatusCode.NOT_FOUND:
                raise KeyError(name) from None
            raise ValueError(error.message) from None

    def fail_job(self, name: str, exit_code: int = 1) -> None:
        """:meth:`finish_job` with a failing exit code."""
        if exit_code == 0:
            raise ValueError("fail_job needs a non-zero exit code")
        self.finish_job(name, exit_code)

    def reset(self) -> None:
        """Forget all jobs, operations, counts and faults; restore the initial scenario."""
        self._store.clear()
        self.set_scenario(self._initial_scenario)
        self.clear_faults()
        self.reset_counts()
