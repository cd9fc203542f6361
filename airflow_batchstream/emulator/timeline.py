"""The life of one emulated Batch job as a pure function of elapsed time.

A job's whole future is decided when it is created (by its :class:`JobPlan`) and changed only by
the rare interventions of a client (cancel, delete) or a test (force an end). So instead of a
thread or a timer per job, :func:`build_timeline` computes every state change once, as a list of
:class:`Change` records in *emulated seconds since creation*, and a read merely bisects into it.
Thousands of idle jobs therefore cost memory, not CPU.

This module knows nothing about gRPC, protobuf or wall clocks; the store maps emulated seconds to
wall time (``created + t / speed``). The wording of status events lives here, in one place, copied
from Batch (docs/batch-facts.md section 3).
"""

from __future__ import annotations

import bisect
import heapq
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

INF = math.inf

# Job states (google.cloud.batch.v1.JobStatus.State names).
QUEUED = "QUEUED"
SCHEDULED = "SCHEDULED"
RUNNING = "RUNNING"
SUCCEEDED = "SUCCEEDED"
FAILED = "FAILED"
DELETION_IN_PROGRESS = "DELETION_IN_PROGRESS"
CANCELLATION_IN_PROGRESS = "CANCELLATION_IN_PROGRESS"
CANCELLED = "CANCELLED"
JOB_TERMINAL = frozenset({SUCCEEDED, FAILED, CANCELLED})

# Task states (google.cloud.batch.v1.TaskStatus.State names), in the order counts are kept.
PENDING = "PENDING"
ASSIGNED = "ASSIGNED"
UNEXECUTED = "UNEXECUTED"
TASK_STATES = (PENDING, ASSIGNED, RUNNING, FAILED, SUCCEEDED, UNEXECUTED)
TASK_TERMINAL = frozenset({FAILED, SUCCEEDED, UNEXECUTED})

#: Batch's reserved exit codes and the reason its task events give for them (docs/batch-facts.md section 3).
RESERVED_EXIT_CODES = {
    50001: "Spot VM preemption",
    50002: "Batch no longer receives VM updates",
    50003: "VM is rebooted during task execution",
    50004: "tasks cannot be canceled",
    50005: "task runs over the maximum runtime",
    50006: "VM is recreated during task execution",
}
PREEMPTED = 50001
MAX_RUNTIME_EXCEEDED = 50005


class Change(NamedTuple):
    """One state change at ``time`` emulated seconds after creation."""

    time: float
    old: str
    new: str
    description: str
    exit_code: int | None = None


@dataclass(frozen=True)
class Attempt:
    """How one attempt of one task ends: after ``running`` seconds in RUNNING, with ``exit_code``.

    ``running`` may be :data:`INF`: the attempt runs until something from outside ends it.
    ``before_running``: the attempt never reaches RUNNING; it ends at the end of ASSIGNED (a VM
    that fails to come up, e.g. exit code 50002).
    """

    running: float
    exit_code: int = 0
    before_running: bool = False


@dataclass(frozen=True)
class RetryRule:
    """Batch's retry decision: ``maxRetryCount`` plus the (single) lifecycle policy."""

    max_retry_count: int = 0
    action: str | None = None  # "RETRY_TASK", "FAIL_TASK" or None
    exit_codes: frozenset[int] = frozenset()

    def should_retry(self, exit_code: int, retries_used: int) -> bool:
        """Whether a non-zero ``exit_code`` after ``retries_used`` retries earns another attempt."""
        if retries_used >= self.max_retry_count:
            return False
        # RETRY_TASK fails codes it does not list; FAIL_TASK fails the codes it lists.
        if self.action == "RETRY_TASK":
            return exit_code in self.exit_codes
        if self.action == "FAIL_TASK":
            return exit_code not in self.exit_codes
        return True


@dataclass(frozen=True)
class JobPlan:
    """Everything that decides a job's natural course. Durations are emulated seconds."""

    task_count: int
    parallelism: int
    attempt: Callable[[int, int], Attempt]  # (task index, attempt number) -> outcome
    queued: float = 2.0  # INF: the job waits in QUEUED until something from outside releases it
    scheduled: float = 2.0
    assigned: float = 1.0
    cancelling: float = 2.0
    deleting: float = 2.0
    retry: RetryRule = RetryRule()
    max_run_duration: float | None = None


@dataclass(frozen=True)
class Interventions:
    """What happened to a job from outside, in emulated seconds since its creation."""

    forced: tuple[float, int] | None = None  # (time, exit code): running attempts end then
    cancel_at: float | None = None
    delete_at: float | None = None


@dataclass(frozen=True)
class Names:
    """The names event texts mention."""

    job: str
    zone: str = "us-central1-a"
    instance_base: int = 1000000000000000000

    def instance(self, task_index: int) -> str:
        return str(self.instance_base + task_index)


def job_event_text(old: str, new: str, job_name: str, failure: tuple[int, str] | None = None) -> str:
    """Batch's job-level status event; a failed job embeds the failing task's event."""
    text = f"Job state is set from {old} to {new} for job {job_name}."
    if failure is not None:
        index, task_text = failure
        # Batch really omits the space after the first sentence.
        text += (
            "Job failed due to task failure. Specifically, task with index "
            f'{index} failed due to the following task event: "{task_text}"'
        )
    return text


