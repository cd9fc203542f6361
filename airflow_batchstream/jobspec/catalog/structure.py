"""The conditions of the job's structure: field names, JSON types, durations, oneofs, output-only
and deprecated fields.

Checked by :mod:`airflow_batchstream.jobspec.rules.structure`.
"""

from __future__ import annotations

from airflow_batchstream.jobspec.catalog.model import (
    PROTO,
    Condition,
    Source,
    proto,
)

PROTOJSON = "https://protobuf.dev/programming-guides/json/"

CONDITIONS: tuple[Condition, ...] = (
    Condition(
        "J-FIELD",
        "unknown",
        "a field name the v1 schema does not have, in either spelling (nearest name suggested)",
        "error",
        PROTO,
        (
            Source(
                "google-cloud-batch 0.22.4 Job.from_json (the v1 protos)",
                'Message type "google.cloud.batch.v1.Runnable" has no field named "type"',
            ),
        ),
        note="camelCase JSON names and the protos' snake_case names are both accepted, as gcloud "
        "and Job.from_json accept them (protobuf.dev: 'Parsers accept both the lowerCamelCase name "
        "... and the original proto field name')",
    ),
    Condition(
        "J-FIELD",
        "both-spellings",
        "one field written twice in one object, camelCase and snake_case (taskCount and task_count)",
        "error",
        PROTO,
        (
            Source(
                "protocolbuffers/protobuf conformance/binary_json_conformance_suite.cc "
                "(FieldNameDuplicateDifferentCasing)",
                "Duplicated field names are not allowed.",
            ),
        ),
        note="newer conformance suites accept last-wins or a parse failure, and Job.from_json merges "
        "the two silently: which value Batch would use is undefined",
    ),
    Condition(
        "J-TYPE",
        "kind",
        "a JSON value of the wrong type for its field: object, array, string, boolean, integer in "
        "the int32/int64 range, enum name or number, RFC 3339 timestamp",
        "error",
        PROTO,
        (
            Source(
                "google-cloud-batch 0.22.4 Job.from_json (the v1 protos)",
                "repeated field instances must be in []",
            ),
        ),
    ),
    Condition(
        "J-TYPE",
        "text",
        "a string with a lone surrogate, which is not Unicode text and cannot be sent",
        "error",
        PROTO,
        (
            Source(
                "https://protobuf.dev/programming-guides/proto3/#scalar",
                "A string must always contain UTF-8 encoded or 7-bit ASCII text",
            ),
        ),
    ),
    Condition(
        "J-DURATION",
        "syntax",
        'a Duration that is not "SECONDS[.FRACTION]s" (at most 9 fraction digits) within +-315,576,000,000 s',
        "error",
        PROTO,
        (
            Source(
                PROTOJSON,
                "Accepted are any fractional digits (also none) as long as they fit into nano-seconds "
                'precision and the suffix "s" is required.',
            ),
            Source(
                "google/protobuf/duration.proto Duration.seconds",
                "Must be from -315,576,000,000 to +315,576,000,000 inclusive.",
            ),
        ),
    ),
    Condition(
        "J-ONEOF",
        "several",
        "more than one member of a oneof (container/script/barrier, nfs/gcs/deviceName, "
        "image/snapshot, newDisk/existingDisk, policy/instanceTemplate, path/text)",
        "error",
        PROTO,
        (
            Source(
                "google-cloud-batch 0.22.4 types/task.py Runnable (the protos' oneof executable)",
                "For each oneof, at most one member field can be set at the same time.",
            ),
        ),
    ),
    Condition(
        "J-OUTPUT",
        "set",
        "an output-only field set (name, uid, status, createTime, updateTime, taskGroups[].name)",
        "warning",
        PROTO,
        (proto("batch.proto CreateJobRequest.job_id", "The job.name field in the request will be ignored"),),
    ),
    Condition(
        "J-DEPRECATED",
        "environments",
        "the deprecated taskSpec.environments map",
        "warning",
        PROTO,
        (
            proto(
                "task.proto TaskSpec.environments", "Deprecated: please use environment(non-plural) instead."
            ),
        ),
    ),
)
