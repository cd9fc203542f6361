"""Fixtures live in tests/fixtures, one module per real service the tests start."""

pytest_plugins = [
    "tests.fixtures.emulator",
    "tests.fixtures.registry",
    "tests.fixtures.airflow",
]
