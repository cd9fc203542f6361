"""The conditions of the job as a whole and of the CreateJob request: location, job id, request id,
size, task groups, priority, and the validator's own failure.

Checked by :mod:`airflow_batchstream.jobspec.validate` (location, job id, request id, a failing
rule) and :mod:`airflow_batchstream.jobspec.rules.job`.
"""

from __future__ import annotations

from airflow_batchstream.jobspec.catalog.model import (
    DOC,
    INFER,
    PROTO,
    QUOTA_ERROR,
    QUOTAS,
    Certainty,
    Condition,
    Source,
    proto,
)

CONDITIONS: tuple[Condition, ...] = (
    Condition(
        "J-PARENT",
        "not-a-region",
        "the job location is not a region (a zone, empty, or malformed)",
        "error",
        PROTO,
        (
            proto(
                "batch.proto CreateJobRequest.parent", 'Pattern: "projects/{project}/locations/{location}".'
            ),
        ),
    ),
    Condition(
        "J-PARENT",
        "unknown-region",
        "the job location is not in the list of Batch regions",
        "policy",
        INFER,
        policy="unknown_region",
        note="the list is cloud.google.com/batch/docs/locations as it was; Google adds regions, so "
        "the list kept here may be older than the project",
    ),
    Condition(
        "J-ID",
        "syntax",
        "the job id is not 1-63 of [a-z0-9-], starting with a letter, not ending with '-'",
        "error",
        PROTO,
        (
            proto(
                "batch.proto CreateJobRequest.job_id",
                "This field should contain at most 63 characters and must start with lowercase "
                "characters. Only lowercase characters, numbers and '-' are accepted. The '-' "
                "character cannot be the first or the last one.",
            ),
        ),
    ),
    Condition(
        "J-REQID",
        "uuid",
        "the request id is not a UUID, or is the zero UUID",
        "error",
        PROTO,
        (
            proto(
                "batch.proto CreateJobRequest.request_id",
                "The request ID must be a valid UUID with the exception that zero UUID is not "
                "supported (00000000-0000-0000-0000-000000000000).",
            ),
        ),
    ),
    Condition(
        "J-SIZE",
        "limit",
        "the job's compact JSON is larger than 1 MB (1,000,000 bytes)",
        "error",
        DOC,
        (Source(QUOTAS, "Size of the job definition | 1 MB"), QUOTA_ERROR),
        note="the page measures the definition as roughly the size of the jobs.create REST request "
        "or the gcloud --config file, i.e. its JSON; MB is read as 10^6 bytes, the stricter reading, "
        "so a job that passes fits either",
    ),
    Condition(
        "J-TG",
        "missing",
        "no taskGroups",
        "error",
        PROTO,
        (proto("job.proto Job.task_groups", "Required. TaskGroups in the Job."),),
    ),
    Condition(
        "J-TG",
        "count",
        "other than exactly one task group",
        "error",
        PROTO,
        (proto("job.proto Job.task_groups", "Only one TaskGroup is supported now."),),
    ),
    Condition(
        "J-PRIORITY",
        "range",
        "priority outside [0, 100)",
        "error",
        PROTO,
        (proto("job.proto Job.priority", "The valid value range is [0, 100)."),),
    ),
    Condition(
        "J-INTERNAL",
        "failed",
        "a rule failed on this input (a bug in the validator; the other rules still ran)",
        "error",
        Certainty.INTERNAL,
        note="the job could not be checked completely, so it is not submitted",
    ),
)
