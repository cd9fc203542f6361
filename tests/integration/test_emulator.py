"""The emulator through the unmodified google-cloud-batch sync client, over gRPC on loopback."""

from __future__ import annotations

import re
import time
import uuid

import grpc
import pytest
from google.api_core import exceptions
from google.cloud import batch_v1

from tests.fixtures.emulator import PARENT, make_job, wait_terminal

State = batch_v1.JobStatus.State

# The example job of the image-streaming page (seed 000_ca1c9c21cee19cd9), placeholders filled in.
SEED_JOB_JSON = """
{
  "taskGroups": [
    {
      "taskCount": "1",
      "taskCountPerNode": "1",
      "taskSpec": {
        "runnables": [
          {
            "container": {
              "imageUri": "us-central1-docker.pkg.dev/emu-project/repo/app:1",
              "enableImageStreaming": true
            }
          }
        ]
      }
    }
  ],
  "allocationPolicy": {"instances": [{"policy": {"machineType": "e2-standard-4"}}]},
  "logsPolicy": {"destination": "CLOUD_LOGGING"}
}
"""


def test_seed_example_job_runs_to_succeeded(batch_client):
    job = batch_v1.Job.from_json(SEED_JOB_JSON)

    created = batch_client.create_job(parent=PARENT, job_id="seed-example", job=job)

    assert created.name == f"{PARENT}/jobs/seed-example"
    assert created.status.state == State.QUEUED
    assert created.uid
    assert created.task_groups[0].name == f"{PARENT}/jobs/seed-example/taskGroups/group0"
    assert created.task_groups[0].task_spec.runnables[0].container.enable_image_streaming
    done, seen = wait_terminal(batch_client, created.name)
    assert done.status.state == State.SUCCEEDED
    assert seen == ["QUEUED", "SCHEDULED", "RUNNING", "SUCCEEDED"]
    assert dict(done.status.task_groups["group0"].counts) == {"SUCCEEDED": 1}
    assert done.status.task_groups["group0"].instances[0].machine_type == "e2-standard-4"
    assert [e.description for e in done.status.status_events] == [
        f"Job state is set from QUEUED to SCHEDULED for job {created.name}.",
        f"Job state is set from SCHEDULED to RUNNING for job {created.name}.",
        f"Job state is set from RUNNING to SUCCEEDED for job {created.name}.",
    ]
    assert done.status.run_duration.total_seconds() > 0
    assert done.update_time > done.create_time


def test_failing_task_fails_the_job_with_its_exit_code(emulator, batch_client):
    emulator.set_scenario({"rules": [{"match": {"label": "fate=fail"}, "exit_codes": {"0": 3}}]})

    created = batch_client.create_job(parent=PARENT, job_id="fails", job=make_job(labels={"fate": "fail"}))
    done, _ = wait_terminal(batch_client, created.name)

    assert done.status.state == State.FAILED
    last = done.status.status_events[-1].description
    assert last.startswith(f"Job state is set from RUNNING to FAILED for job {created.name}.")
    assert "task with index 0 failed due to the following task event" in last
    assert last.endswith('with exit code 3."')
    task = batch_client.get_task(name=f"{created.name}/taskGroups/group0/tasks/0")
    assert task.status.state == batch_v1.TaskStatus.State.FAILED
    assert task.status.status_events[-1].task_execution.exit_code == 3
    assert task.status.status_events[-1].task_state == batch_v1.TaskStatus.State.FAILED


def test_get_missing_job_is_not_found(batch_client):
    with pytest.raises(exceptions.NotFound):
        batch_client.get_job(name=f"{PARENT}/jobs/never-created")


# -- retries -----------------------------------------------------------------------------------


def test_preemption_then_retry_succeeds(emulator, batch_client):
    emulator.set_scenario([{"match": {"label": "spot=yes"}, "preempt_first_attempt": True}])
    job = make_job(labels={"spot": "yes"}, max_retry_count=1, lifecycle=("RETRY_TASK", (50001,)))

    created = batch_client.create_job(parent=PARENT, job_id="preempted", job=job)
    done, _ = wait_terminal(batch_client, created.name)

    assert done.status.state == State.SUCCEEDED
    task = batch_client.get_task(name=f"{created.name}/taskGroups/group0/tasks/0")
    retry = next(e for e in task.status.status_events if e.task_execution.exit_code == 50001)
    assert "from RUNNING to PENDING" in retry.description
    assert "due to Spot VM preemption with exit code 50001." in retry.description
    assert [e.task_state.name for e in task.status.status_events].count("RUNNING") == 2


