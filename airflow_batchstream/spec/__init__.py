"""Pure job-spec logic: parameters in, a Batch v1 Job dict or problems out.

Nothing here imports Airflow or ``google.*``: it runs at DAG-parse time and in the CLI.
"""

from __future__ import annotations

from airflow_batchstream.spec.images import ImageRef, location_contains, parse_image
from airflow_batchstream.spec.names import camel_case_fields
from airflow_batchstream.spec.policy import DEFAULT_POLICY, ValidationPolicy
from airflow_batchstream.spec.problems import Problem, Severity, errors, format_problems, warnings
from airflow_batchstream.spec.render import render_job
from airflow_batchstream.spec.validate import (
    validate_job,
    validate_job_id,
    validate_location,
    validate_request_id,
)

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
