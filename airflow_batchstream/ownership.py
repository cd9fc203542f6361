"""Which try owns a task instance's Batch job: a claim in Airflow's Task State Store, and the
decisions built on it.

Ownership follows the newest live try. What Airflow's lifecycle actions do to a try's job (the
e2e tests play the Clear, worker-loss and scheduler-restart rows on a real Airflow 3.3):

========================================  ==================================  =====================
What happened                             Old try                             New try (if any)
========================================  ==================================  =====================
worker lost (killed, OOM, host gone),     gone without a word                 adopts the running
task failed for a non-job reason                                              job (``reattach``)
scheduler restarted (orphans reset)       still alive; killed once Airflow    adopts the running job
                                          refuses its heartbeat: hands over
user Clear of a running (worker) try      killed: cancels its job             fresh job
user Clear of a deferred try              the trigger's ``on_kill`` cancels   fresh job (cancels the
                                          the job                             old one too)
mark failed / success (worker or          killed, or the trigger's            none
deferred), ``execution_timeout``          ``on_kill``: cancels its job
deferral timed out, trigger failed        cancels its job when resumed        fresh job
========================================  ==================================  =====================

The claim is one key of the Task State Store (Airflow 3.3), which lives per task instance across
its tries: ``{"job": full job name, "try": owning try, "wait": "worker"|"deferred"}``. The owning
try writes it *before* CreateJob (job ids are deterministic, so the name is known), switches it
to ``deferred`` right before deferring, and deletes it when it ends normally (the job ended, or
``wait_for_completion=False`` returned). Airflow addresses the store through the *live* try's
task-instance id: a superseded try reads nothing and can write nothing, which is how an old try
learns it was superseded. A new try then reads its predecessor's claim and decides with
:func:`decide_takeover`; an old try being killed decides with :func:`decide_on_kill`.

Deferred tries are never lost by Airflow (the scheduler does not reset them, a triggerer restart
keeps the deferral), so a ``deferred`` claim a new try finds means the deferred try was replaced on
purpose: its job is never adopted.

Pure logic plus a thin adapter over the task context (:class:`OwnershipRegister`); no Airflow or
Google imports, so the decisions are unit-tested row by row.
"""

from __future__ import annotations

import enum
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from airflow_batchstream import states

log = logging.getLogger(__name__)

#: The Task State Store key of the claim.
CLAIM_KEY = "batchstream.job"
#: Claims never expire (``airflow.sdk.NEVER_EXPIRE`` is this very object): a claim that Airflow's
#: store cleanup ([state_store] default_retention_days) removed while its job still ran would let
#: a new try start a second job. Claims are released when their job ends, and go with their DAG run.
NEVER_EXPIRE = timedelta.max

T = TypeVar("T")


class Wait(str, enum.Enum):
    """Where the owning try waits for its job."""

    WORKER = "worker"  # submitting or polling in the worker process
    DEFERRED = "deferred"  # handed to the triggerer


@dataclass(frozen=True)
class Claim:
    """One try's claim on a Batch job.

    :param job: full job name ``projects/P/locations/L/jobs/J``.
    :param try_number: the owning try.
    :param wait: where that try waits.
    """

    job: str
    try_number: int
    wait: Wait = Wait.WORKER

    def to_value(self) -> dict[str, Any]:
        return {"job": self.job, "try": self.try_number, "wait": self.wait.value}

    @classmethod
    def from_value(cls, value: Any) -> Claim | None:
        """The claim stored as ``value``; None for anything else (absent, or written by other code)."""
        if not isinstance(value, Mapping):
            return None
        job, try_number, wait = value.get("job"), value.get("try"), value.get("wait")
        if not isinstance(job, str) or not states.parse_job_name(job) or not isinstance(try_number, int):
            return None
        try:
            return cls(job, try_number, Wait(wait))
        except ValueError:
            return None


# ----------------------------------------------------------------------------- a new try