def test_preemption_without_retry_fails_with_50001(emulator, batch_client):
    emulator.set_scenario([{"preempt_first_attempt": True}])

    created = batch_client.create_job(parent=PARENT, job_id="preempted-once", job=make_job())
    done, _ = wait_terminal(batch_client, created.name)

    assert done.status.state == State.FAILED
    assert done.status.status_events[-1].description.endswith(
        'due to Spot VM preemption with exit code 50001."'
    )


def test_vm_failure_before_running_fails_the_job_from_scheduled(emulator, batch_client):
    emulator.set_scenario([{"match": {"label": "vm=lost"}, "fail_before_running": 50002}])

    created = batch_client.create_job(parent=PARENT, job_id="vm-lost", job=make_job(labels={"vm": "lost"}))
    done, seen = wait_terminal(batch_client, created.name)

    assert seen[-2:] == ["SCHEDULED", "FAILED"]
    assert "RUNNING" not in seen
    last = done.status.status_events[-1].description
    assert last.startswith(f"Job state is set from SCHEDULED to FAILED for job {created.name}.")
    assert last.endswith('due to Batch no longer receives VM updates with exit code 50002."')
    task = batch_client.get_task(name=f"{created.name}/taskGroups/group0/tasks/0")
    assert task.status.status_events[-1].task_execution.exit_code == 50002


def test_retry_task_policy_fails_codes_it_does_not_list(emulator, batch_client):
    emulator.set_scenario([{"exit_codes": {"*": [1, 0]}}])
    job = make_job(max_retry_count=3, lifecycle=("RETRY_TASK", (50001,)))

    created = batch_client.create_job(parent=PARENT, job_id="not-retried", job=job)
    done, _ = wait_terminal(batch_client, created.name)

    assert done.status.state == State.FAILED
    assert done.status.status_events[-1].description.endswith('with exit code 1."')


def test_no_policy_retries_any_nonzero_exit_up_to_max_retry_count(emulator, batch_client):
    emulator.set_scenario([{"exit_codes": {"1": [1, 1, 0]}}])
    job = make_job(task_count=2, max_retry_count=2)

    created = batch_client.create_job(parent=PARENT, job_id="retried", job=job)
    done, _ = wait_terminal(batch_client, created.name)

    assert done.status.state == State.SUCCEEDED
    assert dict(done.status.task_groups["group0"].counts) == {"SUCCEEDED": 2}


# -- cancel and delete ---------------------------------------------------------------------------


def test_cancel_goes_through_cancellation_in_progress_to_cancelled(emulator, batch_client):
    emulator.set_scenario({"phases": {"cancelling": 40}, "rules": [{"stay_running": True}]})
    created = batch_client.create_job(parent=PARENT, job_id="cancel-me", job=make_job())

    operation = batch_client.cancel_job(name=created.name)

    assert batch_client.get_job(name=created.name).status.state == State.CANCELLATION_IN_PROGRESS
    assert not operation.done()
    assert operation.metadata.verb == "cancel"
    assert operation.metadata.target == created.name
    result = operation.result(timeout=15)
    assert isinstance(result, batch_v1.CancelJobResponse)
    job = batch_client.get_job(name=created.name)
    assert job.status.state == State.CANCELLED
    assert job.status.status_events[-1].description == (
        f"Job state is set from CANCELLATION_IN_PROGRESS to CANCELLED for job {created.name}."
    )
    assert operation.metadata.end_time


def test_cancel_of_a_finished_job_is_refused(batch_client):
    created = batch_client.create_job(parent=PARENT, job_id="done-already", job=make_job())
    wait_terminal(batch_client, created.name)

    with pytest.raises(exceptions.FailedPrecondition):
        batch_client.cancel_job(name=created.name)


def test_delete_goes_through_deletion_in_progress_to_not_found(emulator, batch_client):
    emulator.set_scenario({"phases": {"deleting": 40}, "rules": [{"stay_running": True}]})
    created = batch_client.create_job(parent=PARENT, job_id="delete-me", job=make_job())

    operation = batch_client.delete_job(request={"name": created.name, "reason": "test"})

    assert batch_client.get_job(name=created.name).status.state == State.DELETION_IN_PROGRESS
    operation.result(timeout=15)
    with pytest.raises(exceptions.NotFound):
        batch_client.get_job(name=created.name)
    assert created.name not in [j.name for j in batch_client.list_jobs(parent=PARENT)]
    # The id is free again once the job is gone.
    assert batch_client.create_job(parent=PARENT, job_id="delete-me", job=make_job()).uid != created.uid


