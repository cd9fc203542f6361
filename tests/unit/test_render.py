"""render_job: DAG parameters -> Batch v1 Job dict (camelCase, image streaming on)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from airflow_batchstream.jobspec.parameters import InvalidParameters
from airflow_batchstream.jobspec.render import INFRASTRUCTURE_EXIT_CODES, deep_merge, render_job
from airflow_batchstream.jobspec.validate import validate_job

IMAGE = "us-central1-docker.pkg.dev/example-project/pipelines/etl:1.0"


def _container(job: dict) -> dict:
    return job["taskGroups"][0]["taskSpec"]["runnables"][0]["container"]


def _spec(job: dict) -> dict:
    return job["taskGroups"][0]["taskSpec"]


def test_minimal_job_is_exactly_the_seed_shape() -> None:
    assert render_job(IMAGE) == {
        "taskGroups": [
            {
                "taskCount": 1,
                "taskSpec": {"runnables": [{"container": {"imageUri": IMAGE, "enableImageStreaming": True}}]},
            }
        ],
        "logsPolicy": {"destination": "CLOUD_LOGGING"},
    }


FULL: dict[str, Any] = {
    "commands": ["--date", "2024-01-01"],
    "entrypoint": "/app/run",
    "volumes": [{"gcs": {"remotePath": "bucket/sub"}, "mountPath": "/mnt/data"}],
    "container_volumes": ["/mnt/data:/data:ro"],
    "environment": {"B": "2", "A": "1"},
    "secret_environment": {"TOKEN": "projects/p/secrets/token/versions/latest"},
    "task_count": 10,
    "parallelism": 5,
    "cpu_milli": 4000,
    "memory_mib": 8192,
    "machine_type": "e2-standard-4",
    "spot": True,
    "max_run_duration": "7200s",
    "max_retries": 3,
    "retry_exit_codes": [75],
    "labels": {"team": "data", "app": "etl"},
    "service_account": "runner@example-project.iam.gserviceaccount.com",
    "network": "projects/example-project/global/networks/default",
    "subnetwork": "projects/example-project/regions/us-central1/subnetworks/default",
    "no_external_ip": True,
    "allowed_locations": ["zones/us-central1-a", "zones/us-central1-b"],
}


def test_full_job_places_every_parameter() -> None:
    job = render_job(IMAGE, **FULL)
    container = _container(job)
    assert container == {
        "imageUri": IMAGE,
        "commands": ["--date", "2024-01-01"],
        "entrypoint": "/app/run",
        "volumes": ["/mnt/data:/data:ro"],
        "enableImageStreaming": True,
    }
    spec = _spec(job)
    assert spec["computeResource"] == {"cpuMilli": 4000, "memoryMib": 8192}
    assert spec["maxRunDuration"] == "7200s"
    assert spec["maxRetryCount"] == 3
    assert spec["environment"] == {
        "variables": {"A": "1", "B": "2"},
        "secretVariables": {"TOKEN": "projects/p/secrets/token/versions/latest"},
    }
    assert spec["volumes"] == FULL["volumes"]
    assert job["taskGroups"][0]["taskCount"] == 10
    assert job["taskGroups"][0]["parallelism"] == 5
    allocation = job["allocationPolicy"]
    assert allocation["instances"] == [
        {"policy": {"machineType": "e2-standard-4", "provisioningModel": "SPOT"}}
    ]
    assert allocation["serviceAccount"] == {"email": FULL["service_account"]}
    assert allocation["location"] == {"allowedLocations": FULL["allowed_locations"]}
    assert allocation["network"] == {
        "networkInterfaces": [
            {"network": FULL["network"], "subnetwork": FULL["subnetwork"], "noExternalIpAddress": True}
        ]
    }
    assert job["labels"] == {"app": "etl", "team": "data"}
    assert validate_job(job, "us-central1") == []


CUDA_IMAGE = "projects/my-project/global/images/family/cuda-12"
#: GPU jobs as users write them (each parses with the real client, below).
GPU_JOBS: dict[str, dict] = {
    "n1-attached": {
        "machine_type": "n1-standard-8",
        "accelerator_type": "nvidia-tesla-t4",
        "accelerator_count": 2,
    },
    "built-in": {
        "machine_type": "g2-standard-8",
        "provisioning_model": "FLEX_START",
        "max_run_duration": 3600,
    },
    "only-accelerator": {"accelerator_type": "nvidia-l4", "gpu_driver_version": "535.104.05", "spot": True},
    "drivers-in-image": {
        "machine_type": "a2-highgpu-1g",
        "install_gpu_drivers": False,
        "boot_disk_image": CUDA_IMAGE,
        "boot_disk_size_gb": 200,
        "boot_disk_type": "pd-ssd",
    },
    "reserved": {
        "machine_type": "a3-megagpu-8g",
        "provisioning_model": "RESERVATION_BOUND",
        "reservation": "h100-block",
        "min_cpu_platform": "Intel Sapphire Rapids",
    },
    "template": {"instance_template": "gpu-vms", "install_gpu_drivers": True, "boot_disk_mib": 10240},
}


@pytest.mark.parametrize(
    ("name", "instance"),
    [
        ("n1-attached", {
            "policy": {
                "machineType": "n1-standard-8", "accelerators": [{"type": "nvidia-tesla-t4", "count": 2}],
            },
            "installGpuDrivers": True,
        }),
        ("built-in", {
            "policy": {"machineType": "g2-standard-8", "provisioningModel": "FLEX_START"},
            "installGpuDrivers": True,
        }),
        ("only-accelerator", {
            "policy": {
                "provisioningModel": "SPOT",
                "accelerators": [{"type": "nvidia-l4", "count": 1, "driverVersion": "535.104.05"}],
            },
            "installGpuDrivers": True,
        }),
        ("drivers-in-image", {
            "policy": {
                "machineType": "a2-highgpu-1g",
                "bootDisk": {"image": CUDA_IMAGE, "sizeGb": 200, "type": "pd-ssd"},
            },
        }),
        ("reserved", {
            "policy": {
                "machineType": "a3-megagpu-8g", "provisioningModel": "RESERVATION_BOUND",
                "reservation": "h100-block", "minCpuPlatform": "Intel Sapphire Rapids",
            },
            "installGpuDrivers": True,
        }),
        ("template", {"instanceTemplate": "gpu-vms", "installGpuDrivers": True}),
    ],
)  # fmt: skip
def test_gpu_parameters_render_to_instances_0(name: str, instance: dict) -> None:
    job = render_job(IMAGE, **GPU_JOBS[name])
    assert job["allocationPolicy"]["instances"] == [instance]
    # Streaming stays on, with only the fields it supports: no --gpus option, no GPU volumes.
    assert job["taskGroups"][0]["taskSpec"]["runnables"] == [
        {"container": {"imageUri": IMAGE, "enableImageStreaming": True}}
    ]


def test_extra_boot_disk_per_task_renders_to_the_compute_resource() -> None:
    job = render_job(IMAGE, boot_disk_mib=10240, cpu_milli=1000)
    assert job["taskGroups"][0]["taskSpec"]["computeResource"] == {"cpuMilli": 1000, "bootDiskMib": 10240}


def test_a_job_without_gpus_installs_no_drivers() -> None:
    assert render_job(IMAGE, machine_type="n2-standard-8")["allocationPolicy"]["instances"] == [
        {"policy": {"machineType": "n2-standard-8"}}
    ]


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        FULL,
        {"logs_destination": "PATH", "logs_path": "/mnt/data/job.log"},
        {"logs_destination": "NONE"},
        {"max_retries": 1},
        {"max_run_duration": 60},
        {"network": "global/networks/default"},
        {"spot": True},
        *GPU_JOBS.values(),
        {
            "job_overrides": {
                "priority": 10,
                "taskGroups": [{"taskSpec": {"runnables": [{}, {"barrier": {}}]}}],
            }
        },
    ],
    ids=lambda kwargs: ",".join(kwargs) or "minimal",
)
def test_every_rendered_job_parses_with_the_real_client(kwargs: dict) -> None:
    batch_v1 = pytest.importorskip("google.cloud.batch_v1")  # only this test needs the client
    job = render_job(IMAGE, **kwargs)
    parsed = batch_v1.Job.from_json(json.dumps(job))
    # Nothing rendered is lost on the way: the client gives back every field (int64 as strings).
    dumped = batch_v1.Job.to_json(
        parsed, use_integers_for_enums=False, always_print_fields_with_no_presence=False
    )
    assert _ints_as_strings(json.loads(dumped)) == _ints_as_strings(job)
    assert parsed.task_groups[0].task_spec.runnables[0].container.enable_image_streaming is True


def _ints_as_strings(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _ints_as_strings(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_ints_as_strings(item) for item in value]
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def test_retries_add_one_retry_policy_on_infrastructure_codes() -> None:
    spec = _spec(render_job(IMAGE, max_retries=2, retry_exit_codes=[3, 50001, 1]))
    assert spec["maxRetryCount"] == 2
    assert spec["lifecyclePolicies"] == [
        {"action": "RETRY_TASK", "actionCondition": {"exitCodes": [1, 3, 50001, 50002, 50003, 50004, 50006]}}
    ]
    assert 50005 not in INFRASTRUCTURE_EXIT_CODES  # running out of time again is no cure
    assert "fails every other non-zero exit code" in render_job.__doc__.replace("**", "")


def test_no_retries_means_no_retry_fields() -> None:
    spec = _spec(render_job(IMAGE, retry_exit_codes=[3]))
    assert "maxRetryCount" not in spec and "lifecyclePolicies" not in spec


@pytest.mark.parametrize(
    ("kwargs", "logs"),
    [
        ({}, {"destination": "CLOUD_LOGGING"}),
        (
            {"logs_destination": "PATH", "logs_path": "/mnt/l.log"},
            {"destination": "PATH", "logsPath": "/mnt/l.log"},
        ),
        ({"logs_destination": "NONE"}, None),
    ],
)
def test_logs_policy(kwargs: dict, logs: dict | None) -> None:
    assert render_job(IMAGE, **kwargs).get("logsPolicy") == logs


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (3600, "3600s"),
        ("90.5s", "90.5s"),
        (1.5, "1.5s"),
        (60.0, "60s"),
    ],
)
def test_max_run_duration(value: int | str, expected: str) -> None:
    assert _spec(render_job(IMAGE, max_run_duration=value))["maxRunDuration"] == expected


@pytest.mark.parametrize("value", [0, -1, "1h", "3600", "-5s", True])
def test_max_run_duration_must_be_positive_seconds_or_a_duration(value: object) -> None:
    with pytest.raises(
        InvalidParameters, match=r"max_run_duration \(taskGroups\[0\]\.taskSpec\.maxRunDuration\)"
    ):
        render_job(IMAGE, max_run_duration=value)  # type: ignore[arg-type]


def test_job_overrides_merge_mappings_and_lists_of_mappings_and_replace_the_rest() -> None:
    overrides = {
        "allocationPolicy": {"instances": [{"policy": {"machineType": "n2-standard-8"}}], "tags": ["batch"]},
        "logsPolicy": {"destination": "PATH", "logsPath": "/mnt/x"},
        "priority": 5,
        "taskGroups": [{"taskSpec": {"runnables": [{"container": {"commands": ["b"]}}, {"barrier": {}}]}}],
    }
    job = render_job(
        IMAGE,
        commands=["a", "a2"],
        machine_type="e2-standard-4",
        spot=True,
        service_account="sa@p.iam.gserviceaccount.com",
        job_overrides=overrides,
    )
    allocation = job["allocationPolicy"]
    # instances[0] merged: the machine type replaced, Spot kept.
    assert allocation["instances"] == [
        {"policy": {"machineType": "n2-standard-8", "provisioningModel": "SPOT"}}
    ]
    assert allocation["serviceAccount"] == {"email": "sa@p.iam.gserviceaccount.com"}  # kept by the merge
    assert allocation["tags"] == ["batch"]
    assert job["logsPolicy"] == {"destination": "PATH", "logsPath": "/mnt/x"}
    assert job["priority"] == 5
    # runnables[0] merged (the image and streaming kept; commands, a list of strings, replaced),
    # runnables[1] appended.
    runnables = _spec(job)["runnables"]
    assert runnables == [
        {"container": {"imageUri": IMAGE, "commands": ["b"], "enableImageStreaming": True}},
        {"barrier": {}},
    ]
    assert validate_job(job, "us-central1") == []


def test_a_shorter_list_of_mappings_keeps_the_rendered_tail() -> None:
    merged = deep_merge({"a": [{"x": 1}, {"y": 2}]}, {"a": [{"x": 3}]})
    assert merged == {"a": [{"x": 3}, {"y": 2}]}
    assert deep_merge({"a": [{"x": 1}]}, {"a": []}) == {"a": []}  # an empty list replaces
    assert deep_merge({"a": [1, 2]}, {"a": [{"x": 3}]}) == {"a": [{"x": 3}]}  # not all mappings: replaces


def test_snake_case_overrides_override_their_camel_case_fields() -> None:
    overrides = {
        "allocation_policy": {"instances": [{"policy": {"machine_type": "n2-standard-8"}}]},
        "logs_policy": {"destination": "PATH", "logs_path": "/mnt/x"},
        "labels": {"cost_center": "data"},  # a label key, not a field name: kept as written
    }
    job = render_job(IMAGE, machine_type="e2-standard-4", labels={"team": "etl"}, job_overrides=overrides)
    assert job["allocationPolicy"]["instances"] == [{"policy": {"machineType": "n2-standard-8"}}]
    assert job["logsPolicy"] == {"destination": "PATH", "logsPath": "/mnt/x"}
    assert job["labels"] == {"team": "etl", "cost_center": "data"}
    assert not {"allocation_policy", "logs_policy"} & set(job)
    assert validate_job(job, "us-central1") == []


def test_a_snake_case_partial_runnable_merges_into_the_rendered_one() -> None:
    overrides = {
        "task_groups": [
            {"task_spec": {"runnables": [{"container": {"entrypoint": "/bin/run"}}], "max_retry_count": 2}}
        ]
    }
    job = render_job(IMAGE, commands=["a"], job_overrides=overrides)
    assert _spec(job)["runnables"] == [
        {
            "container": {
                "imageUri": IMAGE,
                "commands": ["a"],
                "entrypoint": "/bin/run",
                "enableImageStreaming": True,
            }
        }
    ]
    assert _spec(job)["maxRetryCount"] == 2
    assert "task_groups" not in job
    assert validate_job(job, "us-central1") == []


@pytest.mark.parametrize(
    ("overrides", "rule"),
    [
        (
            {"taskGroups": [{"taskSpec": {"runnables": [{"container": {"enableImageStreaming": False}}]}}]},
            "IS-OFF",
        ),
        (
            {
                "task_groups": [
                    {"task_spec": {"runnables": [{"container": {"enable_image_streaming": False}}]}}
                ]
            },
            "IS-OFF",
        ),
        (
            {
                "task_groups": [
                    {"task_spec": {"runnables": [{"container": {"block_external_network": True}}]}}
                ]
            },
            "IS-3",
        ),
    ],
)
def test_overrides_may_not_break_streaming_in_either_spelling(overrides: dict, rule: str) -> None:
    with pytest.raises(InvalidParameters) as invalid:
        render_job(IMAGE, job_overrides=overrides)
    [problem] = invalid.value.problems
    assert (problem.parameter, problem.rule) == ("job_overrides", rule)
    assert problem.path.startswith("taskGroups[0].taskSpec.runnables[0].container.")


def test_deep_merge_copies_instead_of_aliasing() -> None:
    base = {"a": {"b": [1]}, "c": 1}
    overrides = {"a": {"d": {"e": [2]}}, "c": {"f": 1}}
    merged = deep_merge(base, overrides)
    assert merged == {"a": {"b": [1], "d": {"e": [2]}}, "c": {"f": 1}}
    merged["a"]["b"].append(9)
    merged["a"]["d"]["e"].append(9)
    assert base == {"a": {"b": [1]}, "c": 1}
    assert overrides == {"a": {"d": {"e": [2]}}, "c": {"f": 1}}


def test_rendering_is_deterministic_and_does_not_alias_inputs() -> None:
    volumes = [{"gcs": {"remotePath": "bucket"}, "mountPath": "/mnt/data"}]
    first = render_job(IMAGE, environment={"A": "1", "B": "2"}, labels={"x": "1", "y": "2"}, volumes=volumes)
    second = render_job(
        IMAGE, environment={"B": "2", "A": "1"}, labels={"y": "2", "x": "1"}, volumes=copy.deepcopy(volumes)
    )
    assert json.dumps(first) == json.dumps(second)
    _spec(first)["volumes"][0]["gcs"]["remotePath"] = "changed"
    assert volumes[0]["gcs"]["remotePath"] == "bucket"


def test_render_checks_parameters_but_not_the_job_rules() -> None:
    job = render_job("docker.io/library/ubuntu", parallelism=5000)
    assert {p.rule for p in validate_job(job, "us-central1")} >= {"IS-1", "TG-PARALLEL"}


def test_a_string_is_not_a_number_of_retries() -> None:
    with pytest.raises(InvalidParameters) as invalid:
        render_job(IMAGE, max_retries="2", task_count=0)  # type: ignore[arg-type]
    assert [(p.parameter, p.rule) for p in invalid.value.problems] == [
        ("task_count", "TG-COUNT"),
        ("max_retries", "P-TYPE"),
    ]
