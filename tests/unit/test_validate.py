"""validate_job, rule by rule: every rule id has at least one passing and one failing case."""

from __future__ import annotations

import copy
import dataclasses
import importlib
import inspect
import json
import pkgutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from airflow_batchstream.jobspec import catalog
from airflow_batchstream.jobspec import validate as validate_module
from airflow_batchstream.jobspec.policy import DEFAULT_POLICY, ValidationPolicy
from airflow_batchstream.jobspec.problems import Severity
from airflow_batchstream.jobspec.validate import (
    validate_job,
    validate_job_id,
    validate_location,
    validate_request_id,
)

DATA = Path(__file__).parent / "data"
SEED = json.loads((DATA / "seed_job.json").read_text())
IMAGE = "us-central1-docker.pkg.dev/example-project/pipelines/etl:1.0"
RUNNABLE_PATH = "taskGroups[0].taskSpec.runnables[0]"
CONTAINER_PATH = f"{RUNNABLE_PATH}.container"


def deep_merge(base: dict, patch: dict) -> dict:
    """``base`` with ``patch`` merged in: mappings merge, everything else (lists too) replaces.

    Unlike ``job_overrides`` (whose lists of mappings merge by index), a case must be able to
    replace a task group or a runnable outright.
    """
    merged = copy.deepcopy(base)
    for key, value in patch.items():
        current = merged.get(key)
        both = isinstance(current, dict) and isinstance(value, dict)
        merged[key] = deep_merge(current, value) if both else copy.deepcopy(value)
    return merged


def streaming(**fields: Any) -> dict:
    return {"imageUri": IMAGE, "enableImageStreaming": True, **fields}


def runnables(*items: dict) -> dict:
    return {"taskGroups": [{"taskSpec": {"runnables": list(items)}}]}


def container(**fields: Any) -> dict:
    return runnables({"container": streaming(**fields)})


def spec(**fields: Any) -> dict:
    return {"taskGroups": [{"taskSpec": {"runnables": [{"container": streaming()}], **fields}}]}


def group(**fields: Any) -> dict:
    return {"taskGroups": [{"taskSpec": {"runnables": [{"container": streaming()}]}, **fields}]}


def instance(**policy: Any) -> dict:
    return {"allocationPolicy": {"instances": [{"policy": {"machineType": "e2-standard-4", **policy}}]}}


def allowed(*locations: str) -> dict:
    return {"allocationPolicy": {"location": {"allowedLocations": list(locations)}}}


def labels(count: int, prefix: str = "k") -> dict[str, str]:
    return {f"{prefix}{i}": "v" for i in range(count)}


GCS = {"gcs": {"remotePath": "bucket"}, "mountPath": "/mnt/data"}
POLICY = "allocationPolicy.instances[0].policy"
BOOT_DISK = f"{POLICY}.bootDisk"


def accelerators(kind: str, count: int = 1, **fields: Any) -> list[dict]:
    return [{"type": kind, "count": count, **fields}]


def gpu_vms(
    machine_type: str | None, attached: list[dict] | None = None, *, drivers: bool = True, **policy: Any
) -> dict:
    """``instances[0]`` of a GPU job: the machine type, attached accelerators, and drivers installed."""
    fields = {"machineType": machine_type} if machine_type else {}
    if attached is not None:
        fields["accelerators"] = attached
    first: dict[str, Any] = {"policy": {**fields, **policy}}
    if drivers:
        first["installGpuDrivers"] = True
    return {"allocationPolicy": {"instances": [first]}}


@dataclass
class Case:
    """``condition`` is the catalog condition a failing case shows (None: the rule passes).

    ``patch`` is deep-merged into the seed job (lists replace); ``drop`` removes top-level keys.
    """

    rule: str
    condition: str | None
    patch: dict = field(default_factory=dict)
    location: Any = "us-central1"
    policy: ValidationPolicy = DEFAULT_POLICY
    severity: Severity = Severity.ERROR
    path: str | None = None
    drop: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.condition is None

    def job(self) -> dict:
        job = deep_merge(SEED, self.patch)
        for key in self.drop:
            job.pop(key, None)
        return job


W = Severity.WARNING
OK = None
TEMPLATE = "projects/example-project/global/instanceTemplates/batch"
PARENT = "projects/example-project/locations/us-central1"


def template(name: str) -> dict:
    return {"allocationPolicy": {"instances": [{"instanceTemplate": name}]}}


def existing_disk(*mount_options: str) -> dict:
    volume = {"deviceName": "data", "mountPath": "/mnt/data", "mountOptions": list(mount_options)}
    disks = [{"deviceName": "data", "existingDisk": "projects/example-project/zones/us-central1-a/disks/d"}]
    return deep_merge(spec(volumes=[volume]), instance(disks=disks))


