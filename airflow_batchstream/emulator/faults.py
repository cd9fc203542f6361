"""Fault injection: errors, lost responses and latency, decided per call."""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import grpc

#: The codes a fault may answer with; the retryable ones a real client must survive.
FAULT_CODES = ("UNAVAILABLE", "RESOURCE_EXHAUSTED", "DEADLINE_EXCEEDED", "INTERNAL", "ABORTED")


def status_code(name: str | grpc.StatusCode) -> grpc.StatusCode:
    """``"UNAVAILABLE"`` (or the enum member) -> ``grpc.StatusCode.UNAVAILABLE``."""
    if isinstance(name, grpc.StatusCode):
        return name
    try:
        return grpc.StatusCode[name.upper()]
    except KeyError:
        raise ValueError(f"unknown gRPC status code {name!r}") from None


@dataclass(frozen=True)
class Fault:
    """What to do to one call: fail it before (``lost=False``) or after it took effect."""

    code: grpc.StatusCode
    lost: bool = False

    @property
    def message(self) -> str:
        if self.lost:
            return "emulator fault injection: the response was lost (the call took effect)"
        return f"emulator fault injection: {self.code.name}"


class FaultInjector:
    """Random faults (a fraction of calls) plus queued one-off faults per RPC, thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queued: dict[str, deque[Fault]] = {}
        self.configure()

    def configure(
        self,
        fraction: float = 0.0,
        codes: Iterable[str | grpc.StatusCode] = ("UNAVAILABLE",),
        rpcs: Iterable[str] | None = None,
        latency: float = 0.0,
        seed: int | None = None,
        lost_fraction: float = 0.0,
    ) -> None:
        """Set the random faults; calling it with no arguments turns them off.

        :param fraction: share of matching calls answered with an error before taking effect.
        :param codes: the error codes, picked at random per faulty call.
        :param rpcs: RPC names the faults apply to (``None``: every RPC).
        :param latency: seconds added to every matching call.
        :param seed: seed of the random generator, for reproducible runs.
        :param lost_fraction: share of matching calls whose effect happens but whose response is
            replaced by UNAVAILABLE (a "lost response").
        """
        if not (0.0 <= fraction <= 1.0 and 0.0 <= lost_fraction <= 1.0):
            raise ValueError("fractions must be within [0, 1]")
        if latency < 0:
            raise ValueError("latency must not be negative")
        parsed = tuple(status_code(c) for c in codes)
        if not parsed:
            raise ValueError("codes must not be empty")
        with self._lock:
            self.fraction, self.codes, self.latency, self.lost_fraction = (
                fraction,
                parsed,
                latency,
                lost_fraction,
            )
            self.rpcs = frozenset(rpcs) if rpcs is not None else None
            self._random = random.Random(seed)

    def queue(
        self, rpc: str, code: str | grpc.StatusCode = "UNAVAILABLE", count: int = 1, lost: bool = False
    ) -> None:
        """Make the next ``count`` calls of ``rpc`` fail with ``code`` (after taking effect if ``lost``)."""
        fault = Fault(status_code(code), lost)
        with self._lock:
            self._queued.setdefault(rpc, deque()).extend([fault] * count)

    def clear(self) -> None:
        with self._lock:
            self._queued.clear()
        self.configure()

    def applies(self, rpc: str) -> bool:
        return self.rpcs is None or rpc in self.rpcs

    def delay(self, rpc: str) -> float:
        return self.latency if self.latency and self.applies(rpc) else 0.0

    def draw(self, rpc: str) -> Fault | None:
        """The fault for this call, if any; queued faults come first."""
        with self._lock:
            queued = self._queued.get(rpc)
            if queued:
                return queued.popleft()
            if not self.applies(rpc) or not (self.fraction or self.lost_fraction):
                return None
            roll = self._random.random()
            if roll < self.fraction:
                return Fault(self._random.choice(self.codes))
            if roll < self.fraction + self.lost_fraction:
                return Fault(grpc.StatusCode.UNAVAILABLE, lost=True)
            return None


#: Which RPCs count against which Batch quota (docs/batch-facts.md section 1, J-RATE).
READ_RPCS = frozenset({"GetJob", "ListJobs", "GetTask", "ListTasks"})
MUTATION_RPCS = frozenset({"CreateJob", "DeleteJob", "CancelJob"})
QUOTA_METRICS = {"read": "Read requests", "mutation": "Mutation requests"}


class QuotaLimiter:
    """Batch's per-region request quotas (15,000 reads and 6,000 mutations a minute), off by default.

    A sliding window per ``(project, location, kind)``; refused calls do not consume quota, as with
    Google's quota system. ``window`` is the length of a "minute" in seconds, so tests can shrink it.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._calls: dict[tuple[str, str, str], deque[float]] = {}
        self.configure()

    def configure(
        self,
        reads_per_minute: int | None = None,
        mutations_per_minute: int | None = None,
        window: float = 60.0,
    ) -> None:
        if window <= 0:
            raise ValueError("window must be positive")
        with self._lock:
            self.limits = {"read": reads_per_minute, "mutation": mutations_per_minute}
            self.window = window
            self._calls.clear()

    def admit(self, rpc: str, target: str) -> str | None:
        """None if the call may proceed (and it is counted), else the refusal message."""
        kind = "read" if rpc in READ_RPCS else "mutation" if rpc in MUTATION_RPCS else None
        limit = self.limits.get(kind) if kind else None
        if limit is None:
            return None
        parts = target.split("/")
        region = (parts[1], parts[3]) if len(parts) > 3 and parts[0] == "projects" else ("-", "-")
        now = self._clock()
        with self._lock:
            calls = self._calls.setdefault((*region, kind), deque())
            while calls and calls[0] <= now - self.window:
                calls.popleft()
            if len(calls) >= limit:
                return (
                    f"Quota exceeded for quota metric '{QUOTA_METRICS[kind]}' and limit "
                    f"'{QUOTA_METRICS[kind]} per minute per region' of service 'batch.googleapis.com' "
                    f"for consumer 'project:{region[0]}' in region {region[1]}."
                )
            calls.append(now)
            return None
