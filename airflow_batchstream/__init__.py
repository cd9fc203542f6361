"""airflow-batchstream: Google Cloud Batch container jobs with Image Streaming, from Airflow.

Public names resolve lazily so that ``import airflow_batchstream`` stays cheap at DAG-parse time.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_LAZY = {
    "BatchStreamJobOperator": "airflow_batchstream.operators",
    "BatchStreamJobSensor": "airflow_batchstream.sensors",
    "BatchStreamJobTrigger": "airflow_batchstream.triggers",
    "BatchStreamHook": "airflow_batchstream.hooks",
    "ValidationPolicy": "airflow_batchstream.jobspec.policy",
}

__all__ = [
    "BatchStreamHook",
    "BatchStreamJobOperator",
    "BatchStreamJobSensor",
    "BatchStreamJobTrigger",
    "ValidationPolicy",
    "__version__",
]

if TYPE_CHECKING:
    from airflow_batchstream.hooks import BatchStreamHook
    from airflow_batchstream.jobspec.policy import ValidationPolicy
    from airflow_batchstream.operators import BatchStreamJobOperator
    from airflow_batchstream.sensors import BatchStreamJobSensor
    from airflow_batchstream.triggers import BatchStreamJobTrigger


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'airflow_batchstream' has no attribute {name!r}")
