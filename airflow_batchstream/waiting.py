"""How every wait for a Batch job paces itself and when it ends, without the I/O.

The worker loop (``BatchStreamHook.wait_for_job``) and the trigger (``BatchStreamJobTrigger.wait``)
are thin drivers around a :class:`Waiter`, so both end a wait for exactly the same reasons: the job
ended, the deadline passed, or GetJob failed with an error that is not transient. A transient
error (one whose retries ran out within the call's budget) never ends a wait before its deadline.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_batchstream.retry import is_transient
from airflow_batchstream.states import Outcome, outcome_of, state_name
from airflow_batchstream.summary import progress_line, task_counts

if TYPE_CHECKING:
    from google.cloud.batch_v1 import Job

#: While a job's state and task counts do not change, the delay between checks grows with the time
#: the job has spent unchanged (``LAG_FRACTION`` of it), from ``poll_interval`` up to this multiple
#: of it. So the end of a job is noticed at most ~10% of its time-in-state late (and never later
#: than ``poll_interval`` for a job that changed within the last ``10 * poll_interval``), while a
#: job that sits RUNNING for hours is read up to 4x less often. ``max_poll_interval`` overrides
#: the cap (``poll_interval`` itself turns the backoff off).
DEFAULT_CAP_FACTOR = 4.0
LAG_FRACTION = 0.1


class PollBackoff:
    """Poll delays for one wait: ``poll_interval``, growing while nothing changes.

    The delay is ``LAG_FRACTION`` of the time since the last change, clamped to
    ``[poll_interval, cap_factor * poll_interval]``, and never runs past the deadline, so the wait
    wakes up in time to report a timeout.
    """

    def __init__(
        self,
        poll_interval: float,
        *,
        deadline: float | None = None,
        cap_factor: float = DEFAULT_CAP_FACTOR,
        lag_fraction: float = LAG_FRACTION,
    ):
        self.poll_interval = max(0.01, float(poll_interval))
        self.deadline = deadline
        self.cap = self.poll_interval * max(1.0, cap_factor)
        self.lag_fraction = lag_fraction
        self._changed_at: float | None = None
        self._delay = self.poll_interval
        self._last: Any = object()

    def observe(self, fingerprint: Any, now: float | None = None) -> None:
        """Record what was seen; the longer it stays the same, the longer the next delay."""
        now = time.time() if now is None else now
        if fingerprint != self._last or self._changed_at is None:
            self._changed_at = now
            self._last = fingerprint
        unchanged_for = now - self._changed_at
        self._delay = min(self.cap, max(self.poll_interval, self.lag_fraction * unchanged_for))

    def next_delay(self, now: float | None = None) -> float:
        if self.deadline is None:
            return self._delay
        remaining = self.deadline - (time.time() if now is None else now)
        return max(0.0, min(self._delay, remaining))

    def expired(self, now: float | None = None) -> bool:
        return self.deadline is not None and (time.time() if now is None else now) >= self.deadline


class Progress:
    """What a wait tells the task log about its job: one line when the job's state or task counts
    change (:func:`~airflow_batchstream.summary.progress_line`), nothing for an unchanged poll.

    The worker loop and the trigger get it through their :class:`Waiter`; the sensor, which polls
    without one, keeps its own.
    """

    def __init__(self) -> None:
        self._seen: Any = _NOTHING_SEEN

    def update(self, job: Job | None, seen: Any = None) -> str | None:
        """The line to log for this GetJob result, or None when nothing changed since the last.

        :param seen: the job's :func:`fingerprint`, when the caller has it already (the waiter
            needs it for its backoff too, and it is computed on every poll).
        """
        if job is None:
            return None
        if seen is None:
            seen = fingerprint(job)
        if seen == self._seen:
            return None
        self._seen = seen
        return progress_line(job)


_NOTHING_SEEN = object()


@dataclass(frozen=True)
class Step:
    """What a waiter does next: ``finish`` (terminal), ``timeout`` (deadline passed), ``sleep``, or
    ``error`` (GetJob failed for good: the driver raises or reports that error). ``progress`` is the
    line to log about the job, when it changed."""

    action: str
    outcome: Outcome
    delay: float = 0.0
    progress: str | None = None


class Waiter:
    """The waiting rules: feed it each GetJob result (:meth:`step`) or failure (:meth:`step_failed`),
    and do what the step says.

    :param poll_interval: seconds between checks after a change.
    :param deadline: absolute epoch seconds at which the wait times out (None: never).
    :param max_poll_interval: longest delay while nothing changes (default ``4 * poll_interval``).
    """

    def __init__(
        self, poll_interval: float, deadline: float | None, *, max_poll_interval: float | None = None
    ):
        cap_factor = DEFAULT_CAP_FACTOR
        if max_poll_interval is not None:
            cap_factor = max(1.0, float(max_poll_interval) / max(0.01, float(poll_interval)))
        self.backoff = PollBackoff(poll_interval, deadline=deadline, cap_factor=cap_factor)
        self.progress = Progress()

    def step(self, job: Job | None, now: float | None = None) -> Step:
        outcome = outcome_of(job)
        seen = fingerprint(job)
        news = self.progress.update(job, seen)
        if outcome.is_terminal:
            return Step("finish", outcome, progress=news)
        if self.backoff.expired(now):
            return Step("timeout", outcome, progress=news)
        self.backoff.observe(seen, now)
        return Step("sleep", outcome, self.backoff.next_delay(now), progress=news)

    def step_failed(self, error: BaseException, now: float | None = None) -> Step:
        """GetJob raised ``error``. A transient one never ends the wait, only the deadline does;
        any other error ends it (``error``: the driver raises it, or reports it in an event)."""
        if not is_transient(error):
            return Step("error", Outcome.RUNNING)
        if self.backoff.expired(now):
            return Step("timeout", Outcome.RUNNING)
        return Step("sleep", Outcome.RUNNING, self.backoff.next_delay(now))


def fingerprint(job: Job | None) -> Any:
    """What counts as "something changed" for backoff: state and task counts.

    Read from the underlying protobuf message when there is one: it runs on every poll of every
    waiting job, and proto-plus map access costs ~10x more.
    """
    if job is None:
        return None
    to_pb = getattr(type(job), "pb", None)
    if to_pb is not None:
        raw = to_pb(job)
        groups = raw.status.task_groups
        return (
            raw.status.state,
            tuple(sorted((k, tuple(sorted(g.counts.items()))) for k, g in groups.items())),
        )
    return (state_name(job.status.state), tuple(sorted(task_counts(job).items())))
