"""A local ``google.cloud.batch.v1.BatchService``: the real gRPC protocol on loopback.

Google ships no Batch emulator; this one lets every example and integration test run without a
Google account. It serves CreateJob, GetJob, ListJobs, DeleteJob, CancelJob, GetTask, ListTasks,
the ``google.longrunning.Operations`` calls behind DeleteJob/CancelJob and the Locations mixin
(ListLocations, GetLocation), using the message types of the installed google-cloud-batch, so the
unmodified clients work against it.

Connecting (this is exactly what the hook does when ``BATCHSTREAM_EMULATOR_HOST`` is set)::

    import grpc
    from google.cloud.batch_v1 import BatchServiceAsyncClient, BatchServiceClient
    from google.cloud.batch_v1.services.batch_service.transports import (
        BatchServiceGrpcAsyncIOTransport,
        BatchServiceGrpcTransport,
    )

    client = BatchServiceClient(
        transport=BatchServiceGrpcTransport(channel=grpc.insecure_channel(address))
    )
    # inside the event loop that will use it:
    aclient = BatchServiceAsyncClient(
        transport=BatchServiceGrpcAsyncIOTransport(channel=grpc.aio.insecure_channel(address))
    )

(:mod:`airflow_batchstream.emulator.client` has ``sync_client(address)`` and
``async_client(address)`` doing just that.) Passing a channel skips credential lookup entirely.

In-process use (tests: the ``emulator`` fixture in ``tests/fixtures/emulator.py`` gives one)::

    from airflow_batchstream.emulator import BatchEmulator

    with BatchEmulator(speed=20, scenario={"rules": [...]}) as emulator:   # or .start(host, port)
        address = emulator.address          # "127.0.0.1:PORT"
        emulator.jobs(); emulator.job(name)  # live Job messages with their current state
        emulator.call_counts                 # {"CreateJob": 1, "GetJob": 42}; .reset_counts()
        emulator.set_scenario(...)           # fate of jobs created from now on
        emulator.set_faults(fraction=0.3, codes=("UNAVAILABLE",), rpcs=None, latency=0.0, seed=1)
        emulator.inject_fault("GetJob", "UNAVAILABLE", count=2)   # the next 2 GetJob calls fail
        emulator.lose_next_response("CreateJob")  # takes effect, but the client gets UNAVAILABLE
        emulator.set_quota(reads_per_minute=15000, mutations_per_minute=6000)
        emulator.finish_job(name, exit_code=0); emulator.fail_job(name, exit_code=1)
        emulator.release_job(name)           # a job a stay_queued rule holds in QUEUED goes on
        emulator.task_environment(name, 0)   # {"BATCH_TASK_INDEX": "0", ...} as task 0 sees it
        emulator.reset()                     # no jobs, counts, faults; initial scenario

    # Google's path instead of plain gRPC: TLS, and a check of the callers' tokens.
    BatchEmulator(authenticate=lambda metadata: None).start("127.0.0.1", 0, tls=(key_pem, cert_pem))

From another process (an e2e test ending a job it holds RUNNING), the emulator's own control
service: ``airflow_batchstream.emulator.client.finish_job(name, exit_code=0, address=...)`` and
``release_job(name, address=...)``.

Standalone: ``batchstream emulator --port 8795 --speed 10 --scenario FILE``, then
``export BATCHSTREAM_EMULATOR_HOST=127.0.0.1:8795``.

Time: a job's future is computed when it is created (see :mod:`.timeline`) and read lazily, so
idle jobs cost nothing. Phase lengths are emulated seconds; a job created with ``speed=S`` lives
them ``S`` times faster. All timestamps and ``runDuration`` are wall-clock. Scenario format:
:mod:`.scenario`.

Fidelity notes (where Batch's behaviour is undocumented, the emulator's choice is marked *inferred*):

- A CancelJob ``request_id`` must be a version-4 UUID (``format = UUID4`` in batch.proto); CreateJob
  and DeleteJob take any valid non-zero UUID.
- CreateJob rejects what Batch documents rejecting (bad job id/parent/request id, not exactly one
  task group, no runnables, reserved labels, allowedLocations across regions or outside the job's
  region, maxRetryCount outside [0, 10], > 1 MB); the rest is the validator's job, not the API's.
  It also refuses accelerators Compute Engine cannot give the machine type (an unknown type, an N1
  count the type does not come in, GPUs on a series without them, other than an
  accelerator-optimized type's own): Batch documents none of these refusals, and the message
  follows the one it was seen giving ("Accelerator field is invalid", *inferred*).
- A job a ``stay_queued`` rule matches waits in QUEUED, no task assigned, as a GPU job waits for
  capacity, until ``release_job`` (then its phases run from that moment), a cancel or a delete.
- A job fails at its first finally-failed task; its unfinished tasks end UNEXECUTED, as do the
  unfinished tasks of a cancelled job (*inferred*). A retried attempt is reported as a task event
  ``RUNNING -> PENDING ... with exit code N`` (*inferred*).
- CancelJob on a SUCCEEDED/FAILED/CANCELLED or deleting job is FAILED_PRECONDITION (*inferred*);
  a second cancel/delete while one is in progress returns the pending operation.
- ``maxRunDuration`` is honoured: a longer attempt ends with exit code 50005.
- ListJobs filters understand only ``status.state=STATE`` (Batch documents no grammar); ListTasks
  ``State=STATE``. Default order is creation time.
- Names keep the project as given (Batch shows the project *number* in event texts).
- ``runDuration`` is refreshed at each state change, not continuously (renders are cached).

Where things are: ``server.py`` (the gRPC services, the control service, fault injection hooks),
``store.py`` (jobs, operations, request-id replay: what each RPC does), ``validation.py`` (what
each RPC refuses, a model deliberately separate from the validator), ``render.py`` (a job's
timeline as the messages a client receives), ``timeline.py`` (a job's future, computed at
creation), ``scenario.py`` (scenario files), ``faults.py`` (faults and quotas), ``client.py``
(clients pointed at an emulator).

Importing the package is light (its names resolve lazily); its server, store, validation, render,
faults and client modules import grpc and google.*, and nothing outside it imports them at parse
time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow_batchstream.emulator.scenario import Match, Phases, Rule, Scenario
    from airflow_batchstream.emulator.server import BatchEmulator

__all__ = ["BatchEmulator", "Match", "Phases", "Rule", "Scenario"]

_HOMES = {
    "BatchEmulator": "airflow_batchstream.emulator.server",
    "Match": "airflow_batchstream.emulator.scenario",
    "Phases": "airflow_batchstream.emulator.scenario",
    "Rule": "airflow_batchstream.emulator.scenario",
    "Scenario": "airflow_batchstream.emulator.scenario",
}


def __getattr__(name: str):
    # Lazy, so `import airflow_batchstream.emulator.timeline` (pure) stays light.
    if name in _HOMES:
        import importlib

        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