CASES = [
    # structure
    Case("J-FIELD", OK),
    Case("J-FIELD", OK, runnables({"container": {"image_uri": IMAGE, "enable_image_streaming": True}})),
    Case("J-FIELD", "unknown", {"wat": 1}, path="wat"),
    Case("J-FIELD", "unknown", container(imageURI=IMAGE), path=f"{CONTAINER_PATH}.imageURI"),
    Case("J-FIELD", "both-spellings", group(task_count=2, taskCount=2), path="taskGroups[0].task_count"),
    Case("J-TYPE", OK, {"priority": "5", "labels": {"a": "b"}}),
    Case("J-TYPE", "kind", {"priority": "high"}, path="priority"),
    Case("J-TYPE", "kind", {"labels": "team=data"}, path="labels"),
    Case("J-TYPE", "kind", {"taskGroups": {"taskSpec": {}}}, path="taskGroups"),
    Case("J-TYPE", "kind", container(commands="echo hi"), path=f"{CONTAINER_PATH}.commands"),
    Case(
        "J-TYPE",
        "kind",
        container(enableImageStreaming="true"),
        path=f"{CONTAINER_PATH}.enableImageStreaming",
    ),
    Case("J-TYPE", "kind", group(schedulingPolicy="in_order"), path="taskGroups[0].schedulingPolicy"),
    Case("J-TYPE", "kind", {"taskGroups": [None]}, path="taskGroups[0]"),
    Case(
        "J-TYPE",  # exit codes are int32
        "kind",
        spec(
            lifecyclePolicies=[{"action": "RETRY_TASK", "actionCondition": {"exitCodes": ["50001", "any"]}}]
        ),
        path="taskGroups[0].taskSpec.lifecyclePolicies[0].actionCondition.exitCodes[1]",
    ),
    Case("J-TYPE", "text", {"labels": {"team": "\ud800"}}, path='labels["team"]'),  # cannot be sent
    Case("J-TYPE", "text", {"labels": {"\ud800": "x"}}, path='labels["\\ud800"]'),
    Case("J-DURATION", OK, spec(maxRunDuration="3600s")),
    Case("J-DURATION", OK, spec(maxRunDuration="1.5s")),
    Case(
        "J-DURATION", OK, runnables({"container": streaming(), "timeout": "-5s"})
    ),  # a Duration may be negative
    Case("J-DURATION", "syntax", spec(maxRunDuration=3600), path="taskGroups[0].taskSpec.maxRunDuration"),
    Case("J-DURATION", "syntax", spec(maxRunDuration="1h")),
    Case("J-DURATION", "syntax", spec(maxRunDuration="1.1234567890s")),
    Case("J-DURATION", "syntax", spec(maxRunDuration="315576000001s")),
    Case("J-ONEOF", OK, runnables({"container": streaming()}, {"barrier": {}})),
    Case(
        "J-ONEOF",
        "several",
        runnables({"container": streaming(), "script": {"text": "ls"}}),
        path=RUNNABLE_PATH,
    ),
    Case("J-ONEOF", "several", spec(volumes=[{**GCS, "nfs": {"server": "s", "remotePath": "/x"}}])),
    Case("J-ONEOF", "several", spec(volumes=[{**GCS, "device_name": "d"}])),  # either spelling counts
    Case("J-OUTPUT", OK),
    Case("J-OUTPUT", OK, {"name": "", "uid": "", "status": {}}),  # defaults, as Job.to_json prints them
    Case("J-OUTPUT", "set", {"name": "projects/p/locations/us-central1/jobs/j"}, severity=W, path="name"),
    Case("J-OUTPUT", "set", {"status": {"state": "RUNNING"}}, severity=W),
    Case("J-OUTPUT", "set", {"create_time": "2024-01-01T00:00:00Z"}, severity=W, path="create_time"),
    Case("J-DEPRECATED", OK, spec(environment={"variables": {"A": "1"}})),
    Case("J-DEPRECATED", "environments", spec(environments={"A": "1"}), severity=W),
    # job
    Case("J-PARENT", OK, location=PARENT),
    Case("J-PARENT", "not-a-region", location="us-central1-a", path="location"),
    Case("J-PARENT", "not-a-region", location=None),
    Case("J-PARENT", "unknown-region", location="mars-north1", severity=W),
    Case(
        "J-PARENT", "unknown-region", location="mars-north1", policy=ValidationPolicy(unknown_region="error")
    ),
    Case("J-SIZE", OK, spec(environment={"variables": {"BIG": "x" * 999_000}})),
    Case("J-SIZE", "limit", spec(environment={"variables": {"BIG": "x" * 1_000_000}}), path=""),
    Case("J-TG", OK),
    Case("J-TG", "missing", drop=("taskGroups",)),
    Case("J-TG", "count", {"taskGroups": [SEED["taskGroups"][0]] * 2}),
    Case("J-TG", "count", {"taskGroups": []}),
    Case("J-PRIORITY", OK, {"priority": 99}),
    Case("J-PRIORITY", "range", {"priority": 100}),
    Case("J-PRIORITY", "range", {"priority": -1}),
    # task groups and specs
    Case("TG-SPEC", OK),
    Case("TG-SPEC", "missing", {"taskGroups": [{"taskCount": 1}]}, path="taskGroups[0].taskSpec"),
    Case("TG-COUNT", OK, group(taskCount="100000")),
    Case("TG-COUNT", "zero", group(taskCount=0), severity=W),  # proto3: 0 is unset, so 1 task
    Case("TG-COUNT", "negative", group(taskCount=-1), severity=W),
    Case("TG-COUNT", "limit", group(taskCount=100_001)),
    Case("TG-COUNT", "limit", group(taskEnvironments=[{}] * 100_001)),
    Case("TG-PARALLEL", OK, group(taskCount=10, parallelism=10)),
    Case("TG-PARALLEL", OK, group(taskCount=10, parallelism="0")),  # proto3 default: unset
    Case("TG-PARALLEL", OK, group(taskCount=10, parallelism=1, schedulingPolicy="IN_ORDER")),
    Case("TG-PARALLEL", "limit", group(taskCount=10_000, parallelism=5001)),
    Case("TG-PARALLEL", "negative", group(taskCount=2, parallelism=-1), severity=W),
    Case("TG-PARALLEL", "above-count", group(taskCount=2, parallelism=3), severity=W),
    Case("TG-PARALLEL", "in-order", group(taskCount=4, parallelism=2, schedulingPolicy="IN_ORDER")),
    Case("TG-PARALLEL", "in-order-default", group(taskCount=4, schedulingPolicy=2), severity=W),
    Case("TG-ENV", OK, group(taskEnvironments=[{}, {}], taskCount=2)),
    Case("TG-ENV", OK, group(taskEnvironments=[{}, {}], taskCount="0")),
    Case(
        "TG-ENV",
        "count-ignored",
        group(taskEnvironments=[{}, {}], taskCount=3),
        severity=W,
        path="taskGroups[0].taskCount",
    ),
    Case("TS-RUNNABLES", OK),
    Case("TS-RUNNABLES", "missing", runnables()),
    Case("TS-RETRY", OK, spec(maxRetryCount=10)),
    Case("TS-RETRY", "range", spec(maxRetryCount=11)),
    Case(
        "TS-LIFECYCLE",
        OK,
        spec(lifecyclePolicies=[{"action": "RETRY_TASK", "actionCondition": {"exitCodes": [1]}}]),
    ),
    Case(
        "TS-LIFECYCLE", "count", spec(lifecyclePolicies=[{"action": "RETRY_TASK"}, {"action": "FAIL_TASK"}])
    ),
    Case("TS-LIFECYCLE", "no-action", spec(lifecyclePolicies=[{"action": "ACTION_UNSPECIFIED"}]), severity=W),
    Case(
        "TS-LIFECYCLE",
        "no-action",
        spec(lifecyclePolicies=[{"actionCondition": {"exitCodes": [1]}}]),
        severity=W,
    ),
    Case("TS-MAXRUN", OK, spec(maxRunDuration="1209600s")),
    Case("TS-MAXRUN", OK, spec(maxRunDuration="0s")),
    Case("TS-MAXRUN", "negative", spec(maxRunDuration="-1s"), path="taskGroups[0].taskSpec.maxRunDuration"),
    Case(
        "TS-MAXRUN", "negative-timeout", runnables({"container": streaming(), "timeout": "-5s"}), severity=W
    ),
    Case("TS-MAXRUN", "run-limit", spec(maxRunDuration="1209601s"), severity=W),
    Case("TS-MAXRUN", "run-limit", spec(maxRunDuration="315576000000s"), severity=W),  # any Duration goes
    Case(
        "TS-MAXRUN",
        "run-limit",
        deep_merge(spec(maxRunDuration="700000s"), instance(provisioningModel="FLEX_START")),
        severity=W,
    ),
    Case("TS-MAXRUN", "run-limit", runnables({"container": streaming(), "timeout": "2000000s"}), severity=W),
    Case("TS-MAXRUN", OK, deep_merge(spec(maxRunDuration="700000s"), instance(machineType="a3-highgpu-8g"))),
    Case(
        "TS-MAXRUN",
        "run-limit",
        deep_merge(
            spec(maxRunDuration="700000s"),
            instance(machineType="a3-highgpu-8g", reservation="NO_RESERVATION"),
        ),
        severity=W,
    ),
    Case("TS-RESOURCES", OK, spec(computeResource={"cpuMilli": 500, "memoryMib": "512", "bootDiskMib": 0})),
    Case("TS-RESOURCES", "negative", spec(computeResource={"cpuMilli": -1}), severity=W),
    # runnables, containers, volumes, environments
    Case("R-EXEC", OK, runnables({"container": streaming()}, {"script": {"text": "echo done"}})),
    Case("R-EXEC", "none", runnables({"container": streaming()}, {"displayName": "empty"}), severity=W),
    Case("R-EXEC", "empty-script", runnables({"container": streaming()}, {"script": {}}), severity=W),
    Case("C-IMAGE", OK),
    Case("C-IMAGE", "missing", runnables({"container": {"enableImageStreaming": True}})),
    Case(
        "C-VOLUME", OK, container(volumes=["/mnt/a:/a", "/mnt/b:/b:ro", "/mnt/c:/c:rw", "/d", "/e:/e:ro,z"])
    ),
    Case("C-VOLUME", "syntax", container(volumes=["/a:/b:ro:z"]), path=f"{CONTAINER_PATH}.volumes[0]"),
    Case("C-VOLUME", "syntax", container(volumes=[""])),
    Case("C-VOLUME", "syntax", container(volumes=["/a:/b:"])),
    Case("C-VOLUME", "relative-target", container(volumes=["/mnt/a:data"]), severity=W),
    Case("C-VOLUME", "named-volume", container(volumes=["data:/data"]), severity=W),
    Case("C-VOLUME", "option", container(volumes=["/a:/b:ro,bogus"]), severity=W),
    Case(
        "C-NETWORK",
        OK,
        runnables({"container": {"imageUri": IMAGE, "blockExternalNetwork": True, "options": "--rm"}}),
    ),
    Case("C-NETWORK", OK, runnables({"container": {"imageUri": IMAGE, "options": "--network host"}})),
    Case(
        "C-NETWORK",
        "blocked",
        runnables(
            {"container": {"imageUri": IMAGE, "blockExternalNetwork": True, "options": "--network=host"}}
        ),
        path=f"{CONTAINER_PATH}.options",
    ),
    Case(
        "C-NETWORK",
        "blocked",
        runnables(
            {"container": {"imageUri": IMAGE, "blockExternalNetwork": True, "options": "-e A=1 --net x"}}
        ),
    ),
    Case(
        "VOL-SOURCE",
        OK,
        spec(volumes=[GCS, {"nfs": {"server": "10.0.0.2", "remotePath": "/x"}, "mountPath": "/n"}]),
    ),
    Case("VOL-SOURCE", "none", spec(volumes=[{"mountPath": "/mnt/data"}]), severity=W),
    Case("VOL-SOURCE", "incomplete", spec(volumes=[{"gcs": {}, "mountPath": "/mnt/data"}]), severity=W),
    Case("VOL-MOUNT", OK, spec(volumes=[GCS])),
    Case("VOL-MOUNT", OK, spec(volumes=[{"gcs": {"remotePath": "b"}, "mountPath": "/"}])),
    Case(
        "VOL-MOUNT",
        "trailing-slash",
        spec(volumes=[{"gcs": {"remotePath": "b"}, "mountPath": "/mnt/data/"}]),
        severity=W,
    ),
    Case(
        "VOL-MOUNT",
        "relative",
        spec(volumes=[{"gcs": {"remotePath": "b"}, "mountPath": "mnt/data"}]),
        severity=W,
    ),
    Case("VOL-MOUNT", "missing", spec(volumes=[{"gcs": {"remotePath": "b"}}]), severity=W),
    Case(
        "VOL-DEVICE",
        OK,
        deep_merge(
            spec(volumes=[{"deviceName": "scratch", "mountPath": "/mnt/scratch"}]),
            instance(disks=[{"deviceName": "scratch", "newDisk": {"sizeGb": 100, "type": "pd-ssd"}}]),
        ),
    ),
    Case("VOL-DEVICE", "unknown", spec(volumes=[{"deviceName": "scratch", "mountPath": "/mnt/scratch"}])),
    Case(  # the disks live in the instance template, which the validator cannot see
        "VOL-DEVICE",
        OK,
        deep_merge(
            spec(volumes=[{"deviceName": "scratch", "mountPath": "/mnt/scratch"}]),
            template(TEMPLATE),
        ),
    ),
    Case("VOL-OPTIONS", OK, existing_disk("ro,noatime")),
    Case("VOL-OPTIONS", OK, existing_disk()),
    Case(
        "VOL-OPTIONS",
        "existing-disk-write",
        existing_disk("noatime", "rw"),
        path="taskGroups[0].taskSpec.volumes[0].mountOptions[1]",
    ),
    Case("VOL-OPTIONS", "existing-disk-write", existing_disk("rw,noatime")),
    Case(
        "ENV-SECRET",
        OK,
        spec(environment={"secretVariables": {"T": "projects/p/secrets/t/versions/latest"}}),
    ),
    Case("ENV-SECRET", "format", spec(environment={"secretVariables": {"T": "my-token"}})),
    Case(
        "ENV-SECRET", "format", group(taskEnvironments=[{"secretVariables": {"T": "projects/p/secrets/t"}}])
    ),
    # logs, locations, allocation, notifications
    Case("LOGS-PATH", OK, {"logsPolicy": {"destination": "PATH", "logsPath": "/mnt/data/log"}}),
    Case("LOGS-PATH", "missing", {"logsPolicy": {"destination": "PATH"}}, path="logsPolicy.logsPath"),
    Case(
        "LOGS-PATH", "ignored", {"logsPolicy": {"destination": "CLOUD_LOGGING", "logsPath": "/x"}}, severity=W
    ),
    Case("LOGS-DEST", OK),
    Case("LOGS-DEST", "none", drop=("logsPolicy",), severity=W),
    Case("LOC-SHAPE", OK, allowed("regions/us-central1")),
    Case("LOC-SHAPE", "format", allowed("us-central1")),
    Case("LOC-SHAPE", "format", allowed("zones/us-central1")),
    Case("LOC-REGION", OK, allowed("zones/us-central1-a", "zones/us-central1-f")),
    Case("LOC-REGION", OK, allowed("regions/us-central1", "zones/us-central1-a")),
    Case("LOC-REGION", "several", allowed("zones/us-central1-a", "zones/us-east1-b")),
    Case("LOC-PARENT", OK, allowed("zones/us-central1-a")),
    Case("LOC-PARENT", "outside", allowed("regions/us-west1")),
    Case(
        "LOC-PARENT",
        "outside",
        allowed("regions/us-west1"),
        policy=ValidationPolicy(out_of_region_locations="warning"),
        severity=W,
    ),
    Case("AP-INSTANCES", OK),
    Case("AP-INSTANCES", "several", {"allocationPolicy": {"instances": [{}, {}]}}, severity=W),
    Case(
        "AP-IGNORED", OK, {"allocationPolicy": {"network": {"networkInterfaces": [{"network": "default"}]}}}
    ),
    Case("AP-IGNORED", "max-distance", {"allocationPolicy": {"placement": {"maxDistance": 2}}}, severity=W),
    Case(
        "AP-IGNORED",
        "network",
        deep_merge(template("t"), {"allocationPolicy": {"network": {"networkInterfaces": [{}]}}}),
        severity=W,
    ),
    Case("AP-TEMPLATE", OK, template("batch-template")),
    Case("AP-TEMPLATE", OK, template("global/instanceTemplates/batch")),
    Case("AP-TEMPLATE", OK, template(TEMPLATE), location=PARENT),
    Case("AP-TEMPLATE", OK, template("projects/123456/global/instanceTemplates/batch"), location=PARENT),
    Case("AP-TEMPLATE", OK, template("projects/other-project/global/instanceTemplates/t")),  # project unknown
    Case(
        "AP-TEMPLATE",
        "regional",
        template("projects/example-project/regions/us-central1/instanceTemplates/batch"),
        path="allocationPolicy.instances[0].instanceTemplate",
    ),
    Case(
        "AP-TEMPLATE",
        "regional",
        template("https://www.googleapis.com/compute/v1/projects/p/regions/us-central1/instanceTemplates/t"),
    ),
    Case(
        "AP-TEMPLATE",
        "other-project",
        template("https://www.googleapis.com/compute/v1/projects/other-project/global/instanceTemplates/t"),
        location=PARENT,
    ),
    Case("AP-BOOTDISK", OK, instance(bootDisk={"image": "batch-debian", "sizeGb": 50})),
    Case(
        "AP-BOOTDISK",
        "snapshot",
        instance(bootDisk={"snapshot": "projects/example-project/global/snapshots/s"}),
        path="allocationPolicy.instances[0].policy.bootDisk.snapshot",
    ),
    Case("AP-BOOTDISK", OK, instance(bootDisk={"image": "projects/p-123456/global/images/family/gpu-base"})),
    Case(
        "AP-BOOTDISK", OK, instance(bootDisk={"image": "projects/p-123456/global/images/small", "sizeGb": 10})
    ),
    Case("AP-BOOTDISK", OK, instance(bootDisk={"type": "hyperdisk-balanced", "sizeGb": 30})),
    Case("AP-BOOTDISK", "image", instance(bootDisk={"image": "ubuntu-2204-lts"}), path=f"{BOOT_DISK}.image"),
    Case("AP-BOOTDISK", "image", instance(bootDisk={"image": "projects/p/images/x"})),
    Case("AP-BOOTDISK", "retired", instance(bootDisk={"image": "batch-centos"}), severity=W),
    Case(
        "AP-BOOTDISK",
        "retired",
        instance(
            bootDisk={"image": "projects/batch-custom-image/global/images/batch-debian-11-official-2024"}
        ),
        severity=W,
    ),
    Case(
        "AP-BOOTDISK", "type", instance(bootDisk={"type": "local-ssd"}), severity=W, path=f"{BOOT_DISK}.type"
    ),
    Case("AP-BOOTDISK", "small", instance(bootDisk={"sizeGb": 20}), severity=W, path=f"{BOOT_DISK}.sizeGb"),
    Case("AP-BOOTDISK", "small", instance(bootDisk={"image": "batch-cos", "sizeGb": "29"}), severity=W),
    Case(
        "AP-BOOTDISK",
        "both-sizes",
        deep_merge(spec(computeResource={"bootDiskMib": 2048}), instance(bootDisk={"sizeGb": 100})),
        severity=W,
        path="taskGroups[0].taskSpec.computeResource.bootDiskMib",
    ),
    # GPUs
    Case("GPU-TYPE", OK, gpu_vms("n1-standard-8", accelerators("nvidia-tesla-t4"))),
    Case("GPU-TYPE", OK, gpu_vms(None, accelerators("nvidia-l4"))),
    Case(
        "GPU-TYPE",
        OK,
        gpu_vms(None, accelerators("nvidia-future-1")),
        policy=ValidationPolicy(extra_accelerator_types=frozenset({"nvidia-future-1"})),
    ),
    Case(
        "GPU-TYPE",
        "unknown",
        gpu_vms(None, accelerators("NVIDIA_TESLA_T4")),
        path=f"{POLICY}.accelerators[0].type",
    ),
    Case("GPU-TYPE", "unknown", gpu_vms(None, accelerators("nvidia-future-1"))),
    Case(
        "GPU-TYPE",
        "unknown",
        gpu_vms(None, accelerators("nvidia-future-1")),
        policy=ValidationPolicy(unknown_accelerator_type="warning"),
        severity=W,
    ),
    Case("GPU-MACHINE", OK, gpu_vms("g2-standard-8")),
    Case("GPU-MACHINE", OK, gpu_vms("n1-highmem-8", accelerators("nvidia-tesla-v100", 1))),
    Case("GPU-MACHINE", "no-gpus", gpu_vms("e2-standard-8", accelerators("nvidia-tesla-t4"))),
    Case(
        "GPU-MACHINE",
        "no-gpus",
        gpu_vms("c4a-standard-8", accelerators("nvidia-l4")),
        path=f"{POLICY}.machineType",
    ),
    Case("GPU-MACHINE", "no-gpus", gpu_vms("g1-small", accelerators("nvidia-tesla-t4"))),
    Case("GPU-MACHINE", "outside-batch", gpu_vms("a4x-highgpu-4g")),
    Case("GPU-MACHINE", "outside-batch", gpu_vms("g4-standard-48")),
    Case(
        "GPU-MACHINE",
        "outside-batch",
        gpu_vms("a3-edgegpu-8g"),
        policy=ValidationPolicy(gpu_machine_outside_batch="warning"),
        severity=W,
    ),
    Case("GPU-COUNT", OK, gpu_vms("n1-standard-16", accelerators("nvidia-tesla-t4", 2))),
    Case("GPU-COUNT", OK, gpu_vms("g2-standard-24", accelerators("nvidia-l4", 2))),
    Case("GPU-COUNT", OK, gpu_vms("a2-highgpu-1g", accelerators("nvidia-a100-40gb", 1))),  # A2's other name
    Case(
        "GPU-COUNT",
        "n1",
        gpu_vms("n1-standard-8", accelerators("nvidia-tesla-t4", 3)),
        path=f"{POLICY}.accelerators[0].count",
    ),
    Case(
        "GPU-COUNT",
        "n1",
        gpu_vms("n1-standard-8", accelerators("nvidia-l4")),
        path=f"{POLICY}.accelerators[0].type",
    ),
    Case("GPU-COUNT", "n1-vcpus", gpu_vms("n1-standard-16", accelerators("nvidia-tesla-v100", 1))),
    Case("GPU-COUNT", "n1-vcpus", gpu_vms("n1-custom-24-65536", accelerators("nvidia-tesla-p100", 1))),
    Case(
        "GPU-COUNT",
        "built-in",
        gpu_vms("g2-standard-8", accelerators("nvidia-l4", 4)),
        path=f"{POLICY}.accelerators[0].count",
    ),
    Case(
        "GPU-COUNT",
        "built-in",
        gpu_vms("a3-highgpu-8g", accelerators("nvidia-tesla-t4", 8)),
        path=f"{POLICY}.accelerators[0].type",
    ),
    Case("GPU-COUNT", "not-positive", gpu_vms(None, accelerators("nvidia-l4", 0)), severity=W),
    Case("GPU-COUNT", "not-positive", gpu_vms(None, [{"type": "nvidia-l4"}]), severity=W),  # count unset: 0
    Case("GPU-DRIVERS", OK, gpu_vms("a2-ultragpu-1g")),
    Case("GPU-DRIVERS", OK, gpu_vms(None, accelerators("nvidia-l4", driverVersion="535.104.05"))),
    Case(
        "GPU-DRIVERS",
        OK,
        {"allocationPolicy": {"instances": [{"instanceTemplate": "gpu-vms", "installGpuDrivers": True}]}},
    ),
    Case(
        "GPU-DRIVERS",
        OK,
        gpu_vms("g2-standard-4", drivers=False),
        policy=ValidationPolicy(gpu_drivers_missing="off"),
    ),
    Case("GPU-DRIVERS", "missing", gpu_vms("g2-standard-4", drivers=False), severity=W),
    Case(
        "GPU-DRIVERS",
        "missing",
        gpu_vms("n1-standard-4", accelerators("nvidia-tesla-t4"), drivers=False),
        policy=ValidationPolicy(gpu_drivers_missing="error"),
        path="allocationPolicy.instances[0].installGpuDrivers",
    ),
    Case(
        "GPU-DRIVERS",
        "deprecated",
        gpu_vms("n1-standard-4", accelerators("nvidia-tesla-t4", installGpuDrivers=True), drivers=False),
        severity=W,
    ),
    Case(
        "GPU-DRIVERS", "version", gpu_vms(None, accelerators("nvidia-l4", driverVersion="latest")), severity=W
    ),
    Case(
        "GPU-DRIVERS",
        "version-unused",
        gpu_vms(None, accelerators("nvidia-l4", driverVersion="535.104.05"), drivers=False),
        policy=ValidationPolicy(gpu_drivers_missing="off"),
        severity=W,
    ),
    Case("GPU-DRIVERS", "no-gpu", gpu_vms("e2-standard-4"), severity=W),
    Case("GPU-STREAMING", OK, gpu_vms("e2-standard-4", drivers=False)),
    Case("GPU-STREAMING", OK, deep_merge(gpu_vms("g2-standard-4"), container(enableImageStreaming=False))),
    Case(
        "GPU-STREAMING",
        OK,
        gpu_vms("g2-standard-4"),
        policy=ValidationPolicy(gpu_with_image_streaming="off"),
    ),
    Case(
        "GPU-STREAMING",
        "undocumented",
        gpu_vms("g2-standard-4"),
        severity=W,
        path=f"{CONTAINER_PATH}.enableImageStreaming",
    ),
    Case(
        "GPU-STREAMING",
        "undocumented",
        gpu_vms(None, accelerators("nvidia-l4")),
        policy=ValidationPolicy(gpu_with_image_streaming="error"),
    ),
    Case("AP-PROVISIONING", OK, gpu_vms("a3-highgpu-2g", provisioningModel="FLEX_START")),
    Case("AP-PROVISIONING", OK, gpu_vms("a4-highgpu-8g", reservation="a4-block")),
    Case("AP-PROVISIONING", OK, instance(provisioningModel="RESERVATION_BOUND", reservation="r-1")),
    Case("AP-PROVISIONING", "preemptible", instance(provisioningModel="PREEMPTIBLE"), severity=W),
    Case("AP-PROVISIONING", "preemptible", instance(provisioningModel=3), severity=W),
    Case("AP-PROVISIONING", "gpu-capacity", gpu_vms("a3-highgpu-4g"), severity=W),
    Case(
        "AP-PROVISIONING", "gpu-capacity", gpu_vms("a3-ultragpu-8g", reservation="NO_RESERVATION"), severity=W
    ),
    Case("AP-PROVISIONING", "reservation-bound", instance(provisioningModel="RESERVATION_BOUND"), severity=W),
    Case(
        "AP-PROVISIONING",
        "flex-reservation",
        instance(provisioningModel="FLEX_START", reservation="r-1"),
        severity=W,
        path=f"{POLICY}.reservation",
    ),
    Case("AP-RESERVATION", OK, instance(reservation="NO_RESERVATION")),
    Case(
        "AP-RESERVATION",
        OK,
        instance(reservation="projects/example-project/zones/us-central1-a/reservations/r"),
    ),
    Case("AP-RESERVATION", "format", instance(reservation="My Reservation"), severity=W),
    Case(
        "AP-RESERVATION",
        "format",
        instance(reservation="projects/p-1/zones/us-central1/reservations/r"),
        severity=W,
    ),
    Case(
        "AP-RESERVATION",
        "collocated",
        deep_merge(
            instance(reservation="r-1"), {"allocationPolicy": {"placement": {"collocation": "COLLOCATED"}}}
        ),
        severity=W,
    ),
    Case("AP-TAGS", OK, {"allocationPolicy": {"tags": ["batch-workers", "a"]}}),
    Case("AP-TAGS", "rfc1035", {"allocationPolicy": {"tags": ["batch_workers"]}}),
    Case("AP-TAGS", "rfc1035", {"allocationPolicy": {"tags": ["ends-"]}}),
    Case("AP-TAGS", "uppercase", {"allocationPolicy": {"tags": ["Batch-Workers"]}}, severity=W),
    Case(
        "N-TOPIC",
        OK,
        {"notifications": [{"pubsubTopic": "projects/p/topics/t", "message": {"type": "JOB_STATE_CHANGED"}}]},
    ),
    Case(
        "N-TOPIC",
        "format",
        {"notifications": [{"pubsubTopic": "t", "message": {"type": "JOB_STATE_CHANGED"}}]},
    ),
    Case(
        "N-TOPIC",
        "missing",
        {"notifications": [{"message": {"type": "JOB_STATE_CHANGED"}}]},
        severity=W,
        path="notifications[0].pubsubTopic",
    ),
    Case(
        "N-MESSAGE",
        OK,
        {"notifications": [{"pubsubTopic": "projects/p/topics/t", "message": {"newTaskState": "FAILED"}}]},
    ),
    Case("N-MESSAGE", "missing", {"notifications": [{"pubsubTopic": "projects/p/topics/t"}]}, severity=W),
    Case(
        "N-MESSAGE",
        "mixed",
        {
            "notifications": [
                {"pubsubTopic": "projects/p/topics/t", "message": {"type": 2, "newJobState": "FAILED"}}
            ]
        },
    ),
    Case(
        "N-MESSAGE",
        "mixed",
        {
            "notifications": [
                {
                    "pubsubTopic": "projects/p/topics/t",
                    "message": {"newJobState": "FAILED", "newTaskState": "FAILED"},
                }
            ]
        },
    ),
    # labels
    Case("L-1", OK, {"allocationPolicy": {"labels": labels(61)}}),
    Case("L-1", "vm-limit", {"allocationPolicy": {"labels": labels(62)}}, path="allocationPolicy.labels"),
    Case("L-2", OK, {"labels": {"team": "", "env_1": "prod-2", "équipe": "données", "部门": "数据"}}),
    Case("L-2", "syntax", {"labels": {"équipe": "x"}}, policy=ValidationPolicy(label_charset="ascii")),
    Case("L-2", "syntax", {"labels": {"1team": "x"}}, path='labels["1team"]'),
    Case("L-2", "syntax", {"labels": {"Team": "x"}}),
    Case("L-2", "syntax", {"labels": {"team": "Data"}}),
    Case("L-2", "syntax", {"labels": {"": "x"}}),
    Case("L-2", "syntax", {"labels": {"k" * 64: "x"}}),
    Case("L-2", OK, {"labels": {"team": "é" * 63}}),  # 63 chars, 126 bytes
    Case("L-2", "syntax", {"labels": {"team": "é" * 64}}),
    Case("L-3", OK, {"labels": {"googly": "x", "batch-team": "y"}}),
    Case("L-3", OK, {"labels": {"goog-batch-dynamic-workload-scheduler": "true"}}),  # Google's DWS samples
    Case("L-3", OK, {"allocationPolicy": {"labels": {"batch-job-name": "x"}}}),
    Case("L-3", "reserved-prefix", {"labels": {"goog-managed": "x"}}),
    Case("L-3", "reserved-prefix", runnables({"container": streaming(), "labels": {"google-x": "y"}})),
    Case(
        "L-3",
        "reserved-prefix",
        {"allocationPolicy": {"labels": {"goog-batch-dynamic-workload-scheduler": "true"}}},
    ),
    Case("L-3", "predefined", {"labels": {"batch-job-id": "mine"}}, path='labels["batch-job-id"]'),
    Case("L-3", "predefined", runnables({"container": streaming(), "labels": {"batch-job-id": "x"}})),
    Case("L-3", "predefined", {"allocationPolicy": {"labels": {"batch-node": ""}}}),
    Case("L-3", "predefined", {"allocationPolicy": {"labels": {"batch-job-uid": "x"}}}),
    Case(
        "L-4",
        OK,
        deep_merge({"labels": labels(40)}, runnables({"container": streaming(), "labels": labels(23, "r")})),
    ),
    Case(  # the same key on the job and a runnable is one label
        "L-4",
        OK,
        deep_merge({"labels": labels(63)}, runnables({"container": streaming(), "labels": labels(10)})),
    ),
    Case("L-4", "job-limit", {"labels": labels(64)}, path="labels"),
    Case(
        "L-4",
        "job-limit",
        deep_merge({"labels": labels(40)}, runnables({"container": streaming(), "labels": labels(24, "r")})),
        path=f"{RUNNABLE_PATH}.labels",
    ),
    Case(
        "L-4",
        "summed",
        deep_merge(
            {"labels": labels(40)},
            runnables(
                {"container": streaming(), "labels": labels(20, "a")},
                {"container": streaming(imageUri=IMAGE + "-2"), "labels": labels(20, "b")},
            ),
        ),
        severity=W,
    ),
    # image streaming
    Case("IS-OFF", OK),
    Case("IS-OFF", "off", runnables({"container": {"imageUri": "ubuntu"}}), severity=W),
    # The operator and batchstream render hold streaming to an error; image_streaming=False turns it off.
    Case(
        "IS-OFF",
        "off",
        runnables({"container": {"imageUri": "ubuntu"}}),
        policy=ValidationPolicy(streaming_off="error"),
    ),
    Case(
        "IS-OFF",
        OK,
        runnables({"container": {"imageUri": "ubuntu"}}),
        policy=ValidationPolicy(streaming_off="off"),
    ),
    Case("IS-1", OK),
    Case(
        "IS-1", OK, runnables({"container": {"imageUri": "docker.io/library/ubuntu"}})
    ),  # not streamed: any registry
    Case(
        "IS-1",
        "host",
        container(imageUri="docker.io/library/ubuntu:22.04"),
        path=f"{CONTAINER_PATH}.imageUri",
    ),
    Case("IS-1", "layout", container(imageUri="us-central1-docker.pkg.dev/p/img")),
    Case("IS-1", "grammar", container(imageUri=IMAGE.replace("etl", "ETL")), severity=W),
    Case(
        "IS-1",
        "grammar",
        container(imageUri=IMAGE.replace("etl", "ETL")),
        policy=ValidationPolicy(image_reference_grammar="error"),
    ),
    Case("IS-1", "project-id", container(imageUri="us-docker.pkg.dev/p/repo/img"), severity=W),
    Case(
        "IS-1", "unknown-location", container(imageUri="mars-docker.pkg.dev/example-project/r/i"), severity=W
    ),
    Case("IS-1b", OK, container(imageUri="us-docker.pkg.dev/example-project/repo/img")),
    Case("IS-1b", "gcr-host", container(imageUri="gcr.io/example-project/img"), severity=W),
    Case(
        "IS-1b",
        "gcr-host",
        container(imageUri="gcr.io/example-project/img"),
        policy=ValidationPolicy(gcr_hosts="error"),
    ),
    Case("IS-2", OK, container(imageUri="us-docker.pkg.dev/example-project/repo/img")),
    Case(
        "IS-2",
        OK,
        deep_merge(
            container(imageUri="europe-docker.pkg.dev/example-project/r/i"), allowed("zones/europe-west4-a")
        ),
        location="europe-west4",
    ),
    Case(
        "IS-2",
        "location",
        container(imageUri="us-east1-docker.pkg.dev/example-project/repo/img"),
        path=f"{CONTAINER_PATH}.imageUri",
    ),
    Case(
        "IS-2",
        "location",
        container(imageUri="europe-docker.pkg.dev/example-project/r/i"),
        location="europe-west2",
    ),
    Case(
        "IS-2",
        "location",
        deep_merge(
            container(imageUri="us-docker.pkg.dev/example-project/r/i"), allowed("regions/europe-west4")
        ),
    ),
    Case(
        "IS-3",
        OK,
        container(
            commands=["a"], entrypoint="/bin/sh", volumes=["/a:/b"], blockExternalNetwork=False, options=""
        ),
    ),
    Case("IS-3", "fields", container(options="--privileged"), path=f"{CONTAINER_PATH}.options"),
    Case("IS-3", "fields", container(blockExternalNetwork=True)),
    Case("IS-3", "fields", container(username="u", password="projects/p/secrets/s/versions/1")),
    Case(
        "IS-3",
        "fields",
        container(block_external_network=True),
        path=f"{CONTAINER_PATH}.block_external_network",
    ),
    Case("IS-4", OK, runnables({"container": streaming()}, {"container": streaming(imageUri=IMAGE + "-2")})),
    Case("IS-4", "mixed", runnables({"container": streaming()}, {"container": {"imageUri": IMAGE}})),
]


