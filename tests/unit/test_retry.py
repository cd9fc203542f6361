"""retry: the backoff plan and Retry-After, shared by the Batch calls and the registry requests."""

from __future__ import annotations

from email.utils import formatdate

import pytest

from airflow_batchstream.retry import RetryPolicy, retry_after_seconds


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


def test_delays_grow_jittered_up_to_the_maximum():
    delays = RetryPolicy(initial=1.0, multiplier=2.0, maximum=4.0).delays()
    first, second, third, fourth = (next(delays) for _ in range(4))
    assert 0.5 <= first <= 1.0 and 1.0 <= second <= 2.0 and 2.0 <= third <= 4.0 and 2.0 <= fourth <= 4.0


def test_a_plan_honours_a_longer_wait_the_server_asks_for():
    plan = RetryPolicy(initial=0.1, maximum=0.1, budget=60.0).plan()
    assert plan.next_delay(at_least=5.0) == 5.0


def test_a_plan_gives_up_rather_than_wait_past_its_budget():
    plan = RetryPolicy(initial=0.1, budget=10.0).plan()
    assert plan.next_delay(at_least=3600.0) is None
    assert RetryPolicy(budget=0.0).plan().next_delay() is None