def test_cancel_and_delete_of_missing_jobs_are_not_found(batch_client):
    with pytest.raises(exceptions.NotFound):
        batch_client.cancel_job(name=f"{PARENT}/jobs/ghost")
    with pytest.raises(exceptions.NotFound):
        batch_client.delete_job(name=f"{PARENT}/jobs/ghost")


def test_stay_running_job_ends_on_demand(emulator, batch_client):
    emulator.set_scenario([{"match": {"command": "serve"}, "stay_running": True}])
    created = batch_client.create_job(parent=PARENT, job_id="server", job=make_job(commands=("serve",)))
    time.sleep(1.0)
    assert emulator.job(created.name).status.state == State.RUNNING

    emulator.fail_job("server", exit_code=137)

    done, _ = wait_terminal(batch_client, created.name)
    assert done.status.state == State.FAILED
    assert done.status.status_events[-1].description.endswith('with exit code 137."')
    with pytest.raises(ValueError):
        emulator.finish_job(created.name)
    with pytest.raises(KeyError):
        emulator.finish_job(f"{PARENT}/jobs/ghost")


# -- create errors and idempotency ---------------------------------------------------------------


def test_duplicate_job_id_is_already_exists(batch_client):
    batch_client.create_job(parent=PARENT, job_id="twice", job=make_job())

    with pytest.raises(exceptions.AlreadyExists):
        batch_client.create_job(parent=PARENT, job_id="twice", job=make_job())


def test_request_id_replay_returns_the_same_job(emulator, batch_client):
    request_id = str(uuid.uuid4())
    first = batch_client.create_job(
        request={"parent": PARENT, "job_id": "replayed", "job": make_job(), "request_id": request_id}
    )
    second = batch_client.create_job(
        request={"parent": PARENT, "job_id": "replayed", "job": make_job(), "request_id": request_id}
    )

    assert second.uid == first.uid
    assert len(emulator.jobs()) == 1
    assert emulator.call_counts["CreateJob"] == 2


def test_lost_create_response_is_recovered_with_the_same_request_id(emulator, batch_client):
    request = {"parent": PARENT, "job_id": "lost", "job": make_job(), "request_id": str(uuid.uuid4())}
    emulator.lose_next_response("CreateJob")

    with pytest.raises(exceptions.ServiceUnavailable):
        batch_client.create_job(request=request)  # CreateJob has no default retry

    assert [j.name for j in emulator.jobs()] == [f"{PARENT}/jobs/lost"]
    assert batch_client.create_job(request=request).name == f"{PARENT}/jobs/lost"
    with pytest.raises(exceptions.AlreadyExists):
        batch_client.create_job(parent=PARENT, job_id="lost", job=make_job())


def test_cancel_and_delete_request_ids_deduplicate_operations(emulator, batch_client):
    emulator.set_scenario([{"stay_running": True}])
    created = batch_client.create_job(parent=PARENT, job_id="ops", job=make_job())
    cancel_id, delete_id = str(uuid.uuid4()), str(uuid.uuid4())

    first = batch_client.cancel_job(request={"name": created.name, "request_id": cancel_id})
    again = batch_client.cancel_job(request={"name": created.name, "request_id": cancel_id})
    deleted = batch_client.delete_job(request={"name": created.name, "request_id": delete_id})
    deleted_again = batch_client.delete_job(request={"name": created.name, "request_id": delete_id})

    assert again.operation.name == first.operation.name
    assert deleted_again.operation.name == deleted.operation.name
    assert deleted.operation.name != first.operation.name


def test_a_cancel_request_id_must_be_a_version_4_uuid(emulator, batch_client):
    # batch.proto declares CancelJobRequest.request_id (google.api.field_info).format = UUID4.
    emulator.set_scenario([{"stay_running": True}])
    created = batch_client.create_job(parent=PARENT, job_id="uuid4-only", job=make_job())
    with pytest.raises(exceptions.InvalidArgument, match="version-4 UUID"):
        batch_client.cancel_job(
            request={"name": created.name, "request_id": str(uuid.uuid5(uuid.NAMESPACE_URL, "x"))}
        )
    assert emulator.job(created.name).status.state == State.QUEUED  # refused before taking effect
    # DeleteJob asks for "a valid UUID" only.
    batch_client.delete_job(
        request={"name": created.name, "request_id": str(uuid.uuid5(uuid.NAMESPACE_URL, "y"))}
    )


