"""The task group and its task spec: task count, parallelism, task environments, runnables present,
retries, lifecycle policies, run duration, compute resources (TG-*, TS-*).

Conditions: :mod:`airflow_batchstream.jobspec.catalog.tasks`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from airflow_batchstream.jobspec.limits import (
    DURATION_RE,
    LIFECYCLE_ACTIONS,
    MAX_PARALLELISM,
    MAX_RETRIES,
    MAX_TASKS,
)
from airflow_batchstream.jobspec.problems import Problem
from airflow_batchstream.jobspec.rules._walk import Context, as_dict, as_int, as_list, enum_name, found

MAX_RUN_SECONDS = 14 * 86_400
SEVEN_DAY_MAX_RUN_SECONDS = 7 * 86_400


def check_task_spec_present(context: Context) -> Iterator[Problem]:
    for path, group in context.task_groups:
        if group.get("taskSpec") is None:
            yield found(
                "TG-SPEC", "missing", f"{path}.taskSpec", "the task group has no taskSpec", "add a taskSpec"
            )


def _set_int(value: Any) -> int | None:
    """An integer field's value, None when unset: proto3 reads 0 (and null) as "not set"."""
    number = as_int(value)
    return None if number == 0 else number


def _task_count(group: dict) -> int:
    """The number of tasks Batch will run: taskEnvironments win over taskCount; default 1."""
    environments = group.get("taskEnvironments")
    if isinstance(environments, (list, tuple)) and environments:
        return len(environments)
    count = _set_int(group.get("taskCount"))
    return 1 if count is None else count


def check_task_count(context: Context) -> Iterator[Problem]:
    for path, group in context.task_groups:
        where = f"{path}.taskCount"
        if as_int(group.get("taskCount")) == 0 and not group.get("taskEnvironments"):
            yield found(
                "TG-COUNT",
                "zero",
                where,
                "taskCount 0 reads as unset, so Batch runs 1 task",
                "set taskCount to the number of tasks (1 or more), or remove it",
            )
        count = _task_count(group)
        if count < 0:
            yield found(
                "TG-COUNT", "negative", where, f"task count {count} is negative", "use 1 or more tasks"
            )
        elif count > MAX_TASKS:
            yield found(
                "TG-COUNT",
                "limit",
                where,
                f"{count:,} tasks; Batch runs at most {MAX_TASKS:,} tasks per task group",
                f"use at most {MAX_TASKS:,} tasks per task group (split larger work across jobs)",
            )


def check_parallelism(context: Context) -> Iterator[Problem]:
    for path, group in context.task_groups:
        parallelism = _set_int(group.get("parallelism"))
        count = _task_count(group)
        where = f"{path}.parallelism"
        if parallelism is not None and parallelism < 0:
            yield found(
                "TG-PARALLEL", "negative", where, f"parallelism {parallelism} is negative", "use 1 or more"
            )
        elif parallelism is not None and parallelism > MAX_PARALLELISM:
            yield found(
                "TG-PARALLEL",
                "limit",
                where,
                f"parallelism {parallelism:,}; Batch runs at most {MAX_PARALLELISM:,} tasks of a job at once",
                f"use at most {MAX_PARALLELISM:,}",
            )
        elif parallelism is not None and 1 <= count < parallelism:
            yield found(
                "TG-PARALLEL",
                "above-count",
                where,
                f"parallelism {parallelism} is above the task count {count}; at most {count} can run at once",
                f"set parallelism to at most {count}, or remove it",
            )
        if enum_name(group.get("schedulingPolicy"), "TaskGroup.SchedulingPolicy") == "IN_ORDER":
            if parallelism is not None and parallelism != 1:
                yield found(
                    "TG-PARALLEL",
                    "in-order",
                    where,
                    f"parallelism {parallelism} with schedulingPolicy IN_ORDER; IN_ORDER needs 1",
                    "set parallelism to 1, or use AS_SOON_AS_POSSIBLE",
                )
            elif parallelism is None and count > 1:
                yield found(
                    "TG-PARALLEL",
                    "in-order-default",
                    where,
                    f"schedulingPolicy IN_ORDER with {count} tasks and no parallelism; the default is "
                    "min(taskCount, 5000), not 1",
                    "set parallelism to 1",
                )


def check_task_environments(context: Context) -> Iterator[Problem]:
    for path, group in context.task_groups:
        environments = group.get("taskEnvironments")
        count = _set_int(group.get("taskCount"))
        listed = len(environments) if isinstance(environments, (list, tuple)) else 0
        if listed and count is not None and count != listed:
            yield found(
                "TG-ENV",
                "count-ignored",
                f"{path}.taskCount",
                f"taskCount {count} is ignored beside {listed} taskEnvironments: Batch runs one task "
                "per environment",
                "remove taskCount (or make it equal the number of taskEnvironments)",
            )