def _case_id(case: Case) -> str:
    return f"{case.rule}-{case.condition or 'ok'}"


@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_rule(case: Case) -> None:
    problems = validate_job(case.job(), case.location, case.policy)
    hits = [p for p in problems if p.rule == case.rule]
    if case.ok:
        assert hits == [], [p.format() for p in hits]
        return
    assert hits, f"expected {case.rule}, got {[p.format() for p in problems]}"
    assert {p.severity for p in hits} == {case.severity}, [p.format() for p in hits]
    if case.path is not None:
        assert case.path in {p.path for p in hits}, [p.path for p in hits]
    for problem in hits:
        assert problem.message and problem.fix, problem


OWN_TESTS = {"J-ID", "J-REQID", "J-INTERNAL"}  # entry points and failures with tests of their own


def _expected_severity(condition: catalog.Condition, policy: ValidationPolicy) -> Severity | None:
    """The catalog's severity for ``condition`` under ``policy`` (None: not reported)."""
    if condition.severity != "policy":
        return Severity(condition.severity)
    level = catalog.level(policy, condition.rule, condition.name)
    return None if level == "off" else Severity.ERROR if level == "error" else Severity.WARNING


def test_every_condition_has_a_failing_case_with_the_catalog_severity() -> None:
    validated = [c for c in catalog.CONDITIONS if c.stage == "validate" and c.rule not in OWN_TESTS]
    failing = {(c.rule, c.condition) for c in CASES if not c.ok}
    assert {(c.rule, c.name) for c in validated} <= failing
    for case in CASES:
        if not case.ok:
            expected = _expected_severity(catalog.CONDITION[case.rule, case.condition], case.policy)
            assert case.severity == expected, case


