"""What the hooks of one event loop share: async Batch clients and read limiters.

A triggerer waits for up to a thousand jobs on one event loop. A client (its channel and
credentials) or a rate budget per waiting job would multiply connections and quota use, so there
is one async client per (connection, impersonation, endpoint) and one read limiter per (endpoint,
region), per event loop: an asyncio client or lock belongs to the loop it was made in. Loops are
held weakly, so what a finished loop made goes with it.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Hashable
from typing import Any

from airflow_batchstream import config


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


_LIMITERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[str, str], AsyncRateLimiter]] = (
    weakref.WeakKeyDictionary()
)
_ASYNC_CLIENTS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Hashable, Any]] = (
    weakref.WeakKeyDictionary()
)
_ASYNC_LOCKS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()
_REGISTRY_LOCK = threading.Lock()


def read_limiter(endpoint: str, location: str) -> AsyncRateLimiter:
    """The running loop's limiter of reads from ``endpoint`` in region ``location``, allowing
    ``[batchstream] trigger_reads_per_second`` (read when the limiter is made)."""
    loop = asyncio.get_running_loop()
    with _REGISTRY_LOCK:
        limiters = _LIMITERS.setdefault(loop, {})
        key = (endpoint, location)
        if key not in limiters:
            limiters[key] = AsyncRateLimiter(config.TRIGGER_READS_PER_SECOND.read())
        return limiters[key]


async def shared_async_client(key: Hashable, build: Callable[[], Awaitable[Any]]) -> Any:
    """The running loop's client for ``key``, built by awaiting ``build()`` the first time (once,
    however many waits ask for it at the same moment)."""
    loop = asyncio.get_running_loop()
    clients = _ASYNC_CLIENTS.setdefault(loop, {})
    if key not in clients:
        lock = _ASYNC_LOCKS.setdefault(loop, asyncio.Lock())
        async with lock:
            if key not in clients:
                clients[key] = await build()
    return clients[key]


def shared_async_client_count() -> int:
    """How many async clients the running event loop holds (for tests and the benchmark)."""
    return len(_ASYNC_CLIENTS.get(asyncio.get_running_loop(), {}))
