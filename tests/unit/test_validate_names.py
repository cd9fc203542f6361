"""snake_case field names: accepted as gcloud accepts them, rendered camelCase, reported as written."""

from __future__ import annotations

import copy
import json

import pytest

from airflow_batchstream.jobspec.names import PROTO_NAMES, camel_case_fields, snake_case
from airflow_batchstream.jobspec.validate import validate_job

batch_v1 = pytest.importorskip("google.cloud.batch_v1")

IMAGE = "us-central1-docker.pkg.dev/example-project/pipelines/etl:1.0"

#: A config written the way Google's gcloud samples are: the protos' snake_case field names.
SNAKE_JOB = {
    "task_groups": [
        {
            "task_count": 4,
            "task_count_per_node": 1,
            "require_hosts_file": True,
            "task_spec": {
                "runnables": [
                    {"container": {"image_uri": IMAGE, "enable_image_streaming": True, "commands": ["run"]}}
                ],
                "max_retry_count": 2,
                "max_run_duration": "3600s",
                "lifecycle_policies": [{"action": "RETRY_TASK", "action_condition": {"exit_codes": [50001]}}],
                "environment": {"variables": {"LOG_LEVEL": "info", "max_run_duration": "kept as written"}},
                "volumes": [{"gcs": {"remote_path": "bucket/in"}, "mount_path": "/mnt/in"}],
            },
        }
    ],
    "allocation_policy": {
        "instances": [{"policy": {"machine_type": "e2-standard-4", "provisioning_model": "SPOT"}}],
        "location": {"allowed_locations": ["zones/us-central1-a"]},
        "labels": {"cost_center": "data"},
    },
    "labels": {"team_name": "etl"},
    "logs_policy": {"destination": "CLOUD_LOGGING"},
    "notifications": [
        {"pubsub_topic": "projects/example-project/topics/jobs", "message": {"type": "JOB_STATE_CHANGED"}}
    ],
}


def test_snake_case_names_map_to_json_names() -> None:
    assert PROTO_NAMES["Runnable.Container"]["image_uri"] == "imageUri"
    assert PROTO_NAMES["TaskGroup"]["task_count_per_node"] == "taskCountPerNode"
    assert "gcs" not in PROTO_NAMES["Volume"]  # one-word names have one spelling
    assert snake_case("sizeGb") == "size_gb"


def test_a_snake_case_job_validates_clean_and_means_what_the_client_reads() -> None:
    assert validate_job(SNAKE_JOB, "us-central1") == []
    camel = camel_case_fields(SNAKE_JOB)
    assert validate_job(camel, "us-central1") == []
    from_snake = batch_v1.Job.to_json(batch_v1.Job.from_json(json.dumps(SNAKE_JOB)))
    from_camel = batch_v1.Job.to_json(batch_v1.Job.from_json(json.dumps(camel)))
    assert from_snake == from_camel


def test_camel_case_fields_renames_fields_but_not_map_keys() -> None:
    original = copy.deepcopy(SNAKE_JOB)
    camel = camel_case_fields(SNAKE_JOB)
    assert original == SNAKE_JOB  # the argument is not modified
    spec = camel["taskGroups"][0]["taskSpec"]
    assert spec["lifecyclePolicies"][0]["actionCondition"] == {"exitCodes": [50001]}
    assert spec["volumes"] == [{"gcs": {"remotePath": "bucket/in"}, "mountPath": "/mnt/in"}]
    assert spec["environment"]["variables"]["max_run_duration"] == "kept as written"
    assert camel["labels"] == {"team_name": "etl"}
    assert camel["notifications"][0]["pubsubTopic"] == "projects/example-project/topics/jobs"
    assert list(camel) == ["taskGroups", "allocationPolicy", "labels", "logsPolicy", "notifications"]


def test_camel_case_fields_returns_a_camel_case_document_itself() -> None:
    job = camel_case_fields(SNAKE_JOB)
    assert camel_case_fields(job) is job


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        # Both spellings: kept as written, for the validator to report (J-FIELD).
        ({"task_groups": [], "taskGroups": []}, {"task_groups": [], "taskGroups": []}),
        ({"wat": {"task_spec": {}}}, {"wat": {"task_spec": {}}}),  # unknown: not descended
        ({"task_groups": "not a list"}, {"taskGroups": "not a list"}),  # wrong type: renamed, kept
        ({"task_groups": [None, 3, {"task_spec": "x"}]}, {"taskGroups": [None, 3, {"taskSpec": "x"}]}),
        ({1: {"task_spec": {}}}, {1: {"task_spec": {}}}),
        ("not a job", "not a job"),
    ],
)
def test_camel_case_fields_keeps_what_it_cannot_rename(document: object, expected: object) -> None:
    assert camel_case_fields(document) == expected


@pytest.mark.parametrize(
    ("patch", "path", "rule"),
    [
        (
            ("task_groups", 0, "task_spec", "max_retry_count", 11),
            "task_groups[0].task_spec.max_retry_count",
            "TS-RETRY",
        ),
        (("allocation_policy", "labels", "goog-x", "1"), 'allocation_policy.labels["goog-x"]', "L-3"),
        (
            ("task_groups", 0, "task_spec", "runnables", 0, "container", "options", "--rm"),
            "task_groups[0].task_spec.runnables[0].container.options",
            "IS-3",
        ),
        (
            ("task_groups", 0, "task_spec", "volumes", 0, "mount_path", "mnt"),
            "task_groups[0].task_spec.volumes[0].mount_path",
            "VOL-MOUNT",
        ),
        (("task_groups", 0, "task_count", 0), "task_groups[0].task_count", "TG-COUNT"),
        (("task_groups", 0, "task_count", "four"), "task_groups[0].task_count", "J-TYPE"),
    ],
)
def test_problems_are_reported_at_the_path_the_user_wrote(patch: tuple, path: str, rule: str) -> None:
    job = copy.deepcopy(SNAKE_JOB)
    *steps, key, value = patch
    target = job
    for step in steps:
        target = target[step]
    target[key] = value
    problems = [p for p in validate_job(job, "us-central1") if p.rule == rule]
    assert [p.path for p in problems] == [path], [p.format() for p in problems]


def test_a_missing_field_under_a_snake_case_parent_keeps_the_parent_as_written() -> None:
    job = {"task_groups": [{"task_count": 1}]}
    problems = {p.rule: p.path for p in validate_job(job, "us-central1")}
    assert problems["TG-SPEC"] == "task_groups[0].taskSpec"


def test_mixed_spellings_in_one_job_are_fine() -> None:
    job = copy.deepcopy(SNAKE_JOB)
    job["taskGroups"] = job.pop("task_groups")
    job["taskGroups"][0]["taskSpec"] = job["taskGroups"][0].pop("task_spec")
    assert validate_job(job, "us-central1") == []