class Takeover(str, enum.Enum):
    """What a new try does about its predecessor's claimed job."""

    FRESH = "fresh"  # create this try's own job
    ADOPT = "adopt"  # wait for the predecessor's job, which still runs
    COMPLETE = "complete"  # finish the predecessor's interrupted CreateJob (same id), then adopt
    REPLACE = "replace"  # cancel the predecessor's job (when cancel_on_kill), then create our own


@dataclass(frozen=True)
class Decision:
    """A decision and the reason logged with it."""

    action: Any
    reason: str


def decide_takeover(
    claim: Claim | None, try_number: int, job_state: str | None, *, reattach: bool
) -> Decision:
    """What try ``try_number`` does about the job an earlier try claimed.

    :param claim: the claim found in the store, or None.
    :param try_number: the deciding try.
    :param job_state: the claimed job's state name (``RUNNING``...), None when GetJob says NOT_FOUND.
        Ignored unless ``claim`` is an earlier try's.
    :param reattach: the operator's ``reattach``: adopt a running job of a try that died.
    """
    if claim is None:
        return Decision(Takeover.FRESH, "no earlier try claims a Batch job")
    if claim.try_number >= try_number:
        # Our own claim (the same try started again): our deterministic job id, created or
        # adopted through ALREADY_EXISTS, covers it.
        return Decision(Takeover.FRESH, f"the claim is try {claim.try_number}'s, not an earlier try's")
    if job_state == "CANCELLATION_IN_PROGRESS":
        return Decision(Takeover.FRESH, "the job is being cancelled: it is never adopted")
    if job_state is None:
        if claim.wait is Wait.WORKER and reattach:
            return Decision(
                Takeover.COMPLETE,
                "the earlier try claimed it but it does not exist: that try may still be inside "
                "CreateJob, so this try completes the same request (Batch deduplicates it)",
            )
        return Decision(Takeover.FRESH, "the job does not exist (never created, or deleted)")
    if states.outcome_of_state(job_state).is_terminal:
        return Decision(Takeover.FRESH, f"the job is {job_state}: over")
    if claim.wait is Wait.DEFERRED:
        return Decision(
            Takeover.REPLACE,
            "a deferred try is never lost by Airflow: it was cleared or marked by a user, or its "
            "deferral timed out, so its job is not adopted",
        )
    if not reattach:
        return Decision(Takeover.REPLACE, "reattach is off")
    return Decision(Takeover.ADOPT, "the try that waited for it in a worker is gone; the job still runs")


# ----------------------------------------------------------------------------- an old try, killed


class Verdict(str, enum.Enum):
    """What a try being killed does about the job it claimed."""

    CANCEL = "cancel"
    HAND_OVER = "hand_over"  # a newer try adopts it: leave it running
    UNKNOWN = "unknown"  # cannot tell: leave it running (never cancel what a newer try may own)


#: Task-instance states in which no try of it will ever wait for the job again.
FINISHED_STATES = frozenset({"success", "failed", "skipped", "upstream_failed", "removed"})


def decide_on_kill(claim_seen: bool | None, live_state: str | None, *, live_state_known: bool) -> Decision:
    """What a try that Airflow is killing does about its claimed job.

    :param claim_seen: True when the try still reads its claim (it is the live try), False when the
        store shows it nothing (superseded: Airflow gave the task instance a new id), None when
        the store could not be read.
    :param live_state: the state of the task instance now (its newest try); None is a valid
        state (reset, waiting to be scheduled).
    :param live_state_known: False when ``live_state`` could not be read.
    """
    if claim_seen:
        return Decision(
            Verdict.CANCEL,
            "this try still owns the job (marked failed/success, execution timeout, or stopped by a signal)",
        )
    if not live_state_known:
        return Decision(Verdict.UNKNOWN, "neither this try's claim nor the task instance's state can be read")
    if live_state == "restarting":
        return Decision(Verdict.CANCEL, "a user cleared the running try: its job is replaced by a fresh one")
    if live_state in FINISHED_STATES:
        return Decision(Verdict.CANCEL, f"the task instance is {live_state}: no try waits for the job")
    if claim_seen is None:
        return Decision(
            Verdict.UNKNOWN,
            f"the claim cannot be read and the task instance is {live_state or 'queued anew'}",
        )
    return Decision(
        Verdict.HAND_OVER,
        f"Airflow started a newer try (the task instance is {live_state or 'queued anew'}) after a "
        "scheduler restart or a lost heartbeat: that try adopts the job",
    )


