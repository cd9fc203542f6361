"""scripts/run-example, the README's first command: the example DAG end to end, and its exit code;
scripts/run-dag, which it runs, on a user's own DAG file (the README's offline recipe)."""

from __future__ import annotations

import os
import socket
import subprocess

from tests.e2e.harness import REPO


def run_script(script: str, *args: str, **variables: object) -> subprocess.CompletedProcess:
    """Run ``scripts/<script>`` as a user does, with these environment variables (None: unset)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "BATCHSTREAM"))}
    env.update({name: str(value) for name, value in variables.items() if value is not None})
    return subprocess.run(
        [str(REPO / "scripts" / script), *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )


def run_example(home, *args: str, database=None) -> subprocess.CompletedProcess:
    """scripts/run-example; ``database`` is a migrated one to start from instead."""
    return run_script("run-example", *args, BATCHSTREAM_EXAMPLE_HOME=home, BATCHSTREAM_EXAMPLE_DB=database)


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
    assert "Done:" not in done.stdout
    assert "dags-test.log" in done.stderr


# --- scripts/run-dag: the README's "develop your own DAGs offline" recipe -------------------------

#: A user's own DAG file: an operator that submits, and a sensor handed the job by its XCom.
OWN_DAG = """
from __future__ import annotations

import datetime

from airflow.sdk import DAG

from airflow_batchstream.operators import BatchStreamJobOperator
from airflow_batchstream.sensors import BatchStreamJobSensor

with DAG(
    dag_id="my_pipeline",
    schedule=None,
    start_date=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc),
):
    submit = BatchStreamJobOperator(
        task_id="submit",
        project_id="my-project",
        location="europe-west4",
        image_uri="europe-west4-docker.pkg.dev/my-project/images/app:1.0",
        commands=["python", "-m", "app", "--day", "{{ ds }}"],
        wait_for_completion=False,
    )
    wait = BatchStreamJobSensor(
        task_id="wait",
        job_name="{{ ti.xcom_pull(task_ids='submit')['job_name'] }}",
        deferrable=True,
    )
    submit >> wait
"""


def run_dag(home, *args: str, database=None, scenario=None) -> subprocess.CompletedProcess:
    """scripts/run-dag; ``database`` is a migrated one to start from, ``scenario`` the emulator's."""
    return run_script(
        "run-dag",
        *args,
        BATCHSTREAM_RUN_HOME=home,
        BATCHSTREAM_RUN_DB=database,
        BATCHSTREAM_EMULATOR_SCENARIO=scenario,
    )


def test_run_dag_runs_a_users_own_dag_file_against_the_emulator(tmp_path, migrated_airflow_db):
    dag_file = tmp_path / "dags" / "my_pipeline.py"
    dag_file.parent.mkdir()
    dag_file.write_text(OWN_DAG)
    done = run_dag(tmp_path / "home", str(dag_file), database=migrated_airflow_db)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "task submit: success" in out and "task wait: success" in out
    submitted, sensed = out.split("task wait:", 1)
    # The operator returned right after submission; the sensor waited for that same job's end.
    job = printed_summary(submitted)["job_name"]
    assert job.startswith("projects/my-project/locations/europe-west4/jobs/my-pipeline-submit-")
    assert printed_summary(sensed)["job_name"] == job
    assert printed_summary(sensed)["state"] == "SUCCEEDED"


def test_run_dag_asks_which_dag_when_the_file_has_several(tmp_path):
    dag_file = tmp_path / "two.py"
    other = 'other = DAG(dag_id="my_other_pipeline", schedule=None, start_date=datetime.datetime(2024, 1, 1))'
    dag_file.write_text(f"{OWN_DAG}\n{other}\n")
    done = run_dag(tmp_path / "home", str(dag_file))
    assert done.returncode == 2
    assert "defines 2 DAGs (my_other_pipeline, my_pipeline): name one" in done.stderr


def test_run_dag_says_when_the_run_failed_under_a_scenario(tmp_path, migrated_airflow_db):
    dag_file = tmp_path / "my_pipeline.py"
    dag_file.write_text(OWN_DAG)
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text('rules: [{match: {command: "app"}, exit_codes: {"0": 3}}]\n')
    done = run_dag(
        tmp_path / "home", str(dag_file), "my_pipeline", database=migrated_airflow_db, scenario=scenario
    )
    assert done.returncode == 1, done.stdout + done.stderr
    # The job failed as the scenario said: the sensor failed with it, and the script shows why.
    assert "task submit: success" in done.stdout and "task wait: failed" in done.stdout
    assert "The DAG run failed" in done.stderr and "exit code 3" in done.stderr
    assert "Done:" not in done.stdout
