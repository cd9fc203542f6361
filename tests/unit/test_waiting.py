"""waiting: backoff while nothing changes, the deadline, and errors that never end a wait."""

from __future__ import annotations

from google.api_core import exceptions as api_exceptions

from airflow_batchstream.states import Outcome
from airflow_batchstream.waiting import Step, Waiter
from tests.unit.batch_messages import job


def test_waiter_backs_off_while_unchanged_and_respects_deadline():
    waiter = Waiter(poll_interval=10, deadline=10_000.0)
    running = job("RUNNING", counts={"RUNNING": 1})
    # Lag stays at poll_interval until the job has been unchanged for 10 poll intervals ...
    assert [waiter.step(running, now=t).delay for t in (0, 50, 100)] == [10, 10, 10]
    # ... then grows with the time unchanged (10% of it), capped at 4x.
    assert waiter.step(running, now=200).delay == 20
    assert waiter.step(running, now=1000).delay == 40
    assert waiter.step(job("QUEUED"), now=1001).delay == 10  # a change resets the backoff
    assert waiter.step(running, now=9995).delay == 5  # never sleeps past the deadline
    assert waiter.step(running, now=10_000).action == "timeout"
    assert waiter.step(job("CANCELLED"), now=20_000).action == "finish"


def test_a_transient_error_ends_a_wait_only_at_the_deadline():
    outage = api_exceptions.ServiceUnavailable("connection reset")
    waiter = Waiter(poll_interval=10, deadline=1000.0)
    assert waiter.step_failed(outage, now=0) == Step("sleep", Outcome.RUNNING, 10)
    assert waiter.step_failed(outage, now=995).delay == 5  # never sleeps past the deadline
    assert waiter.step_failed(outage, now=1000).action == "timeout"
    assert Waiter(poll_interval=10, deadline=None).step_failed(outage, now=10**9).action == "sleep"


def test_any_other_error_ends_the_wait_at_once():
    waiter = Waiter(poll_interval=10, deadline=None)
    for error in (
        api_exceptions.PermissionDenied("no"),
        api_exceptions.InvalidArgument("bad"),
        KeyError("x"),
    ):
        assert waiter.step_failed(error, now=0).action == "error"


def test_max_poll_interval_equal_to_poll_interval_disables_backoff():
    waiter = Waiter(poll_interval=10, deadline=None, max_poll_interval=10)
    running = job("RUNNING")
    assert {waiter.step(running, now=t).delay for t in (0, 500, 5000)} == {10}
