"""`batchstream render --image URI --location REGION ...`: print the Batch job JSON for parameters.

The job goes to stdout (ready for ``gcloud batch jobs submit --config -``); it is validated and any
problems go to stderr, each naming the flag that rendered its field. The flags are the operator's
job parameters, one flag each: checked by the same table
(:data:`~airflow_batchstream.jobspec.parameters.JOB_PARAMETERS`) with the same messages, with their
help and defaults from it too, and the job is held to the operator's contract: image streaming on
unless ``--no-image-streaming``.

Exit codes: 0 no errors, 1 the rendered job has errors, 2 bad usage (a wrong flag value, an
unreadable ``--overrides @FILE`` or ``--volume``).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from typing import Any

from airflow_batchstream.commands.validate import add_policy_arguments, policy_from_args, report
from airflow_batchstream.jobspec.parameters import JOB_PARAMETERS

#: Parameter name -> the flag that sets it, filled as the flags are added (messages name flags).
FLAGS: dict[str, str] = {}


def key_value(text: str) -> tuple[str, str]:
    """``K=V`` -> ``(K, V)``; V may contain ``=``."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def document(text: str) -> Any:
    """A JSON value given inline, or ``@FILE`` (JSON or YAML), read by the one safe loader."""
    from airflow_batchstream.documents import DocumentError, load_document, parse_document

    try:
        if text.startswith("@"):
            return load_document(text[1:], what=text)
        return parse_document(text, "the value", "json")
    except DocumentError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def gcs_volume(text: str) -> dict[str, Any]:
    """``BUCKET[/PATH]:/MOUNT`` -> a Batch GCS volume."""
    remote, sep, mount = text.partition(":")
    if not sep or not remote or not mount:
        raise argparse.ArgumentTypeError(f"expected BUCKET[/PATH]:/MOUNT/PATH, got {text!r}")
    return {"gcs": {"remotePath": remote}, "mountPath": mount}


def _flag(group: Any, flag: str, parameter: str, **options: Any) -> None:
    """Add ``flag`` for ``parameter``; its value is checked by the parameter table, as text.

    The help is the parameter's meaning from the table, unless ``options`` gives one; a flag left
    out takes the table's default (:func:`parameters_from`).
    """
    FLAGS[parameter] = flag
    if "help" not in options:
        repeat = " (repeat the flag for each one)" if options.get("action") == "append" else ""
        text = JOB_PARAMETERS[parameter].doc.replace("`", "").replace(" when None", " when not given")
        options["help"] = text.replace("%", "%%") + repeat
    group.add_argument(flag, dest=parameter, **options)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    _flag(parser, "--image", "image_uri", required=True, metavar="URI")
    parser.add_argument(
        "--location", required=True, help="the job's region, e.g. us-central1 (for validation)"
    )
    container = parser.add_argument_group("container")
    _flag(container, "--command", "commands", action="append", metavar="ARG")
    _flag(container, "--entrypoint", "entrypoint")
    _flag(container, "--env", "environment", action="append", type=key_value, metavar="K=V")
    _flag(
        container, "--secret-env", "secret_environment", action="append", type=key_value,
        metavar="K=projects/P/secrets/S/versions/V",
    )  # fmt: skip
    _flag(container, "--container-volume", "container_volumes", action="append", metavar="/HOST:/CTR[:ro]")
    container.add_argument(
        "--gcs-volume", action="append", type=gcs_volume, default=[], metavar="BUCKET[/PATH]:/MOUNT",
        help="a Cloud Storage volume, the short form of --volume (repeat the flag for each one)",
    )  # fmt: skip
    _flag(container, "--volume", "volumes", action="append", type=document, metavar="JSON")
    _flag(
        container, "--no-image-streaming", "image_streaming", action="store_false",
        help="render a job that pulls its image (the operator's image_streaming=False)",
    )  # fmt: skip
    tasks = parser.add_argument_group("tasks")
    _flag(tasks, "--task-count", "task_count", metavar="N")
    _flag(tasks, "--parallelism", "parallelism", metavar="N")
    _flag(tasks, "--cpu-milli", "cpu_milli", metavar="N")
    _flag(tasks, "--memory-mib", "memory_mib", metavar="N")
    _flag(tasks, "--max-run-duration", "max_run_duration", metavar="SECONDS|DURATION")
    _flag(tasks, "--max-retries", "max_retries", metavar="N")
    _flag(tasks, "--retry-exit-code", "retry_exit_codes", action="append", metavar="CODE")
    vms = parser.add_argument_group("VMs")
    _flag(vms, "--machine-type", "machine_type")
    _flag(
        vms,
        "--provisioning-model",
        "provisioning_model",
        metavar="STANDARD|SPOT|FLEX_START|RESERVATION_BOUND",
    )
    _flag(vms, "--spot", "spot", action="store_true")
    _flag(vms, "--reservation", "reservation", metavar="NAME|NO_RESERVATION")
    _flag(vms, "--min-cpu-platform", "min_cpu_platform", metavar="PLATFORM")
    _flag(vms, "--instance-template", "instance_template", metavar="TEMPLATE")
    _flag(vms, "--boot-disk-size-gb", "boot_disk_size_gb", metavar="GB")
    _flag(vms, "--boot-disk-type", "boot_disk_type", metavar="TYPE")
    _flag(vms, "--boot-disk-image", "boot_disk_image", metavar="IMAGE")
    _flag(tasks, "--boot-disk-mib", "boot_disk_mib", metavar="MIB")
    gpus = parser.add_argument_group("GPUs")
    _flag(gpus, "--accelerator-type", "accelerator_type", metavar="TYPE")
    _flag(gpus, "--accelerator-count", "accelerator_count", metavar="N")
    _flag(gpus, "--install-gpu-drivers", "install_gpu_drivers", action=argparse.BooleanOptionalAction)
    _flag(gpus, "--gpu-driver-version", "gpu_driver_version", metavar="VERSION")
    _flag(vms, "--service-account", "service_account", metavar="EMAIL")
    _flag(vms, "--network", "network", metavar="global/networks/NAME")
    _flag(vms, "--subnetwork", "subnetwork", metavar="regions/REGION/subnetworks/NAME")
    _flag(vms, "--no-external-ip", "no_external_ip", action="store_true")
    _flag(vms, "--allowed-location", "allowed_locations", action="append", metavar="regions/R|zones/Z")
    job = parser.add_argument_group("job")
    _flag(job, "--label", "labels", action="append", type=key_value, metavar="K=V")
    _flag(job, "--logs-destination", "logs_destination", metavar="CLOUD_LOGGING|PATH|NONE")
    _flag(job, "--logs-path", "logs_path")
    _flag(job, "--overrides", "job_overrides", type=document, metavar="JSON|@FILE")
    parser.add_argument(
        "--format",
        choices=("text", "json"),
        default="text",
        dest="output_format",
        help="format of the problems",
    )
    add_policy_arguments(parser)