def test_a_held_job_is_ended_from_another_process_through_the_control_service(emulator, batch_client):
    from airflow_batchstream.emulator.client import finish_job

    emulator.set_scenario([{"stay_running": True}])
    created = batch_client.create_job(parent=PARENT, job_id="held", job=make_job(task_count=2))
    finish_job(created.name, 0, address=emulator.address)
    job, _ = wait_terminal(batch_client, created.name)
    assert job.status.state == State.SUCCEEDED
    with pytest.raises(grpc.RpcError) as over:
        finish_job(created.name, address=emulator.address)
    assert over.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    with pytest.raises(grpc.RpcError) as unknown:
        finish_job(f"{PARENT}/jobs/nope", address=emulator.address)
    assert unknown.value.code() == grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize(
    "job_id",
    ["Upper", "1starts-with-digit", "ends-with-", "under_score", "a" * 64, "-x"],
)
def test_bad_job_id_is_invalid_argument(batch_client, job_id):
    with pytest.raises(exceptions.InvalidArgument, match="job_id"):
        batch_client.create_job(parent=PARENT, job_id=job_id, job=make_job())


def test_empty_job_id_gets_a_generated_one(batch_client):
    created = batch_client.create_job(parent=PARENT, job=make_job())

    job_id = created.name.rsplit("/", 1)[1]
    assert re.fullmatch(r"[a-z]([a-z0-9-]{0,61}[a-z0-9])?", job_id)


@pytest.mark.parametrize(
    "parent",
    ["projects/emu-project", "projects/emu-project/locations/", "folders/x/locations/us-central1", "p/l"],
)
def test_bad_parent_is_invalid_argument(batch_client, parent):
    with pytest.raises(exceptions.InvalidArgument, match="parent"):
        batch_client.create_job(parent=parent, job_id="x", job=make_job())


@pytest.mark.parametrize("request_id", ["not-a-uuid", "00000000-0000-0000-0000-000000000000"])
def test_bad_request_id_is_invalid_argument(batch_client, request_id):
    with pytest.raises(exceptions.InvalidArgument, match="request_id"):
        batch_client.create_job(
            request={"parent": PARENT, "job_id": "x", "job": make_job(), "request_id": request_id}
        )


REGIONAL_TEMPLATE = "projects/emu-project/regions/us-central1/instanceTemplates/t"
OTHER_PROJECT_TEMPLATE = (
    "https://www.googleapis.com/compute/v1/projects/other-project/global/instanceTemplates/t"
)


