"""The conditions of the task group and its task spec: task count, parallelism, task environments,
runnables, retries, lifecycle policies, run duration, compute resources.

Checked by :mod:`airflow_batchstream.jobspec.rules.tasks`.
"""

from __future__ import annotations

from airflow_batchstream.jobspec.catalog.model import (
    DOC,
    INFER,
    PROTO,
    QUOTA_ERROR,
    QUOTAS,
    UNSAID,
    Condition,
    Source,
    proto,
)

CONDITIONS: tuple[Condition, ...] = (
    Condition(
        "TG-SPEC",
        "missing",
        "a task group without taskSpec",
        "error",
        PROTO,
        (proto("job.proto TaskGroup.task_spec", "Required. Tasks in the group share the same task spec."),),
    ),
    Condition(
        "TG-COUNT",
        "limit",
        "more than 100,000 tasks in the task group (taskCount, or the number of taskEnvironments)",
        "error",
        DOC,
        (Source(QUOTAS, "Tasks per task group | 100,000"), QUOTA_ERROR),
    ),
    Condition(
        "TG-COUNT",
        "zero",
        "taskCount 0, which proto3 reads as unset: Batch runs 1 task",
        "warning",
        PROTO,
        (proto("job.proto TaskGroup.task_count", "Number of Tasks in the TaskGroup. Default is 1."),),
    ),
    Condition(
        "TG-COUNT",
        "negative",
        "a negative taskCount",
        "warning",
        INFER,
        note=UNSAID,
    ),
    Condition(
        "TG-PARALLEL",
        "limit",
        "parallelism above 5,000",
        "error",
        DOC,
        (Source(QUOTAS, "Parallel tasks per job | 5,000"), QUOTA_ERROR),
    ),
    Condition(
        "TG-PARALLEL",
        "in-order",
        "parallelism other than 1 with schedulingPolicy IN_ORDER",
        "error",
        PROTO,
        (
            proto(
                "job.proto TaskGroup.parallelism",
                "Field parallelism must be 1 if the scheduling_policy is IN_ORDER.",
            ),
        ),
    ),
    Condition(
        "TG-PARALLEL",
        "in-order-default",
        "IN_ORDER with several tasks and no parallelism (the default is not 1)",
        "warning",
        PROTO,
        (
            proto(
                "job.proto TaskGroup.parallelism",
                "Default to min(task_count, parallel tasks per job limit).",
            ),
        ),
    ),
    Condition(
        "TG-PARALLEL",
        "above-count",
        "parallelism above the task count",
        "warning",
        INFER,
        note=f"{UNSAID}; at most taskCount tasks can run at once anyway",
    ),
    Condition(
        "TG-PARALLEL",
        "negative",
        "a negative parallelism",
        "warning",
        INFER,
        note=UNSAID,
    ),
    Condition(
        "TG-ENV",
        "count-ignored",
        "taskCount set beside taskEnvironments with a different count",
        "warning",
        PROTO,
        (
            proto(
                "job.proto TaskGroup.task_environments",
                "If task_environments is used then task_count should not be specified in the "
                "request (and will be ignored).",
            ),
        ),
    ),
    Condition(
        "TS-RUNNABLES",
        "missing",
        "a task spec without runnables",
        "error",
        PROTO,
        (proto("task.proto TaskSpec.runnables", "Required. The sequence of one or more runnables"),),
    ),
    Condition(
        "TS-RETRY",
        "range",
        "maxRetryCount outside 0..10",
        "error",
        PROTO,
        (proto("task.proto TaskSpec.max_retry_count", "The valid value range is [0, 10]."),),
    ),
    Condition(
        "TS-LIFECYCLE",
        "count",
        "more than one lifecycle policy",
        "error",
        PROTO,
        (proto("task.proto TaskSpec.lifecycle_policies", "Currently we only support one lifecycle policy."),),
    ),
    Condition(
        "TS-LIFECYCLE",
        "no-action",
        "a lifecycle policy whose action is neither RETRY_TASK nor FAIL_TASK",
        "warning",
        INFER,
        note=f"{UNSAID}; the protos do not say what ACTION_UNSPECIFIED does",
    ),
    Condition(
        "TS-MAXRUN",
        "negative",
        "a negative maxRunDuration",
        "error",
        PROTO,
        (
            proto(
                "task.proto TaskSpec.max_run_duration",
                "The field accepts any value between 0 and the maximum listed for the Duration field type",
            ),
        ),
    ),
    Condition(
        "TS-MAXRUN",
        "run-limit",
        "maxRunDuration or a runnable timeout longer than Batch's run-time limit (14 days; 7 with "
        "FLEX_START, or A3 machines with NO_RESERVATION)",
        "warning",
        DOC,
        (
            Source(QUOTAS, "Run time (duration of RUNNING job state) before automatic failure | 14 days"),
            proto(
                "task.proto TaskSpec.max_run_duration",
                "however, the actual maximum run time for a job will be limited to the maximum run "
                "time for a job listed at https://cloud.google.com/batch/quotas#max-job-duration.",
            ),
        ),
        note="the limit is when Batch ends a running job, not a reason to refuse it: a longer limit "
        "is harmless for a job that finishes sooner",
    ),
    Condition(
        "TS-MAXRUN",
        "negative-timeout",
        "a negative runnable timeout",
        "warning",
        INFER,
        note=UNSAID,
    ),
    Condition(
        "TS-RESOURCES",
        "negative",
        "a negative computeResource value (0 reads as unset: Batch's default)",
        "warning",
        INFER,
        note=UNSAID,
    ),
)
