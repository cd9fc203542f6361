"""docker-compose.yaml and the Dockerfile, checked without a Docker engine.

No container runs here, so these tests hold the compose file to what the end-to-end harness proves
natively: the same Airflow processes, the same shared Airflow settings, the same emulator command,
and the Airflow version the tests run.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tests.e2e.harness import AIRFLOW_COMMANDS, EMULATOR_COMMAND, SHARED_AIRFLOW_CONFIG

REPO = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((REPO / "docker-compose.yaml").read_text())
DOCKERFILE = (REPO / "Dockerfile").read_text()

#: compose service name -> the harness's process name
AIRFLOW_SERVICES = {
    "airflow-apiserver": "api-server",
    "airflow-scheduler": "scheduler",
    "airflow-dag-processor": "dag-processor",
    "airflow-triggerer": "triggerer",
}
EMULATOR_PORT = "8795"


def service(name: str) -> dict:
    return COMPOSE["services"][name]


def test_compose_has_airflow_postgres_and_the_emulator():
    assert set(COMPOSE["services"]) == {"postgres", "emulator", "airflow-init", *AIRFLOW_SERVICES}


def test_the_airflow_services_are_the_processes_the_harness_runs():
    assert sorted(AIRFLOW_SERVICES.values()) == sorted(AIRFLOW_COMMANDS)
    for name, process in AIRFLOW_SERVICES.items():
        assert service(name)["command"] == AIRFLOW_COMMANDS[process], name


@pytest.mark.parametrize("name", [*AIRFLOW_SERVICES, "airflow-init"])
def test_airflow_services_share_the_harness_settings(name):
    environment = service(name)["environment"]
    for key, value in SHARED_AIRFLOW_CONFIG.items():
        assert str(environment.get(key)) == value, f"{name}: {key}"


@pytest.mark.parametrize("name", AIRFLOW_SERVICES)
def test_airflow_services_reach_the_emulator_the_api_and_the_database(name):
    environment = service(name)["environment"]
    assert environment["BATCHSTREAM_EMULATOR_HOST"] == f"emulator:{EMULATOR_PORT}"
    assert (
        environment["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"
    )
    assert environment["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql")
    assert "@postgres/" in environment["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert "./dags:/opt/airflow/dags" in service(name)["volumes"]
    # Task logs are written by the scheduler's workers and the triggerer and read by the API server.
    assert any(v.endswith(":/opt/airflow/logs") for v in service(name)["volumes"])


def test_every_airflow_service_signs_tokens_with_the_same_secret():
    secrets = {service(name)["environment"]["AIRFLOW__API_AUTH__JWT_SECRET"] for name in AIRFLOW_SERVICES}
    assert len(secrets) == 1


def test_the_emulator_service_runs_the_command_the_harness_runs():
    command = service("emulator")["command"]
    assert command[: 1 + len(EMULATOR_COMMAND)] == ["batchstream", *EMULATOR_COMMAND]
    assert command[command.index("--host") + 1] == "0.0.0.0"  # reachable from the other containers
    assert command[command.index("--port") + 1] == EMULATOR_PORT


def test_the_ui_is_published_on_localhost_8080():
    assert "8080:8080" in service("airflow-apiserver")["ports"]


def test_airflow_waits_for_a_migrated_database():
    assert service("airflow-init")["command"] == ["db", "migrate"]
    for name in AIRFLOW_SERVICES:
        depends = service(name)["depends_on"]
        assert depends["airflow-init"]["condition"] == "service_completed_successfully"
        assert depends["postgres"]["condition"] == "service_healthy"


def test_the_dockerfile_installs_this_package_on_the_airflow_the_tests_run():
    import airflow

    base = re.search(r"^FROM\s+apache/airflow:(\S+)", DOCKERFILE, re.MULTILINE)
    assert base, "the image must build FROM the official apache/airflow image"
    assert base.group(1) == airflow.__version__
    assert re.search(r"^COPY .*airflow_batchstream", DOCKERFILE, re.MULTILINE)
    assert re.search(r"^RUN pip install .*/opt/airflow-batchstream\b", DOCKERFILE, re.MULTILINE)
    for name in ("emulator", *AIRFLOW_SERVICES):
        assert service(name)["build"] == "."