def _instances(job: batch_v1.Job, **instance: object) -> None:
    job.allocation_policy.instances = [batch_v1.AllocationPolicy.InstancePolicyOrTemplate(**instance)]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda job: job.task_groups.clear(), "exactly one task group"),
        (lambda job: job.task_groups.append(job.task_groups[0]), "exactly one task group"),
        (lambda job: job.task_groups[0].task_spec.runnables.clear(), "at least one runnable"),
        (lambda job: setattr(job.task_groups[0].task_spec, "max_retry_count", 11), "maxRetryCount"),
        (lambda job: job.labels.update({"goog-x": "1"}), "reserved prefix"),
        (lambda job: job.labels.update({"batch-job-id": "mine"}), "predefined label"),
        (lambda job: job.allocation_policy.labels.update({"batch-node": ""}), "predefined label"),
        (
            lambda job: job.task_groups[0].task_spec.runnables[0].labels.update({"google-x": "1"}),
            "runnables\\[0\\].labels",
        ),
        (
            lambda job: job.allocation_policy.labels.update(
                {"goog-batch-dynamic-workload-scheduler": "true"}
            ),
            "reserved prefix",
        ),
        (lambda job: _instances(job, instance_template=REGIONAL_TEMPLATE), "regional"),
        (lambda job: _instances(job, instance_template=OTHER_PROJECT_TEMPLATE), "same project"),
        (
            lambda job: _instances(
                job,
                policy=batch_v1.AllocationPolicy.InstancePolicy(
                    boot_disk=batch_v1.AllocationPolicy.Disk(
                        snapshot="projects/emu-project/global/snapshots/s"
                    )
                ),
            ),
            "snapshot is not supported as boot disk",
        ),
        (
            lambda job: setattr(
                job,
                "allocation_policy",
                batch_v1.AllocationPolicy(
                    location=batch_v1.AllocationPolicy.LocationPolicy(
                        allowed_locations=["regions/europe-west1"]
                    )
                ),
            ),
            "outside the job's location",
        ),
    ],
)
def test_create_rejects_specs_batch_rejects(batch_client, mutate, message):
    job = make_job()
    mutate(job)

    with pytest.raises(exceptions.InvalidArgument, match=message):
        batch_client.create_job(parent=PARENT, job_id="bad-spec", job=job)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda job: job.labels.update({"goog-batch-dynamic-workload-scheduler": "true", "batch-team": "x"}),
        lambda job: job.allocation_policy.labels.update({"batch-job-name": "x"}),
        lambda job: _instances(job, instance_template="batch-template"),
        lambda job: _instances(job, instance_template="projects/emu-project/global/instanceTemplates/t"),
        lambda job: _instances(job, instance_template="projects/123456/global/instanceTemplates/t"),
        lambda job: _instances(
            job,
            policy=batch_v1.AllocationPolicy.InstancePolicy(
                boot_disk=batch_v1.AllocationPolicy.Disk(image="batch-debian")
            ),
        ),
    ],
    ids=[
        "dws-label",
        "batch-prefix",
        "template-name",
        "template-same-project",
        "template-by-number",
        "boot-image",
    ],
)
def test_create_accepts_what_batch_documents(batch_client, mutate):
    job = make_job()
    mutate(job)

    created = batch_client.create_job(parent=PARENT, job_id=f"ok-{uuid.uuid4().hex[:8]}", job=job)
    assert created.name.startswith(f"{PARENT}/jobs/ok-")


def test_request_bytes_that_do_not_parse_are_invalid_argument(emulator_address):
    with grpc.insecure_channel(emulator_address) as channel:
        create = channel.unary_unary("/google.cloud.batch.v1.BatchService/CreateJob")
        with pytest.raises(grpc.RpcError) as raised:
            create(b"\xff\xff\xff", timeout=5)

    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT


# -- lists -----------------------------------------------------------------------------------------


def test_list_jobs_pages_through_every_job(emulator, batch_client):
    names = [
        batch_client.create_job(parent=PARENT, job_id=f"list-{i}", job=make_job()).name for i in range(7)
    ]
    batch_client.create_job(
        parent="projects/emu-project/locations/europe-west1", job_id="elsewhere", job=make_job()
    )

    pager = batch_client.list_jobs(request={"parent": PARENT, "page_size": 3})
    pages = list(pager.pages)

    assert [len(p.jobs) for p in pages] == [3, 3, 1]
    assert [j.name for p in pages for j in p.jobs] == names
    descending = batch_client.list_jobs(request={"parent": PARENT, "order_by": "name desc"})
    assert [j.name for j in descending] == sorted(names, reverse=True)
    everywhere = batch_client.list_jobs(parent="projects/emu-project/locations/-")
    assert len(list(everywhere)) == 8
    assert emulator.call_counts["ListJobs"] == 5


def test_list_jobs_filters_by_state(emulator, batch_client):
    emulator.set_scenario([{"match": {"label": "run=forever"}, "stay_running": True}])
    forever = batch_client.create_job(
        parent=PARENT, job_id="forever", job=make_job(labels={"run": "forever"})
    )
    quick = batch_client.create_job(parent=PARENT, job_id="quick", job=make_job())
    wait_terminal(batch_client, quick.name)

    succeeded = batch_client.list_jobs(request={"parent": PARENT, "filter": 'status.state="SUCCEEDED"'})
    running = batch_client.list_jobs(request={"parent": PARENT, "filter": "status.state=RUNNING"})

    assert [j.name for j in succeeded] == [quick.name]
    assert [j.name for j in running] == [forever.name]
    with pytest.raises(exceptions.InvalidArgument, match="filter"):
        list(batch_client.list_jobs(request={"parent": PARENT, "filter": "labels.x=y AND z"}))