def test_every_rule_has_a_passing_case() -> None:
    rules = {c.rule for c in catalog.CONDITIONS if c.stage == "validate"} - OWN_TESTS
    assert rules <= {c.rule for c in CASES if c.ok}
    assert {c.rule for c in CASES} <= rules


def test_registered_rules_are_in_the_catalog() -> None:
    registered = {rule_id for rule_id, _ in validate_module.RULES}
    validated = {c.rule for c in catalog.CONDITIONS if c.stage == "validate"}
    # J-FIELD's walk reports the other structure rules, IS-1's image parse IS-1b, and the entry
    # points J-PARENT, J-ID, J-REQID.
    assert registered <= validated
    assert validated - registered == {
        "J-TYPE",
        "J-DURATION",
        "J-ONEOF",
        "J-OUTPUT",
        "J-PARENT",
        "J-ID",
        "J-REQID",
        "J-INTERNAL",
        "IS-1b",
    }


def test_every_check_of_the_rule_modules_runs() -> None:
    # A check written in a rule module but missing from RULES would silently never run.
    checks = {
        function
        for module in _rule_modules()
        for name, function in vars(module).items()
        if name.startswith("check_") and inspect.isfunction(function)
    }
    listed = [check for _, check in validate_module.RULES]
    assert len(listed) == len(set(listed))
    assert checks == set(listed)


