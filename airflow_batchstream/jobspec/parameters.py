"""The parameters of the operator, the sensor and ``batchstream render``: one table, and its checks.

Each :class:`Parameter` says what a value must be (its :class:`Form`), its default, what it means,
whether the operator templates it, and which Batch field it renders to. Everything that speaks of
a parameter reads it from here: the operator's and sensor's constructors (static values, so a bad
DAG fails to import naming the parameter), their ``execute`` (rendered values, before any API
call), :func:`~airflow_batchstream.jobspec.render.render_job` (its signature too), ``batchstream
render`` (its flags' checks, help and defaults) and the operator's ``template_fields``.
``scripts/rules_doc.py`` writes the README's parameter table and the ``:param`` entries of the
operator's and ``render_job``'s docstrings from it (a test keeps them in sync). The operator's
signature alone is written out, for IDEs; a test holds it to the table. A new parameter therefore
costs its entry here, its line in the operator's signature, the code that renders it, and a run
of ``scripts/rules_doc.py``.

:func:`check_parameters` returns every problem at once, each a
:class:`~airflow_batchstream.jobspec.problems.Problem` naming the parameter, the Batch field, a rule
id and the fix. Rule ids are the validator's where Batch has the rule (``TG-COUNT``, ``J-ID``,
``IS-1``...), and these where the mistake is in the parameter itself:

========== =================================================================================
P-TYPE     wrong type: a string for a list or a bool, a float or bool for an int, a list for a map
P-RANGE    a number outside its range (timeouts, intervals, exit codes)
P-FORM     not the documented form: project id, job name, e-mail, machine type, network, path, URL
P-CHOICE   not one of the allowed values
P-TEMPLATE a Jinja template, XComArg or other runtime value given to a parameter that is not
           templated, so Airflow would never resolve it
P-SHAPE    a nested value deeper than the limit, or containing itself
P-COMBO    parameters that contradict each other
P-LABELS   a label key the provider sets itself
========== =================================================================================

Pure: imports neither Airflow nor ``google.*`` (it runs at DAG-parse time and in the CLI).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, NamedTuple

from airflow_batchstream.documents import MAX_DEPTH, shape_problem
from airflow_batchstream.jobspec.forms import (
    UNKNOWN,
    Context,
    Form,
    Invalid,
    allowed_location_reason,
    any_text,
    boolean,
    choice,
    describe,
    duration,
    email_reason,
    exit_codes,
    image_uri,
    impersonation_chain,
    integer,
    job_id_reason,
    job_name_reason,
    job_overrides,
    labels,
    line_count,
    logs_path_reason,
    machine_type_reason,
    network_reason,
    optional_url,
    project_reason,
    region_reason,
    seconds,
    secret_reason,
    string_list,
    string_map,
    subnetwork_reason,
    text,
    validation_policy,
    vm_reason,
    volumes,
)
from airflow_batchstream.jobspec.limits import (
    MAX_JOB_LABELS,
    MAX_PARALLELISM,
    MAX_RETRIES,
    MAX_TASKS,
)
from airflow_batchstream.jobspec.problems import Problem, format_problems

LOGS_DESTINATIONS = ("CLOUD_LOGGING", "PATH", "NONE")
IMAGE_CHECKS = ("error", "warn", "off")

_CONTAINER = "taskGroups[0].taskSpec.runnables[0].container"
_TASK_SPEC = "taskGroups[0].taskSpec"
_INTERFACE = "allocationPolicy.network.networkInterfaces[0]"
_INSTANCE = "allocationPolicy.instances[0].policy"
_ACCELERATOR = f"{_INSTANCE}.accelerators[0]"
#: What ``provisioning_model`` takes: Batch's models but the deprecated PREEMPTIBLE (use SPOT).
PROVISIONING_MODELS = ("STANDARD", "SPOT", "FLEX_START", "RESERVATION_BOUND")
#: The parameters that render into ``instances[0].policy``, which ``instance_template`` replaces.
INSTANCE_POLICY_PARAMETERS = (
    "machine_type", "provisioning_model", "spot", "accelerator_type", "accelerator_count",
    "gpu_driver_version", "boot_disk_size_gb", "boot_disk_type", "boot_disk_image", "reservation",
    "min_cpu_platform",
)  # fmt: skip


class _Required:
    def __repr__(self) -> str:
        return "<required>"


#: The default of a parameter that has none: the user must give it.
REQUIRED: Any = _Required()


class InvalidParameters(ValueError):
    """One or more parameters are wrong; nothing was rendered or submitted.

    :param problems: every problem found, each naming its parameter.
    :param subject: who took the parameters, e.g. ``BatchStreamJobOperator 'crunch'``.
    """

    def __init__(self, problems: list[Problem], subject: str = "the job"):
        self.problems = list(problems)
        super().__init__(
            f"{len(self.problems)} invalid parameter(s) of {subject}; nothing was submitted.\n"
            + format_problems(self.problems)
        )


class Parameter(NamedTuple):
    """One parameter: the single definition every consumer reads.

    :param name: as the user writes it (``task_count``).
    :param form: the check of its value.
    :param annotation: its Python type, as in a signature.
    :param default: the default value (:data:`REQUIRED` when there is none); a parameter whose
        default is None accepts None.
    :param doc: what it means, for the user: the one text the operator's and ``render_job``'s
        docstrings, the README's parameter table and ``batchstream render --help`` show (Markdown
        backticks for code).
    :param field: the Batch field it renders to (a path in the Job JSON, or ``jobId``), if any.
    :param templated: whether the operator renders it with Jinja (a template field).
    :param shown_default: the default as the documentation shows it, when the value alone would
        mislead (a default read from Airflow's configuration).
    """

    name: str
    form: Form
    annotation: str
    default: Any
    doc: str
    field: str | None = None
    templated: bool = False
    shown_default: str | None = None


# --------------------------------------------------------------------------------------------
# The table


_SA_FIX = "write the service account's e-mail, e.g. runner@my-project.iam.gserviceaccount.com"
_SECRET_EXAMPLE = '{"TOKEN": "projects/my-project/secrets/token/versions/latest"}'


def _table(*parameters: Parameter) -> Mapping[str, Parameter]:
    return {parameter.name: parameter for parameter in parameters}


#: What :func:`~airflow_batchstream.jobspec.render.render_job` takes: the job itself.
JOB_PARAMETERS: Mapping[str, Parameter] = _table(
    Parameter(
        "image_uri", image_uri, "str", REQUIRED,
        "Artifact Registry image, `LOC-docker.pkg.dev/PROJECT/REPO/IMAGE[:TAG][@sha256:...]`",
        f"{_CONTAINER}.imageUri", templated=True,
    ),
    Parameter(
        "commands", string_list(split=True), "Sequence[str] | None", None,
        "container commands (CMD override, appended to the ENTRYPOINT), a list of strings",
        f"{_CONTAINER}.commands", templated=True,
    ),
    Parameter(
        "entrypoint", text(any_text, "write e.g. /app/run"), "str | None", None,
        "container ENTRYPOINT override", f"{_CONTAINER}.entrypoint", templated=True,
    ),
    Parameter(
        "environment", string_map(), "Mapping[str, str] | None", None,
        "environment variables of every task, a mapping of strings",
        f"{_TASK_SPEC}.environment.variables", templated=True,
    ),
    Parameter(
        "secret_environment", string_map(secret_reason, example=_SECRET_EXAMPLE, rule="ENV-SECRET"),
        "Mapping[str, str] | None", None,
        "variable name → Secret Manager version `projects/P/secrets/S/versions/V`",
        f"{_TASK_SPEC}.environment.secretVariables", templated=True,
    ),
    Parameter(
        "volumes", volumes, "Sequence[Mapping[str, Any]] | None", None,
        "list of Batch volumes, camelCase mappings (`gcs`, `nfs`, `deviceName`, `mountPath`), e.g. "
        '`{"gcs": {"remotePath": "bucket"}, "mountPath": "/mnt/data"}`',
        f"{_TASK_SPEC}.volumes", templated=True,
    ),
    Parameter(
        "container_volumes", string_list(), "Sequence[str] | None", None,
        "docker-style `/host:/ctr[:ro]` mounts of the container", f"{_CONTAINER}.volumes", templated=True,
    ),
    Parameter(
        "task_count", integer(1, MAX_TASKS, "TG-COUNT"), "int", 1,
        "number of tasks, 1-100,000 (an array job: each task gets `BATCH_TASK_INDEX` and "
        "`BATCH_TASK_COUNT`)",
        "taskGroups[0].taskCount",
    ),
    Parameter(
        "parallelism", integer(1, MAX_PARALLELISM, "TG-PARALLEL"), "int | None", None,
        "tasks running at once, 1-5,000; Batch's default when None", "taskGroups[0].parallelism",
    ),
    Parameter(
        "cpu_milli", integer(1, rule="TS-RESOURCES"), "int | None", None,
        "CPU per task in milli-CPUs, at least 1; Batch's default (2000) when None",
        f"{_TASK_SPEC}.computeResource.cpuMilli",
    ),
    Parameter(
        "memory_mib", integer(1, rule="TS-RESOURCES"), "int | None", None,
        "memory per task in MiB, at least 1; Batch's default (2000) when None",
        f"{_TASK_SPEC}.computeResource.memoryMib",
    ),
    Parameter(
        "machine_type", text(machine_type_reason, "write e.g. e2-standard-4"), "str | None", None,
        "Compute Engine machine type, e.g. `e2-standard-4`; Batch's choice when None. Arm families "
        "(`t2a`, `c4a`, ...) select the arm64 image",
        f"{_INSTANCE}.machineType", templated=True,
    ),
    Parameter(
        "provisioning_model", choice(*PROVISIONING_MODELS), "str | None", None,
        "`STANDARD`, `SPOT`, `FLEX_START` (Dynamic Workload Scheduler's best-effort start, at most 7 "
        "days of run time) or `RESERVATION_BOUND`; Batch's default (standard) when None",
        f"{_INSTANCE}.provisioningModel",
    ),
    Parameter(
        "spot", boolean, "bool", False,
        "run on Spot VMs: the short form of `provisioning_model='SPOT'`",
        f"{_INSTANCE}.provisioningModel",
    ),
    Parameter(
        "accelerator_type", text(vm_reason("accelerator_type_reason"), "write e.g. nvidia-tesla-t4"),
        "str | None", None,
        "GPU type attached to each VM, e.g. `nvidia-tesla-t4` or `nvidia-l4` (N1 machine types take "
        "attached GPUs; accelerator-optimized ones, `a2-*`, `a3-*`, `a4-*`, `g2-*`, come with theirs "
        "and need none)",
        f"{_ACCELERATOR}.type", templated=True,
    ),
    Parameter(
        "accelerator_count", integer(1), "int | None", None,
        "GPUs of `accelerator_type` per VM; 1 when None",
        f"{_ACCELERATOR}.count",
    ),
    Parameter(
        "install_gpu_drivers", boolean, "bool | None", None,
        "let Batch install the GPU drivers; when None, on for a job that asks for GPUs "
        "(`accelerator_type` or an accelerator-optimized `machine_type`). `False` needs drivers in "
        "the boot image",
        "allocationPolicy.instances[0].installGpuDrivers",
    ),
    Parameter(
        "gpu_driver_version", text(vm_reason("driver_version_reason"), "write e.g. 535.104.05"),
        "str | None", None,
        "NVIDIA driver version Batch installs, e.g. `535.104.05` (with `accelerator_type`); Batch's "
        "choice when None",
        f"{_ACCELERATOR}.driverVersion",
    ),
    Parameter(
        "boot_disk_size_gb", integer(1), "int | None", None,
        "boot disk size in GB, at least the image's (30 for Batch's images); Batch sizes it from the "
        "image and tasks when None",
        f"{_INSTANCE}.bootDisk.sizeGb",
    ),
    Parameter(
        "boot_disk_type", text(vm_reason("boot_disk_type_reason"), "write e.g. pd-ssd"), "str | None", None,
        "`pd-balanced` (Batch's default), `pd-ssd`, `pd-standard`, `pd-extreme` or a `hyperdisk-*` type",
        f"{_INSTANCE}.bootDisk.type",
    ),
    Parameter(
        "boot_disk_image", text(vm_reason("boot_disk_image_reason"), "write e.g. batch-cos"),
        "str | None", None,
        "VM image: `batch-debian`, `batch-cos`, `batch-hpc-rocky`, or "
        "`projects/P/global/images/[family/]I`; Batch's default when None",
        f"{_INSTANCE}.bootDisk.image", templated=True,
    ),
    Parameter(
        "boot_disk_mib", integer(1), "int | None", None,
        "extra boot disk per task in MiB, added to Batch's own sizing (Batch ignores it when "
        "`boot_disk_size_gb` is set)",
        f"{_TASK_SPEC}.computeResource.bootDiskMib",
    ),
    Parameter(
        "reservation", text(vm_reason("reservation_reason"), "write a reservation name, or NO_RESERVATION"),
        "str | None", None,
        "Compute Engine reservation the VMs consume (its name), or `NO_RESERVATION`; any matching "
        "reservation when None",
        f"{_INSTANCE}.reservation", templated=True,
    ),
    Parameter(
        "min_cpu_platform", text(any_text, "write e.g. Intel Ice Lake"), "str | None", None,
        "minimum CPU platform, e.g. `Intel Ice Lake`",
        f"{_INSTANCE}.minCpuPlatform",
    ),
    Parameter(
        "instance_template",
        text(vm_reason("instance_template_reason"), "write projects/P/global/instanceTemplates/T"),
        "str | None", None,
        "global instance template of the job's project (name, `global/instanceTemplates/T` or "
        "`projects/P/global/instanceTemplates/T`) that gives the VMs instead of the parameters above: "
        "not with `machine_type`, GPU, boot disk, provisioning, reservation or CPU platform parameters",
        "allocationPolicy.instances[0].instanceTemplate", templated=True,
    ),
    Parameter(
        "max_run_duration", duration, "int | float | str | None", None,
        'per-task time limit: seconds, or a duration string `"3600s"` (Batch fails a job still running '
        "after 14 days, 7 with `FLEX_START`, whatever it says)",
        f"{_TASK_SPEC}.maxRunDuration",
    ),
    Parameter(
        "max_retries", integer(0, MAX_RETRIES, "TS-RETRY"), "int", 0,
        "Batch task retries, 0-10. Above 0 the task spec also gets one `RETRY_TASK` lifecycle policy "
        "on the infrastructure exit codes (50001-50004, 50006) and `retry_exit_codes`, and such a "
        "policy fails every other non-zero exit code without retry",
        f"{_TASK_SPEC}.maxRetryCount",
    ),
    Parameter(
        "retry_exit_codes", exit_codes, "Sequence[int] | None", None,
        "further exit codes Batch retries when `max_retries` is above 0: list every application code "
        "worth retrying, since the `RETRY_TASK` policy fails all others",
        f"{_TASK_SPEC}.lifecyclePolicies[0].actionCondition.exitCodes",
    ),
    Parameter(
        "labels", labels, "Mapping[str, str] | None", None,
        "job labels, a mapping of strings. The operator adds 7 of its own (`managed-by`, "
        "`airflow-dag/task/run/map-index/try`, `batchstream-lineage`), so at most 56 are yours, and "
        "its keys are refused",
        "labels", templated=True,
    ),
    Parameter(
        "service_account", text(email_reason, _SA_FIX), "str | None", None,
        "e-mail of the service account the job's VMs run as; the Compute Engine default when None",
        "allocationPolicy.serviceAccount.email", templated=True,
    ),
    Parameter(
        "network", text(network_reason, "write global/networks/NAME"), "str | None", None,
        "VPC network: `global/networks/N`, `projects/P/global/networks/N` or its full URL",
        f"{_INTERFACE}.network", templated=True,
    ),
    Parameter(
        "subnetwork", text(subnetwork_reason, "write regions/REGION/subnetworks/NAME"), "str | None", None,
        "subnetwork: `regions/R/subnetworks/S`, `projects/P/regions/R/subnetworks/S` or its full URL",
        f"{_INTERFACE}.subnetwork", templated=True,
    ),
    Parameter(
        "no_external_ip", boolean, "bool", False,
        "VMs without external IPs (they need Private Google Access or Cloud NAT)",
        f"{_INTERFACE}.noExternalIpAddress",
    ),
    Parameter(
        "allowed_locations", string_list(allowed_location_reason, rule="LOC-SHAPE"),
        "Sequence[str] | None", None,
        "`regions/R` or `zones/R-x` entries, all in the job's region; the job's region when None",
        "allocationPolicy.location.allowedLocations", templated=True,
    ),
    Parameter(
        "logs_destination", choice(*LOGS_DESTINATIONS), "str", "CLOUD_LOGGING",
        "`CLOUD_LOGGING`, `PATH` (with an absolute `logs_path`) or `NONE` (no `logsPolicy`: Batch "
        "keeps no logs)",
        "logsPolicy.destination",
    ),
    Parameter(
        "logs_path", text(logs_path_reason, "write an absolute path, e.g. /mnt/data/logs/job.log"),
        "str | None", None,
        "where `PATH` logs go: an absolute path, e.g. on a mounted bucket `/mnt/data/logs/job.log`",
        "logsPolicy.logsPath", templated=True,
    ),
    Parameter(
        "image_streaming", boolean, "bool", True,
        "stream the image (this provider's purpose). `False` submits a job that pulls its image, "
        "without the streaming rules or the image preflight; `job_overrides` may then not turn "
        "streaming on",
        f"{_CONTAINER}.enableImageStreaming",
    ),
    Parameter(
        "job_overrides", job_overrides, "Mapping[str, Any] | None", None,
        "mapping of Job fields (camelCase or snake_case) merged over the rendered job, for any field "
        "the other parameters do not cover: mappings merge, lists of mappings merge by index, other "
        "values replace. It may not turn image streaming off, nor set container fields streaming "
        "does not support",
        templated=True,
    ),
)  # fmt: skip

_DEFERRABLE = Parameter(
    "deferrable", boolean, "bool", False, "wait in the triggerer instead of the worker",
    shown_default="`[operators] default_deferrable`",
)  # fmt: skip
_CONTAINER_LOGS = Parameter(
    "container_logs", line_count("all", "off"), "str | int", "all",
    "what the job's tasks print (Cloud Logging's `batch_task_logs`), in the task log, each line "
    "prefixed with its task index and stderr marked: `all` as it comes, `off`, or a number N for "
    "the last N lines once the job ended. A failed job's diagnosis ends with the failing task's last "
    "lines. Needs `logs_destination` `CLOUD_LOGGING` and `logging.logEntries.list` on the project",
)  # fmt: skip
_CONNECTION = (
    Parameter(
        "gcp_conn_id", text(any_text, "write an Airflow connection id"), "str", "google_cloud_default",
        "the Google provider's Airflow connection", templated=True,
    ),
    Parameter(
        "impersonation_chain", impersonation_chain, "str | Sequence[str] | None", None,
        "service account e-mail(s) to impersonate", templated=True,
    ),
)  # fmt: skip

#: What :class:`~airflow_batchstream.operators.BatchStreamJobOperator` takes (besides BaseOperator's).
OPERATOR_PARAMETERS: Mapping[str, Parameter] = {
    **JOB_PARAMETERS,
    **_table(
        Parameter(
            "location", text(region_reason, "write the job's region, e.g. us-central1", "J-PARENT"), "str",
            REQUIRED, "Batch region of the job, e.g. `us-central1` (a zone is refused, with its region "
            "suggested)",
            templated=True,
        ),
        Parameter(
            "project_id", text(project_reason, "write the project id, e.g. my-project-123"),
            "str | None", None,
            "Google Cloud project: an id (6-30 of `a-z0-9-`, a letter first), a domain-scoped "
            "`example.com:proj`, or a project number. When None, the connection's project (against "
            "the emulator, the emulator's), which the log names",
            templated=True,
        ),
        Parameter(
            "job_id", text(job_id_reason, "write at most 63 lowercase letters, digits and '-'", "J-ID"),
            "str | None", None,
            "explicit job id (at most 63 of `a-z0-9-`, a letter first); by default a deterministic id "
            "per task-instance try, `<dag-task>-<hash of dag, task, run, map index>-t<try>`",
            "jobId", templated=True,
        ),
        Parameter(
            "wait_for_completion", boolean, "bool", True,
            "wait for the job to end; `False` returns the summary right after submission",
        ),
        _DEFERRABLE,
        Parameter(
            "poll_interval", seconds(), "float | str", 30.0,
            "seconds between checks after a change; grows to 4x while the job stays unchanged",
            templated=True, shown_default="`[batchstream] default_poll_interval` (30)",
        ),
        Parameter(
            "timeout", seconds(), "float | None", None,
            "seconds, measured from the job's submission: an absolute deadline that survives deferral "
            "and triggerer restarts. When it passes the job is cancelled (`cancel_on_kill`) and the "
            "task fails. Deferred, it also bounds the deferral itself (a minute later), so the wait "
            "ends even when no triggerer runs",
        ),
        Parameter(
            "cancel_on_kill", boolean, "bool", True,
            "cancel the job when the task is killed (marked failed or success, cleared, "
            "`execution_timeout`), its deadline passes, or its deferral ends without an event; never "
            "when Airflow has handed the task instance to a newer try that adopts the job",
        ),
        Parameter(
            "reattach", boolean, "bool", True,
            "when an earlier try that died (worker or scheduler lost) left its job running, adopt it "
            "instead of starting a second one. `False`: cancel it (`cancel_on_kill`) and start a fresh "
            "job. A job being cancelled, or of a deferred try a user cleared or marked, is never adopted",
        ),
        _CONTAINER_LOGS,
        Parameter(
            "image_check", choice(*IMAGE_CHECKS), "str", "error",
            "image preflight: `error` (problems stop submission), `warn` (they are logged) or `off`",
        ),
        Parameter(
            "pin_image_digest", boolean, "bool", False,
            "submit the image by the digest the preflight checked, `IMAGE@sha256:...` (the tag "
            "dropped, as Artifact Registry documents), so every task and retry runs the same bytes",
        ),
        Parameter(
            "registry_url", optional_url, "str | None", None,
            "registry base URL for the preflight (private mirrors, tests; plain HTTP only on "
            "loopback); empty or None means the image's own host",
            templated=True,
        ),
        Parameter(
            "validation_policy", validation_policy, "ValidationPolicy | None", None,
            "`ValidationPolicy` for the inferred rules (multi-regions, gcr.io hosts, OCI types, GPU "
            "rules); its defaults when None",
        ),
        *_CONNECTION,
    ),
}  # fmt: skip

#: What :class:`~airflow_batchstream.sensors.BatchStreamJobSensor` takes (besides the sensor base's).
SENSOR_PARAMETERS: Mapping[str, Parameter] = _table(
    Parameter(
        "job_name", text(job_name_reason, "write projects/PROJECT/locations/REGION/jobs/JOB_ID"),
        "str", REQUIRED,
        "full job name `projects/P/locations/L/jobs/J`", templated=True,
    ),
    *_CONNECTION,
    _DEFERRABLE,
    Parameter(
        "poll_interval", seconds(allow_zero=True), "float | str | None", None,
        "seconds between checks; sets `poke_interval` unless that is given too", templated=True,
    ),
    _CONTAINER_LOGS,
)  # fmt: skip


# --------------------------------------------------------------------------------------------
# Checking


def is_template(value: Any) -> bool:
    """Whether Airflow would render a string as a Jinja template (expression, statement, comment)."""
    return isinstance(value, str) and any(mark in value for mark in ("{{", "{%", "{#"))


def is_runtime_value(value: Any) -> bool:
    """A value Airflow resolves only when the task runs: a template, or an XComArg / DAG param /
    ``literal`` (anything with ``resolve``, which is what Airflow's templater calls)."""
    if is_template(value):
        return True
    if (
        isinstance(value, (str, bytes, int, float, bool, list, tuple, dict, set, os.PathLike))
        or value is None
    ):
        return False
    return callable(getattr(value, "resolve", None))


def static_view(value: Any) -> Any:
    """``value`` with every runtime part replaced by :data:`UNKNOWN` (the whole value if it is one).

    Call :func:`~airflow_batchstream.documents.shape_problem` first: this recursion trusts the depth.
    """
    if is_runtime_value(value):
        return UNKNOWN
    if isinstance(value, Mapping):
        return {key: static_view(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [static_view(item) for item in value]
    return value


def _contains_runtime_value(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if is_runtime_value(item):
            return True
        if isinstance(item, Mapping):
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return False


def check_parameters(
    values: Mapping[str, Any],
    table: Mapping[str, Parameter],
    *,
    static: bool = False,
    context: Context | None = None,
) -> tuple[dict[str, Any], list[Problem]]:
    """Check parameter values against the table; every problem at once.

    :param values: parameter name -> value (names not in ``table`` are a bug and raise KeyError).
    :param table: e.g. :data:`OPERATOR_PARAMETERS`.
    :param static: values as a DAG file gives them (the constructor): the runtime parts of
        templated parameters are skipped, to be checked after rendering.
    :param context: see :class:`~airflow_batchstream.jobspec.forms.Context`; none by default.
    :return: ``(normalized values, problems)``; a normalized value is :data:`UNKNOWN` when it is
        only known at run time, and absent when it is wrong.
    """
    context = context or Context()
    normalized: dict[str, Any] = {}
    problems: list[Problem] = []
    for name, value in values.items():
        parameter = table[name]
        try:
            normalized[name] = _check_one(parameter, value, static, context)
        except Invalid as bad:
            field = bad.path if bad.path is not None else (parameter.field or "")
            problems.append(Problem(field, bad.rule, bad.message, bad.fix, parameter=name))
    problems.extend(_combinations(normalized, context))
    return normalized, problems


def _check_one(parameter: Parameter, value: Any, static: bool, context: Context) -> Any:
    if value is None and parameter.default is None:
        return None
    shape = shape_problem(value)
    if shape:
        raise Invalid(
            f"the value {shape}", f"keep it at most {MAX_DEPTH} levels deep, without cycles", "P-SHAPE"
        )
    if not parameter.templated and _contains_runtime_value(value):
        raise Invalid(
            f"{describe(value)} is resolved only when the task runs, but {parameter.name} is not "
            "templated, so Airflow would never resolve it",
            f"pass a plain value, or map over values with .partial(...).expand({parameter.name}=...)",
            "P-TEMPLATE",
        )
    if static and parameter.templated:
        value = static_view(value)
        if value is UNKNOWN:
            return UNKNOWN
    numbers_as_text = parameter.templated or context.text
    return parameter.form(value, context, numbers_as_text)


def _known(*values: Any) -> bool:
    return all(value is not UNKNOWN for value in values)


def _combinations(values: Mapping[str, Any], context: Context) -> list[Problem]:
    """Problems between parameters, found only when every value involved is known and valid."""
    found: list[Problem] = []

    def add(name: str, rule: str, message: str, fix: str) -> None:
        found.append(Problem(_field_of(name), rule, message, fix, parameter=name))

    destination, logs_path = values.get("logs_destination"), values.get("logs_path")
    if "logs_destination" in values and "logs_path" in values and _known(destination, logs_path):
        if destination == "PATH" and not logs_path:
            add(
                "logs_path",
                "LOGS-PATH",
                "logs_destination is PATH, but logs_path is not set",
                "set logs_path, e.g. /mnt/data/logs/job.log",
            )
        elif logs_path and destination != "PATH":
            add(
                "logs_path",
                "LOGS-PATH",
                f"logs_path is set, but logs_destination is {destination!r}, so it would be ignored",
                "set logs_destination='PATH', or remove logs_path",
            )
    if values.get("pin_image_digest") is True:
        if values.get("image_check") == "off":
            add(
                "pin_image_digest",
                "P-COMBO",
                "pin_image_digest needs the image preflight, but image_check is 'off'",
                "set image_check to 'error' or 'warn'",
            )
        if values.get("image_streaming") is False:
            add(
                "pin_image_digest",
                "P-COMBO",
                "pin_image_digest needs the image preflight, which checks streaming jobs only",
                "remove pin_image_digest, or stream the image",
            )
    found.extend(_vm_combinations(values))
    found.extend(_label_budget(values, context))
    return found  # fmt: skip


def _given(values: Mapping[str, Any], name: str) -> bool:
    """Whether a parameter was given: any value but None and False (a template counts)."""
    return values.get(name) not in (None, False)


def _vm_combinations(values: Mapping[str, Any]) -> list[Problem]:
    """Contradictions between the VM parameters: template vs policy, Spot vs model, GPU, disks."""
    found: list[Problem] = []

    def add(name: str, message: str, fix: str) -> None:
        found.append(Problem(_field_of(name), "P-COMBO", message, fix, parameter=name))

    if _given(values, "instance_template"):
        clashing = [name for name in INSTANCE_POLICY_PARAMETERS if _given(values, name)]
        if clashing:
            add(
                "instance_template",
                f"instance_template gives the VMs, so {', '.join(clashing)} cannot be set with it (Batch "
                "takes instances[0] from a template or a policy, never both)",
                f"put {', '.join(clashing)} into the instance template, or remove instance_template",
            )
    model = values.get("provisioning_model")
    if values.get("spot") is True and model not in (None, "SPOT"):
        add(
            "spot",
            f"spot=True asks for SPOT, but provisioning_model is {model!r}",
            "keep one of them: spot=True is short for provisioning_model='SPOT'",
        )
    if model == "RESERVATION_BOUND" and values.get("reservation") == "NO_RESERVATION":
        add(
            "reservation",
            "provisioning_model RESERVATION_BOUND runs on reserved VMs, but reservation is NO_RESERVATION",
            "name the reservation, or choose another provisioning_model",
        )
    for name in ("accelerator_count", "gpu_driver_version"):
        if _given(values, name) and not _given(values, "accelerator_type"):
            add(name, f"{name} is set without accelerator_type", "set accelerator_type, e.g. nvidia-tesla-t4")
    if _given(values, "gpu_driver_version") and values.get("install_gpu_drivers") is False:
        add(
            "gpu_driver_version",
            "gpu_driver_version is set, but install_gpu_drivers is False, so Batch installs no driver",
            "remove gpu_driver_version, or let Batch install the drivers",
        )
    if _given(values, "boot_disk_size_gb") and _given(values, "boot_disk_mib"):
        add(
            "boot_disk_mib",
            "boot_disk_mib is set with boot_disk_size_gb, and Batch honours only boot_disk_size_gb",
            "remove boot_disk_mib, and count its space in boot_disk_size_gb",
        )
    return found


def _label_budget(values: Mapping[str, Any], context: Context) -> list[Problem]:
    """Labels counted in the user's terms: how many given, how many the provider adds, the limit."""
    given, overrides = values.get("labels"), values.get("job_overrides")
    if not _known(given, overrides):
        return []
    yours = set(given or ())
    if isinstance(overrides, Mapping) and isinstance(overrides.get("labels"), Mapping):
        yours |= set(overrides["labels"])
    ours = set(context.provider_labels)
    # The validator's L-4: these are job labels (L-1 counts the allocationPolicy's, on each VM).
    limit, rule = MAX_JOB_LABELS, "L-4"
    if len(yours) + len(ours) <= limit:
        return []
    added = f"; the provider adds {len(ours)} of its own ({', '.join(sorted(ours))})" if ours else ""
    return [
        Problem(
            "labels",
            rule,
            f"{len(yours)} labels given{added}; a Batch job takes at most {limit} labels",
            f"give at most {limit - len(ours)} labels",
            parameter="labels",
        )
    ]


def _field_of(name: str) -> str:
    parameter = JOB_PARAMETERS.get(name) or OPERATOR_PARAMETERS.get(name)
    return (parameter.field if parameter else None) or ""


def raise_for(
    problems: list[Problem], subject: str, error: type[InvalidParameters] = InvalidParameters
) -> None:
    """Raise ``error`` with the problems that are errors, if any."""
    bad = [problem for problem in problems if problem.is_error]
    if bad:
        raise error(bad, subject)