def check_runnables_present(context: Context) -> Iterator[Problem]:
    for path, spec, _ in context.task_specs:
        runnables = spec.get("runnables")
        if runnables is None or (isinstance(runnables, (list, tuple)) and not runnables):
            yield found(
                "TS-RUNNABLES",
                "missing",
                f"{path}.runnables",
                "the task spec has no runnables",
                "add a container",
            )


def check_max_retries(context: Context) -> Iterator[Problem]:
    for path, spec, _ in context.task_specs:
        retries = as_int(spec.get("maxRetryCount"))
        if retries is not None and not 0 <= retries <= MAX_RETRIES:
            yield found(
                "TS-RETRY",
                "range",
                f"{path}.maxRetryCount",
                f"maxRetryCount {retries} is outside 0..{MAX_RETRIES}",
                f"use 0..{MAX_RETRIES}",
            )


def check_lifecycle_policies(context: Context) -> Iterator[Problem]:
    for path, spec, _ in context.task_specs:
        policies = as_list(spec.get("lifecyclePolicies"))
        where = f"{path}.lifecyclePolicies"
        if len(policies) > 1:
            yield found(
                "TS-LIFECYCLE",
                "count",
                where,
                f"{len(policies)} lifecycle policies; Batch supports only one",
                "merge the exit codes into a single policy",
            )
        for index, policy in enumerate(policies):
            action = as_dict(policy).get("action")
            if (
                isinstance(policy, dict)
                and enum_name(action, "LifecyclePolicy.Action") not in LIFECYCLE_ACTIONS
            ):
                yield found(
                    "TS-LIFECYCLE",
                    "no-action",
                    f"{where}[{index}].action",
                    f"lifecycle action {action!r} is not RETRY_TASK or FAIL_TASK; what Batch does with "
                    "it is not documented",
                    "set action to RETRY_TASK (retry listed codes, fail others) or FAIL_TASK",
                )


def _duration_seconds(value: Any) -> float | None:
    match = DURATION_RE.match(value) if isinstance(value, str) else None
    return float(value[:-1]) if match else None


def _seven_day_reason(policy: dict) -> str | None:
    """Why the run-time cap is 7 days instead of 14: FLEX_START, or A3 VMs without a reservation."""
    model = enum_name(policy.get("provisioningModel"), "AllocationPolicy.ProvisioningModel")
    if model == "FLEX_START":
        return "FLEX_START"
    machine = policy.get("machineType")
    a3 = isinstance(machine, str) and machine.startswith("a3-")
    standard = model in (None, "PROVISIONING_MODEL_UNSPECIFIED", "STANDARD")
    if a3 and standard and policy.get("reservation") == "NO_RESERVATION":
        return "an A3 machine type and NO_RESERVATION"
    return None


def check_run_duration(context: Context) -> Iterator[Problem]:
    reason = _seven_day_reason(context.instance_policy)
    cap = SEVEN_DAY_MAX_RUN_SECONDS if reason else MAX_RUN_SECONDS
    why = f"{cap // 86_400} days" + (f" with {reason}" if reason else "")
    limits = [
        (f"{path}.maxRunDuration", spec.get("maxRunDuration"), "negative")
        for path, spec, _ in context.task_specs
    ]
    limits += [
        (f"{path}.timeout", runnable.get("timeout"), "negative-timeout")
        for path, runnable in context.runnables
    ]
    for path, value, negative in limits:
        seconds = _duration_seconds(value)
        if seconds is not None and seconds < 0:
            yield found(
                "TS-MAXRUN",
                negative,
                path,
                f"{value} is negative",
                'use a positive duration such as "3600s", or remove it',
            )
        elif seconds is not None and seconds > cap:
            yield found(
                "TS-MAXRUN",
                "run-limit",
                path,
                f"{value} is longer than Batch's run-time limit of {why} ({cap}s): Batch fails a job "
                "still running then",
                f"expect the job to end within {cap}s, or split the work into several jobs",
            )


def check_compute_resource(context: Context) -> Iterator[Problem]:
    for path, spec, _ in context.task_specs:
        resource = as_dict(spec.get("computeResource"))
        for name in ("cpuMilli", "memoryMib", "bootDiskMib"):
            value = as_int(resource.get(name))
            if value is not None and value < 0:
                yield found(
                    "TS-RESOURCES",
                    "negative",
                    f"{path}.computeResource.{name}",
                    f"{name} {value} is negative",
                    "use a positive value, or remove it for Batch's default (0 also means default)",
                )