def task_event_text(old: str, new: str, zone: str, instance: str, exit_code: int | None = None) -> str:
    """Batch's task-level status event, naming the reserved reason of a 5000x exit code."""
    text = f"Task state is updated from {old} to {new} on zones/{zone}/instances/{instance}"
    if exit_code is not None:
        reason = RESERVED_EXIT_CODES.get(exit_code)
        if reason:
            text += f" due to {reason}"
        text += f" with exit code {exit_code}"
    return text + "."


def _task_change(
    names: Names, index: int, time: float, old: str, new: str, code: int | None = None
) -> Change:
    instance = names.instance(index)
    return Change(time, old, new, task_event_text(old, new, names.zone, instance, code), code)


def _run_task(
    plan: JobPlan, names: Names, index: int, start: float, forced: tuple[float, int] | None
) -> tuple[list[Change], float]:
    """All attempts of one task from the moment it gets a slot; returns its changes and end time."""
    changes: list[Change] = []
    attempt = 0
    assigned_at = start
    while assigned_at < INF:
        changes.append(_task_change(names, index, assigned_at, PENDING, ASSIGNED))
        state, end, code, is_forced = _attempt_end(plan, names, index, attempt, assigned_at, forced, changes)
        if end == INF:
            return changes, INF
        if code == 0:
            changes.append(_task_change(names, index, end, state, SUCCEEDED, 0))
            return changes, end
        if not is_forced and plan.retry.should_retry(code, attempt):
            changes.append(_task_change(names, index, end, state, PENDING, code))
            attempt += 1
            assigned_at = end
            continue
        changes.append(_task_change(names, index, end, state, FAILED, code))
        return changes, end
    return changes, INF


def _attempt_end(
    plan: JobPlan,
    names: Names,
    index: int,
    attempt: int,
    assigned_at: float,
    forced: tuple[float, int] | None,
    changes: list[Change],
) -> tuple[str, float, int, bool]:
    """Play one attempt from ASSIGNED; returns (state it ends from, end time, exit code, forced?)."""
    running_at = assigned_at + plan.assigned
    outcome = plan.attempt(index, attempt)
    if outcome.before_running and not (forced is not None and running_at > forced[0]):
        return ASSIGNED, running_at, outcome.exit_code, False
    changes.append(_task_change(names, index, running_at, ASSIGNED, RUNNING))
    running, code = outcome.running, outcome.exit_code
    if plan.max_run_duration is not None and running > plan.max_run_duration:
        running, code = plan.max_run_duration, MAX_RUNTIME_EXCEEDED
    end = running_at + running
    if forced is not None and end > forced[0]:
        return RUNNING, max(running_at, forced[0]), forced[1], True
    return RUNNING, end, code, False


def _state_of(changes: Sequence[Change], initial: str) -> str:
    return changes[-1].new if changes else initial


def _cut(changes: list[Change], time: float) -> list[Change]:
    """The changes that happened at or before ``time``."""
    return [c for c in changes if c.time <= time]


def _settle_tasks(tasks: list[list[Change]], names: Names, time: float) -> None:
    """When a job ends early, its unfinished tasks end UNEXECUTED (they will never complete)."""
    for index, changes in enumerate(tasks):
        state = _state_of(changes, PENDING)
        if state not in TASK_TERMINAL:
            changes.append(_task_change(names, index, time, state, UNEXECUTED))


