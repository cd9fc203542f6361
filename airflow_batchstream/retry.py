"""Jittered exponential backoff within a time budget: the one retry policy of the Batch API calls
(``hooks``) and of the image preflight's registry requests (``manifest``).

Pure standard library, so the light modules may use it.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime


@dataclass(frozen=True)
class RetryPolicy:
    """Jittered exponential backoff within a time budget.

    :param initial: first delay in seconds.
    :param multiplier: growth per attempt.
    :param maximum: largest single delay.
    :param budget: total seconds a call may keep retrying before its last error is raised.
    """

    initial: float = 0.5
    multiplier: float = 2.0
    maximum: float = 20.0
    budget: float = 300.0

    def delays(self) -> Iterator[float]:
        """Jittered delays: uniform in ``[c/2, c]`` for a ceiling ``c = min(maximum, initial*m^n)``."""
        ceiling = self.initial
        while True:
            yield random.uniform(ceiling / 2, ceiling)
            ceiling = min(self.maximum, ceiling * self.multiplier)

    def plan(self) -> RetryPlan:
        """The delays of one call, started now."""
        return RetryPlan(self)


class RetryPlan:
    """The delays one call may still wait, until its policy's budget runs out."""

    def __init__(self, policy: RetryPolicy) -> None:
        self._delays = policy.delays()
        self._ends = time.monotonic() + policy.budget

    def remaining(self) -> float:
        return self._ends - time.monotonic()

    def next_delay(self, at_least: float = 0.0) -> float | None:
        """The next delay (never shorter than ``at_least``, e.g. a server's ``Retry-After``), or
        None when waiting it would run past the budget: the caller gives up with its last error."""
        remaining = self.remaining()
        if remaining <= 0 or at_least > remaining:
            return None
        return min(max(next(self._delays), at_least), remaining)


def retry_after_seconds(value: str | None, *, now: float | None = None) -> float:
    """Seconds an HTTP ``Retry-After`` header asks to wait: delay-seconds or an HTTP date (RFC 9110
    section 10.2.3). 0 when absent or unreadable."""
    if not value:
        return 0.0
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return 0.0
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    current = datetime.now(timezone.utc).timestamp() if now is None else now
    return max(0.0, when.timestamp() - current)