def test_problems_come_out_in_the_order_of_the_rule_table() -> None:
    job = deep_merge(SEED, {"priority": 100, "labels": {"goog-x": "y"}, "environments": {}})
    job = deep_merge(job, container(options="--rm"))
    job["taskGroups"][0]["taskCount"] = 0
    job["taskGroups"][0]["taskSpec"]["environments"] = {"A": "1"}
    rules = [p.rule for p in validate_job(job, "us-central1")]
    assert {"J-FIELD", "J-DEPRECATED", "J-PRIORITY", "TG-COUNT", "L-3", "IS-3"} <= set(rules)
    order = [rule_id for rule_id, _ in validate_module.RULES]
    assert rules == sorted(rules, key=order.index)


def test_the_order_does_not_depend_on_which_rule_module_is_imported_first() -> None:
    job = deep_merge(SEED, {"priority": 100, "labels": {"goog-x": "y"}})
    job = deep_merge(job, container(options="--rm"))
    script = (
        "import importlib, json, sys\n"
        "for name in sys.argv[2:]:\n"
        "    importlib.import_module('airflow_batchstream.jobspec.rules.' + name)\n"
        "from airflow_batchstream.jobspec.validate import validate_job\n"
        "print(json.dumps([p.rule for p in validate_job(json.loads(sys.argv[1]), 'us-central1')]))"
    )
    names = [module.__name__.rsplit(".", 1)[-1] for module in _rule_modules()]
    orders = [
        subprocess.run(
            [sys.executable, "-c", script, json.dumps(job), *modules],
            capture_output=True, text=True, check=True, timeout=120,
        ).stdout
        for modules in (names, names[::-1])
    ]  # fmt: skip
    assert orders[0] == orders[1] == json.dumps([p.rule for p in validate_job(job, "us-central1")]) + "\n"


