"""The emulator's Cloud Logging: ListLogEntries through the real google-cloud-logging client, on the
Batch address, with entries labelled as Batch labels them."""

from __future__ import annotations

import time

import grpc
import pytest
from google.api_core import exceptions as api_exceptions
from google.cloud import batch_v1
from google.cloud.logging_v2.services.logging_service_v2 import LoggingServiceV2Client
from google.cloud.logging_v2.services.logging_service_v2.transports import LoggingServiceV2GrpcTransport

from airflow_batchstream.emulator.scenario import Scenario, ScenarioError
from tests.fixtures.emulator import PARENT, make_job, wait_terminal

PROJECT = PARENT.split("/")[1]
LOG = f"projects/{PROJECT}/logs/batch_task_logs"


@pytest.fixture
def logging_client(emulator_address):
    channel = grpc.insecure_channel(emulator_address)
    yield LoggingServiceV2Client(transport=LoggingServiceV2GrpcTransport(channel=channel))
    channel.close()


def submit(batch_client, job_id: str, *, command: str = "app", task_count: int = 2, logs: bool = True):
    job = make_job(commands=(command,), task_count=task_count)
    if logs:
        job.logs_policy = batch_v1.LogsPolicy(destination=batch_v1.LogsPolicy.Destination.CLOUD_LOGGING)
    return batch_client.create_job(parent=PARENT, job_id=job_id, job=job)


def entries(client, filter_: str, page_size: int = 0, order_by: str = "") -> list:
    request = {"resource_names": [f"projects/{PROJECT}"], "filter": filter_, "page_size": page_size}
    if order_by:
        request["order_by"] = order_by
    return list(client.list_log_entries(request=request))


def test_each_printed_line_is_an_entry_labelled_as_batch_labels_it(emulator, batch_client, logging_client):
    emulator.set_scenario(
        [
            {
                "match": {"command": "noisy"},
                "exit_codes": {"1": 2},
                "output": {"*": ["hi {task}"], "1": ["try {attempt}", {"stderr": "oops"}]},
            }
        ]
    )
    job = submit(batch_client, "labelled", command="noisy")
    wait_terminal(batch_client, job.name)
    found = entries(logging_client, f'logName="{LOG}" AND labels.job_uid="{job.uid}"')
    # In time order: each attempt's lines are spread over its RUNNING time.
    assert [(e.labels["task_id"], e.severity, e.text_payload) for e in found] == [
        (f"{job.uid}-group0-1", 200, "try 0"),
        (f"{job.uid}-group0-0", 200, "hi 0"),
        (f"{job.uid}-group0-1", 500, "oops"),
    ]
    first = found[0]
    assert first.log_name == LOG
    assert first.resource.type == "batch.googleapis.com/Job"
    assert first.resource.labels["job_id"] == job.uid
    assert first.labels["job_uid"] == job.uid
    assert first.labels["task_group_name"].endswith("/locations/us-central1/jobs/labelled/taskGroups/group0")
    assert len({e.insert_id for e in found}) == 3
    assert [e.timestamp for e in found] == sorted(e.timestamp for e in found)


def test_default_lines_per_attempt_and_the_exit_line(emulator, batch_client, logging_client):
    emulator.set_scenario([{"match": {"command": "flaky"}, "exit_codes": {"*": [7, 0]}}])
    job = submit(
        batch_client, "retried", command="flaky", task_count=1, logs=False
    )  # no Cloud Logging: no entries at all
    wait_terminal(batch_client, job.name)
    assert entries(logging_client, f'labels.job_uid="{job.uid}"') == []
    job = batch_client.create_job(
        parent=PARENT,
        job_id="retried-logged",
        job=batch_v1.Job(
            task_groups=[
                batch_v1.TaskGroup(
                    task_spec=batch_v1.TaskSpec(
                        runnables=[
                            batch_v1.Runnable(
                                container=batch_v1.Runnable.Container(
                                    image_uri="us-central1-docker.pkg.dev/emu-project/repo/app:1",
                                    commands=["flaky"],
                                )
                            )
                        ],
                        max_retry_count=1,
                    )
                )
            ],
            logs_policy=batch_v1.LogsPolicy(destination=batch_v1.LogsPolicy.Destination.CLOUD_LOGGING),
        ),
    )
    wait_terminal(batch_client, job.name)
    texts = [e.text_payload for e in entries(logging_client, f'labels.job_uid="{job.uid}"')]
    assert texts == [
        "task 0 attempt 0: started",
        "task 0 attempt 0: working",
        "task 0 attempt 0: exiting with code 7",
        "task 0 attempt 1: started",
        "task 0 attempt 1: working",
        "task 0 attempt 1: done",
    ]


def test_lines_appear_when_printed_and_pages_follow_the_query(emulator, batch_client, logging_client):
    emulator.set_scenario(
        {
            "phases": {"running": 100},  # 5 wall seconds at the test speed
            "rules": [{"match": {"command": "many"}, "output": {"*": [f"n{n}" for n in range(9)]}}],
        }
    )
    job = submit(batch_client, "paged", command="many", task_count=3)
    query = f'logName="{LOG}" AND labels.job_uid="{job.uid}" AND severity<ERROR'
    early = entries(logging_client, query)
    assert len(early) < 27  # the tasks are still printing
    wait_terminal(batch_client, job.name)
    emulator.reset_counts()
    paged = entries(logging_client, query, page_size=10)
    assert len(paged) == 27 and emulator.call_counts["ListLogEntries"] == 3
    newest_first = entries(logging_client, query, order_by="timestamp desc")
    assert [e.insert_id for e in newest_first] == [e.insert_id for e in reversed(paged)]
    later = paged[20].timestamp.isoformat().replace("+00:00", "Z")
    assert len(entries(logging_client, f'{query} AND timestamp>"{later}"')) < 7


@pytest.mark.parametrize(
    "bad",
    [
        'labels.job_uid="a" AND labels.x="b" OR labels.y="c"',  # AND and OR unparenthesized
        'timestamp>="yesterday"',
        "just-a-word",
        "labels.job_uid=(",
        "x" * 20_001,
    ],
)
def test_a_filter_outside_the_subset_is_invalid_argument(emulator, logging_client, bad):
    with pytest.raises(api_exceptions.InvalidArgument):
        entries(logging_client, bad)


def test_the_read_quota_answers_resource_exhausted(emulator, batch_client, logging_client):
    emulator.set_quota(logging_reads_per_minute=3, window=1.0)
    for _ in range(3):
        entries(logging_client, "")
    with pytest.raises(api_exceptions.ResourceExhausted, match="ReadRequestsPerMinutePerProject"):
        entries(logging_client, "")
    assert emulator.quota_refusals == {"logging_read": 1}
    time.sleep(1.1)
    entries(logging_client, "")  # the window moved on


def test_scenario_output_of_the_wrong_shape_names_the_place():
    with pytest.raises(ScenarioError, match=r"rules\[0\]\.output\['1'\]\[0\]"):
        Scenario.from_obj([{"output": {"1": [{"stdout": "a", "stderr": "b"}]}}])
    with pytest.raises(ScenarioError, match=r"attempt"):
        Scenario.from_obj([{"output": {"*": [{"stderr": "a", "attempt": -1}]}}])
    with pytest.raises(ScenarioError, match="a task index"):
        Scenario.from_obj([{"output": {"x": ["a"]}}])
