"""The parameter table: one definition, the documented forms, and naming the parameter behind a field."""

from __future__ import annotations

import importlib.util
import inspect
import re
from pathlib import Path

import pytest

from airflow_batchstream.jobspec import forms, vm_forms
from airflow_batchstream.jobspec.parameters import (
    INSTANCE_POLICY_PARAMETERS,
    JOB_PARAMETERS,
    OPERATOR_PARAMETERS,
    REQUIRED,
    SENSOR_PARAMETERS,
    check_parameters,
)
from airflow_batchstream.jobspec.problems import Problem
from airflow_batchstream.jobspec.render import name_parameters, path_segments, render_job
from airflow_batchstream.jobspec.validate import validate_job, validate_job_id
from airflow_batchstream.operators import BatchStreamJobOperator
from airflow_batchstream.sensors import BatchStreamJobSensor

IMAGE = "us-central1-docker.pkg.dev/example-project/pipelines/etl:1.0"
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("function", "table", "positional"),
    [
        (render_job, JOB_PARAMETERS, {"image_uri"}),
        (BatchStreamJobOperator.__init__, OPERATOR_PARAMETERS, set()),
        (BatchStreamJobSensor.__init__, SENSOR_PARAMETERS, set()),
    ],
    ids=["render_job", "operator", "sensor"],
)
def test_signatures_and_the_table_agree(function, table, positional) -> None:
    # render_job's signature is made from the table; the operator's and the sensor's are written
    # out (for IDEs), so a new parameter needs its line there, in the table's name, type and default.
    parameters = inspect.signature(function).parameters.values()
    keyword = {p.name: p for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY}
    by_position = {p.name for p in parameters if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD}
    assert by_position - {"self"} == positional
    assert set(keyword) | positional == set(table)
    for name, parameter in keyword.items():
        assert parameter.annotation == table[name].annotation, name
        expected = inspect.Parameter.empty if table[name].default is REQUIRED else table[name].default
        if name != "deferrable":  # its default is read from Airflow's configuration
            assert parameter.default == expected, name


@pytest.mark.parametrize(
    ("documented", "table", "templated"),
    [(render_job, JOB_PARAMETERS, False), (BatchStreamJobOperator, OPERATOR_PARAMETERS, True)],
    ids=["render_job", "operator"],
)
def test_docstrings_describe_every_parameter_from_the_table(documented, table, templated) -> None:
    source = Path(inspect.getsourcefile(documented)).read_text(encoding="utf-8")
    assert _rules_doc().source_with_param_entries(source, table, templated=templated) == source
    docstring = inspect.getdoc(documented)
    assert re.findall(r"^:param (\w+):", docstring, re.M) == list(table)
    for name, parameter in table.items():
        entry = docstring[docstring.index(f":param {name}:") :].split("\n:")[0].split("\n\n")[0]
        text = re.sub(r"`([^`]+)`", r"``\1``", parameter.doc)
        marked = " (templated)" if templated and parameter.templated else ""
        assert " ".join(entry.split()) == " ".join(f":param {name}: {text}.{marked}".split())
    assert docstring.index(":param ") < docstring.find(":raises") or ":raises" not in docstring


def test_render_job_takes_its_parameters_as_a_function_would() -> None:
    with pytest.raises(TypeError, match="taks_count"):
        render_job(IMAGE, taks_count=2)
    with pytest.raises(TypeError, match="image_uri"):
        render_job(task_count=2)
    with pytest.raises(TypeError, match="positional"):
        render_job(IMAGE, 2)
    assert render_job(image_uri=IMAGE) == render_job(IMAGE)


def test_the_operator_renders_every_job_parameter_it_was_given() -> None:
    from airflow_batchstream.identity import TaskInstanceIdentity

    arguments = dict(FULL_ARGUMENTS, labels={"team": "data"})
    operator = BatchStreamJobOperator(task_id="t", image_uri=IMAGE, location="us-central1", **arguments)
    identity = TaskInstanceIdentity("dag", "t", "run")
    job = operator.render(identity)
    expected = render_job(IMAGE, **arguments)
    assert job.pop("labels") == {**expected.pop("labels"), **identity.labels()}
    assert job == expected