def test_list_tasks_pages_and_filters(emulator, batch_client):
    created = batch_client.create_job(
        parent=PARENT, job_id="tasks", job=make_job(task_count=5, parallelism=5)
    )
    wait_terminal(batch_client, created.name)
    parent = f"{created.name}/taskGroups/group0"

    pages = list(batch_client.list_tasks(request={"parent": parent, "page_size": 2}).pages)

    assert [len(p.tasks) for p in pages] == [2, 2, 1]
    assert [t.name for p in pages for t in p.tasks] == [f"{parent}/tasks/{i}" for i in range(5)]
    assert all(t.status.state == batch_v1.TaskStatus.State.SUCCEEDED for p in pages for t in p.tasks)
    assert len(list(batch_client.list_tasks(request={"parent": parent, "filter": "State=SUCCEEDED"}))) == 5
    assert list(batch_client.list_tasks(request={"parent": parent, "filter": "State=FAILED"})) == []
    with pytest.raises(exceptions.NotFound):
        batch_client.get_task(name=f"{parent}/tasks/5")
    with pytest.raises(exceptions.NotFound):
        list(batch_client.list_tasks(parent=f"{created.name}/taskGroups/group1"))


def test_task_counts_follow_parallelism(emulator, batch_client):
    emulator.set_scenario({"phases": {"running": 40}})  # 2 s of RUNNING at speed 20
    created = batch_client.create_job(parent=PARENT, job_id="wide", job=make_job(task_count=4, parallelism=2))

    deadline = time.monotonic() + 10
    while batch_client.get_job(name=created.name).status.state != State.RUNNING:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    counts = dict(batch_client.get_job(name=created.name).status.task_groups["group0"].counts)

    assert counts == {"RUNNING": 2, "PENDING": 2}


# -- faults --------------------------------------------------------------------------------------


def test_get_job_default_retry_rides_out_unavailable(emulator, batch_client):
    created = batch_client.create_job(parent=PARENT, job_id="flaky-api", job=make_job())
    emulator.reset_counts()
    emulator.inject_fault("GetJob", "UNAVAILABLE", count=2)

    job = batch_client.get_job(name=created.name)

    assert job.name == created.name
    assert emulator.call_counts == {"GetJob": 3}


def test_random_faults_hit_only_the_chosen_rpcs(emulator, batch_client):
    created = batch_client.create_job(parent=PARENT, job_id="quota", job=make_job())
    emulator.set_faults(fraction=1.0, codes=("RESOURCE_EXHAUSTED",), rpcs=("ListJobs",), seed=1)

    with pytest.raises(exceptions.ResourceExhausted):
        list(batch_client.list_jobs(parent=PARENT))  # not retried by the client's default policy
    assert batch_client.get_job(name=created.name).name == created.name

    emulator.set_faults()
    assert len(list(batch_client.list_jobs(parent=PARENT))) == 1


def test_fault_fraction_is_roughly_honoured_and_seeded(emulator_address, emulator):
    emulator.set_faults(fraction=0.3, codes=("UNAVAILABLE", "RESOURCE_EXHAUSTED"), seed=7)
    codes = []
    with grpc.insecure_channel(emulator_address) as channel:
        get = channel.unary_unary("/google.cloud.batch.v1.BatchService/GetJob")
        request = batch_v1.GetJobRequest.serialize(batch_v1.GetJobRequest(name=f"{PARENT}/jobs/none"))
        for _ in range(200):
            try:
                get(request, timeout=5)
            except grpc.RpcError as error:
                codes.append(error.code())

    faults = [c for c in codes if c != grpc.StatusCode.NOT_FOUND]
    assert 30 <= len(faults) <= 90
    assert set(faults) == {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED}


def test_latency_is_added(emulator, batch_client):
    emulator.set_faults(latency=0.3, rpcs=("ListJobs",))

    started = time.monotonic()
    list(batch_client.list_jobs(parent=PARENT))

    assert time.monotonic() - started >= 0.3


def test_unknown_rpc_names_are_refused(emulator):
    with pytest.raises(ValueError):
        emulator.set_faults(fraction=0.1, rpcs=("GetJobs",))
    with pytest.raises(ValueError):
        emulator.inject_fault("Create")


