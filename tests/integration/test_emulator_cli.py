"""`batchstream emulator` as users run it: a process that prints its address and obeys signals."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading

import pytest
from google.api_core import exceptions
from google.cloud import batch_v1

from airflow_batchstream.commands.emulator import ready_address as address_in
from airflow_batchstream.config import EMULATOR_ENV
from airflow_batchstream.emulator.client import sync_client
from tests.fixtures.emulator import PARENT, make_job, wait_terminal


def start_cli(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "airflow_batchstream.cli", "emulator", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def ready_address(process: subprocess.Popen, timeout: float = 30.0) -> str:
    """The address from the ready line, read without blocking forever."""
    line: list[str] = []
    reader = threading.Thread(target=lambda: line.append(process.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    address = address_in(line[0]) if line else None
    assert address, f"no ready line: {line}"
    return address


@pytest.fixture
def cli_process():
    processes: list[subprocess.Popen] = []

    def start(*args: str) -> subprocess.Popen:
        processes.append(start_cli(*args))
        return processes[-1]

    yield start
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait(10)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_cli_serves_then_stops_cleanly_on_signal(cli_process, monkeypatch, tmp_path, signum):
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text("rules:\n  - match: {label: 'fate=fail'}\n    exit_code: 5\n")
    process = cli_process("--port", "0", "--speed", "50", "--scenario", str(scenario))
    address = ready_address(process)
    monkeypatch.setenv(EMULATOR_ENV, address)

    client = sync_client()  # found through BATCHSTREAM_EMULATOR_HOST
    created = client.create_job(parent=PARENT, job_id="cli-job", job=make_job(labels={"fate": "fail"}))
    done, _ = wait_terminal(client, created.name)
    with pytest.raises(exceptions.NotFound):
        client.get_job(name=f"{PARENT}/jobs/missing")
    client.transport.close()
    process.send_signal(signum)

    assert process.wait(15) == 0
    assert done.status.state == batch_v1.JobStatus.State.FAILED
    log = process.stderr.read()
    assert f"CreateJob {PARENT}/jobs/cli-job OK" in log
    assert f"GetJob {PARENT}/jobs/missing NOT_FOUND" in log
    assert "ms" in log.splitlines()[-1]


def test_cli_refuses_a_busy_port(cli_process):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        process = cli_process("--port", str(port))
        assert process.wait(30) == 2
    assert "cannot listen" in process.stderr.read()


def test_cli_refuses_a_bad_scenario(cli_process, tmp_path):
    scenario = tmp_path / "bad.yaml"
    scenario.write_text("rules:\n  - mtach: {}\n")

    process = cli_process("--port", "0", "--scenario", str(scenario))

    assert process.wait(30) == 2
    assert "mtach" in process.stderr.read()


def test_cli_rejects_a_non_positive_speed(cli_process):
    process = cli_process("--speed", "0")

    assert process.wait(30) == 2
    assert "--speed: must be greater than 0" in process.stderr.read()


def test_client_helper_needs_an_address(monkeypatch):
    monkeypatch.delenv(EMULATOR_ENV, raising=False)

    with pytest.raises(ValueError, match=EMULATOR_ENV):
        sync_client()


def test_emulator_env_fixture_sets_the_variable(emulator_env):
    assert os.environ[EMULATOR_ENV] == emulator_env


def test_cli_read_quota(cli_process):
    process = cli_process("--port", "0", "--read-quota", "1", "--quiet")
    client = sync_client(ready_address(process))

    with pytest.raises(exceptions.NotFound):
        client.get_job(name=f"{PARENT}/jobs/a")
    with pytest.raises(exceptions.ResourceExhausted):
        client.get_job(name=f"{PARENT}/jobs/a")
    client.transport.close()
    process.terminate()

    assert process.wait(15) == 0
    assert "GetJob" not in process.stderr.read()  # --quiet