def test_template_fields_are_the_templated_parameters() -> None:
    # ...and the job the operator submitted, which it sets itself for Rendered Templates.
    assert set(BatchStreamJobOperator.template_fields) == {
        n for n, p in OPERATOR_PARAMETERS.items() if p.templated
    } | {"submitted_job"}
    assert set(BatchStreamJobSensor.template_fields) == {
        n for n, p in SENSOR_PARAMETERS.items() if p.templated
    }


#: A value for every job parameter that has a Batch field (and image_uri apart).
FULL_ARGUMENTS = {
    "commands": ["a"], "entrypoint": "/e", "environment": {"A": "1"},
    "secret_environment": {"S": "projects/p/secrets/s/versions/1"},
    "volumes": [{"gcs": {"remotePath": "b"}, "mountPath": "/m"}], "container_volumes": ["/a:/b"],
    "task_count": 3, "parallelism": 2, "cpu_milli": 500, "memory_mib": 256, "machine_type": "n1-standard-4",
    "spot": True, "provisioning_model": "SPOT", "accelerator_type": "nvidia-tesla-t4", "accelerator_count": 1,
    "install_gpu_drivers": True, "gpu_driver_version": "535.104.05", "boot_disk_size_gb": 100,
    "boot_disk_type": "pd-ssd", "boot_disk_image": "batch-cos", "reservation": "NO_RESERVATION",
    "min_cpu_platform": "Intel Skylake",
    "max_run_duration": "60s", "max_retries": 1, "retry_exit_codes": [7],
    "labels": {"team": "data"}, "service_account": "sa@example-project.iam.gserviceaccount.com",
    "network": "global/networks/default", "subnetwork": "regions/us-central1/subnetworks/default",
    "no_external_ip": True, "allowed_locations": ["regions/us-central1"],
    "logs_destination": "PATH", "logs_path": "/m/log", "image_streaming": True,
}  # fmt: skip


#: The parameters a template replaces are left out; the others are FULL_ARGUMENTS' (a GPU job there).
TEMPLATE_ARGUMENTS = {
    **{name: value for name, value in FULL_ARGUMENTS.items() if name not in INSTANCE_POLICY_PARAMETERS},
    "instance_template": "projects/example-project/global/instanceTemplates/gpu-vms",
    "boot_disk_mib": 2048,
}
#: What the GPU job of FULL_ARGUMENTS is told: GPU access under streaming is undocumented.
STREAMING_GPU = ("GPU-STREAMING", "taskGroups[0].taskSpec.runnables[0].container.enableImageStreaming")


@pytest.mark.parametrize("arguments", [FULL_ARGUMENTS, TEMPLATE_ARGUMENTS], ids=["policy", "template"])
def test_every_batch_field_of_the_table_is_where_render_job_puts_the_value(arguments) -> None:
    job = render_job(IMAGE, **arguments)
    for name, parameter in JOB_PARAMETERS.items():
        if parameter.field is None or name not in arguments:
            continue
        value = job
        for segment in path_segments(parameter.field):
            value = value[segment]
        assert value is not None, name
    with_fields = {name for name, parameter in JOB_PARAMETERS.items() if parameter.field}
    assert set(FULL_ARGUMENTS) | set(TEMPLATE_ARGUMENTS) == with_fields - {"image_uri"}
    problems = [(p.rule, p.path) for p in validate_job(job, "us-central1")]
    if "instance_template" in arguments:  # the template's network is Batch's, and says so
        assert problems == [("AP-IGNORED", "allocationPolicy.network")]
    else:
        assert problems == [STREAMING_GPU]