def build_timeline(plan: JobPlan, names: Names, interventions: Interventions | None = None) -> Timeline:
    """Compute every state change of a job and its tasks.

    Tasks take slots in index order (``parallelism`` slots, list scheduling); a retried task keeps
    its slot. The job fails at the first final task failure, succeeds when all tasks succeeded,
    and a cancel or delete freezes everything at the moment it was requested.
    """
    interventions = interventions or Interventions()
    first_assign = plan.queued + plan.scheduled
    slots = [first_assign] * max(1, min(plan.parallelism, plan.task_count))
    tasks: list[list[Change]] = []
    ends: list[float] = []
    for index in range(plan.task_count):
        start = heapq.heappop(slots)
        changes, end = _run_task(plan, names, index, start, interventions.forced)
        heapq.heappush(slots, end)
        tasks.append(changes)
        ends.append(end)

    failures = [(c.time, i, c) for i, changes in enumerate(tasks) for c in changes if c.new == FAILED]
    failure = min(failures, key=lambda f: (f[0], f[1])) if failures else None
    end = failure[0] if failure else max(ends)
    first_running = min((c.time for changes in tasks for c in changes if c.new == RUNNING), default=INF)
    job: list[Change] = []
    state = QUEUED
    if plan.queued < INF:  # INF: held in QUEUED (no capacity) until released, cancelled or deleted
        job.append(Change(plan.queued, QUEUED, SCHEDULED, job_event_text(QUEUED, SCHEDULED, names.job)))
        state = SCHEDULED
    if first_running <= end and first_running < INF:
        job.append(Change(first_running, SCHEDULED, RUNNING, job_event_text(SCHEDULED, RUNNING, names.job)))
        state = RUNNING
    if failure is not None:
        _, index, change = failure
        job.append(
            Change(end, state, FAILED, job_event_text(state, FAILED, names.job, (index, change.description)))
        )
        tasks = [_cut(changes, end) for changes in tasks]
        _settle_tasks(tasks, names, end)
    elif end < INF:
        job.append(Change(end, state, SUCCEEDED, job_event_text(state, SUCCEEDED, names.job)))

    gone_at = INF
    if interventions.cancel_at is not None and _state_of(_cut(job, interventions.cancel_at), QUEUED) not in (
        JOB_TERMINAL
    ):
        at = interventions.cancel_at
        job, tasks = _cut(job, at), [_cut(changes, at) for changes in tasks]
        state = _state_of(job, QUEUED)
        done = at + plan.cancelling
        job.append(
            Change(
                at,
                state,
                CANCELLATION_IN_PROGRESS,
                job_event_text(state, CANCELLATION_IN_PROGRESS, names.job),
            )
        )
        job.append(
            Change(
                done,
                CANCELLATION_IN_PROGRESS,
                CANCELLED,
                job_event_text(CANCELLATION_IN_PROGRESS, CANCELLED, names.job),
            )
        )
        _settle_tasks(tasks, names, done)
    if interventions.delete_at is not None:
        at = interventions.delete_at
        job, tasks = _cut(job, at), [_cut(changes, at) for changes in tasks]
        state = _state_of(job, QUEUED)
        job.append(
            Change(at, state, DELETION_IN_PROGRESS, job_event_text(state, DELETION_IN_PROGRESS, names.job))
        )
        gone_at = at + plan.deleting
    return Timeline(job, tasks, gone_at)


class Timeline:
    """The computed changes of one job, queried by emulated time ``t`` (seconds since creation)."""

    def __init__(self, job: list[Change], tasks: list[list[Change]], gone_at: float = INF) -> None:
        self.job_changes = job
        self.task_changes = tasks
        self.gone_at = gone_at
        self._job_times = [c.time for c in job]
        self._task_times = [[c.time for c in changes] for changes in tasks]
        self._build_counts()

    def _build_counts(self) -> None:
        # One snapshot of the task counts per distinct change time, so counts_at() is a bisect.
        moves = [(c.time, c.old, c.new) for changes in self.task_changes for c in changes]
        moves += [(c.time, None, None) for c in self.job_changes]
        moves.sort(key=lambda m: m[0])
        counts = dict.fromkeys(TASK_STATES, 0)
        counts[PENDING] = len(self.task_changes)
        self._times: list[float] = []
        self._counts: list[tuple[int, ...]] = []
        for time, old, new in moves:
            if old is not None:
                counts[old] -= 1
                counts[new] += 1
            if self._times and self._times[-1] == time:
                self._counts[-1] = tuple(counts.values())
            else:
                self._times.append(time)
                self._counts.append(tuple(counts.values()))
        self._initial_counts = (len(self.task_changes), 0, 0, 0, 0, 0)

    def version_at(self, t: float) -> int:
        """A number that changes exactly when anything observable changes."""
        return bisect.bisect_right(self._times, t)

    def last_change_at(self, t: float) -> float | None:
        """Emulated time of the latest change at or before ``t`` (None: nothing happened yet)."""
        version = self.version_at(t)
        return self._times[version - 1] if version else None

    def job_state_at(self, t: float) -> str:
        seen = bisect.bisect_right(self._job_times, t)
        return self.job_changes[seen - 1].new if seen else QUEUED

    def job_changes_until(self, t: float) -> list[Change]:
        return self.job_changes[: bisect.bisect_right(self._job_times, t)]

    def task_state_at(self, index: int, t: float) -> str:
        # Index, not slice: a ListTasks state filter reads this once per task and copies nothing.
        seen = bisect.bisect_right(self._task_times[index], t)
        return self.task_changes[index][seen - 1].new if seen else PENDING

    def task_changes_until(self, index: int, t: float) -> list[Change]:
        return self.task_changes[index][: bisect.bisect_right(self._task_times[index], t)]

    def counts_at(self, t: float) -> dict[str, int]:
        """Task state name -> number of tasks in it, zero counts left out (as Batch does)."""
        version = self.version_at(t)
        counts = self._counts[version - 1] if version else self._initial_counts
        return {state: n for state, n in zip(TASK_STATES, counts, strict=True) if n}

    def run_duration_at(self, t: float) -> float:
        """Emulated seconds the job spent in RUNNING up to ``t``."""
        began = next((c.time for c in self.job_changes if c.new == RUNNING), None)
        if began is None or began > t:
            return 0.0
        left = next((c.time for c in self.job_changes if c.old == RUNNING), INF)
        return min(t, left) - began

    @property
    def end_time(self) -> float:
        """When the job reaches a terminal state (INF if it does not, or not by itself)."""
        return next((c.time for c in self.job_changes if c.new in JOB_TERMINAL), INF)

    def is_gone_at(self, t: float) -> bool:
        return t >= self.gone_at