def parameters_from(args: argparse.Namespace) -> dict[str, Any]:
    """The job parameters the flags give, as the operator would receive them: a flag left out
    gives the parameter's default."""
    values = {
        name: JOB_PARAMETERS[name].default if getattr(args, name) is None else getattr(args, name)
        for name in FLAGS
    }
    for name in ("environment", "secret_environment", "labels"):  # repeated K=V flags: a mapping
        values[name] = dict(values[name]) if values[name] else None
    values["volumes"] = [*args.gcs_volume, *(values["volumes"] or [])] or None
    return values


def run(args: argparse.Namespace) -> int:
    from airflow_batchstream.identity import RESERVED_LABEL_KEYS
    from airflow_batchstream.jobspec.forms import Context
    from airflow_batchstream.jobspec.parameters import check_parameters
    from airflow_batchstream.jobspec.problems import errors
    from airflow_batchstream.jobspec.render import name_parameters, render_job
    from airflow_batchstream.jobspec.validate import validate_job

    values = parameters_from(args)
    streaming = values["image_streaming"]
    policy = policy_from_args(args)
    # The operator's own labels are not rendered here (they name a task instance), but they count.
    context = Context(text=True, policy=policy, streaming=streaming, provider_labels=RESERVED_LABEL_KEYS)
    checked, problems = check_parameters(values, JOB_PARAMETERS, context=context)
    if errors(problems):
        for problem in problems:
            print(f"batchstream render: error: {_one_line(problem)}", file=sys.stderr)
        return 2
    job = render_job(**checked)
    print(json.dumps(job, indent=2, ensure_ascii=False))
    policy = replace(policy, streaming_off="error" if streaming else "off")
    problems = name_parameters(
        validate_job(job, args.location, policy), JOB_PARAMETERS, checked["job_overrides"]
    )
    if problems:
        report([_flagged(problem) for problem in problems], args.output_format, sys.stderr, "rendered job")
    return 1 if errors(problems) else 0


def _flagged(problem: Any) -> Any:
    """The problem naming the flag (``--task-count``) instead of the operator's parameter."""
    return replace(problem, parameter=FLAGS.get(problem.parameter, problem.parameter))


def _one_line(problem: Any) -> str:
    flagged = _flagged(problem)
    return f"{flagged.where}: {flagged.message} [{flagged.rule}]; fix: {flagged.fix}"
