"""`batchstream render --image URI --location REGION ...`: print the Batch job JSON for parameters.

The job goes to stdout (ready for ``gcloud batch jobs submit --config -``); it is validated and any
problems go to stderr. Exit codes: 0 no errors, 1 the rendered job has errors, 2 bad usage.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from airflow_batchstream.commands.validate import (
    DocumentError,
    add_policy_arguments,
    load_document,
    policy_from_args,
    report,
)


def key_value(text: str) -> tuple[str, str]:
    """``K=V`` -> ``(K, V)``; V may contain ``=``."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def json_object(text: str) -> dict[str, Any]:
    """A JSON object given inline, or ``@FILE`` (JSON or YAML)."""
    try:
        value = load_document(text[1:]) if text.startswith("@") else json.loads(text)
    except (DocumentError, ValueError) as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object, got {type(value).__name__}")
    return value


def gcs_volume(text: str) -> dict[str, Any]:
    """``BUCKET[/PATH]:/MOUNT`` -> a Batch GCS volume."""
    remote, sep, mount = text.partition(":")
    if not sep or not remote or not mount:
        raise argparse.ArgumentTypeError(f"expected BUCKET[/PATH]:/MOUNT/PATH, got {text!r}")
    return {"gcs": {"remotePath": remote}, "mountPath": mount}


def duration_arg(text: str) -> int | str:
    return int(text) if text.isdigit() else text


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--image", required=True, help="Artifact Registry image URI")
    parser.add_argument(
        "--location", required=True, help="the job's region, e.g. us-central1 (for validation)"
    )
    container = parser.add_argument_group("container")
    container.add_argument(
        "--command",
        action="append",
        dest="commands",
        metavar="ARG",
        help="one command argument; repeat (--command=-v)",
    )
    container.add_argument("--entrypoint")
    container.add_argument("--env", action="append", type=key_value, default=[], metavar="K=V")
    container.add_argument(
        "--secret-env",
        action="append",
        type=key_value,
        default=[],
        metavar="K=projects/P/secrets/S/versions/V",
    )
    container.add_argument(
        "--container-volume", action="append", dest="container_volumes", metavar="/HOST:/CTR[:ro]"
    )
    container.add_argument(
        "--gcs-volume", action="append", type=gcs_volume, default=[], metavar="BUCKET[/PATH]:/MOUNT"
    )
    container.add_argument(
        "--volume",
        action="append",
        type=json_object,
        default=[],
        metavar="JSON",
        help="a Batch Volume object",
    )
    tasks = parser.add_argument_group("tasks")
    tasks.add_argument("--task-count", type=int, default=1)
    tasks.add_argument("--parallelism", type=int)
    tasks.add_argument("--cpu-milli", type=int)
    tasks.add_argument("--memory-mib", type=int)
    tasks.add_argument("--max-run-duration", type=duration_arg, metavar="SECONDS|DURATION")
    tasks.add_argument("--max-retries", type=int, default=0)
    tasks.add_argument(
        "--retry-exit-code", action="append", type=int, dest="retry_exit_codes", metavar="CODE"
    )
    vms = parser.add_argument_group("VMs")
    vms.add_argument("--machine-type")
    vms.add_argument("--spot", action="store_true")
    vms.add_argument("--service-account", metavar="EMAIL")
    vms.add_argument("--network")
    vms.add_argument("--subnetwork")
    vms.add_argument("--no-external-ip", action="store_true")
    vms.add_argument(
        "--allowed-location", action="append", dest="allowed_locations", metavar="regions/R|zones/Z"
    )
    job = parser.add_argument_group("job")
    job.add_argument("--label", action="append", type=key_value, default=[], metavar="K=V")
    job.add_argument("--logs-destination", choices=("CLOUD_LOGGING", "PATH", "NONE"), default="CLOUD_LOGGING")
    job.add_argument("--logs-path")
    job.add_argument("--overrides", type=json_object, metavar="JSON|@FILE", help="deep-merged into the job")
    parser.add_argument(
        "--format",
        choices=("text", "json"),
        default="text",
        dest="output_format",
        help="format of the problems",
    )
    add_policy_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from airflow_batchstream.spec.problems import errors
    from airflow_batchstream.spec.render import render_job
    from airflow_batchstream.spec.validate import validate_job

    job = render_job(
        args.image,
        commands=args.commands,
        entrypoint=args.entrypoint,
        volumes=[*args.gcs_volume, *args.volume] or None,
        container_volumes=args.container_volumes,
        environment=dict(args.env) or None,
        secret_environment=dict(args.secret_env) or None,
        task_count=args.task_count,
        parallelism=args.parallelism,
        cpu_milli=args.cpu_milli,
        memory_mib=args.memory_mib,
        machine_type=args.machine_type,
        spot=args.spot,
        max_run_duration=args.max_run_duration,
        max_retries=args.max_retries,
        retry_exit_codes=args.retry_exit_codes,
        labels=dict(args.label) or None,
        service_account=args.service_account,
        network=args.network,
        subnetwork=args.subnetwork,
        no_external_ip=args.no_external_ip,
        allowed_locations=args.allowed_locations,
        logs_destination=args.logs_destination,
        logs_path=args.logs_path,
        job_overrides=args.overrides,
    )
    print(json.dumps(job, indent=2, ensure_ascii=False))
    problems = validate_job(job, args.location, policy_from_args(args))
    if problems:
        report(problems, args.output_format, sys.stderr, "rendered job")
    return 1 if errors(problems) else 0
