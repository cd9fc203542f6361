"""Every operator and sensor parameter, given a bad value: the named error, and no API call.

Each case runs twice: as a static value (the constructor raises, so the DAG fails to import) and,
for a templated parameter, as a template that Airflow's own renderer (the task SDK's
``render_template_fields``, native rendering so any type can come out) turns into the bad value:
then the constructor accepts it and ``execute`` refuses it before calling the emulator.
Non-templated parameters reach ``execute`` only through mapping; that path runs in a real
``dag.test()`` in tests/integration/test_parameters_dagtest.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest
from airflow.sdk import DAG

from airflow_batchstream.exceptions import ParameterInvalid
from airflow_batchstream.jobspec.parameters import OPERATOR_PARAMETERS, SENSOR_PARAMETERS
from airflow_batchstream.operators import BatchStreamJobOperator
from airflow_batchstream.sensors import BatchStreamJobSensor
from tests.fixtures.airflow import IMAGE, LOCATION, PROJECT, make_context

STREAMING_OFF = {
    "taskGroups": [{"taskSpec": {"runnables": [{"container": {"enableImageStreaming": False}}]}}]
}
STREAMING_OFF_SNAKE = {
    "task_groups": [{"task_spec": {"runnables": [{"container": {"enable_image_streaming": False}}]}}]
}
PRIVILEGED = {"taskGroups": [{"taskSpec": {"runnables": [{"container": {"options": "--privileged"}}]}}]}

#: (parameter, bad value, rule, a piece of the message). Every parameter has at least one case.
OPERATOR_CASES: list[tuple[str, Any, str, str]] = [
    ("image_uri", "docker.io/library/busybox:latest", "IS-1", "not in Artifact Registry"),
    ("image_uri", 42, "P-TYPE", "expected a string, got the integer 42"),
    ("location", "us-central1-a", "J-PARENT", "did you mean 'us-central1'?"),
    ("project_id", "My Project!", "P-FORM", "a project id is lowercase"),
    ("commands", "echo hi", "P-TYPE", "did you mean ['echo', 'hi']?"),
    ("commands", ["python", 3], "P-TYPE", "item [1] is the integer 3"),
    ("entrypoint", ["/bin/sh"], "P-TYPE", "expected a string"),
    ("environment", ["A=1"], "P-TYPE", "did you mean {'A': '1'}?"),
    ("secret_environment", {"TOKEN": "token"}, "ENV-SECRET", "Secret Manager version"),
    ("volumes", {"gcs": {"remotePath": "b"}, "mountPath": "/mnt/b"}, "P-TYPE", "wrap it in a list"),
    ("container_volumes", "/data:/data", "P-TYPE", "did you mean ['/data:/data']?"),
    ("task_count", "many", "P-TYPE", "got the string 'many'"),
    ("task_count", 0, "TG-COUNT", "0 is outside 1..100000"),
    ("task_count", True, "P-TYPE", "got the boolean True"),
    ("parallelism", 5001, "TG-PARALLEL", "outside 1..5000"),
    ("cpu_milli", 0, "TS-RESOURCES", "0 is outside at least 1"),
    ("memory_mib", 2.5, "P-TYPE", "got the number 2.5"),
    ("machine_type", "e2 standard 4", "P-FORM", "Compute Engine name"),
    ("spot", "false", "P-TYPE", "a string is not a boolean"),
    ("provisioning_model", "flex_start", "P-CHOICE", "write 'FLEX_START'"),
    ("provisioning_model", "PREEMPTIBLE", "P-CHOICE", "not one of STANDARD, SPOT, FLEX_START"),
    ("accelerator_type", "NVIDIA_TESLA_T4", "P-FORM", "did you mean 'nvidia-tesla-t4'?"),
    ("accelerator_count", 0, "P-RANGE", "0 is outside at least 1"),
    ("install_gpu_drivers", "yes", "P-TYPE", "a string is not a boolean"),
    ("gpu_driver_version", "latest", "P-FORM", "NVIDIA version number"),
    ("boot_disk_size_gb", "100GB", "P-TYPE", "got the string '100GB'"),
    ("boot_disk_type", "ssd", "P-FORM", "pd-balanced, pd-extreme, pd-ssd, pd-standard"),
    ("boot_disk_image", "ubuntu-2204-lts", "P-FORM", "batch-debian, batch-cos, batch-hpc-rocky"),
    ("boot_disk_mib", -1, "P-RANGE", "-1 is outside at least 1"),
    ("reservation", "My Reservation", "P-FORM", "NO_RESERVATION, a reservation name"),
    ("min_cpu_platform", ["Intel Ice Lake"], "P-TYPE", "expected a string"),
    ("instance_template", "projects/p-123456/regions/us-central1/instanceTemplates/t", "P-FORM", "global"),
    ("max_run_duration", "1h", "J-DURATION", "not a duration like '3600s'"),
    ("max_run_duration", "-5s", "P-RANGE", "not a duration above 0 seconds"),
    ("max_retries", -1, "TS-RETRY", "-1 is outside 0..10"),
    ("max_retries", 11, "TS-RETRY", "11 is outside 0..10"),
    ("retry_exit_codes", ["1", "two"], "P-TYPE", "item [0]"),
    ("labels", {"managed-by": "me"}, "P-LABELS", "set by the provider itself"),
    ("labels", {f"k{i}": "v" for i in range(70)}, "L-4", "70 labels given; the provider adds 7"),
    ("labels", {"team": 1}, "P-TYPE", "the value of 'team' is the integer 1; it must be a string"),
    ("service_account", "not an email", "P-FORM", "e-mail address"),
    ("network", "my vpc", "P-FORM", "global/networks/NAME"),
    ("subnetwork", "regions/us-central1/subnetworks/Bad_Name", "P-FORM", "RFC 1035"),
    ("no_external_ip", "true", "P-TYPE", "a string is not a boolean"),
    ("allowed_locations", ["us-central1"], "LOC-SHAPE", "write regions/us-central1"),
    ("logs_destination", "path", "P-CHOICE", "write 'PATH'"),
    ("logs_path", "logs/job.log", "P-FORM", "absolute path"),
    ("image_streaming", "no", "P-TYPE", "a string is not a boolean"),
    ("job_overrides", [{"priority": 1}], "P-TYPE", "expected a mapping"),
    ("job_overrides", STREAMING_OFF, "IS-OFF", "image_streaming=False"),
    ("job_overrides", STREAMING_OFF_SNAKE, "IS-OFF", "image_streaming=False"),
    ("job_overrides", PRIVILEGED, "IS-3", "container field 'options'"),
    ("job_id", "a" * 70, "J-ID", "at most 63 characters, this has 70"),
    ("wait_for_completion", "false", "P-TYPE", "a string is not a boolean"),
    ("deferrable", 1, "P-TYPE", "expected True or False"),
    ("poll_interval", "soon", "P-TYPE", "got the string 'soon'"),
    ("poll_interval", 0, "P-RANGE", "above 0"),
    ("timeout", "soon", "P-TYPE", "got the string 'soon'"),
    ("timeout", -5, "P-RANGE", "above 0"),
    ("cancel_on_kill", "yes", "P-TYPE", "a string is not a boolean"),
    ("reattach", 0, "P-TYPE", "expected True or False"),
    ("container_logs", "some", "P-CHOICE", "neither 'all' nor 'off' nor a number of lines"),
    ("container_logs", 0, "P-RANGE", "outside at least 1"),
    ("image_check", "maybe", "P-CHOICE", "not one of error, warn, off"),
    ("pin_image_digest", "true", "P-TYPE", "a string is not a boolean"),
    ("registry_url", "ftp://mirror", "P-FORM", "https://HOST"),
    ("validation_policy", {"gcr_hosts": "off"}, "P-TYPE", "expected a ValidationPolicy"),
    ("gcp_conn_id", "", "P-FORM", "it is empty"),
    ("impersonation_chain", ["runner@p.iam.gserviceaccount.com", "not an email"], "P-FORM", "item [1]"),
]

SENSOR_CASES: list[tuple[str, Any, str, str]] = [
    ("job_name", "not-a-job-name", "P-FORM", "projects/PROJECT/locations/REGION/jobs/JOB_ID"),
    ("job_name", f"projects/My Project/locations/{LOCATION}/jobs/j", "P-FORM", "its project"),
    ("job_name", f"projects/{PROJECT}/locations/{LOCATION}/jobs/Bad_Id", "P-FORM", "its job id"),
    ("gcp_conn_id", 5, "P-TYPE", "expected a string"),
    ("impersonation_chain", "not an email", "P-FORM", "e-mail"),
    ("deferrable", "true", "P-TYPE", "a string is not a boolean"),
    ("poll_interval", "soon", "P-TYPE", "got the string 'soon'"),
    ("poll_interval", -1, "P-RANGE", "at least 0"),
    ("container_logs", True, "P-CHOICE", "neither 'all' nor 'off' nor a number of lines"),
]

OPERATOR_BASE = {"task_id": "crunch", "image_uri": IMAGE, "location": LOCATION, "project_id": PROJECT}
SENSOR_BASE = {
    "task_id": "wait",
    "job_name": f"projects/{PROJECT}/locations/{LOCATION}/jobs/j",
    "timeout": 30,
}


def operator(**overrides: Any) -> BatchStreamJobOperator:
    return BatchStreamJobOperator(**{**OPERATOR_BASE, "poll_interval": 0.1, **overrides})


def _case_id(case: tuple[str, Any, str, str]) -> str:
    return f"{case[0]}-{case[2]}"


def _assert_named(error: ParameterInvalid, parameter: str, rule: str, needle: str) -> None:
    named = [(problem.parameter, problem.rule) for problem in error.problems]
    assert (parameter, rule) in named, named
    assert f"\n{parameter}" in str(error), str(error)  # the message names it as the user wrote it
    assert needle in str(error), str(error)
    assert isinstance(error, ValueError)  # Airflow shows it as the DAG's import error


def test_every_parameter_has_a_bad_case() -> None:
    assert {case[0] for case in OPERATOR_CASES} == set(OPERATOR_PARAMETERS)
    assert {case[0] for case in SENSOR_CASES} == set(SENSOR_PARAMETERS)


def _cases(templated_only: bool = False) -> list:
    """(task class, its good arguments, case) for the operator's and the sensor's cases."""
    tasks = (
        (BatchStreamJobOperator, OPERATOR_BASE, OPERATOR_PARAMETERS, OPERATOR_CASES),
        (BatchStreamJobSensor, SENSOR_BASE, SENSOR_PARAMETERS, SENSOR_CASES),
    )
    return [
        pytest.param(task_class, base, case, id=f"{task_class.__name__}-{_case_id(case)}")
        for task_class, base, table, cases in tasks
        for case in cases
        if table[case[0]].templated or not templated_only
    ]


@pytest.mark.parametrize(("task_class", "base", "case"), _cases())
def test_a_static_bad_value_is_refused_at_construction(task_class, base, case, gcp_env, emulator) -> None:
    parameter, value, rule, needle = case
    with pytest.raises(ParameterInvalid) as invalid:
        task_class(**{**base, parameter: value})
    _assert_named(invalid.value, parameter, rule, needle)
    assert emulator.call_counts == {}


@pytest.mark.parametrize(("task_class", "base", "case"), _cases(templated_only=True))
def test_a_rendered_bad_value_is_refused_before_any_call(task_class, base, case, gcp_env, emulator) -> None:
    parameter, value, rule, needle = case
    # In a DAG with native rendering, so that the template can render to any type.
    with DAG("bad_inputs", schedule=None, render_template_as_native_obj=True, params={"bad": value}):
        task = task_class(**{**base, parameter: "{{ params.bad }}"})  # accepted: known only at run time
    task.render_template_fields({"params": {"bad": value}})  # Airflow's own renderer
    assert getattr(task, parameter) == value, "Airflow rendered the template to the bad value"
    with pytest.raises(ParameterInvalid) as invalid:
        task.execute(make_context(task_id=base["task_id"]))
    _assert_named(invalid.value, parameter, rule, needle)
    assert emulator.call_counts == {}


@pytest.mark.parametrize("parameter", ["task_count", "spot", "max_retries", "timeout", "image_check"])
@pytest.mark.parametrize("runtime_value", ["template", "xcom"])
def test_a_runtime_value_in_a_parameter_that_is_not_templated_is_refused(parameter, runtime_value) -> None:
    assert not OPERATOR_PARAMETERS[parameter].templated
    with DAG("runtime_values", schedule=None):
        upstream = operator(task_id="upstream")
        value = upstream.output if runtime_value == "xcom" else "{{ params.value }}"
        with pytest.raises(ParameterInvalid, match=rf"\n{parameter}\b.* is not templated") as invalid:
            operator(task_id="downstream", **{parameter: value})
    assert [p.rule for p in invalid.value.problems] == ["P-TEMPLATE"]
    assert f".partial(...).expand({parameter}=...)" in str(invalid.value)


def test_a_runtime_value_in_a_templated_parameter_waits_for_the_task_to_run() -> None:
    with DAG("runtime_values", schedule=None):
        upstream = operator(task_id="upstream")
        downstream = operator(
            task_id="downstream", commands=upstream.output, labels={"day": "{{ ds_nodash }}"}
        )
    assert downstream.commands == upstream.output


def test_several_mistakes_are_reported_at_once() -> None:
    with pytest.raises(ParameterInvalid) as invalid:
        operator(commands="echo hi", spot="false", max_retries=-1, project_id="My Project!")
    assert {p.parameter for p in invalid.value.problems} == {"commands", "spot", "max_retries", "project_id"}
    assert str(invalid.value).startswith("4 invalid parameter(s) of BatchStreamJobOperator 'crunch'")


def test_runtime_parts_of_a_templated_value_are_checked_after_rendering(gcp_env, emulator) -> None:
    # The static items are checked at once; the template item waits for its rendered value.
    with pytest.raises(ParameterInvalid, match=r"item \[0\] is the integer 3"):
        operator(commands=[3, "{{ ds }}"])
    op = operator(commands=["run", "{{ ds }}"], labels={"day": "{{ ds_nodash }}"})
    op.commands = ["run", 20240101]  # as a native render of a bad template would give
    with pytest.raises(ParameterInvalid, match=r"item \[1\] is the integer 20240101"):
        op.execute(make_context())
    assert emulator.call_counts == {}


def test_a_default_project_that_is_not_a_project_id_is_named(gcp_env, emulator, monkeypatch) -> None:
    monkeypatch.setenv("AIRFLOW__BATCHSTREAM__EMULATOR_PROJECT", "My Project!")
    with pytest.raises(ParameterInvalid, match=r"project_id: not given, and the project from ") as raised:
        operator(project_id=None).execute(make_context())
    assert "[batchstream] emulator_project" in str(raised.value)  # where it came from, and the fix
    assert emulator.call_counts == {}


def test_the_default_project_is_logged_with_its_source(gcp_env, emulator, monkeypatch, capsys) -> None:
    monkeypatch.delenv("AIRFLOW__BATCHSTREAM__EMULATOR_PROJECT")
    summary = operator(project_id=None).execute(make_context())
    assert summary["job_name"].startswith("projects/batchstream-emulator/")
    logged = "".join(capsys.readouterr())  # Airflow's task logger writes to the console here
    assert (
        "project_id not given: using project 'batchstream-emulator' from "
        "[batchstream] emulator_project, the emulator's default"
    ) in logged


def test_image_streaming_false_submits_a_job_that_pulls_its_image(gcp_env, emulator) -> None:
    summary = operator(image_uri="docker.io/library/busybox:1.36", image_streaming=False).execute(
        make_context()
    )
    assert summary["state"] == "SUCCEEDED"
    container = emulator.jobs()[0].task_groups[0].task_spec.runnables[0].container
    assert (container.image_uri, container.enable_image_streaming) == (
        "docker.io/library/busybox:1.36",
        False,
    )


def test_a_partial_runnable_override_merges_into_the_rendered_container(gcp_env, emulator) -> None:
    overrides = {"taskGroups": [{"taskSpec": {"runnables": [{"container": {"entrypoint": "/bin/run"}}]}}]}
    operator(commands=["a"], job_overrides=overrides).execute(make_context())
    container = emulator.jobs()[0].task_groups[0].task_spec.runnables[0].container
    assert (container.image_uri, list(container.commands), container.entrypoint) == (IMAGE, ["a"], "/bin/run")
    assert container.enable_image_streaming is True


def test_the_operators_default_poll_interval_is_the_configured_one() -> None:
    # A default of the signature, read when the DAG file imports the operator (as
    # [operators] default_deferrable is): a fresh interpreter sees the configuration.
    code = (
        "from airflow_batchstream.operators import BatchStreamJobOperator\n"
        f"op = BatchStreamJobOperator(task_id='t', image_uri={IMAGE!r}, location={LOCATION!r})\n"
        "print(op.poll_interval)"
    )
    env = {**os.environ, "AIRFLOW__BATCHSTREAM__DEFAULT_POLL_INTERVAL": "12"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "12.0"
    # A value it cannot take fails the DAG import, naming the option.
    env["AIRFLOW__BATCHSTREAM__DEFAULT_POLL_INTERVAL"] = "soon"
    refused = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert refused.returncode != 0
    assert "ConfigInvalid: [batchstream] default_poll_interval is 'soon'" in refused.stderr
