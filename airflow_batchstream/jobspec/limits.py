"""Batch's documented limits and name forms, shared by the parameter checks, the validator and the
emulator.

Light on purpose: the parameter checks run when a DAG file is parsed, and must not load the
validator for them. :mod:`airflow_batchstream.jobspec.catalog` gives the source of each rule.
"""

from __future__ import annotations

import re

#: A Batch job id: 1-63 characters, a lowercase letter first, ``[a-z0-9-]``, no trailing ``-``.
JOB_ID_RE = re.compile(r"^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$")
#: A protobuf Duration in JSON: seconds (signed) with up to 9 decimals and an ``s``.
DURATION_RE = re.compile(r"^-?(?P<seconds>[0-9]+)(\.[0-9]{1,9})?s$")
#: A Secret Manager secret version.
SECRET_RE = re.compile(r"^projects/[^/]+/secrets/[^/]+/versions/[^/]+$")
#: "Size of the job definition: 1 MB" (cloud.google.com/batch/quotas), read as 10^6 bytes.
MAX_JOB_BYTES = 1_000_000
MAX_TASKS = 100_000
MAX_PARALLELISM = 5_000
MAX_RETRIES = 10
#: Custom labels after Batch's predefined ones: on the job and its runnables (L-4), and on each VM,
#: persistent disk and GPU (L-1) (cloud.google.com/batch/docs/organize-resources-using-labels).
MAX_JOB_LABELS = 63
MAX_VM_LABELS = 61
RESERVED_LABEL_PREFIXES = ("goog-", "google-")
#: The one goog- label users set: Dynamic Workload Scheduler jobs carry it with the value "true".
DYNAMIC_WORKLOAD_SCHEDULER_LABEL = "goog-batch-dynamic-workload-scheduler"
#: Batch's predefined labels: on each job, and on each VM, persistent disk and GPU of a job.
PREDEFINED_JOB_LABELS = frozenset({"batch-job-id"})
PREDEFINED_VM_LABELS = frozenset({"batch-job-id", "batch-job-uid", "batch-node"})
#: Container fields image streaming supports; any other is silently ignored by Batch (IS-3).
STREAMING_FIELDS = frozenset({"imageUri", "commands", "entrypoint", "volumes", "enableImageStreaming"})
LIFECYCLE_ACTIONS = ("RETRY_TASK", "FAIL_TASK")
