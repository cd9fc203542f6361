"""Fixtures live in tests/fixtures, one module per real service the tests start.

Every test under tests/e2e is marked ``e2e``: it needs the real Airflow stack (API server,
scheduler, DAG processor, triggerer), the slow part of the suite, which ``scripts/test --fast``
leaves out.

``scripts/test`` runs the suite in parallel (pytest-xdist, ``--dist loadfile``): each test file
runs in one worker, so its module fixtures run once, and tests/e2e counts as one file, so one
worker starts the one Airflow stack the e2e tests share.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = [
    "tests.fixtures.emulator",
    "tests.fixtures.registry",
    "tests.fixtures.airflow",
]

E2E = Path(__file__).resolve().parent / "e2e"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(E2E):
            item.add_marker(pytest.mark.e2e)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """``--dist loadfile``, with all of tests/e2e as one file."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class E2EAsOneFile(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            scope = super()._split_scope(nodeid)
            return "tests/e2e" if scope.startswith("tests/e2e/") else scope

    return E2EAsOneFile(config, log)
