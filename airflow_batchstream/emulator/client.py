"""Unmodified google-cloud-batch clients pointed at an emulator (for tests and scripts).

The production hook builds its own clients the same way; these helpers only save typing.
"""

from __future__ import annotations

import json

import grpc
from google.cloud.batch_v1 import BatchServiceAsyncClient, BatchServiceClient
from google.cloud.batch_v1.services.batch_service.transports import (
    BatchServiceGrpcAsyncIOTransport,
    BatchServiceGrpcTransport,
)

from airflow_batchstream.config import EMULATOR_ENV, emulator_host
from airflow_batchstream.emulator.server import CONTROL_SERVICE


def emulator_address(address: str | None = None) -> str:
    """``address``, else ``$BATCHSTREAM_EMULATOR_HOST``; ValueError if neither is set."""
    address = address or emulator_host()
    if not address:
        raise ValueError(f"no emulator address given and {EMULATOR_ENV} is not set")
    return address


def sync_client(address: str | None = None) -> BatchServiceClient:
    """A BatchServiceClient over an insecure channel to the emulator (no credentials needed)."""
    channel = grpc.insecure_channel(emulator_address(address))
    return BatchServiceClient(transport=BatchServiceGrpcTransport(channel=channel))


def async_client(address: str | None = None) -> BatchServiceAsyncClient:
    """A BatchServiceAsyncClient over an insecure ``grpc.aio`` channel; create it inside the
    event loop that will use it."""
    channel = grpc.aio.insecure_channel(emulator_address(address))
    return BatchServiceAsyncClient(transport=BatchServiceGrpcAsyncIOTransport(channel=channel))


def finish_job(name: str, exit_code: int = 0, *, address: str | None = None, timeout: float = 30.0) -> None:
    """End a job's unfinished tasks now with ``exit_code``, in an emulator running in another
    process (``BatchEmulator.finish_job`` over gRPC): how a test ends a job it holds RUNNING.

    :raises grpc.RpcError: NOT_FOUND for an unknown job, FAILED_PRECONDITION for one already over.
    """
    with grpc.insecure_channel(emulator_address(address)) as channel:
        finish = channel.unary_unary(f"/{CONTROL_SERVICE}/FinishJob")
        finish(json.dumps({"name": name, "exit_code": exit_code}).encode(), timeout=timeout)


def release_job(name: str, *, address: str | None = None, timeout: float = 30.0) -> None:
    """Let a job a ``stay_queued`` scenario rule holds in QUEUED go on now, in an emulator running
    in another process (``BatchEmulator.release_job`` over gRPC).

    :raises grpc.RpcError: NOT_FOUND for an unknown job, FAILED_PRECONDITION for one not held.
    """
    with grpc.insecure_channel(emulator_address(address)) as channel:
        release = channel.unary_unary(f"/{CONTROL_SERVICE}/ReleaseJob")
        release(json.dumps({"name": name}).encode(), timeout=timeout)