def _rule_modules() -> list:
    from airflow_batchstream.jobspec import rules

    return [
        importlib.import_module(f"{rules.__name__}.{info.name}")
        for info in pkgutil.iter_modules(rules.__path__)
        if not info.name.startswith("_")
    ]


@pytest.mark.parametrize("location", ["us-central1", "projects/example-project/locations/us-central1"])
def test_seed_example_validates_clean(location: str) -> None:
    assert validate_job(copy.deepcopy(SEED), location) == []


@pytest.mark.parametrize(("size", "refused"), [(1_000_000, False), (1_000_001, True), (1_048_576, True)])
def test_the_size_limit_is_one_decimal_megabyte_of_json(size: int, refused: bool) -> None:
    # The quotas page says 1 MB; read as 10^6 bytes, a job that passes fits either reading.
    job = deep_merge(SEED, spec(environment={"variables": {"PAD": ""}}))
    compact = len(json.dumps(job, separators=(",", ":")))
    job["taskGroups"][0]["taskSpec"]["environment"]["variables"]["PAD"] = "x" * (size - compact)
    assert len(json.dumps(job, separators=(",", ":")).encode()) == size
    assert ("J-SIZE" in {p.rule for p in validate_job(job, "us-central1")}) == refused


def test_all_problems_are_reported_at_once() -> None:
    job = deep_merge(SEED, {"priority": 100, "labels": {"goog-x": "y"}})
    job["taskGroups"][0]["taskSpec"]["runnables"][0]["container"]["options"] = "--rm"
    rules = {p.rule for p in validate_job(job, "us-central1")}
    assert {"J-PRIORITY", "L-3", "IS-3"} <= rules


