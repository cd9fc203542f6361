"""Which errors are retried, and how: google.api_core's jittered exponential backoff within a budget.

The Batch API calls of the hook run through :func:`call` and :func:`acall`, which are
``google.api_core.retry``'s own loops (``retry_target`` and ``retry_target_async``, what ``Retry``
and ``AsyncRetry`` run). ``Retry`` and ``AsyncRetry`` themselves always raise ``RetryError`` when
their budget runs out; the waits decide by the error that ended a call whether the wait goes on (a
transient error never ends one), so here the call's last error itself is raised. The image
preflight's registry requests, which must also honour a server's ``Retry-After``, walk a
:class:`RetryPlan` of the same delays under the same rule.

Importing this module loads only the standard library (the light modules use it): api_core is
imported when a retry runs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

#: gRPC status names that mean "try again": they never end a wait or a submission on their own.
TRANSIENT_CODES = frozenset({"UNAVAILABLE", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED", "INTERNAL"})


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
    """Whether an API error is worth asking again (see :data:`TRANSIENT_CODES`)."""
    return status_name(exc) in TRANSIENT_CODES


@dataclass(frozen=True)
class RetryPolicy:
    """Truncated exponential backoff with full jitter, within a time budget.

    The delays are ``google.api_core.retry.exponential_sleep_generator``'s: the n-th is drawn
    uniformly from ``[0, c]`` with ``c = min(maximum, initial * multiplier**n)``. A retry whose
    delay would end past the budget is not made (api_core's rule): the last error is raised.

    :param initial: ceiling of the first delay, in seconds.
    :param multiplier: growth of the ceiling per attempt.
    :param maximum: largest ceiling.
    :param budget: seconds after the first attempt within which retries may start.
    """

    initial: float = 0.5
    multiplier: float = 2.0
    maximum: float = 20.0
    budget: float = 300.0

    def delays(self) -> Iterator[float]:
        """The delays of one call, endless (the budget ends them)."""
        from google.api_core.retry import exponential_sleep_generator

        return exponential_sleep_generator(self.initial, self.maximum, self.multiplier)

    def plan(self) -> RetryPlan:
        """The delays of one request, started now."""
        return RetryPlan(self)


class RetryPlan:
    """The delays one request may still wait, until its policy's budget runs out."""

    def __init__(self, policy: RetryPolicy) -> None:
        self._delays = policy.delays()
        self._ends = time.monotonic() + policy.budget

    def next_delay(self, at_least: float = 0.0) -> float | None:
        """The next delay (never shorter than ``at_least``, e.g. a server's ``Retry-After``), or
        None when waiting it would end past the budget: the caller gives up with its last answer."""
        delay = max(next(self._delays), at_least)
        return None if time.monotonic() + delay > self._ends else delay


#: Given a failed attempt's exception, the permanent error to raise instead of retrying, or None.
Refusal = Callable[[BaseException], "BaseException | None"]


def call(fn: Callable[[], T], *, what: str, policy: RetryPolicy, refusal: Refusal | None = None) -> T:
    """Run ``fn``, retrying transient errors per ``policy``; other errors pass through at once, and
    so does the error ``refusal`` makes of one (a credential that cannot be refreshed)."""
    from google.api_core.retry import retry_target

    def attempt() -> T:
        try:
            return fn()
        except Exception as exc:
            permanent = refusal(exc) if refusal is not None else None
            if permanent is None:
                raise
            raise permanent from exc

    options = _loop_options(policy, what, logging.WARNING)
    return retry_target(attempt, is_transient, policy.delays(), **options)


async def acall(
    fn: Callable[[], Awaitable[T]],
    *,
    what: str,
    policy: RetryPolicy,
    refusal: Callable[[BaseException], Awaitable[BaseException | None]] | None = None,
) -> T:
    """The async twin of :func:`call` (same policy, same classification); ``refusal`` is awaited."""
    from google.api_core.retry import retry_target_async

    async def attempt() -> T:
        try:
            return await fn()
        except Exception as exc:
            permanent = await refusal(exc) if refusal is not None else None
            if permanent is None:
                raise
            raise permanent from exc

    # A triggerer runs a thousand waits: their retries are logged at debug level only.
    options = _loop_options(policy, what, logging.DEBUG)
    return await retry_target_async(attempt, is_transient, policy.delays(), **options)


def _loop_options(policy: RetryPolicy, what: str, level: int) -> dict[str, Any]:
    """What api_core's retry loop needs besides the call, the predicate and the delays."""

    def on_error(exc: Exception) -> None:
        log.log(level, "%s: transient %s; retried while the call's budget lasts", what, status_name(exc))

    return {"timeout": policy.budget, "on_error": on_error, "exception_factory": _last_error}


def _last_error(errors: list[Exception], reason: Any, timeout: float | None) -> tuple[Exception, Any]:
    """api_core's ``exception_factory``: the call's last error, whatever ended the retries."""
    return errors[-1], errors[-1].__cause__


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
