"""A local ``google.cloud.batch.v1.BatchService``: the real gRPC protocol on loopback.

Google ships no Batch emulator; this one lets every example and integration test run without a
Google account. It serves CreateJob, GetJob, ListJobs, DeleteJob, CancelJob, GetTask, ListTasks
and the ``google.longrunning.Operations`` calls behind DeleteJob/CancelJob, using the message
types of the installed google-cloud-batch, so the unmodified clients work against it.

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

In-process use::

    from airflow_batchstream.emulator import BatchEmulator

    with BatchEmulator(speed=20, scenario={"rules": [...]}) as emulator:
        address = emulator.address          # "127.0.0.1:PORT"
        ...
        emulator.job(name).status.state     # live Job messages
        emulator.call_counts                # {"CreateJob": 1, "GetJob": 42}

Standalone: ``batchstream emulator --port 8795 --speed 10 --scenario FILE``, then
``export BATCHSTREAM_EMULATOR_HOST=127.0.0.1:8795``.

Time: a job's future is computed when it is created (see :mod:`.timeline`) and read lazily, so
idle jobs cost nothing. Phase lengths are emulated seconds; a job created with ``speed=S`` lives
them ``S`` times faster. All timestamps and ``runDuration`` are wall-clock. Scenario format:
:mod:`.scenario`.

Importing this package imports grpc and google.*; nothing outside it imports it at parse time.
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