def test_unknown_field_suggestions_name_the_camel_case_field() -> None:
    problems = validate_job(deep_merge(SEED, container(imageURI=IMAGE, enable_streaming=True)), "us-central1")
    fixes = {p.path.rsplit(".", 1)[-1]: p.fix for p in problems if p.rule == "J-FIELD"}
    assert "'imageUri'" in fixes["imageURI"]
    assert "'enableImageStreaming'" in fixes["enable_streaming"]
    garbage = validate_job(deep_merge(SEED, {"zzzzzz": 1}), "us-central1")
    assert "taskGroups" in next(p.fix for p in garbage if p.rule == "J-FIELD")  # lists the valid names


def test_both_spellings_name_both_and_are_reported_once() -> None:
    job = deep_merge(SEED, container(enable_image_streaming=False))  # beside enableImageStreaming: true
    [problem] = validate_job(job, "us-central1")
    assert problem.rule == "J-FIELD" and problem.path == f"{CONTAINER_PATH}.enable_image_streaming"
    assert "'enable_image_streaming' and 'enableImageStreaming'" in problem.message


def test_wrong_type_names_the_expected_type() -> None:
    problems = validate_job(deep_merge(SEED, {"allocationPolicy": "e2-standard-4"}), "us-central1")
    message = next(p.message for p in problems if p.rule == "J-TYPE")
    assert "object (AllocationPolicy)" in message and "'e2-standard-4'" in message


