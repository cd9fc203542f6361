"""The harness itself: the four Airflow processes run, authenticate, schedule and log a task."""

from __future__ import annotations

import httpx

from tests.e2e.harness import E2E_DAGS, EXAMPLE_DAGS


def test_api_requires_a_token(airflow_stack):
    response = httpx.get(f"{airflow_stack.base_url}/api/v2/dags", timeout=30)
    assert response.status_code == 401


def test_health_reports_every_component(api):
    health = api.ok("GET", "/monitor/health")
    for component in ("metadatabase", "scheduler", "triggerer", "dag_processor"):
        assert health[component]["status"] == "healthy", health


def test_a_python_task_runs_and_logs(api):
    run_id = api.trigger("e2e_smoke")
    run = api.wait_for_run("e2e_smoke", run_id, timeout=120)
    assert run["state"] == "success"
    assert api.xcom("e2e_smoke", run_id, "hello") == "hello"
    assert f"hello from {run_id}" in api.task_log("e2e_smoke", run_id, "hello")


def test_every_dag_file_imports(api):
    """The DAG processor parsed every example and e2e DAG, and found no import errors."""
    for path in sorted([*EXAMPLE_DAGS.glob("*.py"), *E2E_DAGS.glob("*.py")]):
        api.wait_for_dag(path.stem)
    errors = api.ok("GET", "/importErrors")
    assert errors["total_entries"] == 0, errors["import_errors"]
