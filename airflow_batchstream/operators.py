"""BatchStreamJobOperator: render -> validate -> preflight -> submit or re-attach -> wait or defer.

Importing this module (what a DAG file does) loads neither ``grpc``, ``google.api_core`` nor
``google.cloud.batch_v1``: the hook, the trigger, the spec renderer and the image preflight are
imported inside the methods that use them.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator, conf

from airflow_batchstream import config, states
from airflow_batchstream.exceptions import (
    ImageCheckFailed,
    JobConflict,
    JobSpecInvalid,
    TriggerEventMissing,
)
from airflow_batchstream.identity import RESERVED_LABEL_KEYS
from airflow_batchstream.jobspec import forms
from airflow_batchstream.jobspec.parameters import JOB_PARAMETERS, OPERATOR_PARAMETERS
from airflow_batchstream.jobspec.policy import DEFAULT_POLICY, ValidationPolicy
from airflow_batchstream.links import BatchStreamJobLink, BatchStreamLogsLink, persist_links
from airflow_batchstream.mixins import BatchStreamHookMixin, check_parameters_of

if TYPE_CHECKING:
    from airflow.sdk import Context
    from google.cloud.batch_v1 import Job

    from airflow_batchstream.identity import TaskInstanceIdentity
    from airflow_batchstream.ownership import Claim, OwnershipRegister


class BatchStreamJobOperator(BatchStreamHookMixin, BaseOperator):
    """Run a container on Google Cloud Batch with Image Streaming, exactly once per try.

    The job is rendered from the parameters, validated (every problem reported at once, before any
    API call), its image checked for streaming eligibility, then created under a deterministic id
    (or adopted, when an earlier try that died left it running), and awaited in the worker or the
    triggerer. Returns a compact summary (job name, uid, state, task counts, timeline, links).
    Which try owns the job is kept in Airflow's Task State Store; what Clear, mark failed/success,
    retries and restarts do to the job is described in :mod:`airflow_batchstream.ownership`.

    Every parameter is checked against :data:`~airflow_batchstream.jobspec.parameters.OPERATOR_PARAMETERS`:
    static values in the constructor (a bad DAG fails to import, naming the parameter), templated
    ones once rendered, at the start of ``execute``, before any API call
    (:class:`~airflow_batchstream.exceptions.ParameterInvalid`).

    .. parameters:begin (written by scripts/rules_doc.py from jobspec/parameters.py)

    :param image_uri: Artifact Registry image, ``LOC-docker.pkg.dev/PROJECT/REPO/IMAGE[:TAG][@sha256:...]``.
        (templated)
    :param commands: container commands (CMD override, appended to the ENTRYPOINT), a list of strings.
        (templated)
    :param entrypoint: container ENTRYPOINT override. (templated)
    :param environment: environment variables of every task, a mapping of strings. (templated)
    :param secret_environment: variable name → Secret Manager version ``projects/P/secrets/S/versions/V``.
        (templated)
    :param volumes: list of Batch volumes, camelCase mappings (``gcs``, ``nfs``, ``deviceName``,
        ``mountPath``), e.g. ``{"gcs": {"remotePath": "bucket"}, "mountPath": "/mnt/data"}``. (templated)
    :param container_volumes: docker-style ``/host:/ctr[:ro]`` mounts of the container. (templated)
    :param task_count: number of tasks, 1-100,000 (an array job: each task gets ``BATCH_TASK_INDEX`` and
        ``BATCH_TASK_COUNT``).
    :param parallelism: tasks running at once, 1-5,000; Batch's default when None.
    :param cpu_milli: CPU per task in milli-CPUs, at least 1; Batch's default (2000) when None.
    :param memory_mib: memory per task in MiB, at least 1; Batch's default (2000) when None.
    :param machine_type: Compute Engine machine type, e.g. ``e2-standard-4``; Batch's choice when None. Arm
        families (``t2a``, ``c4a``, ...) select the arm64 image. (templated)
    :param provisioning_model: ``STANDARD``, ``SPOT``, ``FLEX_START`` (Dynamic Workload Scheduler's
        best-effort start, at most 7 days of run time) or ``RESERVATION_BOUND``; Batch's default (standard)
        when None.
    :param spot: run on Spot VMs: the short form of ``provisioning_model='SPOT'``.
    :param accelerator_type: GPU type attached to each VM, e.g. ``nvidia-tesla-t4`` or ``nvidia-l4`` (N1
        machine types take attached GPUs; accelerator-optimized ones, ``a2-*``, ``a3-*``, ``a4-*``, ``g2-*``,
        come with theirs and need none). (templated)
    :param accelerator_count: GPUs of ``accelerator_type`` per VM; 1 when None.
    :param install_gpu_drivers: let Batch install the GPU drivers; when None, on for a job that asks for GPUs
        (``accelerator_type`` or an accelerator-optimized ``machine_type``). ``False`` needs drivers in the
        boot image.
    :param gpu_driver_version: NVIDIA driver version Batch installs, e.g. ``535.104.05`` (with
        ``accelerator_type``); Batch's choice when None.
    :param boot_disk_size_gb: boot disk size in GB, at least the image's (30 for Batch's images); Batch sizes
        it from the image and tasks when None.
    :param boot_disk_type: ``pd-balanced`` (Batch's default), ``pd-ssd``, ``pd-standard``, ``pd-extreme`` or a
        ``hyperdisk-*`` type.
    :param boot_disk_image: VM image: ``batch-debian``, ``batch-cos``, ``batch-hpc-rocky``, or
        ``projects/P/global/images/[family/]I``; Batch's default when None. (templated)
    :param boot_disk_mib: extra boot disk per task in MiB, added to Batch's own sizing (Batch ignores it when
        ``boot_disk_size_gb`` is set).
    :param reservation: Compute Engine reservation the VMs consume (its name), or ``NO_RESERVATION``; any
        matching reservation when None. (templated)
    :param min_cpu_platform: minimum CPU platform, e.g. ``Intel Ice Lake``.
    :param instance_template: global instance template of the job's project (name,
        ``global/instanceTemplates/T`` or ``projects/P/global/instanceTemplates/T``) that gives the VMs
        instead of the parameters above: not with ``machine_type``, GPU, boot disk, provisioning, reservation
        or CPU platform parameters. (templated)
    :param max_run_duration: per-task time limit: seconds, or a duration string ``"3600s"`` (Batch fails a job
        still running after 14 days, 7 with ``FLEX_START``, whatever it says).
    :param max_retries: Batch task retries, 0-10. Above 0 the task spec also gets one ``RETRY_TASK`` lifecycle
        policy on the infrastructure exit codes (50001-50004, 50006) and ``retry_exit_codes``, and such a
        policy fails every other non-zero exit code without retry.
    :param retry_exit_codes: further exit codes Batch retries when ``max_retries`` is above 0: list every
        application code worth retrying, since the ``RETRY_TASK`` policy fails all others.
    :param labels: job labels, a mapping of strings. The operator adds 7 of its own (``managed-by``,
        ``airflow-dag/task/run/map-index/try``, ``batchstream-lineage``), so at most 56 are yours, and its
        keys are refused. (templated)
    :param service_account: e-mail of the service account the job's VMs run as; the Compute Engine default
        when None. (templated)
    :param network: VPC network: ``global/networks/N``, ``projects/P/global/networks/N`` or its full URL.
        (templated)
    :param subnetwork: subnetwork: ``regions/R/subnetworks/S``, ``projects/P/regions/R/subnetworks/S`` or its
        full URL. (templated)
    :param no_external_ip: VMs without external IPs (they need Private Google Access or Cloud NAT).
    :param allowed_locations: ``regions/R`` or ``zones/R-x`` entries, all in the job's region; the job's
        region when None. (templated)
    :param logs_destination: ``CLOUD_LOGGING``, ``PATH`` (with an absolute ``logs_path``) or ``NONE`` (no
        ``logsPolicy``: Batch keeps no logs).
    :param logs_path: where ``PATH`` logs go: an absolute path, e.g. on a mounted bucket
        ``/mnt/data/logs/job.log``. (templated)
    :param image_streaming: stream the image (this provider's purpose). ``False`` submits a job that pulls its
        image, without the streaming rules or the image preflight; ``job_overrides`` may then not turn
        streaming on.
    :param job_overrides: mapping of Job fields (camelCase or snake_case) merged over the rendered job, for
        any field the other parameters do not cover: mappings merge, lists of mappings merge by index, other
        values replace. It may not turn image streaming off, nor set container fields streaming does not
        support. (templated)
    :param location: Batch region of the job, e.g. ``us-central1`` (a zone is refused, with its region
        suggested). (templated)
    :param project_id: Google Cloud project: an id (6-30 of ``a-z0-9-``, a letter first), a domain-scoped
        ``example.com:proj``, or a project number. When None, the connection's project (against the emulator,
        the emulator's), which the log names. (templated)
    :param job_id: explicit job id (at most 63 of ``a-z0-9-``, a letter first); by default a deterministic id
        per task-instance try, ``<dag-task>-<hash of dag, task, run, map index>-t<try>``. (templated)
    :param wait_for_completion: wait for the job to end; ``False`` returns the summary right after submission.
    :param deferrable: wait in the triggerer instead of the worker.
    :param poll_interval: seconds between checks after a change; grows to 4x while the job stays unchanged.
        (templated)
    :param timeout: seconds, measured from the job's submission: an absolute deadline that survives deferral
        and triggerer restarts. When it passes the job is cancelled (``cancel_on_kill``) and the task fails.
        Deferred, it also bounds the deferral itself (a minute later), so the wait ends even when no triggerer
        runs.
    :param cancel_on_kill: cancel the job when the task is killed (marked failed or success, cleared,
        ``execution_timeout``), its deadline passes, or its deferral ends without an event; never when Airflow
        has handed the task instance to a newer try that adopts the job.
    :param reattach: when an earlier try that died (worker or scheduler lost) left its job running, adopt it
        instead of starting a second one. ``False``: cancel it (``cancel_on_kill``) and start a fresh job. A
        job being cancelled, or of a deferred try a user cleared or marked, is never adopted.
    :param container_logs: what the job's tasks print (Cloud Logging's ``batch_task_logs``), in the task log,
        each line prefixed with its task index and stderr marked: ``all`` as it comes, ``off``, or a number N
        for the last N lines once the job ended. A failed job's diagnosis ends with the failing task's last
        lines. Needs ``logs_destination`` ``CLOUD_LOGGING`` and ``logging.logEntries.list`` on the project.
    :param image_check: image preflight: ``error`` (problems stop submission), ``warn`` (they are logged) or
        ``off``.
    :param pin_image_digest: submit the image by the digest the preflight checked, ``IMAGE@sha256:...`` (the
        tag dropped, as Artifact Registry documents), so every task and retry runs the same bytes.
    :param registry_url: registry base URL for the preflight (private mirrors, tests; plain HTTP only on
        loopback); empty or None means the image's own host. (templated)
    :param validation_policy: ``ValidationPolicy`` for the inferred rules (multi-regions, gcr.io hosts, OCI
        types, GPU rules); its defaults when None.
    :param gcp_conn_id: the Google provider's Airflow connection. (templated)
    :param impersonation_chain: service account e-mail(s) to impersonate. (templated)

    .. parameters:end
    """

    template_fields: Sequence[str] = (
        *(p.name for p in OPERATOR_PARAMETERS.values() if p.templated),
        "submitted_job",
    )
    template_fields_renderers = {
        "commands": "json",
        "job_overrides": "json",
        "environment": "json",
        "labels": "json",
        "volumes": "json",
        "submitted_job": "json",
    }
    #: The Batch Job JSON this try submitted, exactly as CreateJob received it (rendered, validated,
    #: overridden, labelled, its image pinned), or the adopted job as Batch holds it. Not a
    #: parameter: a template field only so that the UI's Rendered Templates shows it, set once the
    #: job exists (:meth:`show_submitted_job`).
    submitted_job: dict[str, Any] | None = None
    ui_color = "#e8f0fe"
    operator_extra_links = (BatchStreamJobLink(), BatchStreamLogsLink())

    def __init__(
        self,
        *,
        image_uri: str,
        location: str,
        project_id: str | None = None,
        commands: Sequence[str] | None = None,
        entrypoint: str | None = None,
        environment: Mapping[str, str] | None = None,
        secret_environment: Mapping[str, str] | None = None,
        volumes: Sequence[Mapping[str, Any]] | None = None,
        container_volumes: Sequence[str] | None = None,
        task_count: int = 1,
        parallelism: int | None = None,
        cpu_milli: int | None = None,
        memory_mib: int | None = None,
        machine_type: str | None = None,
        provisioning_model: str | None = None,
        spot: bool = False,
        accelerator_type: str | None = None,
        accelerator_count: int | None = None,
        install_gpu_drivers: bool | None = None,
        gpu_driver_version: str | None = None,
        boot_disk_size_gb: int | None = None,
        boot_disk_type: str | None = None,
        boot_disk_image: str | None = None,
        boot_disk_mib: int | None = None,
        reservation: str | None = None,
        min_cpu_platform: str | None = None,
        instance_template: str | None = None,
        max_run_duration: int | float | str | None = None,
        max_retries: int = 0,
        retry_exit_codes: Sequence[int] | None = None,
        labels: Mapping[str, str] | None = None,
        service_account: str | None = None,
        network: str | None = None,
        subnetwork: str | None = None,
        no_external_ip: bool = False,
        allowed_locations: Sequence[str] | None = None,
        logs_destination: str = "CLOUD_LOGGING",
        logs_path: str | None = None,
        image_streaming: bool = True,
        job_overrides: Mapping[str, Any] | None = None,
        job_id: str | None = None,
        wait_for_completion: bool = True,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float | str = config.DEFAULT_POLL_INTERVAL.read(),
        timeout: float | None = None,
        cancel_on_kill: bool = True,
        reattach: bool = True,
        container_logs: str | int = "all",
        image_check: str = "error",
        pin_image_digest: bool = False,
        registry_url: str | None = None,
        validation_policy: ValidationPolicy | None = None,
        gcp_conn_id: str = "google_cloud_default",
        impersonation_chain: str | Sequence[str] | None = None,
        **kwargs: Any,
    ) -> None:
        # Every parameter, by the names of the one table (also what the loop below stores).
        arguments = {name: value for name, value in locals().items() if name in OPERATOR_PARAMETERS}
        super().__init__(**kwargs)
        # Static values are checked now (a DAG import error); templated ones once rendered.
        self.check_parameters(arguments, static=True)
        for name, value in arguments.items():
            setattr(self, name, value)
        #: The job this try owns (None before submission, after release, or once handed over).
        self._job_name: str | None = None
        #: Which try owns the job: read from the task context once a try runs (execute or
        #: execute_complete), so ownership is imported then, not when a DAG file is parsed.
        self._register: OwnershipRegister | None = None

    # -- pieces of execute, in order

    def check_parameters(self, values: Mapping[str, Any], *, static: bool) -> dict[str, Any]:
        """Every parameter against the table; :class:`ParameterInvalid` names each wrong one."""
        policy = values.get("validation_policy")
        context = forms.Context(
            policy=policy if isinstance(policy, ValidationPolicy) else DEFAULT_POLICY,
            streaming=values.get("image_streaming") is not False,
            provider_labels=RESERVED_LABEL_KEYS,
        )
        subject = f"{type(self).__name__} {self.task_id!r}"
        return check_parameters_of(subject, values, OPERATOR_PARAMETERS, static=static, context=context)

    def check_rendered_parameters(self) -> None:
        """Check the parameters as rendered, and resolve the project: before any API call.

        A template such as ``"{{ var.value.batchstream_poll_interval }}"`` arrives as a string, and
        a bad one fails here. Without ``project_id`` the project comes from the connection (or the
        emulator's default), and the log says which and from where.
        """
        values = {name: getattr(self, name) for name in OPERATOR_PARAMETERS}
        for name, value in self.check_parameters(values, static=False).items():
            setattr(self, name, value)
        if self.project_id is None:
            self.project_id = self.hook.resolve_project(None)

    def render(self, identity: TaskInstanceIdentity) -> dict[str, Any]:
        """The Job dict for this try, with the provider's identity labels merged in."""
        from airflow_batchstream.identity import merge_labels
        from airflow_batchstream.jobspec.render import render_job

        job = render_job(**{name: getattr(self, name) for name in JOB_PARAMETERS})
        job["labels"] = merge_labels(job.get("labels"), identity.labels())
        return job

    def validate(self, job: dict[str, Any], job_id: str) -> None:
        """Raise :class:`JobSpecInvalid` with every error at once; log the warnings.

        Streaming is the contract: a job without it is an error, unless ``image_streaming=False``.
        The job is checked under its parent ``projects/P/locations/R`` (the project is resolved by
        now), so that an instance template of another project is refused too. Each problem names
        the parameter that rendered its field.
        """
        from dataclasses import replace

        from airflow_batchstream.jobspec.problems import errors, warnings
        from airflow_batchstream.jobspec.render import name_parameters
        from airflow_batchstream.jobspec.validate import validate_job, validate_job_id

        policy = replace(
            self.validation_policy or DEFAULT_POLICY, streaming_off="error" if self.image_streaming else "off"
        )
        parent = self.hook.parent(self.project_id, self.location)
        problems = validate_job_id(job_id) + validate_job(job, parent, policy)
        problems = name_parameters(problems, OPERATOR_PARAMETERS, self.job_overrides)
        for problem in warnings(problems):
            self.log.warning("%s", problem.format())
        if errors(problems):
            raise JobSpecInvalid(problems)

    def preflight(self, job: dict[str, Any]) -> str:
        """Check the image per ``image_check``; return its digest ('' when not checked).

        With ``pin_image_digest`` the job's ``imageUri`` is rewritten to ``IMAGE@sha256:<digest>``,
        so every task of every retry runs exactly the image that was checked.
        """
        if self.image_check == "off":
            return ""
        if not self.image_streaming:
            self.log.info("Image preflight skipped: image_streaming is False (it checks streaming only).")
            return ""
        if self.hook.emulator_host and not self.registry_url:
            self.log.info(
                "Image preflight skipped: %s is set and no registry_url was given (there is no "
                "Artifact Registry offline).",
                config.EMULATOR_ENV,
            )
            return ""
        from airflow_batchstream.jobspec.problems import errors, format_problems
        from airflow_batchstream.jobspec.render import describe_boot_disk
        from airflow_batchstream.preflight import REGISTRY_RETRY, ImageUnreadable, preflight_image
        from airflow_batchstream.preflight.media import format_size

        credentials = None if self.hook.emulator_host else self.hook.get_credentials()
        try:
            result = preflight_image(
                self.image_uri,
                machine_type=self.machine_type,
                policy=self.validation_policy,
                credentials=credentials,
                registry_url=self.registry_url,
                retry=replace(REGISTRY_RETRY, budget=config.PREFLIGHT_RETRY_BUDGET.read()),
            )
        except (ImageUnreadable, ValueError) as exc:
            return self._image_problem(f"The image {self.image_uri} cannot be checked: {exc}")
        self.log.info(
            "Image %s: %d layers, %s compressed, streamed as tasks read it instead of pulled whole; "
            "boot disk: %s",
            self.image_uri,
            len(result.layers),
            format_size(result.total_size),
            describe_boot_disk(job),
        )
        if result.problems:
            text = format_problems(result.problems)
            if errors(result.problems):
                self._image_problem(f"The image {self.image_uri} cannot be streamed:\n{text}")
            else:
                self.log.warning("Image %s:\n%s", self.image_uri, text)
        if self.pin_image_digest and result.digest:
            pinned = result.pinned_uri
            for group in job.get("taskGroups", []):
                for runnable in group.get("taskSpec", {}).get("runnables", []):
                    if runnable.get("container", {}).get("imageUri") == self.image_uri:
                        runnable["container"]["imageUri"] = pinned
            self.log.info("Pinned image %s to %s", self.image_uri, pinned)
        return result.digest or ""

    def _image_problem(self, message: str) -> str:
        if self.image_check == "error":
            raise ImageCheckFailed(message)
        self.log.warning("%s", message)
        return ""

    def submit(self, identity: TaskInstanceIdentity, job_id: str, job_dict: dict[str, Any]) -> Job:
        """Adopt an earlier try's job, or create ours (adopting it if it exists); claim it first.

        The claim in the Task State Store says which try owns which job
        (:mod:`airflow_batchstream.ownership`); what this try does about an earlier try's claim is
        decided by :func:`~airflow_batchstream.ownership.decide_takeover`.
        """
        from airflow_batchstream.identity import belongs_to

        project = self.hook.resolve_project(self.project_id)
        claim = self._register.read()
        if claim is not None and claim.try_number < identity.try_number:
            adopted = self._take_over(claim, identity, job_dict)
            if adopted is not None:
                return adopted
        self._register.claim(self.hook.job_name(project, self.location, job_id))
        self.show_submitted_job(job_dict)
        job, is_new = self.hook.create_job(
            project_id=project, location=self.location, job_id=job_id, job=job_dict
        )
        # Checked even for a "new" job: the server deduplicates by request_id (derived from the
        # job name), so a create may hand back a job someone else made under an explicit job_id.
        if not belongs_to(job.labels, identity):
            raise _conflict(job, identity, "this try")
        if not is_new:
            self.log.info("Adopting Batch job %s: it was created for this very try", job.name)
        return job

    def _take_over(
        self, claim: Claim, identity: TaskInstanceIdentity, job_dict: dict[str, Any]
    ) -> Job | None:
        """Do what :func:`~airflow_batchstream.ownership.decide_takeover` says about an earlier try's
        job: return it when this try adopts it, None when this try creates its own."""
        from airflow_batchstream.ownership import Takeover, decide_takeover

        earlier = self.hook.get_job(claim.job, missing_ok=True)
        state = states.state_name(earlier.status.state) if earlier is not None else None
        decision = decide_takeover(claim, identity.try_number, state, reattach=self.reattach)
        self.log.info(
            "Try %s found Batch job %s of try %s (%s, awaited in the %s): %s; %s",
            identity.try_number,
            claim.job,
            claim.try_number,
            state or "not found",
            claim.wait.value,
            decision.action.value,
            decision.reason,
        )
        if decision.action is Takeover.ADOPT:
            self._register.claim(claim.job)
            self.show_submitted_job(job_spec(earlier))
            self.log.info(
                "Re-attaching to Batch job %s of try %s, which is still %s",
                claim.job,
                claim.try_number,
                state,
            )
            return earlier
        if decision.action is Takeover.COMPLETE:
            return self._complete_submission(claim, identity, job_dict)
        if decision.action is Takeover.REPLACE and self.cancel_on_kill:
            self.hook.cancel_job(claim.job)
        return None

    def _complete_submission(
        self, claim: Claim, identity: TaskInstanceIdentity, job_dict: dict[str, Any]
    ) -> Job:
        """CreateJob exactly as the earlier try sent it (its job id, its labels, hence its request id),
        so that its own create, should it still be in flight, and ours make one job."""
        from airflow_batchstream.identity import belongs_to, merge_labels

        parts = states.parse_job_name(claim.job)
        earlier_try = replace(identity, try_number=claim.try_number)
        job_dict = dict(job_dict, labels=merge_labels(job_dict.get("labels"), earlier_try.labels()))
        self._register.claim(claim.job)
        self.show_submitted_job(job_dict)
        job, _ = self.hook.create_job(
            project_id=parts["project"], location=parts["location"], job_id=parts["job_id"], job=job_dict
        )
        if not belongs_to(job.labels, identity, same_try=False):
            raise _conflict(job, identity, "this task instance")
        self.log.info("Adopting Batch job %s, whose submission try %s began", job.name, claim.try_number)
        return job

    def show_submitted_job(self, job: Mapping[str, Any]) -> None:
        """Make ``job`` this task's ``submitted_job`` in Rendered Templates, now.

        Airflow records a task's rendered fields once, before ``execute`` (and again when a deferred
        task resumes), when no job exists yet; so they are sent again here, through the same task-runner
        channel, and the job is visible while it runs. Outside a task runner (the operator called
        directly) the value is only kept on the operator. Best effort: Rendered Templates is a view,
        and a try never fails over it (the channel and its serializer are the task runner's own).
        """
        from airflow.sdk.execution_time import task_runner
        from airflow.sdk.execution_time.comms import SetRenderedFields

        self.submitted_job = dict(job)
        comms = getattr(task_runner, "SUPERVISOR_COMMS", None)
        if comms is None:
            return
        try:
            comms.send(SetRenderedFields(rendered_fields=task_runner._serialize_rendered_fields(self)))
        except Exception as exc:
            self.log.warning("The submitted job could not be shown in Rendered Templates: %s", exc)

    def deadline_for(self, job: Job) -> float | None:
        """Absolute epoch seconds: ``timeout`` after the job's creation (or now)."""
        if self.timeout is None:
            return None
        from airflow_batchstream.summary import to_epoch

        created = to_epoch(job.create_time)
        return (created if created is not None else time.time()) + float(self.timeout)

    # -- Airflow entry points

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_batchstream.identity import TaskInstanceIdentity
        from airflow_batchstream.ownership import Wait
        from airflow_batchstream.summary import summarize

        self.check_rendered_parameters()
        identity = TaskInstanceIdentity.from_context(context)
        self._register = _register_of(context, identity.try_number)
        job_id = self.job_id or identity.job_id
        job_dict = self.render(identity)
        self.validate(job_dict, job_id)
        digest = self.preflight(job_dict)
        job = self.submit(identity, job_id, job_dict)
        self._job_name = job.name
        summary = summarize(job, image_digest_hint=digest)
        persist_links(context, summary)
        self.log.info("Batch job %s: %s", job.name, summary["console_url"])

        if states.outcome_of(job).is_terminal:
            return self.finish(self.hook.end_payload(job, job.name, image_digest_hint=digest), context)
        if not self.wait_for_completion:
            self.release()
            return summary
        deadline = self.deadline_for(job)
        if self.deferrable:
            from airflow_batchstream.triggers import BatchStreamJobTrigger

            self._register.claim(job.name, Wait.DEFERRED)
            self.defer(
                trigger=BatchStreamJobTrigger(
                    job_name=job.name,
                    deadline=deadline,
                    poll_interval=self.poll_interval,
                    gcp_conn_id=self.gcp_conn_id,
                    impersonation_chain=self.impersonation_chain,
                    cancel_on_kill=self.cancel_on_kill,
                    emulator_host=self.hook.emulator_host,  # where the job was created
                    api_endpoint=self.hook.api_endpoint,
                    image_digest=digest,
                    container_logs=self.container_logs,
                ),
                method_name="execute_complete",
                # Rendered Templates is recorded again when the task resumes: hand the job over.
                kwargs={"submitted_job": self.submitted_job},
                timeout=defer_timeout(deadline),
            )
        payload = self.hook.wait_for_job(
            job.name,
            poll_interval=self.poll_interval,
            deadline=deadline,
            image_digest_hint=digest,
            container_logs=self.container_logs,
        )
        if payload["status"] == states.TIMEOUT:
            self.cancel_owned_job("its deadline passed")
        return self.finish(payload, context)

    def execute_complete(
        self,
        context: Context,
        event: dict[str, Any] | None = None,
        submitted_job: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Resume after the trigger fired: its event carries the final summary (no API call).

        :param submitted_job: the job JSON :meth:`execute` submitted, shown again in Rendered
            Templates (Airflow re-records them from the bare operator when a task resumes).
        """
        if submitted_job:
            self.show_submitted_job(submitted_job)
        self._register = _register_of(context)
        if event is None:
            claim = self._register.read()
            raise TriggerEventMissing(
                "The task resumed without an event from BatchStreamJobTrigger, so the outcome of Batch "
                f"job {claim.job if claim else '(unknown)'} is not known; check the job in the Cloud "
                "console and the triggerer's log. A retry of this task replaces that job with a fresh one."
            )
        self._job_name = (event.get("summary") or {}).get("job_name") or self._job_name
        return self.finish(event, context)

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: Context) -> Any:
        """Airflow resumes a deferral that produced no event (it timed out, or its trigger failed)
        with ``next_method="__fail__"``: nobody waits for the job any more, so it is cancelled
        (``cancel_on_kill``) before the task fails."""
        from airflow.sdk.bases.operator import TRIGGER_FAIL_REPR

        if next_method == TRIGGER_FAIL_REPR:
            self._register = _register_of(context)
            claim = self._register.read()
            if claim is not None and claim.try_number == self._register.try_number:
                self._job_name = claim.job
                self.cancel_owned_job("its deferral ended without a trigger event")
                self.release()
        return super().resume_execution(next_method, next_kwargs, context)

    def finish(self, payload: Mapping[str, Any], context: Context) -> dict[str, Any]:
        """The end of this try's wait: release the claim unless the wait itself failed (an API or
        credential error leaves the job's fate open: the next try decides), then :meth:`complete`.

        The links are pushed again from the final summary: the logs link now ends where the job did.
        """
        persist_links(context, payload.get("summary") or {})
        if payload.get("status") != states.ERROR:
            self.release()
        return self.complete(payload)

    def complete(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        """The summary of a success, or the specific failure with its diagnosis."""
        summary = states.result_from_payload(payload)
        self.log.info(
            "Batch job %s succeeded: tasks %s, timeline %s",
            summary.get("job_name"),
            summary.get("task_counts"),
            summary.get("timeline"),
        )
        return summary

    def release(self) -> None:
        """This try is done with its job: forget the claim, and never cancel the job on kill."""
        if self._register is not None:
            self._register.release()
        self._job_name = None

    def cancel_owned_job(self, why: str, *, budget: float | None = None) -> None:
        """Cancel the job this try owns (``cancel_on_kill``); a job handed over is never touched.

        :param budget: seconds the cancel may keep retrying (default: the hook's retry policy).
        """
        if self.cancel_on_kill and self._job_name:
            from airflow_batchstream.retry import RetryPolicy

            self.log.info("Cancelling Batch job %s: %s", self._job_name, why)
            policy = RetryPolicy(budget=budget) if budget is not None else None
            self.hook.cancel_job(self._job_name, policy=policy)

    def on_kill(self) -> None:
        """Airflow is stopping this try: cancel its job, unless a newer try owns it now.

        Airflow sends the kill when a user marks the running task failed or success, clears it, when
        ``execution_timeout`` passes, and also when it has *superseded* this try (after a scheduler
        restart reset it, or its heartbeat was lost): then a newer try adopts the job, and cancelling
        it would fail that try. :func:`~airflow_batchstream.ownership.decide_on_kill` tells them
        apart. The deferred side is the trigger's ``on_kill``.
        """
        if not (self.cancel_on_kill and self._job_name):
            return
        from airflow_batchstream.ownership import Verdict

        decision = self._register.verdict_on_kill(timeout=PROBE_TIMEOUT)
        if decision.action is Verdict.CANCEL:
            self.cancel_owned_job(f"task killed; {decision.reason}", budget=ON_KILL_BUDGET)
        elif decision.action is Verdict.HAND_OVER:
            self.log.info("Task killed; Batch job %s left running: %s", self._job_name, decision.reason)
            self._job_name = None
        else:
            self.log.warning(
                "Task killed; Batch job %s left running, because %s. If no newer try of this task "
                "waits for it, cancel it yourself.",
                self._job_name,
                decision.reason,
            )


#: Seconds a killed try may spend cancelling its job: Airflow's supervisor escalates SIGTERM to
#: SIGKILL after 5 s, and ``on_kill`` must finish before that.
ON_KILL_BUDGET = 3.0
#: Seconds each ownership read may take in ``on_kill`` (two reads, then the cancel).
PROBE_TIMEOUT = 0.8
#: Airflow's own deferral timeout runs this long after the provider's deadline, so that the
#: trigger's deadline normally wins (and cancels the job); Airflow's ends the wait when no
#: triggerer runs at all.
DEFER_TIMEOUT_GRACE = 60.0


def defer_timeout(deadline: float | None, *, now: float | None = None) -> timedelta | None:
    """The ``timeout`` of ``defer()`` for an absolute ``deadline``: a little after it."""
    if deadline is None:
        return None
    remaining = deadline - (time.time() if now is None else now)
    return timedelta(seconds=max(0.0, remaining) + DEFER_TIMEOUT_GRACE)


#: Job fields Batch fills in itself (output only): not part of what a job was submitted with.
_OUTPUT_ONLY_FIELDS = ("name", "uid", "status", "createTime", "updateTime")


def job_spec(job: Job) -> dict[str, Any]:
    """The camelCase Job JSON of an existing job, without the fields Batch fills in itself."""
    import json

    text = type(job).to_json(job, use_integers_for_enums=False, always_print_fields_with_no_presence=False)
    spec = json.loads(text)
    for field in _OUTPUT_ONLY_FIELDS:
        spec.pop(field, None)
    return spec


def _register_of(context: Context, try_number: int | None = None) -> OwnershipRegister:
    from airflow_batchstream.identity import TaskInstanceIdentity
    from airflow_batchstream.ownership import OwnershipRegister

    if try_number is None:
        try_number = TaskInstanceIdentity.from_context(context).try_number
    return OwnershipRegister.from_context(context, try_number)


def _conflict(job: Job, identity: TaskInstanceIdentity, owner: str) -> JobConflict:
    labels = dict(job.labels)
    found = ", ".join(f"{k}={labels.get(k, '')}" for k in sorted(identity.labels()))
    return JobConflict(
        f"Batch job {job.name} already exists and does not belong to {owner} of "
        f"{identity.dag_id}.{identity.task_id} (run {identity.run_id}, map index "
        f"{identity.map_index}, try {identity.try_number}); its labels say: {found}. Use another "
        "job_id, or leave job_id unset for a deterministic id per try."
    )
