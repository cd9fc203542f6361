"""What the operator and the sensor share: their hook, built on first use."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow_batchstream.hooks import BatchStreamHook


class UsesBatchStreamHook:
    """Mixin for tasks with ``gcp_conn_id`` and ``impersonation_chain``.

    The hook module pulls in grpc and google.api_core, so it is imported here, inside
    ``execute``/``poke``, and never when a DAG file is parsed.
    """

    gcp_conn_id: str
    impersonation_chain: str | Sequence[str] | None

    @cached_property
    def hook(self) -> BatchStreamHook:
        from airflow_batchstream.hooks import BatchStreamHook

        return BatchStreamHook(gcp_conn_id=self.gcp_conn_id, impersonation_chain=self.impersonation_chain)