# ----------------------------------------------------------------------------- the adapter


class OwnershipRegister:
    """One try's view of its task instance's claim, through the task context.

    Without ``task_state_store`` in the context (a plain ``execute`` call outside Airflow's task
    runner) it holds nothing: no claim is read or written, a new try never adopts, and a killed
    try cancels its job as before.

    :param store: ``context["task_state_store"]`` or None.
    :param ti: ``context["ti"]`` (``get_task_states`` reads the live state when killed).
    :param try_number: this try.
    """

    def __init__(self, store: Any, ti: Any, try_number: int) -> None:
        self.store = store
        self.ti = ti
        self.try_number = try_number

    @classmethod
    def from_context(cls, context: Mapping[str, Any], try_number: int) -> OwnershipRegister:
        store = context.get("task_state_store")
        if store is None:
            log.debug("No task_state_store in the context: no claim on the job is kept across tries")
        return cls(store, context.get("ti"), try_number)

    @property
    def enabled(self) -> bool:
        return self.store is not None

    def read(self) -> Claim | None:
        """The claim now in the store (None when there is none, or no store)."""
        return Claim.from_value(self.store.get(CLAIM_KEY)) if self.enabled else None

    def claim(self, job: str, wait: Wait = Wait.WORKER) -> None:
        """Record that this try owns ``job`` and waits for it ``wait``; raises when the store refuses."""
        if self.enabled:
            self.store.set(CLAIM_KEY, Claim(job, self.try_number, wait).to_value(), retention=NEVER_EXPIRE)

    def release(self) -> None:
        """Forget the claim: this try is done with its job. Best effort (logged when refused: a
        superseded try may no longer write)."""
        if not self.enabled:
            return
        try:
            self.store.delete(CLAIM_KEY)
        except Exception as exc:
            log.warning(
                "Could not release the claim on the Batch job (a try Airflow superseded cannot, and "
                "need not: the newer try's claim stands): %s",
                exc,
            )

    def verdict_on_kill(self, *, timeout: float) -> Decision:
        """:func:`decide_on_kill` with what the store and the task instance's state show now.

        Each read runs in its own thread, bounded by ``timeout``: a kill signal may interrupt the
        task while it holds Airflow's channel to its supervisor, and a read from the interrupted
        thread would then wait forever.
        """
        if not self.enabled:
            return Decision(Verdict.CANCEL, "no task state store: this try is the only owner it knows of")
        claim_seen = _bounded(self._sees_own_claim, timeout)
        live_state, known = _bounded(self._live_state, timeout) or (None, False)
        return decide_on_kill(claim_seen, live_state, live_state_known=known)

    def _sees_own_claim(self) -> bool:
        claim = self.read()
        return claim is not None and claim.try_number == self.try_number

    def _live_state(self) -> tuple[str | None, bool]:
        ti = self.ti
        map_index = getattr(ti, "map_index", -1)
        map_index = -1 if map_index is None else int(map_index)
        found = ti.get_task_states(
            dag_id=ti.dag_id, map_index=map_index, task_ids=[ti.task_id], run_ids=[ti.run_id]
        )
        key = ti.task_id if map_index < 0 else f"{ti.task_id}_{map_index}"
        per_task = found.get(ti.run_id) or {}
        if key not in per_task:
            return None, False
        state = per_task[key]
        return (getattr(state, "value", state), True)


def _bounded(read: Callable[[], T], timeout: float) -> T | None:
    """``read()`` in a daemon thread; None when it raises or does not return within ``timeout``."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = read()
        except Exception as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=run, name="batchstream-ownership-probe", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        log.warning("Reading the task's ownership state took over %.1fs; treating it as unreadable", timeout)
        return None
    if "error" in outcome:
        log.warning("Reading the task's ownership state failed: %s", outcome["error"])
        return None
    return outcome.get("value")
