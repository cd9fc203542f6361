"""A real Airflow 3 (API server, scheduler, DAG processor, triggerer) and the Batch emulator on loopback.

Everything here starts real processes the way a user would (``airflow api-server``, ``airflow
scheduler`` ... on a database ``airflow db migrate`` made), so the end-to-end tests see what a
deployment sees. The Airflow configuration lives in two dictionaries: :data:`SHARED_AIRFLOW_CONFIG`
holds what docker-compose.yaml must set the same way (``tests/unit/test_compose.py`` checks it),
:func:`local_airflow_config` adds what only makes sense for this throwaway, single-machine stack
(ports, SQLite path, short intervals).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
EXAMPLE_DAGS = REPO / "dags"
E2E_DAGS = Path(__file__).resolve().parent / "dags"
SCENARIO = Path(__file__).resolve().parent / "scenario.yaml"

#: Airflow settings the e2e stack and docker-compose.yaml share (as ``AIRFLOW__SECTION__KEY``).
SHARED_AIRFLOW_CONFIG: dict[str, str] = {
    "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
    "AIRFLOW__CORE__AUTH_MANAGER": (
        "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
    ),
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    # Examples start paused, as in any deployment: the tests (and users) unpause what they run.
    "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
    # Deferrable operators are the point of this provider: default them on.
    "AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE": "True",
    # The example DAGs read their poll interval from this Variable (30 s when unset).
    "AIRFLOW_VAR_BATCHSTREAM_POLL_INTERVAL": "2",
}

#: The long-running Airflow processes (``airflow <args>``); docker-compose.yaml runs the same ones.
AIRFLOW_COMMANDS: dict[str, list[str]] = {
    "api-server": ["api-server"],
    "scheduler": ["scheduler"],
    "dag-processor": ["dag-processor"],
    "triggerer": ["triggerer"],
}

#: ``batchstream <args>`` serving the emulator; the harness adds the address, speed and scenario.
EMULATOR_COMMAND: list[str] = ["emulator"]

#: How long one API call may take; SQLite behind four busy processes is slow at times.
HTTP_TIMEOUT = 30.0


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def local_airflow_config(home: Path, api_port: int, dag_folders: Iterable[Path]) -> dict[str, str]:
    """Settings for a throwaway stack in ``home``: SQLite, loopback ports, short loop intervals."""
    folders = list(dag_folders)
    bundles = [
        {
            "name": f"dags-{i}",
            "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
            "kwargs": {"path": str(folder), "refresh_interval": 5},
        }
        for i, folder in enumerate(folders)
    ]
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(folders[0]),
        "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": json.dumps(bundles),
        # SQLite works with the LocalExecutor in Airflow 3: task processes never touch the database
        # (they talk to the API server's execution API), only the four long-running processes do.
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{api_port}",
        # Every process signs or checks the same JWTs (task tokens, API tokens).
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
        "AIRFLOW__API__SECRET_KEY": secrets.token_hex(16),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
        # The log servers are skipped (--skip-serve-logs); free ports anyway, so that nothing here
        # ever collides with another Airflow on the same machine.
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__LOGGING__COLORED_CONSOLE_LOG": "False",
        # Few task slots: the machine is small and every task is a supervisor plus a task process.
        "AIRFLOW__CORE__PARALLELISM": "6",
        "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "60",
        "AIRFLOW__DAG_PROCESSOR__PRINT_STATS_INTERVAL": "600",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
        "AIRFLOW__SCHEDULER__JOB_HEARTBEAT_SEC": "2",
        "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "2",
        # A task whose worker died is failed (and retried) 30 s after its last heartbeat (sent every
        # 5 s), not after 5 minutes: tests/e2e/test_lifecycle.py kills a worker.
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "30",
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
        # The triggerer's on_kill (cancel the Batch job) must finish well inside a test's wait.
        "AIRFLOW__TRIGGERER__ON_KILL_TIMEOUT": "20",
        "AIRFLOW__API__EXPOSE_STACKTRACE": "True",
        # No telemetry, no version checks: loopback only.
        "SCARF_ANALYTICS": "false",
        "DO_NOT_TRACK": "true",
    }


@dataclass
class Service:
    """One long-running process, its log file, and its process group (killed as a whole).

    ``orphaned_groups`` are the groups of earlier incarnations killed by :meth:`kill_leader`: their
    children may live on (as after a crash) until :meth:`stop` ends them.
    """

    name: str
    argv: list[str]
    log_path: Path
    process: subprocess.Popen | None = None
    orphaned_groups: list[int] = field(default_factory=list)

    def start(self, env: dict[str, str], cwd: Path) -> None:
        log = self.log_path.open("ab")
        # A new session, so that stop() reaches the children (uvicorn workers, executor workers,
        # parsing processes) through the group id of the process we started, and nothing else.
        self.process = subprocess.Popen(
            self.argv, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill_leader(self) -> int:
        """SIGKILL the process we started and nothing else, as a crash would; return its pid.

        Its children (a scheduler's LocalExecutor workers and the tasks they supervise) live on.
        """
        assert self.process is not None and self.process.poll() is None, f"{self.name} is not running"
        pid = self.process.pid
        os.kill(pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        self.orphaned_groups.append(pid)  # start_new_session: its group id is its pid
        return pid

    def stop(self, grace: float = 15.0) -> None:
        for pgid in self.orphaned_groups:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
        self.orphaned_groups.clear()
        if self.process is None or self.process.poll() is not None:
            return
        pgid = self.process.pid  # start_new_session: the group id is our child's pid
        try:
            os.killpg(pgid, signal.SIGTERM)
            self.process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
        except ProcessLookupError:
            return
        # Whatever is left of the group (a worker that ignored SIGTERM) goes now.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)

    def tail(self, lines: int = 200) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(text[-lines:])


def start_emulator(log_path: Path, *, speed: float, scenario: Path | None, timeout: float = 60.0):
    """Start ``batchstream emulator --port 0`` and return ``(service, "host:port")``.

    The emulator prints one line naming the address it serves; we read it from the log file.
    """
    argv = [str(VENV_BIN / "batchstream"), *EMULATOR_COMMAND, "--host", "127.0.0.1", "--port", "0"]
    argv += ["--speed", str(speed)]
    if scenario is not None:
        argv += ["--scenario", str(scenario)]
    service = Service("emulator", argv, log_path)
    service.start(dict(os.environ, PYTHONUNBUFFERED="1"), REPO)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        address = _address_in(log_path.read_text(errors="replace"))
        if address:
            return service, address
        if not service.alive():
            raise RuntimeError(f"the emulator exited early:\n{service.tail()}")
        time.sleep(0.2)
    service.stop()
    raise RuntimeError(f"the emulator printed no address within {timeout}s:\n{service.tail()}")


def _address_in(text: str) -> str | None:
    """The address the emulator's ready line announces, once it is in the log."""
    from airflow_batchstream.commands.emulator import ready_address

    return next(filter(None, map(ready_address, text.splitlines())), None)


@dataclass
class AirflowStack:
    """A migrated metadata database in ``home`` and the four Airflow processes serving it.

    :param database: a database ``airflow db migrate`` made (the suite migrates one per run, see
        ``migrated_airflow_db``); the stack starts from a copy of it in ``home``.
    """

    home: Path
    dag_folders: list[Path]
    database: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    api_port: int = field(default_factory=free_port)
    services: list[Service] = field(default_factory=list)
    password: str = field(default_factory=lambda: secrets.token_urlsafe(16))

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
        env.pop("BATCHSTREAM_EMULATOR_HOST", None)
        env.update(SHARED_AIRFLOW_CONFIG)
        env.update(self._local)
        env.update(self.extra_env)
        env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def __post_init__(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self._local = local_airflow_config(self.home, self.api_port, self.dag_folders)

    def start(self) -> None:
        # The passwords file is written up front so the tests know the admin password; the simple
        # auth manager only generates passwords for users missing from it.
        (self.home / "passwords.json").write_text(json.dumps({"admin": self.password}) + "\n")
        shutil.copyfile(self.database, self.home / "airflow.db")
        local_args = {
            "api-server": ["--host", "127.0.0.1", "--port", str(self.api_port)],
            # One AIRFLOW_HOME for all: the API server reads task and trigger logs from its files,
            # so no log server is needed (Airflow binds those to every interface, not loopback).
            "scheduler": ["--skip-serve-logs"],
            "triggerer": ["--skip-serve-logs"],
        }
        for name, args in AIRFLOW_COMMANDS.items():
            argv = [str(VENV_BIN / "airflow"), *args, *local_args.get(name, [])]
            service = Service(name, argv, self.home / f"{name}.log")
            service.start(self.env, self.home)
            self.services.append(service)

    def service(self, name: str) -> Service:
        return next(s for s in self.services if s.name == name)

    def restart(self, name: str, **extra_env: str) -> None:
        """Start the ``name`` service again (stopping it first if it still runs), its log appended;
        ``extra_env`` (``AIRFLOW__SECTION__KEY`` settings) applies to the new incarnation only."""
        service = self.service(name)
        if service.alive():
            service.stop()
        service.start({**self.env, **extra_env}, self.home)

    def stop(self) -> None:
        # Scheduler first (no new task processes), API server last (running tasks report to it).
        order = {"scheduler": 0, "triggerer": 1, "dag-processor": 2, "api-server": 3}
        for service in sorted(self.services, key=lambda s: order.get(s.name, 9)):
            service.stop()

    def check_alive(self) -> None:
        dead = [s for s in self.services if not s.alive()]
        if dead:
            raise RuntimeError("Airflow process(es) exited: " + ", ".join(s.name for s in dead))

    def logs(self, lines: int = 150) -> str:
        """The tail of every process log, for a failing test's report."""
        parts = [f"===== {s.name} ({s.log_path}) =====\n{s.tail(lines)}" for s in self.services]
        return "\n".join(parts)

    def wait_healthy(self, timeout: float = 180.0) -> None:
        """Wait until the API answers and reports a healthy scheduler, triggerer and DAG processor."""

        def healthy() -> bool:
            self.check_alive()
            try:
                response = httpx.get(f"{self.base_url}/api/v2/monitor/health", timeout=5)
            except httpx.HTTPError:
                return False
            if response.status_code != 200:
                return False
            body = response.json()
            parts = ("metadatabase", "scheduler", "triggerer", "dag_processor")
            return all((body.get(part) or {}).get("status") == "healthy" for part in parts)

        wait_for(healthy, timeout=timeout, interval=1.0, what="a healthy Airflow")


def wait_for(
    predicate: Callable[[], Any], *, timeout: float, interval: float = 1.0, what: str = "a condition"
) -> Any:
    """Call ``predicate`` until it returns something truthy; return that, or fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


class AirflowApi:
    """The REST API v2 with a bearer token obtained from ``POST /auth/token``, as clients do."""

    def __init__(self, stack: AirflowStack) -> None:
        self.stack = stack
        token = self._token()
        self.http = httpx.Client(
            base_url=f"{stack.base_url}/api/v2",
            headers={"Authorization": f"Bearer {token}"},
            timeout=HTTP_TIMEOUT,
        )

    def _token(self) -> str:
        response = httpx.post(
            f"{self.stack.base_url}/auth/token",
            json={"username": "admin", "password": self.stack.password},
            timeout=HTTP_TIMEOUT,
        )
        response.raise_for_status()
        return response.json()["access_token"]

    def close(self) -> None:
        self.http.close()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One call; a 5xx or a locked SQLite (503) is retried a few times, anything else returned."""
        for attempt in range(5):
            response = self.http.request(method, path, **kwargs)
            if response.status_code < 500:
                return response
            time.sleep(1 + attempt)
        return response

    def ok(self, method: str, path: str, **kwargs: Any) -> Any:
        """Like :meth:`request` but expects a 2xx and returns the decoded JSON (or None)."""
        response = self.request(method, path, **kwargs)
        if response.status_code >= 300:
            raise AssertionError(f"{method} {path} -> {response.status_code}: {response.text}")
        return response.json() if response.content else None

    # --- DAGs and runs -------------------------------------------------------------------------

    def wait_for_dag(self, dag_id: str, timeout: float = 120.0) -> dict:
        """Wait until the DAG processor has parsed ``dag_id`` and the API knows it."""

        def parsed():
            self.stack.check_alive()
            response = self.request("GET", f"/dags/{dag_id}")
            return response.json() if response.status_code == 200 else None

        return wait_for(parsed, timeout=timeout, interval=1.0, what=f"DAG {dag_id} to be parsed")

    def unpause(self, dag_id: str) -> None:
        self.wait_for_dag(dag_id)
        self.ok("PATCH", f"/dags/{dag_id}", json={"is_paused": False})

    def trigger(self, dag_id: str, conf: dict | None = None, logical_date: str | None = None) -> str:
        """Trigger a run (unpausing the DAG first) and return its run id."""
        self.unpause(dag_id)
        body = {"logical_date": logical_date, "conf": conf or {}}
        return self.ok("POST", f"/dags/{dag_id}/dagRuns", json=body)["dag_run_id"]

    def dag_run(self, dag_id: str, run_id: str) -> dict:
        return self.ok("GET", f"/dags/{dag_id}/dagRuns/{run_id}")

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 300.0) -> dict:
        """Wait for a run to finish (success or failed) and return it."""

        def finished():
            self.stack.check_alive()
            run = self.dag_run(dag_id, run_id)
            return run if run["state"] in ("success", "failed") else None

        return wait_for(finished, timeout=timeout, interval=2.0, what=f"run {run_id} of {dag_id}")

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        body = self.ok("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", params={"limit": 100})
        return body["task_instances"]

    def task_instance(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> dict:
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}"
        if map_index >= 0:
            path += f"/{map_index}"
        return self.ok("GET", path)

    def task_log(
        self, dag_id: str, run_id: str, task_id: str, try_number: int = 1, map_index: int = -1
    ) -> str:
        """The task's full log as text (structured entries joined, events and their fields)."""
        body = self.ok(
            "GET",
            f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}",
            params={"full_content": "true", "map_index": map_index},
            headers={"Accept": "application/json"},
        )
        content = body.get("content")
        if isinstance(content, str):
            return content
        return "\n".join(json.dumps(entry) if not isinstance(entry, str) else entry for entry in content)

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value", map_index: int = -1):
        body = self.ok(
            "GET",
            f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}",
            params={"map_index": map_index, "deserialize": "true"},
        )
        return body["value"]