@pytest.mark.parametrize(
    ("reason", "value", "ok"),
    [
        (forms.project_reason, "my-project-123", True),
        (forms.project_reason, "example.com:my-project", True),  # legacy domain-scoped
        (forms.project_reason, "123456789012", True),  # a project number
        (forms.project_reason, "My Project!", False),
        (forms.project_reason, "short", False),
        (forms.project_reason, "a" * 31, False),
        (forms.project_reason, "ends-with-", False),
        (forms.job_name_reason, "projects/my-project/locations/us-central1/jobs/etl-1", True),
        (forms.job_name_reason, "projects/123/locations/us-central1/jobs/etl-1", True),
        (forms.job_name_reason, "projects/my-project/locations/us-central1-a/jobs/etl-1", False),
        (forms.job_name_reason, "my-project/us-central1/etl-1", False),
        (forms.network_reason, "global/networks/default", True),
        (forms.network_reason, "projects/my-project/global/networks/vpc-1", True),
        (
            forms.network_reason,
            "https://www.googleapis.com/compute/v1/projects/my-project/global/networks/vpc",
            True,
        ),
        (forms.network_reason, "default", False),
        (forms.network_reason, "global/networks/My_VPC", False),
        (forms.subnetwork_reason, "regions/us-central1/subnetworks/sub-1", True),
        (forms.subnetwork_reason, "projects/my-project/regions/us-central1/subnetworks/sub-1", True),
        (forms.subnetwork_reason, "regions/us-central1-a/subnetworks/sub-1", False),
        (forms.machine_type_reason, "e2-standard-4", True),
        (forms.machine_type_reason, "n1-custom-2-7680-ext", True),
        (forms.machine_type_reason, "e2 standard 4", False),
        (forms.email_reason, "123-compute@developer.gserviceaccount.com", True),
        (forms.email_reason, "not an email", False),
        (forms.allowed_location_reason, "zones/us-central1-a", True),
        (forms.allowed_location_reason, "us-central1", False),
        (forms.logs_path_reason, "/mnt/disks/logs/job.log", True),
        (forms.logs_path_reason, "logs/job.log", False),
        (forms.job_id_reason, "a" * 63, True),
        (forms.job_id_reason, "a" * 64, False),
        (vm_forms.accelerator_type_reason, "nvidia-tesla-t4", True),
        (vm_forms.accelerator_type_reason, "NVIDIA_TESLA_T4", False),  # Vertex AI's spelling
        (vm_forms.accelerator_type_reason, "nvidia tesla t4", False),
        (vm_forms.driver_version_reason, "535.104.05", True),
        (vm_forms.driver_version_reason, "550.54", True),
        (vm_forms.driver_version_reason, "latest", False),
        (vm_forms.boot_disk_type_reason, "pd-ssd", True),
        (vm_forms.boot_disk_type_reason, "hyperdisk-balanced", True),
        (vm_forms.boot_disk_type_reason, "ssd", False),
        (vm_forms.boot_disk_image_reason, "batch-cos", True),
        (vm_forms.boot_disk_image_reason, "projects/my-project/global/images/family/cuda-12", True),
        (vm_forms.boot_disk_image_reason, "projects/my-project/global/images/cuda-12-v1", True),
        (
            vm_forms.boot_disk_image_reason,
            "https://www.googleapis.com/compute/v1/projects/my-project/global/images/cuda",
            True,
        ),
        (vm_forms.boot_disk_image_reason, "ubuntu-2204-lts", False),
        (vm_forms.boot_disk_image_reason, "projects/My Project/global/images/cuda", False),
        (vm_forms.reservation_reason, "NO_RESERVATION", True),
        (vm_forms.reservation_reason, "h100-block", True),
        (vm_forms.reservation_reason, "projects/my-project/zones/us-central1-a/reservations/h100", True),
        (vm_forms.reservation_reason, "projects/my-project/reservations/h100", True),
        (vm_forms.reservation_reason, "no_reservation", False),
        (vm_forms.reservation_reason, "projects/my-project/zones/us-central1/reservations/h100", False),
        (vm_forms.instance_template_reason, "gpu-vms", True),
        (vm_forms.instance_template_reason, "global/instanceTemplates/gpu-vms", True),
        (vm_forms.instance_template_reason, "projects/my-project/global/instanceTemplates/gpu-vms", True),
        (
            vm_forms.instance_template_reason,
            "projects/my-project/regions/us-central1/instanceTemplates/t",
            False,
        ),
        (vm_forms.instance_template_reason, "Gpu VMs", False),
    ],
)
def test_documented_forms(reason, value: str, ok: bool) -> None:
    assert (reason(value) is None) is ok, reason(value)