def test_read_quota_refuses_with_resource_exhausted_per_region(emulator, batch_client):
    created = batch_client.create_job(parent=PARENT, job_id="quota-reads", job=make_job())
    emulator.set_quota(reads_per_minute=3, window=60)

    for _ in range(3):
        batch_client.get_job(name=created.name)
    with pytest.raises(exceptions.ResourceExhausted, match="Read requests per minute per region"):
        batch_client.get_job(name=created.name)
    # Another region has its own quota, and mutations are not reads.
    elsewhere = "projects/emu-project/locations/europe-west1"
    assert list(batch_client.list_jobs(parent=elsewhere)) == []
    batch_client.create_job(parent=PARENT, job_id="quota-write", job=make_job())


def test_quota_window_slides(emulator, batch_client):
    emulator.set_quota(mutations_per_minute=1, window=0.5)
    batch_client.create_job(parent=PARENT, job_id="first", job=make_job())
    with pytest.raises(exceptions.ResourceExhausted, match="Mutation requests"):
        batch_client.create_job(parent=PARENT, job_id="second", job=make_job())

    time.sleep(0.6)
    batch_client.create_job(parent=PARENT, job_id="second", job=make_job())
    assert {j.name.rsplit("/", 1)[1] for j in emulator.jobs()} == {"first", "second"}


def test_lost_fraction_applies_the_call_but_fails_the_answer(emulator, batch_client):
    emulator.set_scenario([{"stay_running": True}])
    created = batch_client.create_job(parent=PARENT, job_id="lost-cancel", job=make_job())
    emulator.set_faults(lost_fraction=1.0, rpcs=("CancelJob",))

    with pytest.raises(exceptions.ServiceUnavailable):
        batch_client.cancel_job(name=created.name)

    assert emulator.job(created.name).status.state == State.CANCELLATION_IN_PROGRESS


def test_ipv6_addresses_are_bracketed():
    from airflow_batchstream.emulator.server import format_address

    assert format_address("::1", 8795) == "[::1]:8795"
    assert format_address("127.0.0.1", 8795) == "127.0.0.1:8795"


def test_locations_mixin_lists_batch_regions(batch_client):
    from google.cloud.location import locations_pb2

    listing = batch_client.list_locations(locations_pb2.ListLocationsRequest(name="projects/emu-project"))
    one = batch_client.get_location(locations_pb2.GetLocationRequest(name=PARENT))

    assert "us-central1" in [location.location_id for location in listing.locations]
    assert one.name == PARENT
    with pytest.raises(exceptions.NotFound):
        batch_client.get_location(
            locations_pb2.GetLocationRequest(name="projects/emu-project/locations/mars-1")
        )


# -- GPU jobs --------------------------------------------------------------------------------------


def gpu_job(machine_type: str = "", accelerator: str = "", count: int = 1, **job: object) -> batch_v1.Job:
    """``make_job`` on a GPU machine type and/or with attached accelerators, drivers installed."""
    spec = make_job(**job)
    policy = batch_v1.AllocationPolicy.InstancePolicy(machine_type=machine_type)
    if accelerator:
        policy.accelerators = [batch_v1.AllocationPolicy.Accelerator(type_=accelerator, count=count)]
    _instances(spec, policy=policy, install_gpu_drivers=True)
    return spec


@pytest.mark.parametrize(
    ("machine_type", "accelerator", "count", "message"),
    [
        ("n1-standard-8", "nvidia-tesla-h100", 1, 'accelerator type "nvidia-tesla-h100" is not available'),
        ("", "NVIDIA_TESLA_T4", 1, "is not available"),
        ("n1-standard-8", "nvidia-tesla-t4", 3, r"allowed numbers .* are: \[1, 2, 4\]"),
        ("n1-standard-8", "nvidia-l4", 1, r"are: \[none\]"),
        ("e2-standard-8", "nvidia-tesla-t4", 1, "cannot be used with accelerators"),
        ("c4a-standard-8", "nvidia-l4", 1, "cannot be used with accelerators"),
        ("g2-standard-8", "nvidia-l4", 4, "comes with 1 x nvidia-l4"),
    ],
)
def test_create_refuses_accelerators_the_machine_type_cannot_take(
    batch_client, machine_type, accelerator, count, message
):
    with pytest.raises(exceptions.InvalidArgument, match="Accelerator field is invalid") as refused:
        batch_client.create_job(parent=PARENT, job_id="gpu", job=gpu_job(machine_type, accelerator, count))
    assert re.search(message, str(refused.value)), refused.value
    assert list(batch_client.list_jobs(parent=PARENT)) == []  # nothing was created


