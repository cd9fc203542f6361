"""The preflight rides out registry hiccups: a real registry behind a front that throttles (429),
fails (503) or drops connections before answering for real."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from airflow_batchstream.preflight import ImageUnreadable, preflight_image
from airflow_batchstream.retry import RetryPolicy
from tests.integration.registry_tools import DROP, FaultyFront, make_layer

pytestmark = pytest.mark.usefixtures("fresh_preflight_cache")

NAME = "retry-project/images/app"
URI = f"us-central1-docker.pkg.dev/{NAME}:1.0"
#: Small and fast, so a test of "it gives up" ends within a second.
QUICK = RetryPolicy(initial=0.05, multiplier=2.0, maximum=0.2, budget=1.0)


@pytest.fixture(scope="module")
def digest(registry) -> str:
    pusher = registry.pusher()
    try:
        return pusher.push_image(NAME, "1.0", [make_layer({"app.py": b"print('retry')\n" * 30})])
    finally:
        pusher.close()


@pytest.fixture
def front(registry) -> Iterator[FaultyFront]:
    server = FaultyFront(registry.url, faults=[]).start()
    yield server
    server.stop()


def statuses(front: FaultyFront) -> list[int]:
    return [status for _, _, status in front.answers]


def test_throttling_then_an_outage_then_success_passes(front, digest):
    front.faults[:] = [(429, {"Retry-After": "1"}), (503, {}), DROP]

    result = preflight_image(URI, registry_url=front.url, retry=RetryPolicy(initial=0.05, budget=10.0))

    assert result.ok and result.digest == digest
    assert statuses(front)[:4] == [429, 503, 0, 200]
    # Retry-After: 1 was honoured (a lower bound: the client never asks again sooner).
    (first, _, _), (second, _, _) = front.answers[:2]
    assert second - first >= 1.0


def test_throttling_forever_fails_after_its_budget(front, digest):
    front.faults[:] = [(429, {})]
    front.forever = True

    with pytest.raises(
        ImageUnreadable, match=r"HTTP 429 UNAVAILABLE: scripted fault.*No Batch job was submitted"
    ):
        preflight_image(URI, registry_url=front.url, retry=QUICK)

    assert len(front.answers) > 1 and set(statuses(front)) == {429}


def test_a_retry_after_beyond_the_budget_fails_at_once(front, digest):
    front.faults[:] = [(503, {"Retry-After": "3600"})]
    front.forever = True

    with pytest.raises(ImageUnreadable, match="HTTP 503"):
        preflight_image(URI, registry_url=front.url, retry=QUICK)

    assert statuses(front) == [503]  # waiting an hour is not retrying; the preflight says so now


def test_dropped_connections_forever_fail_as_a_network_failure(front, digest):
    front.faults[:] = [DROP]
    front.forever = True

    with pytest.raises(ImageUnreadable, match=r"network failure reading .*No Batch job was submitted"):
        preflight_image(URI, registry_url=front.url, retry=QUICK)

    assert len(front.answers) > 1