def test_a_too_long_job_id_says_too_long() -> None:
    assert forms.job_id_reason("a" * 70) == "a job id is at most 63 characters, this has 70"
    (problem,) = validate_job_id("a" * 70)  # batchstream validate --job-id says it too
    assert problem.message.endswith("is too long: 70 characters, at most 63")


def test_a_deep_or_recursive_value_is_named_not_a_recursion_error() -> None:
    deep: dict = {}
    node = deep
    for _ in range(200_000):
        node["a"] = {}
        node = node["a"]
    looped: dict = {"labels": {}}
    looped["labels"]["self"] = looped
    _, problems = check_parameters({"job_overrides": deep, "volumes": [looped]}, JOB_PARAMETERS)
    assert [(p.parameter, p.rule) for p in problems] == [("job_overrides", "P-SHAPE"), ("volumes", "P-SHAPE")]
    assert "nested deeper than the limit" in problems[0].message
    assert "contains itself" in problems[1].message


def test_numbers_from_text_only_where_text_is_what_arrives() -> None:
    # The command line (and a rendered template) gives text; a DAG file gives Python values.
    checked, problems = check_parameters(
        {"task_count": "4"}, JOB_PARAMETERS, context=forms.Context(text=True)
    )
    assert (checked, problems) == ({"task_count": 4}, [])
    _, problems = check_parameters({"task_count": "4"}, JOB_PARAMETERS)
    assert problems[0].fix == "write 4 without quotes"
    checked, _ = check_parameters({"poll_interval": "0.5"}, OPERATOR_PARAMETERS)  # templated
    assert checked == {"poll_interval": 0.5}


@pytest.mark.parametrize(
    ("path", "overrides", "parameter"),
    [
        ("taskGroups[0].taskCount", None, "task_count"),
        ("taskGroups[0].taskSpec.volumes[0].mountPath", None, "volumes"),
        ('labels["Team"]', None, "labels"),
        ("taskGroups[0].taskSpec.runnables[0].container.imageUri", None, "image_uri"),
        ("location", None, "location"),
        ("jobId", None, "job_id"),
        ("taskGroups[0].taskCount", {"taskGroups": [{"taskCount": 0}]}, "job_overrides"),
        # The override changed something inside the object the problem is about.
        (
            "taskGroups[0].taskSpec.runnables[0]",
            {"taskGroups": [{"taskSpec": {"runnables": [{"script": {"text": "x"}}]}}]},
            "job_overrides",
        ),
        ("taskGroups[0].taskCount", {"taskGroups": [{"parallelism": 2}]}, "task_count"),
        ("", None, None),
        ("priority", None, None),
        ("allocationPolicy.instances[0].policy.accelerators[0].count", None, "accelerator_count"),
        ("allocationPolicy.instances[0].policy.accelerators[0].type", None, "accelerator_type"),
        ("allocationPolicy.instances[0].installGpuDrivers", None, "install_gpu_drivers"),
        ("allocationPolicy.instances[0].policy.bootDisk.sizeGb", None, "boot_disk_size_gb"),
        ("taskGroups[0].taskSpec.computeResource.bootDiskMib", None, "boot_disk_mib"),
        ("allocationPolicy.instances[0].policy.reservation", None, "reservation"),
    ],
)
def test_problems_name_the_parameter_behind_the_field(path, overrides, parameter) -> None:
    problem = Problem(path, "RULE", "message", "fix")
    (named,) = name_parameters([problem], OPERATOR_PARAMETERS, overrides)
    assert named.parameter == parameter
    if parameter and parameter != path:
        assert named.format().startswith(f"{parameter} ({path}): message [RULE]")


def test_path_segments() -> None:
    assert path_segments('a.b[0]["k.x"].c') == ("a", "b", 0, "k.x", "c")
    assert path_segments("a..b") is None


