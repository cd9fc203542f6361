"""The operator inside real Airflow task runs: ``dag.test()`` renders templates and runs triggers.

One subprocess (its own AIRFLOW_HOME, a copy of the migrated SQLite DB, an emulator) runs a DAG file for
several logical dates, one of them deferrable (so the trigger goes through Airflow's serde and its
inline triggerer), and reports what Batch saw. A subprocess keeps Airflow's global configuration
and ORM set-up out of every other test.
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

with DAG(
    "nightly_batch",
    schedule="@daily",
    start_date=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc),
    params={"flavour": "vanilla"},
    catchup=False,
) as dag:
    BatchStreamJobOperator(
        task_id="crunch",
        image_uri="us-central1-docker.pkg.dev/test-project/repo/app:1.0",
        location="us-central1",
        project_id="test-project",
        commands=["python", "-m", "app", "--day", "{{ ds }}", "--flavour", "{{ params.flavour }}"],
        environment={"RUN_DAY": "{{ ds_nodash }}"},
        labels={"day": "{{ ds_nodash }}"},
        poll_interval="{{ var.value.get('nightly_poll_interval', 0.1) }}",  # rendered per run
        deferrable=False,  # the runner switches it on for one date
    )
"""

RUNNER = r"""
from airflow.models.renderedtifields import RenderedTaskInstanceFields

results = []
for day, deferrable in ((1, False), (2, True), (3, False)):
    dag.get_task("crunch").deferrable = deferrable
    logical_date = datetime.datetime(2024, 1, day, tzinfo=datetime.timezone.utc)
    run = dag.test(logical_date=logical_date)
    ti = next(t for t in run.get_task_instances() if t.task_id == "crunch")
    rendered = RenderedTaskInstanceFields.get_templated_fields(ti) or {}
    results.append({"day": day, "state": str(run.state), "ti_state": str(ti.state),
                    "deferrable": deferrable, "submitted_job": rendered.get("submitted_job")})

jobs = []
for job in emulator.jobs():
    container = job.task_groups[0].task_spec.runnables[0].container
    jobs.append({
        "name": job.name,
        "commands": list(container.commands),
        "env": dict(job.task_groups[0].task_spec.environment.variables),
        "labels": dict(job.labels),
        "state": job.status.state.name,
    })
emulator.stop()
print("RESULT " + json.dumps({"runs": results, "jobs": jobs, "calls": emulator.call_counts}))
"""


@pytest.fixture(scope="module")
def dagtest_report(tmp_path_factory, migrated_airflow_db) -> dict:
    return run_dag_file(tmp_path_factory.mktemp("airflow-home"), migrated_airflow_db, DAG_FILE, RUNNER)[0]


def test_every_run_succeeds_including_the_deferred_one(dagtest_report):
    runs = dagtest_report["runs"]
    assert [r["ti_state"] for r in runs] == ["success"] * 3, runs
    assert any(r["deferrable"] for r in runs)


def test_templates_render_into_the_job(dagtest_report):
    by_day = {job["labels"]["day"]: job for job in dagtest_report["jobs"]}
    job = by_day["20240102"]
    assert job["commands"] == ["python", "-m", "app", "--day", "2024-01-02", "--flavour", "vanilla"]
    assert job["env"]["RUN_DAY"] == "20240102"


def test_one_job_per_logical_date_with_distinct_ids(dagtest_report):
    jobs = dagtest_report["jobs"]
    assert len(jobs) == 3
    assert len({job["name"] for job in jobs}) == 3
    assert sorted(job["labels"]["day"] for job in jobs) == ["20240101", "20240102", "20240103"]
    assert {job["labels"]["airflow-dag"] for job in jobs} == {"nightly_batch"}
    assert all(job["state"] == "SUCCEEDED" for job in jobs)
    assert dagtest_report["calls"]["CreateJob"] == 3


def test_rendered_templates_record_the_submitted_job(dagtest_report):
    """What Airflow stored as the task's rendered fields (the UI's Rendered Templates).

    Only the runs that waited in the worker: ``dag.test()`` resumes a deferred task with the event
    alone, dropping the deferral's kwargs that carry the job (a real triggerer keeps them, which
    tests/e2e checks), so the fields it records on resumption have no job.
    """
    by_day = {job["labels"]["day"]: job for job in dagtest_report["jobs"]}
    for run in (run for run in dagtest_report["runs"] if not run["deferrable"]):
        shown = run["submitted_job"]
        assert isinstance(shown, dict), run
        assert shown["labels"] == by_day[f"2024010{run['day']}"]["labels"]
        container = shown["taskGroups"][0]["taskSpec"]["runnables"][0]["container"]
        assert container["enableImageStreaming"] is True
        assert container["commands"] == by_day[f"2024010{run['day']}"]["commands"]
