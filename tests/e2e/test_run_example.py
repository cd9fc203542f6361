"""scripts/run-example, the README's first command: the example DAG end to end, and its exit code."""

from __future__ import annotations

import os
import socket
import subprocess

from tests.e2e.harness import REPO


def run_example(home, *args: str, database=None) -> subprocess.CompletedProcess:
    """Run the script as a user does; ``database`` is a migrated one to start from instead."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "BATCHSTREAM"))}
    env["BATCHSTREAM_EXAMPLE_HOME"] = str(home)
    if database is not None:
        env["BATCHSTREAM_EXAMPLE_DB"] = str(database)
    return subprocess.run(
        [str(REPO / "scripts" / "run-example"), *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )


def printed_summary(out: str) -> dict[str, str]:
    """The ``key  value`` lines under "Batch job summary", up to the next blank line."""
    lines = out.split("Batch job summary", 1)[1].splitlines()[1:]
    summary = {}
    for line in lines:
        if not line.strip():
            break
        key, _, value = line.strip().partition(" ")
        summary[key] = value.strip()
    return summary


def test_run_example_prints_the_job_summary(tmp_path):
    done = run_example(tmp_path / "home", "2024-02-29")
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "for 2024-02-29: success" in out
    summary = printed_summary(out)
    assert summary["state"] == "SUCCEEDED"
    assert summary["console_url"].startswith(
        "https://console.cloud.google.com/batch/jobsDetail/regions/us-central1/jobs/"
    )
    assert "running=" in summary["timeline"]
    # The emulator was stopped on the way out: nothing listens on the address it printed.
    address = next(line.split()[-1] for line in out.splitlines() if "emulator serving on" in line)
    host, port = address.rsplit(":", 1)
    with socket.socket() as sock:
        assert sock.connect_ex((host, int(port))) != 0, f"the emulator still serves on {address}"


def test_run_example_fails_when_the_dag_run_fails(tmp_path, migrated_airflow_db):
    # `airflow dags test` rejects the date: the script must exit non-zero and show why. (The test
    # above runs the script in full; this one skips its migration.)
    done = run_example(tmp_path / "home", "not-a-date", database=migrated_airflow_db)
    assert "Copying the migrated Airflow database" in done.stdout
    assert done.returncode != 0
    assert "Done: the job ran" not in done.stdout
    assert "dags-test.log" in done.stderr
