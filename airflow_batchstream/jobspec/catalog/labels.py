"""The conditions of labels: how many, their characters, and the keys Batch keeps for itself.

Checked by :mod:`airflow_batchstream.jobspec.rules.labels`.
"""

from __future__ import annotations

from airflow_batchstream.jobspec.catalog.model import (
    DOC,
    INFER,
    PROTO,
    Condition,
    Source,
    proto,
)

LABELS = "https://cloud.google.com/batch/docs/organize-resources-using-labels"
LABEL_REQUIREMENTS = "https://cloud.google.com/resource-manager/docs/labels-overview#requirements"

CONDITIONS: tuple[Condition, ...] = (
    Condition(
        "L-1",
        "vm-limit",
        "more than 61 allocationPolicy labels (each VM, disk and GPU has 64, 3 of them Batch's "
        "predefined labels)",
        "error",
        DOC,
        (
            Source(
                LABELS,
                "You can define a maximum of 61 custom labels to apply to each GPU, persistent disk, "
                "and VM created for the job.",
            ),
        ),
    ),
    Condition(
        "L-2",
        "syntax",
        "a label key or value that is not 1-63 (value 0-63) lowercase letters, digits, '_' or '-' "
        "(international letters allowed unless label_charset is ascii), key starting with a "
        "letter, at most 128 bytes",
        "error",
        DOC,
        (
            Source(
                LABEL_REQUIREMENTS,
                "Keys have a minimum length of 1 character and a maximum length of 63 characters and "
                "cannot be empty. Values can be empty and have a maximum length of 63 characters.",
            ),
            Source(
                LABEL_REQUIREMENTS,
                "Keys and values can contain only lowercase letters, numeric characters, underscores, "
                "and dashes. All characters must use UTF-8 encoding, and international characters "
                "are allowed.",
            ),
            Source(LABEL_REQUIREMENTS, "Keys must start with a lowercase letter or international character."),
            Source(
                "google/cloud/batch/v1alpha/resource_allowance.proto ResourceAllowance.labels",
                "Both keys and values are additionally constrained to be <= 128 bytes.",
            ),
        ),
    ),
    Condition(
        "L-3",
        "reserved-prefix",
        "a label key starting with goog- or google- (except the documented "
        "goog-batch-dynamic-workload-scheduler job label)",
        "error",
        PROTO,
        (
            proto(
                "job.proto Job.labels",
                'Label names that start with "goog-" or "google-" are reserved for predefined labels.',
            ),
            Source(LABELS, "Attempting to override a predefined label causes errors."),
        ),
        note="GoogleCloudPlatform/batch-samples (slurm-to-batch/examples/example_batch_job.yaml, "
        "slurm/slrum_single_node_batch.py) set goog-batch-dynamic-workload-scheduler: 'true' for "
        "Dynamic Workload Scheduler jobs, so that key is accepted in the job's labels",
    ),
    Condition(
        "L-3",
        "predefined",
        "a custom label named like one of Batch's predefined labels: batch-job-id on the job and "
        "runnables; batch-job-id, batch-job-uid, batch-node on allocationPolicy (VMs, disks, GPUs)",
        "error",
        DOC,
        (
            Source(LABELS, "Attempting to override a predefined label causes errors."),
            Source(f"{LABELS}#predefined-labels", "batch-job-id ... batch-job-uid ... batch-node"),
        ),
        note="the page's predefined labels are batch-job-id on each job, and batch-job-id, "
        "batch-job-uid and batch-node on each GPU, persistent disk and VM created for it",
    ),
    Condition(
        "L-4",
        "job-limit",
        "more than 63 custom labels on the job and one of its runnables together (distinct keys)",
        "error",
        DOC,
        (
            Source(
                LABELS,
                "You can define a maximum of 63 custom labels to apply to the job and its runnables.",
            ),
        ),
    ),
    Condition(
        "L-4",
        "summed",
        "more than 63 distinct custom labels on the job and all its runnables together",
        "warning",
        INFER,
        note="the page does not say whether the 63 count per runnable or across all of them",
    ),
)
