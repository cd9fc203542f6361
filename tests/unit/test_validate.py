"""validate_job, rule by rule: every rule id has at least one passing and one failing case."""

from __future__ import annotations

import copy
import dataclasses
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from airflow_batchstream.spec import validate as validate_module
from airflow_batchstream.spec.policy import DEFAULT_POLICY, ValidationPolicy
from airflow_batchstream.spec.problems import Severity
from airflow_batchstream.spec.validate import validate_job, validate_job_id, validate_location

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


@dataclass
class Case:
    """``patch`` is deep-merged into the seed job (lists replace); ``drop`` removes top-level keys."""

    rule: str
    ok: bool
    patch: dict = field(default_factory=dict)
    location: Any = "us-central1"
    policy: ValidationPolicy = DEFAULT_POLICY
    severity: Severity = Severity.ERROR
    path: str | None = None
    drop: tuple[str, ...] = ()

    def job(self) -> dict:
        job = deep_merge(SEED, self.patch)
        for key in self.drop:
            job.pop(key, None)
        return job


W = Severity.WARNING
CASES = [
    # structure
    Case("J-FIELD", True),
    Case("J-FIELD", False, {"wat": 1}, path="wat"),
    Case("J-FIELD", False, container(image_uri=IMAGE), path=f"{CONTAINER_PATH}.image_uri"),
    Case("J-FIELD", False, container(imageURI=IMAGE), path=f"{CONTAINER_PATH}.imageURI"),
    Case("J-TYPE", True, {"priority": "5", "labels": {"a": "b"}}),
    Case("J-TYPE", False, {"priority": "high"}, path="priority"),
    Case("J-TYPE", False, {"labels": "team=data"}, path="labels"),
    Case("J-TYPE", False, {"taskGroups": {"taskSpec": {}}}, path="taskGroups"),
    Case("J-TYPE", False, container(commands="echo hi"), path=f"{CONTAINER_PATH}.commands"),
    Case(
        "J-TYPE", False, container(enableImageStreaming="true"), path=f"{CONTAINER_PATH}.enableImageStreaming"
    ),
    Case("J-TYPE", False, group(schedulingPolicy="in_order"), path="taskGroups[0].schedulingPolicy"),
    Case("J-TYPE", False, {"taskGroups": [None]}, path="taskGroups[0]"),
    Case("J-TYPE", False, {"labels": {"team": "\ud800"}}, path='labels["team"]'),  # cannot be sent
    Case("J-TYPE", False, {"labels": {"\ud800": "x"}}, path='labels["\\ud800"]'),
    Case("J-DURATION", True, spec(maxRunDuration="3600s")),
    Case("J-DURATION", True, spec(maxRunDuration="1.5s")),
    Case("J-DURATION", False, spec(maxRunDuration=3600), path="taskGroups[0].taskSpec.maxRunDuration"),
    Case("J-DURATION", False, spec(maxRunDuration="1h")),
    Case("J-DURATION", False, spec(maxRunDuration="-5s")),
    Case("J-ONEOF", True, runnables({"container": streaming()}, {"barrier": {}})),
    Case(
        "J-ONEOF", False, runnables({"container": streaming(), "script": {"text": "ls"}}), path=RUNNABLE_PATH
    ),
    Case("J-ONEOF", False, spec(volumes=[{**GCS, "nfs": {"server": "s", "remotePath": "/x"}}])),
    Case("J-OUTPUT", True),
    Case("J-OUTPUT", True, {"name": "", "uid": "", "status": {}}),  # defaults, as Job.to_json prints them
    Case("J-OUTPUT", False, {"name": "projects/p/locations/us-central1/jobs/j"}, severity=W, path="name"),
    Case("J-OUTPUT", False, {"status": {"state": "RUNNING"}}, severity=W),
    Case("J-DEPRECATED", True, spec(environment={"variables": {"A": "1"}})),
    Case("J-DEPRECATED", False, spec(environments={"A": "1"}), severity=W),
    # job
    Case("J-PARENT", True, location="projects/example-project/locations/us-central1"),
    Case("J-PARENT", False, location="us-central1-a", path="location"),
    Case("J-PARENT", False, location=None),
    Case("J-PARENT", False, location="mars-north1", severity=W),
    Case("J-PARENT", False, location="mars-north1", policy=ValidationPolicy(unknown_region="error")),
    Case("J-SIZE", True, spec(environment={"variables": {"BIG": "x" * 900_000}})),
    Case("J-SIZE", False, spec(environment={"variables": {"BIG": "x" * 1_100_000}})),
    Case("J-TG", True),
    Case("J-TG", False, drop=("taskGroups",)),
    Case("J-TG", False, {"taskGroups": [SEED["taskGroups"][0]] * 2}),
    Case("J-PRIORITY", True, {"priority": 99}),
    Case("J-PRIORITY", False, {"priority": 100}),
    Case("J-PRIORITY", False, {"priority": -1}),
    # task groups and specs
    Case("TG-SPEC", True),
    Case("TG-SPEC", False, {"taskGroups": [{"taskCount": 1}]}, path="taskGroups[0].taskSpec"),
    Case("TG-COUNT", True, group(taskCount="100000")),
    Case("TG-COUNT", False, group(taskCount=0), severity=W),  # proto3: 0 is unset, so 1 task
    Case("TG-COUNT", False, group(taskCount=-1)),
    Case("TG-COUNT", False, group(taskCount=100_001)),
    Case("TG-PARALLEL", True, group(taskCount=10, parallelism=10)),
    Case("TG-PARALLEL", True, group(taskCount=10, parallelism="0")),  # proto3 default: unset
    Case("TG-PARALLEL", True, group(taskCount=10, parallelism=1, schedulingPolicy="IN_ORDER")),
    Case("TG-PARALLEL", False, group(taskCount=10_000, parallelism=5001)),
    Case("TG-PARALLEL", False, group(taskCount=2, parallelism=3)),
    Case("TG-PARALLEL", False, group(taskCount=4, parallelism=2, schedulingPolicy="IN_ORDER")),
    Case("TG-PARALLEL", False, group(taskCount=4, schedulingPolicy=2), severity=W),
    Case("TG-ENV", True, group(taskEnvironments=[{}, {}], taskCount=2)),
    Case("TG-ENV", True, group(taskEnvironments=[{}, {}], taskCount="0")),
    Case("TG-ENV", False, group(taskEnvironments=[{}, {}], taskCount=3), path="taskGroups[0].taskCount"),
    Case("TS-RUNNABLES", True),
    Case("TS-RUNNABLES", False, runnables()),
    Case("TS-RETRY", True, spec(maxRetryCount=10)),
    Case("TS-RETRY", False, spec(maxRetryCount=11)),
    Case(
        "TS-LIFECYCLE",
        True,
        spec(lifecyclePolicies=[{"action": "RETRY_TASK", "actionCondition": {"exitCodes": [1]}}]),
    ),
    Case("TS-LIFECYCLE", False, spec(lifecyclePolicies=[{"action": "RETRY_TASK"}, {"action": "FAIL_TASK"}])),
    Case("TS-LIFECYCLE", False, spec(lifecyclePolicies=[{"action": "ACTION_UNSPECIFIED"}])),
    Case("TS-LIFECYCLE", False, spec(lifecyclePolicies=[{"actionCondition": {"exitCodes": [1]}}])),
    Case(
        "J-TYPE",  # exit codes are int32
        False,
        spec(
            lifecyclePolicies=[{"action": "RETRY_TASK", "actionCondition": {"exitCodes": ["50001", "any"]}}]
        ),
        path="taskGroups[0].taskSpec.lifecyclePolicies[0].actionCondition.exitCodes[1]",
    ),
    Case("TS-MAXRUN", True, spec(maxRunDuration="1209600s")),
    Case("TS-MAXRUN", False, spec(maxRunDuration="1209601s")),
    Case(
        "TS-MAXRUN",
        False,
        deep_merge(spec(maxRunDuration="700000s"), instance(provisioningModel="FLEX_START")),
    ),
    Case("TS-MAXRUN", False, runnables({"container": streaming(), "timeout": "2000000s"})),
    Case(
        "TS-MAXRUN", True, deep_merge(spec(maxRunDuration="700000s"), instance(machineType="a3-highgpu-8g"))
    ),
    Case(
        "TS-MAXRUN",
        False,
        deep_merge(
            spec(maxRunDuration="700000s"),
            instance(machineType="a3-highgpu-8g", reservation="NO_RESERVATION"),
        ),
    ),
    Case("TS-RESOURCES", True, spec(computeResource={"cpuMilli": 500, "memoryMib": "512", "bootDiskMib": 0})),
    Case("TS-RESOURCES", False, spec(computeResource={"cpuMilli": -1})),
    # runnables, containers, volumes, environments
    Case("R-EXEC", True, runnables({"container": streaming()}, {"script": {"text": "echo done"}})),
    Case("R-EXEC", False, runnables({"container": streaming()}, {"displayName": "empty"})),
    Case("R-EXEC", False, runnables({"container": streaming()}, {"script": {}})),
    Case("C-IMAGE", True),
    Case("C-IMAGE", False, runnables({"container": {"enableImageStreaming": True}})),
    Case("C-VOLUME", True, container(volumes=["/mnt/a:/a", "/mnt/b:/b:ro", "/mnt/c:/c:rw"])),
    Case("C-VOLUME", False, container(volumes=["data:/data"])),
    Case("C-VOLUME", False, container(volumes=["/a:/b:z"])),
    Case(
        "VOL-SOURCE",
        True,
        spec(volumes=[GCS, {"nfs": {"server": "10.0.0.2", "remotePath": "/x"}, "mountPath": "/n"}]),
    ),
    Case("VOL-SOURCE", False, spec(volumes=[{"mountPath": "/mnt/data"}])),
    Case("VOL-SOURCE", False, spec(volumes=[{"gcs": {}, "mountPath": "/mnt/data"}])),
    Case("VOL-MOUNT", True, spec(volumes=[GCS])),
    Case("VOL-MOUNT", False, spec(volumes=[{"gcs": {"remotePath": "b"}, "mountPath": "/mnt/data/"}])),
    Case("VOL-MOUNT", False, spec(volumes=[{"gcs": {"remotePath": "b"}, "mountPath": "mnt/data"}])),
    Case("VOL-MOUNT", False, spec(volumes=[{"gcs": {"remotePath": "b"}}])),
    Case(
        "VOL-DEVICE",
        True,
        deep_merge(
            spec(volumes=[{"deviceName": "scratch", "mountPath": "/mnt/scratch"}]),
            instance(disks=[{"deviceName": "scratch", "newDisk": {"sizeGb": 100, "type": "pd-ssd"}}]),
        ),
    ),
    Case("VOL-DEVICE", False, spec(volumes=[{"deviceName": "scratch", "mountPath": "/mnt/scratch"}])),
    Case(  # the disks live in the instance template, which the validator cannot see
        "VOL-DEVICE",
        True,
        deep_merge(
            spec(volumes=[{"deviceName": "scratch", "mountPath": "/mnt/scratch"}]),
            {"allocationPolicy": {"instances": [{"instanceTemplate": "batch-template"}]}},
        ),
    ),
    Case(
        "ENV-SECRET",
        True,
        spec(environment={"secretVariables": {"T": "projects/p/secrets/t/versions/latest"}}),
    ),
    Case("ENV-SECRET", False, spec(environment={"secretVariables": {"T": "my-token"}})),
    Case("ENV-SECRET", False, group(taskEnvironments=[{"secretVariables": {"T": "projects/p/secrets/t"}}])),
    # logs, locations, allocation, notifications
    Case("LOGS-PATH", True, {"logsPolicy": {"destination": "PATH", "logsPath": "/mnt/data/log"}}),
    Case("LOGS-PATH", False, {"logsPolicy": {"destination": "PATH"}}, path="logsPolicy.logsPath"),
    Case("LOGS-PATH", False, {"logsPolicy": {"destination": "CLOUD_LOGGING", "logsPath": "/x"}}, severity=W),
    Case("LOGS-DEST", True),
    Case("LOGS-DEST", False, drop=("logsPolicy",), severity=W),
    Case("LOC-SHAPE", True, allowed("regions/us-central1")),
    Case("LOC-SHAPE", False, allowed("us-central1")),
    Case("LOC-SHAPE", False, allowed("zones/us-central1")),
    Case("LOC-REGION", True, allowed("zones/us-central1-a", "zones/us-central1-f")),
    Case("LOC-REGION", False, allowed("zones/us-central1-a", "zones/us-east1-b")),
    Case("LOC-PARENT", True, allowed("zones/us-central1-a")),
    Case("LOC-PARENT", False, allowed("regions/us-west1")),
    Case(
        "LOC-PARENT",
        False,
        allowed("regions/us-west1"),
        policy=ValidationPolicy(out_of_region_locations="warning"),
        severity=W,
    ),
    Case("AP-INSTANCES", True),
    Case("AP-INSTANCES", False, {"allocationPolicy": {"instances": [{}, {}]}}),
    Case(
        "AP-IGNORED", True, {"allocationPolicy": {"network": {"networkInterfaces": [{"network": "default"}]}}}
    ),
    Case("AP-IGNORED", False, {"allocationPolicy": {"placement": {"maxDistance": 2}}}, severity=W),
    Case(
        "AP-IGNORED",
        False,
        {
            "allocationPolicy": {
                "instances": [{"instanceTemplate": "t"}],
                "network": {"networkInterfaces": [{}]},
            }
        },
        severity=W,
    ),
    Case("AP-TAGS", True, {"allocationPolicy": {"tags": ["batch-workers", "a"]}}),
    Case("AP-TAGS", False, {"allocationPolicy": {"tags": ["Batch_Workers"]}}),
    Case("AP-TAGS", False, {"allocationPolicy": {"tags": ["ends-"]}}),
    Case(
        "N-TOPIC",
        True,
        {"notifications": [{"pubsubTopic": "projects/p/topics/t", "message": {"type": "JOB_STATE_CHANGED"}}]},
    ),
    Case(
        "N-TOPIC", False, {"notifications": [{"pubsubTopic": "t", "message": {"type": "JOB_STATE_CHANGED"}}]}
    ),
    Case("N-TOPIC", False, {"notifications": [{"message": {"type": "JOB_STATE_CHANGED"}}]}),
    Case(
        "N-MESSAGE",
        True,
        {"notifications": [{"pubsubTopic": "projects/p/topics/t", "message": {"newTaskState": "FAILED"}}]},
    ),
    Case("N-MESSAGE", False, {"notifications": [{"pubsubTopic": "projects/p/topics/t"}]}, severity=W),
    Case(
        "N-MESSAGE",
        False,
        {
            "notifications": [
                {"pubsubTopic": "projects/p/topics/t", "message": {"type": 2, "newJobState": "FAILED"}}
            ]
        },
    ),
    Case(
        "N-MESSAGE",
        False,
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
    Case("L-1", True, {"allocationPolicy": {"labels": labels(61)}}),
    Case("L-1", False, {"labels": labels(65)}),
    Case("L-2", True, {"labels": {"team": "", "env_1": "prod-2", "équipe": "données", "部门": "数据"}}),
    Case("L-2", False, {"labels": {"équipe": "x"}}, policy=ValidationPolicy(label_charset="ascii")),
    Case("L-2", False, {"labels": {"1team": "x"}}, path='labels["1team"]'),
    Case("L-2", False, {"labels": {"Team": "x"}}),
    Case("L-2", False, {"labels": {"team": "Data"}}),
    Case("L-2", False, {"labels": {"": "x"}}),
    Case("L-2", False, {"labels": {"k" * 64: "x"}}),
    Case("L-2", True, {"labels": {"team": "é" * 63}}),  # 63 chars, 126 bytes
    Case("L-2", False, {"labels": {"team": "é" * 64}}),
    Case("L-3", True, {"labels": {"googly": "x"}}),
    Case("L-3", False, {"labels": {"goog-managed": "x"}}),
    Case("L-3", False, runnables({"container": streaming(), "labels": {"google-x": "y"}})),
    Case(
        "L-4",
        True,
        deep_merge({"labels": labels(40)}, runnables({"container": streaming(), "labels": labels(23, "r")})),
    ),
    Case(
        "L-4",
        False,
        deep_merge({"labels": labels(40)}, runnables({"container": streaming(), "labels": labels(24, "r")})),
    ),
    Case("L-4", False, {"allocationPolicy": {"labels": labels(62)}}),
    # image streaming
    Case("IS-OFF", True),
    Case("IS-OFF", False, runnables({"container": {"imageUri": "ubuntu"}}), severity=W),
    Case("IS-1", True),
    Case(
        "IS-1", True, runnables({"container": {"imageUri": "docker.io/library/ubuntu"}})
    ),  # not streamed: any registry
    Case(
        "IS-1", False, container(imageUri="docker.io/library/ubuntu:22.04"), path=f"{CONTAINER_PATH}.imageUri"
    ),
    Case("IS-1", False, container(imageUri="us-central1-docker.pkg.dev/p/img")),
    Case("IS-1b", True, container(imageUri="us-docker.pkg.dev/example-project/repo/img")),
    Case("IS-1b", False, container(imageUri="gcr.io/example-project/img"), severity=W),
    Case(
        "IS-1b",
        False,
        container(imageUri="gcr.io/example-project/img"),
        policy=ValidationPolicy(gcr_hosts="error"),
    ),
    Case("IS-2", True, container(imageUri="us-docker.pkg.dev/example-project/repo/img")),
    Case(
        "IS-2",
        True,
        deep_merge(
            container(imageUri="europe-docker.pkg.dev/example-project/r/i"), allowed("zones/europe-west4-a")
        ),
        location="europe-west4",
    ),
    Case(
        "IS-2",
        False,
        container(imageUri="us-east1-docker.pkg.dev/example-project/repo/img"),
        path=f"{CONTAINER_PATH}.imageUri",
    ),
    Case(
        "IS-2",
        False,
        container(imageUri="europe-docker.pkg.dev/example-project/r/i"),
        location="europe-west2",
    ),
    Case(
        "IS-2",
        False,
        deep_merge(
            container(imageUri="us-docker.pkg.dev/example-project/r/i"), allowed("regions/europe-west4")
        ),
    ),
    Case(
        "IS-3",
        True,
        container(
            commands=["a"], entrypoint="/bin/sh", volumes=["/a:/b"], blockExternalNetwork=False, options=""
        ),
    ),
    Case("IS-3", False, container(options="--privileged"), path=f"{CONTAINER_PATH}.options"),
    Case("IS-3", False, container(blockExternalNetwork=True)),
    Case("IS-3", False, container(username="u", password="projects/p/secrets/s/versions/1")),
    Case(
        "IS-4", True, runnables({"container": streaming()}, {"container": streaming(imageUri=IMAGE + "-2")})
    ),
    Case("IS-4", False, runnables({"container": streaming()}, {"container": {"imageUri": IMAGE}})),
]


def _case_id(case: Case) -> str:
    return f"{case.rule}-{'ok' if case.ok else 'bad'}"


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


def test_every_documented_rule_has_passing_and_failing_cases() -> None:
    documented = set(
        re.findall(r"^(\S+-\S+|L-\d)\s+(?:error|warning|policy)\s", validate_module.__doc__, re.M)
    )
    assert len(documented) > 40
    untested_here = {"J-ID", "J-INTERNAL"}  # own tests below
    assert documented - untested_here <= {c.rule for c in CASES if c.ok}
    assert documented - untested_here <= {c.rule for c in CASES if not c.ok}
    assert {c.rule for c in CASES} <= documented


def test_registered_rules_are_documented() -> None:
    documented = set(re.findall(r"^(\S+)\s+(?:error|warning|policy)\s", validate_module.__doc__, re.M))
    assert {rule_id for rule_id, _ in validate_module._RULES} <= documented


@pytest.mark.parametrize("location", ["us-central1", "projects/example-project/locations/us-central1"])
def test_seed_example_validates_clean(location: str) -> None:
    assert validate_job(copy.deepcopy(SEED), location) == []


def test_all_problems_are_reported_at_once() -> None:
    job = deep_merge(SEED, {"priority": 100, "labels": {"goog-x": "y"}})
    job["taskGroups"][0]["taskSpec"]["runnables"][0]["container"]["options"] = "--rm"
    rules = {p.rule for p in validate_job(job, "us-central1")}
    assert {"J-PRIORITY", "L-3", "IS-3"} <= rules


def test_unknown_field_suggestions_name_the_camel_case_field() -> None:
    problems = validate_job(
        deep_merge(SEED, container(image_uri=IMAGE, enable_streaming=True)), "us-central1"
    )
    fixes = {p.path.rsplit(".", 1)[-1]: p.fix for p in problems if p.rule == "J-FIELD"}
    assert "'imageUri'" in fixes["image_uri"]
    assert "'enableImageStreaming'" in fixes["enable_streaming"]
    garbage = validate_job(deep_merge(SEED, {"zzzzzz": 1}), "us-central1")
    assert "taskGroups" in next(p.fix for p in garbage if p.rule == "J-FIELD")  # lists the valid names


def test_wrong_type_names_the_expected_type() -> None:
    problems = validate_job(deep_merge(SEED, {"allocationPolicy": "e2-standard-4"}), "us-central1")
    message = next(p.message for p in problems if p.rule == "J-TYPE")
    assert "object (AllocationPolicy)" in message and "'e2-standard-4'" in message


def test_a_failing_rule_becomes_j_internal_and_the_others_still_run(monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(context: object) -> list:
        raise RuntimeError("boom")

    monkeypatch.setattr(validate_module, "_RULES", [("X", explode), *validate_module._RULES])
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