def test_a_failing_rule_becomes_j_internal_and_the_others_still_run(monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(context: object) -> list:
        raise RuntimeError("boom")

    monkeypatch.setattr(validate_module, "RULES", (("X", explode), *validate_module.RULES))
    problems = validate_job(deep_merge(SEED, {"priority": 100}), "us-central1")
    assert problems[0].rule == "J-INTERNAL" and "boom" in problems[0].message
    assert "J-PRIORITY" in {p.rule for p in problems}


@pytest.mark.parametrize("job", [None, [], "job", 3, {"taskGroups": "x"}, {1: 2}, {"taskGroups": [[]]}])
def test_garbage_never_raises(job: object) -> None:
    problems = validate_job(job, "us-central1")
    assert any(p.is_error for p in problems)
    assert "J-INTERNAL" not in {p.rule for p in problems}


@pytest.mark.parametrize("job_id", ["a", "etl-2024-01-01", "a" + "b" * 62, "a1-b2"])
def test_valid_job_ids(job_id: str) -> None:
    assert validate_job_id(job_id) == []


@pytest.mark.parametrize("job_id", ["", "1abc", "Abc", "abc-", "-abc", "a" * 64, "a_b", "a.b", None, 5])
def test_invalid_job_ids(job_id: object) -> None:
    [problem] = validate_job_id(job_id)
    assert problem.rule == "J-ID" and repr(job_id) in problem.message


@pytest.mark.parametrize(
    "request_id", [None, "", "6f1c9a3e-2b4d-4f6a-9c8e-1d2e3f4a5b6c", "6F1C9A3E-2B4D-4F6A-9C8E-1D2E3F4A5B6C"]
)
def test_valid_request_ids(request_id: object) -> None:
    assert validate_request_id(request_id) == []


@pytest.mark.parametrize(
    "request_id",
    [
        "00000000-0000-0000-0000-000000000000",
        "not-a-uuid",
        "6f1c9a3e2b4d4f6a9c8e1d2e3f4a5b6c",  # Python's UUID() reads it; the string form has hyphens
        "{6f1c9a3e-2b4d-4f6a-9c8e-1d2e3f4a5b6c}",
        "6f1c9a3e-2b4d-4f6a-9c8e-1d2e3f4a5b6",
        7,
    ],
)
def test_invalid_request_ids(request_id: object) -> None:
    [problem] = validate_request_id(request_id)
    assert (problem.rule, problem.path, problem.severity) == ("J-REQID", "requestId", Severity.ERROR)
    assert repr(request_id) in problem.message


@pytest.mark.parametrize(
    ("location", "rules"),
    [
        ("us-central1", []),
        ("europe-west4", []),
        ("us-central1-a", ["J-PARENT"]),
        ("US-CENTRAL1", ["J-PARENT"]),
        ("", ["J-PARENT"]),
        (None, ["J-PARENT"]),
    ],
)
def test_validate_location(location: object, rules: list[str]) -> None:
    assert [p.rule for p in validate_location(location)] == rules


def test_a_zone_given_as_the_job_location_is_named_a_zone() -> None:
    [zone] = validate_location("us-central1-a")
    assert "'us-central1-a' is a zone" in zone.message
    [not_a_zone] = validate_location("US-CENTRAL1")
    assert "zone" not in not_a_zone.message


def test_unknown_region_can_be_silenced() -> None:
    assert validate_location("mars-north1", dataclasses.replace(DEFAULT_POLICY, unknown_region="off")) == []


def test_deep_and_huge_values_give_short_messages() -> None:
    deep: list = []
    for _ in range(50_000):  # far beyond the recursion limit of repr and json.dumps
        deep = [deep]
    job = copy.deepcopy(SEED)  # not deep_merge: copying `deep` itself would overflow the stack
    job.update({"priority": deep, "labels": {"a": deep}, "x" * 10_000: 1})
    problems = validate_job(job, "us-central1")
    assert "J-INTERNAL" not in {p.rule for p in problems}
    assert {"J-TYPE", "J-FIELD"} <= {p.rule for p in problems}
    assert max(len(p.format()) for p in problems) < 400


def test_a_job_dumped_by_the_client_validates_like_the_original() -> None:
    # Job.to_json prints every default ("name": "", "parallelism": "0"...): none is a problem.
    batch_v1 = pytest.importorskip("google.cloud.batch_v1")
    dumped = json.loads(batch_v1.Job.to_json(batch_v1.Job.from_json(json.dumps(SEED))))
    assert (dumped["name"], dumped["taskGroups"][0]["parallelism"]) == ("", "0")
    assert validate_job(dumped, "us-central1") == []


def test_a_lone_surrogate_the_user_wrote_is_shown_escaped_in_every_problem():
    # Text decoded with errors="surrogateescape" reaches the validator; the CLI must still print it.
    job = {
        "taskGroups": [
            {
                "taskSpec": {
                    "runnables": [{"container": {"imageUri": IMAGE, "enableImageStreaming": True}}],
                    "volumes": [{"gcs": {"remotePath": "bucket"}, "mountPath": "\ud800"}],
                }
            }
        ],
        "logsPolicy": {"destination": "CLOUD_LOGGING"},
    }
    problems = validate_job(job, "us-central1")
    assert {p.rule for p in problems} >= {"J-TYPE", "VOL-MOUNT"}
    for problem in problems:
        text = problem.format()
        text.encode("utf-8")
        if problem.rule == "VOL-MOUNT":
            assert "\\ud800" in text
