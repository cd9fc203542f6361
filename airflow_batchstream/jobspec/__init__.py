"""Pure job-spec logic: parameters in, a Batch v1 Job dict or problems out.

Nothing here imports Airflow or ``google.*``: it runs at DAG-parse time and in the CLI. The names
below resolve lazily, so that importing one module of the package (the operator imports the
parameter table) does not load the others (the validator, the renderer).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_batchstream.jobspec.images import ImageRef, location_contains, parse_image
    from airflow_batchstream.jobspec.names import camel_case_fields
    from airflow_batchstream.jobspec.policy import DEFAULT_POLICY, ValidationPolicy
    from airflow_batchstream.jobspec.problems import Problem, Severity, errors, format_problems, warnings
    from airflow_batchstream.jobspec.render import render_job
    from airflow_batchstream.jobspec.validate import (
        validate_job,
        validate_job_id,
        validate_location,
        validate_request_id,
    )

_HOMES = {
    "DEFAULT_POLICY": "policy",
    "ImageRef": "images",
    "Problem": "problems",
    "Severity": "problems",
    "ValidationPolicy": "policy",
    "camel_case_fields": "names",
    "errors": "problems",
    "format_problems": "problems",
    "location_contains": "images",
    "parse_image": "images",
    "render_job": "render",
    "validate_job": "validate",
    "validate_job_id": "validate",
    "validate_location": "validate",
    "validate_request_id": "validate",
    "warnings": "problems",
}

__all__ = [
    "DEFAULT_POLICY",
    "ImageRef",
    "Problem",
    "Severity",
    "ValidationPolicy",
    "camel_case_fields",
    "errors",
    "format_problems",
    "location_contains",
    "parse_image",
    "render_job",
    "validate_job",
    "validate_job_id",
    "validate_location",
    "validate_request_id",
    "warnings",
]


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(importlib.import_module(f"airflow_batchstream.jobspec.{_HOMES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
