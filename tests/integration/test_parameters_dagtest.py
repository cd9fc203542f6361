"""Bad values that only exist when the task runs, through a real Airflow run (``dag.test()``).

A template that renders to a bad value, and a mapped task (``.partial().expand()``) whose
expanded value is bad (Airflow constructs the operator only when the task runs, so the
constructor check runs there): each task fails with the parameter named, and Batch is never
called for it. One good mapped instance runs, to show the check costs the others nothing.
Like test_operator_dagtest.py, it runs in a subprocess with its own AIRFLOW_HOME.
"""

from __future__ import annotations

import pytest

from tests.fixtures.airflow import run_dag_file

#: A real Airflow or a credential refresh in a subprocess, waited for: scripts/test --fast leaves it out.
pytestmark = pytest.mark.slow

DAG_FILE = """
from __future__ import annotations

import datetime

from airflow.sdk import DAG

from airflow_batchstream.operators import BatchStreamJobOperator
from airflow_batchstream.sensors import BatchStreamJobSensor


IMAGE = "us-central1-docker.pkg.dev/test-project/repo/app:1.0"

with DAG(
    "bad_inputs",
    schedule=None,
    start_date=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc),
    params={"command": "echo hi", "job": "not-a-job-name"},
) as dag:
    BatchStreamJobOperator(
        task_id="templated_commands",
        image_uri=IMAGE,
        location="us-central1",
        project_id="test-project",
        commands="{{ params.command }}",  # renders to the string 'echo hi', not a list
        poll_interval=0.1,
    )
    BatchStreamJobOperator.partial(
        task_id="mapped_task_count",
        image_uri=IMAGE,
        location="us-central1",
        project_id="test-project",
        poll_interval=0.1,
    ).expand(task_count=[0, 2])
    BatchStreamJobSensor(task_id="templated_job_name", job_name="{{ params.job }}", poll_interval=0.1)
"""

RUNNER = r"""
run = dag.test(logical_date=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc))
states = {f"{ti.task_id}[{ti.map_index}]": str(ti.state) for ti in run.get_task_instances()}
jobs = [dict(job.labels) for job in emulator.jobs()]
emulator.stop()
print("RESULT " + json.dumps({"states": states, "calls": emulator.call_counts, "jobs": jobs}))
"""


@pytest.fixture(scope="module")
def report(tmp_path_factory, migrated_airflow_db) -> dict:
    home = tmp_path_factory.mktemp("airflow-home")
    result, log = run_dag_file(home, migrated_airflow_db, DAG_FILE, RUNNER)
    return {**result, "log": log}


def test_each_bad_task_fails_and_the_good_mapped_instance_succeeds(report):
    assert report["states"] == {
        "templated_commands[-1]": "failed",
        "mapped_task_count[0]": "failed",
        "mapped_task_count[1]": "success",
        "templated_job_name[-1]": "failed",
    }


def test_batch_saw_only_the_good_job(report):
    assert report["calls"].get("CreateJob") == 1
    assert "GetJob" in report["calls"]  # the good job was awaited...
    assert [job["airflow-map-index"] for job in report["jobs"]] == ["1"]  # ...and was the only one


@pytest.mark.parametrize(
    "message",
    [
        "commands (taskGroups[0].taskSpec.runnables[0].container.commands): expected a list of strings, "
        "got the string 'echo hi'",
        "did you mean ['echo', 'hi']?",
        "task_count (taskGroups[0].taskCount): 0 is outside 1..100000 [TG-COUNT]",
        "job_name: 'not-a-job-name' is not valid",
    ],
)
def test_the_failure_names_the_parameter(report, message):
    assert message in report["log"]
