"""The example DAGs in dags/: they import cleanly, cheaply, and say what they promise.

The DagBag is filled in a fresh interpreter with a throwaway AIRFLOW_HOME, as the DAG processor
would, and reports back as JSON: import errors (what ``airflow dags list-import-errors`` lists), the
shape of every DAG and task, and which heavy modules parsing loaded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jinja2
import pytest

from airflow_batchstream.jobspec.images import location_contains, parse_image

REPO = Path(__file__).resolve().parents[2]
DAGS = REPO / "dags"
EXAMPLES = sorted(path.stem for path in DAGS.glob("*.py"))
POLL_VARIABLE = "7.5"

#: Parse time is sacred (docs/design.md): none of these may load while the DAG processor imports a file.
HEAVY_MODULES = ("google.cloud.batch_v1", "google.api_core", "grpc", "requests")

_PROBE = r"""
import json, sys
from airflow.dag_processing.dagbag import DagBag

from airflow.sdk import Variable

# Airflow's best practice: no Variable access at the top level of a DAG file (every parse would
# pay a lookup). Record any, so that a test can say there were none.
variable_reads = []
_get = Variable.get.__func__

def _recording_get(cls, key, *args, **kwargs):
    variable_reads.append(key)
    return _get(cls, key, *args, **kwargs)

Variable.get = classmethod(_recording_get)

bag = DagBag(sys.argv[1])

def describe(task):
    kwargs = dict(getattr(task, "partial_kwargs", {}) or {})
    expand = getattr(getattr(task, "expand_input", None), "value", None)
    fields = {}
    for name in ("image_uri", "location", "project_id", "commands", "task_count", "poll_interval",
                 "wait_for_completion", "deferrable", "image_check", "pin_image_digest", "job_name",
                 "environment", "registry_url", "machine_type", "provisioning_model", "timeout"):
        value = getattr(task, name, kwargs.get(name))
        if value is not None:
            fields[name] = value if isinstance(value, (str, int, float, bool, list, dict)) else repr(value)
    return {
        "class": type(task).__name__,
        "operator": getattr(task, "operator_name", None) or getattr(task, "task_type", None),
        "mapped": expand is not None,
        "expand": sorted(expand) if isinstance(expand, dict) else None,
        "expand_values": expand if isinstance(expand, dict) else None,
        "upstream": sorted(task.upstream_task_ids),
        "fields": fields,
    }

