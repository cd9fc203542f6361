"""retry: what is transient, api_core's backoff within a budget, and Retry-After, shared by the
Batch calls and the registry requests."""

from __future__ import annotations

import asyncio
from email.utils import formatdate

import grpc
import pytest
from google.api_core import exceptions as api_exceptions

from airflow_batchstream.retry import RetryPolicy, acall, call, is_transient, retry_after_seconds, status_name

QUICK = RetryPolicy(initial=0.01, multiplier=2.0, maximum=0.02, budget=5.0)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [(None, 0.0), ("", 0.0), ("7", 7.0), (" 120 ", 120.0), ("soon", 0.0), ("-3", 0.0)],
)
def test_retry_after_in_seconds(header, seconds):
    assert retry_after_seconds(header) == seconds


def test_retry_after_as_an_http_date():
    now = 1_700_000_000.0
    assert retry_after_seconds(formatdate(now + 30, usegmt=True), now=now) == 30.0
    assert retry_after_seconds(formatdate(now - 30, usegmt=True), now=now) == 0.0  # already past


def test_delays_are_full_jitter_under_a_ceiling_that_grows_to_the_maximum():
    policy = RetryPolicy(initial=1.0, multiplier=2.0, maximum=4.0)
    ceilings = [1.0, 2.0, 4.0, 4.0, 4.0]
    draws = [[next(d) for _ in ceilings] for d in (policy.delays() for _ in range(200))]
    for n, ceiling in enumerate(ceilings):
        column = [row[n] for row in draws]
        assert all(0.0 <= delay <= ceiling for delay in column)
        # Uniform in [0, ceiling]: 200 draws all in the lower half would happen once in 2**200.
        assert max(column) > ceiling / 2 and min(column) < ceiling / 2
    assert len({row[0] for row in draws}) == len(draws)  # jittered, not fixed


def test_a_plan_honours_a_longer_wait_the_server_asks_for():
    plan = RetryPolicy(initial=0.1, maximum=0.1, budget=60.0).plan()
    assert plan.next_delay(at_least=5.0) == 5.0


def test_a_plan_gives_up_rather_than_wait_past_its_budget():
    plan = RetryPolicy(initial=0.1, budget=10.0).plan()
    assert plan.next_delay(at_least=3600.0) is None
    assert RetryPolicy(budget=0.0).plan().next_delay() is None


class RawRpcError(grpc.RpcError):
    """A gRPC error as grpc raises it before api_core wraps it."""

    def __init__(self, code: grpc.StatusCode) -> None:
        self._code = code

    def code(self) -> grpc.StatusCode:
        return self._code


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (api_exceptions.ServiceUnavailable("x"), True),
        (api_exceptions.DeadlineExceeded("x"), True),
        (api_exceptions.ResourceExhausted("x"), True),
        (api_exceptions.InternalServerError("x"), True),
        (RawRpcError(grpc.StatusCode.UNAVAILABLE), True),
        (api_exceptions.PermissionDenied("x"), False),
        (api_exceptions.NotFound("x"), False),
        (RawRpcError(grpc.StatusCode.INVALID_ARGUMENT), False),
        (ValueError("not an API error"), False),
    ],
)
def test_what_is_transient(error, transient):
    assert is_transient(error) is transient


def test_status_names_of_api_core_and_raw_grpc_errors():
    assert status_name(api_exceptions.ResourceExhausted("quota")) == "RESOURCE_EXHAUSTED"
    assert status_name(RawRpcError(grpc.StatusCode.UNAUTHENTICATED)) == "UNAUTHENTICATED"
    assert status_name(ValueError("x")) == ""


class Flaky:
    """A call that fails with ``errors`` in turn, then answers ``done``; counts its attempts."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.attempts = 0

    def __call__(self) -> str:
        self.attempts += 1
        if self.errors:
            raise self.errors.pop(0)
        return "done"

    async def acall(self) -> str:
        return self()


def test_transient_errors_are_retried_until_the_call_answers():
    flaky = Flaky(api_exceptions.ServiceUnavailable("a"), api_exceptions.InternalServerError("b"))
    assert call(flaky, what="GetJob j", policy=QUICK) == "done"
    assert flaky.attempts == 3


def test_other_errors_pass_through_at_once():
    flaky = Flaky(api_exceptions.PermissionDenied("no"))
    with pytest.raises(api_exceptions.PermissionDenied):
        call(flaky, what="GetJob j", policy=QUICK)
    assert flaky.attempts == 1


def test_when_the_budget_runs_out_the_last_error_itself_is_raised():
    # Not api_core's RetryError: a wait tells by the error itself that it was transient.
    flaky = Flaky(*[api_exceptions.ServiceUnavailable(str(i)) for i in range(10_000)])
    with pytest.raises(api_exceptions.ServiceUnavailable) as raised:
        call(flaky, what="GetJob j", policy=RetryPolicy(initial=0.01, maximum=0.02, budget=0.3))
    assert 3 < flaky.attempts < 10_000 and raised.value.message == str(flaky.attempts - 1)


def test_a_refusal_replaces_the_error_and_is_not_retried():
    class Refused(Exception):
        pass

    flaky = Flaky(api_exceptions.ServiceUnavailable("metadata plugin failed"))
    with pytest.raises(Refused) as raised:
        call(flaky, what="GetJob j", policy=QUICK, refusal=lambda exc: Refused(f"refused: {exc}"))
    assert flaky.attempts == 1
    assert isinstance(raised.value.__cause__, api_exceptions.ServiceUnavailable)


def test_the_async_twin_follows_the_same_rules():
    class Refused(Exception):
        pass

    async def refuse_permission_denied(exc: BaseException) -> BaseException | None:
        return Refused() if isinstance(exc, api_exceptions.PermissionDenied) else None

    async def scenario() -> tuple[str, int, int]:
        retried = Flaky(api_exceptions.ServiceUnavailable("a"), api_exceptions.DeadlineExceeded("b"))
        answer = await acall(retried.acall, what="GetJob j", policy=QUICK, refusal=refuse_permission_denied)
        refused = Flaky(api_exceptions.PermissionDenied("no"))
        with pytest.raises(Refused):
            await acall(refused.acall, what="GetJob j", policy=QUICK, refusal=refuse_permission_denied)
        return answer, retried.attempts, refused.attempts

    assert asyncio.run(scenario()) == ("done", 3, 1)
