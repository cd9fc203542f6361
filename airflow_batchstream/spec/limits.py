"""Batch's documented limits and name forms that both the parameter checks and the validator use.

Light on purpose: the parameter checks run when a DAG file is parsed, and must not load the
validator for them (``reference/batch-rules.md`` gives the sources).
"""

from __future__ import annotations

import re

#: A Batch job id: 1-63 characters, a lowercase letter first, ``[a-z0-9-]``, no trailing ``-``.
JOB_ID_RE = re.compile(r"^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$")
#: A protobuf Duration in JSON: seconds with up to 9 decimals and an ``s``.
DURATION_RE = re.compile(r"^(?P<seconds>[0-9]+)(\.[0-9]{1,9})?s$")
#: A Secret Manager secret version.
SECRET_RE = re.compile(r"^projects/[^/]+/secrets/[^/]+/versions/[^/]+$")
MAX_TASKS = 100_000
MAX_PARALLELISM = 5_000
MAX_RETRIES = 10
#: Labels on one resource (L-1), and custom labels on a job and its runnables together (L-4).
MAX_LABELS_PER_RESOURCE = 64
MAX_JOB_LABELS = 63
#: Container fields image streaming supports; any other is silently ignored by Batch (IS-3).
STREAMING_FIELDS = frozenset({"imageUri", "commands", "entrypoint", "volumes", "enableImageStreaming"})