out = {
    "import_errors": {str(k): str(v) for k, v in bag.import_errors.items()},
    "dags": {
        dag_id: {
            "fileloc": dag.fileloc,
            "tags": sorted(dag.tags),
            "doc_md": dag.doc_md,
            "schedule": str(dag.schedule) if dag.schedule is not None else None,
            "catchup": dag.catchup,
            "start_date": dag.start_date.isoformat() if dag.start_date else None,
            "tasks": {task.task_id: describe(task) for task in dag.tasks},
        }
        for dag_id, dag in bag.dags.items()
    },
    "variable_reads": variable_reads,
    "heavy": sorted(m for m in sys.modules if m.split(".")[0] in ("grpc", "requests")
                    or m.startswith(("google.cloud.batch_v1", "google.api_core"))),
}
print("PROBE-RESULT " + json.dumps(out, default=str))
"""


@pytest.fixture(scope="module")
def parsed(tmp_path_factory) -> dict:
    home = tmp_path_factory.mktemp("airflow-home")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "BATCHSTREAM"))}
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__DAGS_FOLDER=str(DAGS),
        AIRFLOW__CORE__UNIT_TEST_MODE="True",
        AIRFLOW_VAR_BATCHSTREAM_POLL_INTERVAL=POLL_VARIABLE,
    )
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, str(DAGS)],
        env=env,
        cwd=home,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("PROBE-RESULT ")]
    assert done.returncode == 0 and lines, f"DagBag probe failed:\n{done.stdout}\n{done.stderr}"
    return json.loads(lines[-1].removeprefix("PROBE-RESULT "))


def dag(parsed, dag_id: str) -> dict:
    return parsed["dags"][dag_id]


def render_default(template: str, variables: dict[str, str] | None = None) -> str:
    """Render a field as it runs: ``var.value.get(key, default)`` -> the Variable, else default."""

    class Values:
        @staticmethod
        def get(key, default=None):
            return (variables or {}).get(key, default)

    return jinja2.Template(template).render(var={"value": Values()})


def batch_tasks(parsed) -> list[tuple[str, str, dict]]:
    return [
        (dag_id, task_id, task)
        for dag_id, info in parsed["dags"].items()
        for task_id, task in info["tasks"].items()
        if task["class"] in ("BatchStreamJobOperator", "MappedOperator") and "image_uri" in task["fields"]
    ]


def test_there_are_the_five_examples():
    assert EXAMPLES == [
        "example_batchstream_array_and_mapping",
        "example_batchstream_gpu_inference",
        "example_batchstream_partitioned",
        "example_batchstream_preflight",
        "example_batchstream_sensor",
    ]


def test_no_import_errors(parsed):
    assert parsed["import_errors"] == {}


def test_one_dag_per_file_named_after_it(parsed):
    assert sorted(parsed["dags"]) == EXAMPLES
    for dag_id, info in parsed["dags"].items():
        assert Path(info["fileloc"]).stem == dag_id


def test_parsing_the_examples_loads_no_client_library(parsed):
    assert parsed["heavy"] == []


@pytest.mark.parametrize("dag_id", EXAMPLES)
def test_every_example_is_tagged_and_documented(parsed, dag_id):
    info = dag(parsed, dag_id)
    assert {"batchstream", "example"} <= set(info["tags"])
    assert info["doc_md"] and len(info["doc_md"]) > 200, "the DAG's docs are what the UI shows"
    assert "batchstream_project" in info["doc_md"], "say how to run it on Google Cloud"
    assert info["start_date"] < "2025"  # in the past: the UI can trigger and backfill it


def test_every_job_defaults_to_a_streamable_image_in_its_location(parsed):
    tasks = batch_tasks(parsed)
    assert len(tasks) >= 5
    for dag_id, task_id, task in tasks:
        image = render_default(task["fields"]["image_uri"])
        location = render_default(task["fields"]["location"])
        ref, problems = parse_image(image)
        assert ref is not None, (dag_id, task_id, [p.format() for p in problems])
        assert location_contains(ref.location, location), (dag_id, task_id, image, location)
        assert render_default(task["fields"]["project_id"]), "a project for real Google Cloud"


def test_parsing_the_examples_reads_no_variable(parsed):
    """Variables are read through templates when a task runs, never when the file is parsed."""
    assert parsed["variable_reads"] == []


def test_poll_interval_comes_from_the_variable_when_the_task_runs(parsed):
    waiting = [
        (dag_id, task_id, task)
        for dag_id, task_id, task in batch_tasks(parsed)
        if task["fields"].get("wait_for_completion") is not False  # the others never poll
    ]
    waiting.append(
        (
            "example_batchstream_sensor",
            "wait_for_job",
            dag(parsed, "example_batchstream_sensor")["tasks"]["wait_for_job"],
        )
    )
    assert len(waiting) >= 5
    for dag_id, task_id, task in waiting:
        template = task["fields"]["poll_interval"]
        assert isinstance(template, str), (dag_id, task_id, template)
        rendered = render_default(template, {"batchstream_poll_interval": POLL_VARIABLE})
        assert float(rendered) == float(POLL_VARIABLE), (dag_id, task_id)
        assert float(render_default(template)) == 30, (dag_id, task_id)


def test_preflight_registry_comes_from_the_variable_when_the_task_runs(parsed):
    fields = dag(parsed, "example_batchstream_preflight")["tasks"]["streamed_job"]["fields"]
    url = "http://127.0.0.1:5000"
    assert render_default(fields["registry_url"], {"batchstream_registry_url": url}) == url
    assert render_default(fields["registry_url"]) == "", "unset: the image's own registry"


def test_partitioned_example_is_a_daily_pipeline_keyed_by_its_complete_day(parsed):
    info = dag(parsed, "example_batchstream_partitioned")
    assert info["catchup"] is False
    # A data-interval timetable: Airflow 3's plain @daily (a CronTriggerTimetable) has no interval,
    # and its run at midnight would name the day just beginning (tests/e2e runs the schedule).
    assert info["schedule"].startswith("CronDataIntervalTimetable(expression='0 0 * * *'")
    commands = info["tasks"]["process_partition"]["fields"]["commands"]
    assert "{{ data_interval_start | ds }}" in commands


def test_array_and_mapping_example_has_an_array_job_and_a_mapped_task(parsed):
    tasks = dag(parsed, "example_batchstream_array_and_mapping")["tasks"]
    array = tasks["shard_array"]["fields"]
    assert array["task_count"] > 1
    assert "BATCH_TASK_INDEX" in " ".join(array["commands"])
    mapped = tasks["per_table"]
    assert mapped["mapped"] and mapped["expand"] == ["commands"]
    assert len(mapped["expand_values"]["commands"]) == 3


def test_sensor_example_waits_in_the_triggerer_on_the_submitted_job(parsed):
    tasks = dag(parsed, "example_batchstream_sensor")["tasks"]
    assert tasks["submit"]["fields"]["wait_for_completion"] is False
    sensor = tasks["wait_for_job"]
    assert sensor["class"] == "BatchStreamJobSensor"
    assert sensor["fields"]["deferrable"] is True
    assert "xcom_pull(task_ids='submit')" in sensor["fields"]["job_name"]
    assert sensor["upstream"] == ["submit"]


def test_preflight_example_checks_pins_and_defers(parsed):
    fields = dag(parsed, "example_batchstream_preflight")["tasks"]["streamed_job"]["fields"]
    assert fields["image_check"] == "error"
    assert fields["pin_image_digest"] is True
    assert fields["deferrable"] is True


def test_gpu_example_is_a_flex_start_array_job_over_date_partitions_with_a_deadline(parsed):
    info = dag(parsed, "example_batchstream_gpu_inference")
    assert info["catchup"] is False
    fields = info["tasks"]["score_week"]["fields"]
    assert fields["task_count"] == 7
    assert "BATCH_TASK_INDEX" in " ".join(fields["commands"])
    assert fields["environment"]["START_DATE"] == "{{ data_interval_start | ds }}"
    assert "0 0 * * 1" in info["schedule"]  # weekly: each run's data interval is one complete week
    assert fields["machine_type"] == "g2-standard-8"
    assert fields["provisioning_model"] == "FLEX_START"
    assert fields["pin_image_digest"] is True and fields["image_check"] == "error"
    assert fields["timeout"] > 0 and fields["deferrable"] is True
    assert "gpu-infer" in render_default(fields["image_uri"])