@pytest.mark.parametrize(
    ("machine_type", "accelerator", "count"),
    [
        ("n1-standard-8", "nvidia-tesla-t4", 2),
        ("g2-standard-8", "", 1),
        ("g2-standard-24", "nvidia-l4", 2),  # the built-in GPUs, repeated
        ("a2-highgpu-1g", "nvidia-a100-40gb", 1),  # A2's other name
        ("", "nvidia-l4", 1),  # Batch picks the machine type
    ],
)
def test_create_accepts_gpus_the_machine_type_takes(batch_client, machine_type, accelerator, count):
    created = batch_client.create_job(
        parent=PARENT, job_id="gpu", job=gpu_job(machine_type, accelerator, count)
    )
    job, _ = wait_terminal(batch_client, created.name)
    assert job.status.state == State.SUCCEEDED
    assert job.allocation_policy.instances[0].install_gpu_drivers is True


def test_a_gpu_job_held_for_capacity_waits_in_queued_until_released(emulator, batch_client):
    emulator.set_scenario([{"match": {"image": "*/gpu-*"}, "stay_queued": True}])
    image = "us-central1-docker.pkg.dev/emu-project/repo/gpu-infer:1"
    created = batch_client.create_job(
        parent=PARENT, job_id="no-capacity", job=gpu_job("g2-standard-8", image=image, task_count=2)
    )
    # The emulator holds it: whatever time passes, it stays QUEUED with no task assigned.
    queued = emulator.job(created.name)
    assert queued.status.state == State.QUEUED
    assert dict(queued.status.task_groups["group0"].counts) == {"PENDING": 2}
    with pytest.raises(ValueError, match="not held"):
        emulator.release_job(batch_client.create_job(parent=PARENT, job_id="other", job=make_job()).name)

    emulator.release_job(created.name)  # capacity arrives

    job, seen = wait_terminal(batch_client, created.name)
    assert job.status.state == State.SUCCEEDED
    assert seen[-3:] == ["SCHEDULED", "RUNNING", "SUCCEEDED"]
    with pytest.raises(ValueError, match="not held"):
        emulator.release_job(created.name)


def test_a_held_gpu_job_is_released_from_another_process_or_cancelled(emulator, batch_client):
    from airflow_batchstream.emulator.client import release_job

    emulator.set_scenario([{"stay_queued": True}])
    released = batch_client.create_job(parent=PARENT, job_id="released", job=gpu_job("g2-standard-4"))
    cancelled = batch_client.create_job(parent=PARENT, job_id="cancelled", job=gpu_job("g2-standard-4"))

    release_job(released.name, address=emulator.address)
    batch_client.cancel_job(name=cancelled.name)

    assert wait_terminal(batch_client, released.name)[0].status.state == State.SUCCEEDED
    job, _ = wait_terminal(batch_client, cancelled.name)
    assert [e.description.split(" for job")[0] for e in job.status.status_events] == [
        "Job state is set from QUEUED to CANCELLATION_IN_PROGRESS",
        "Job state is set from CANCELLATION_IN_PROGRESS to CANCELLED",
    ]
    with pytest.raises(grpc.RpcError) as over:
        release_job(cancelled.name, address=emulator.address)
    assert over.value.code() == grpc.StatusCode.FAILED_PRECONDITION


def test_a_gpu_jobs_tasks_see_batch_variables(emulator, batch_client):
    emulator.set_scenario([{"preempt_first_attempt": True, "stay_running": True}])
    job = gpu_job("n1-standard-8", "nvidia-tesla-t4", task_count=3, max_retry_count=1)
    job.task_groups[0].task_spec.environment = batch_v1.Environment(variables={"MODEL": "resnet"})
    created = batch_client.create_job(parent=PARENT, job_id="gpu-env", job=job)
    # Each task's first attempt is preempted (50001) and retried; the retry runs until finished.
    for index in range(3):
        deadline = time.monotonic() + 15
        while emulator.task_environment(created.name, index)["BATCH_TASK_RETRY_ATTEMPT"] != "1":
            assert time.monotonic() < deadline, emulator.task_environment(created.name, index)
            time.sleep(0.02)
        assert emulator.task_environment(created.name, index) == {
            "MODEL": "resnet",
            "BATCH_TASK_INDEX": str(index),
            "BATCH_TASK_COUNT": "3",
            "BATCH_TASK_RETRY_ATTEMPT": "1",
        }
    with pytest.raises(KeyError):
        emulator.task_environment(created.name, 3)
    emulator.finish_job(created.name)