def test_the_readme_table_is_written_from_the_table() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = _rules_doc().parameters_table()
    assert table in readme
    assert re.findall(r"^\| `([a-z_]+)`", table, re.M) == list(OPERATOR_PARAMETERS)


def _rules_doc():
    spec = importlib.util.spec_from_file_location("rules_doc", ROOT / "scripts" / "rules_doc.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("values", "named", "rule"),
    [
        ({"instance_template": "gpu-vms", "machine_type": "n1-standard-4"}, "instance_template", "P-COMBO"),
        ({"instance_template": "gpu-vms", "spot": True}, "instance_template", "P-COMBO"),
        (
            {"instance_template": "{{ var.value.template }}", "reservation": "r-1"},
            "instance_template",
            "P-COMBO",
        ),
        ({"spot": True, "provisioning_model": "FLEX_START"}, "spot", "P-COMBO"),
        (
            {"provisioning_model": "RESERVATION_BOUND", "reservation": "NO_RESERVATION"},
            "reservation",
            "P-COMBO",
        ),
        ({"accelerator_count": 2}, "accelerator_count", "P-COMBO"),
        ({"gpu_driver_version": "535.104.05"}, "gpu_driver_version", "P-COMBO"),
        (
            {
                "accelerator_type": "nvidia-l4",
                "gpu_driver_version": "535.104.05",
                "install_gpu_drivers": False,
            },
            "gpu_driver_version",
            "P-COMBO",
        ),
        ({"boot_disk_size_gb": 100, "boot_disk_mib": 1024}, "boot_disk_mib", "P-COMBO"),
        ({"provisioning_model": "PREEMPTIBLE"}, "provisioning_model", "P-CHOICE"),
        ({"provisioning_model": "flex_start"}, "provisioning_model", "P-CHOICE"),
        ({"accelerator_type": "NVIDIA_L4"}, "accelerator_type", "P-FORM"),
        ({"accelerator_count": 0}, "accelerator_count", "P-RANGE"),
        ({"install_gpu_drivers": "true"}, "install_gpu_drivers", "P-TYPE"),
        ({"boot_disk_size_gb": "100"}, "boot_disk_size_gb", "P-TYPE"),
        ({"boot_disk_image": "ubuntu-2204-lts"}, "boot_disk_image", "P-FORM"),
        ({"boot_disk_type": "ssd"}, "boot_disk_type", "P-FORM"),
        ({"reservation": "projects/p/regions/r/reservations/x"}, "reservation", "P-FORM"),
        (
            {"instance_template": "projects/p-123456/regions/us-central1/instanceTemplates/t"},
            "instance_template",
            "P-FORM",
        ),
        ({"min_cpu_platform": " Intel Ice Lake"}, "min_cpu_platform", "P-FORM"),
    ],
)
def test_a_wrong_vm_or_gpu_parameter_is_named_with_its_rule(values: dict, named: str, rule: str) -> None:
    _, problems = check_parameters({"image_uri": IMAGE, **values}, JOB_PARAMETERS, static=True)
    assert [(p.parameter, p.rule) for p in problems] == [(named, rule)], [p.format() for p in problems]
    assert problems[0].fix


@pytest.mark.parametrize(
    "values",
    [
        {"spot": True, "provisioning_model": "SPOT"},
        {"provisioning_model": "RESERVATION_BOUND", "reservation": "h100-block"},
        {"accelerator_type": "nvidia-l4", "accelerator_count": 2, "gpu_driver_version": "535.104.05"},
        {"instance_template": "gpu-vms", "install_gpu_drivers": True, "boot_disk_mib": 1024},
        {"boot_disk_size_gb": 100, "boot_disk_type": "pd-ssd", "boot_disk_image": "batch-cos"},
        {"accelerator_type": "{{ var.value.gpu }}", "reservation": "{{ var.value.reservation }}"},
    ],
)
def test_vm_and_gpu_parameters_that_agree_pass(values: dict) -> None:
    _, problems = check_parameters({"image_uri": IMAGE, **values}, JOB_PARAMETERS, static=True)
    assert problems == [], [p.format() for p in problems]
