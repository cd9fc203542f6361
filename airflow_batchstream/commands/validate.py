"""`batchstream validate FILE --location REGION`: check a Batch job config, report every problem.

Exit codes: 0 no errors (warnings are printed), 1 errors found, 2 unreadable file or bad usage (an
empty file, one over a limit of :mod:`airflow_batchstream.documents`, or not JSON/YAML).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from typing import Any, get_args

from airflow_batchstream.jobspec.policy import DEFAULT_POLICY, PolicyLevel, ValidationPolicy
from airflow_batchstream.jobspec.problems import Problem, errors, warnings

LEVELS = get_args(PolicyLevel)


def add_policy_arguments(parser: argparse.ArgumentParser) -> None:
    """Options for the policy levels of the inferred rules, shared by ``validate`` and ``render``."""
    group = parser.add_argument_group("policy (rules no Google document states outright)")
    group.add_argument("--gcr-hosts", choices=LEVELS, help="level for *.gcr.io images (default: warning)")
    group.add_argument(
        "--unknown-region",
        choices=LEVELS,
        help="level for locations outside the known list (default: warning)",
    )
    group.add_argument(
        "--out-of-region-locations",
        choices=LEVELS,
        help="level for allowedLocations outside the job's region (default: error)",
    )
    group.add_argument(
        "--label-charset", choices=("unicode", "ascii"), help="label characters allowed (default: unicode)"
    )
    group.add_argument(
        "--image-reference-grammar",
        choices=LEVELS,
        help="level for image names, tags and digests outside the registry grammar (default: warning)",
    )
    for flag, meaning in _GPU_LEVELS.items():
        default = getattr(DEFAULT_POLICY, flag.removeprefix("--").replace("-", "_"))
        group.add_argument(flag, choices=LEVELS, help=f"level for {meaning} (default: {default})")


#: The GPU rules' policy levels and what each governs.
_GPU_LEVELS = {
    "--unknown-accelerator-type": "accelerator types Compute Engine does not list",
    "--gpu-machine-outside-batch": "GPU machine series Batch's list omits (A4X, A3 Edge, G4)",
    "--gpu-drivers-missing": "GPU jobs without installGpuDrivers",
    "--gpu-with-image-streaming": "GPU jobs whose container streams its image",
}

_POLICY_OPTIONS = (
    "gcr_hosts",
    "unknown_region",
    "out_of_region_locations",
    "label_charset",
    "image_reference_grammar",
    *(flag.removeprefix("--").replace("-", "_") for flag in _GPU_LEVELS),
)


def policy_from_args(args: argparse.Namespace) -> ValidationPolicy:
    chosen = {name: getattr(args, name) for name in _POLICY_OPTIONS if getattr(args, name, None) is not None}
    return replace(DEFAULT_POLICY, **chosen)


def report(problems: list[Problem], output_format: str, stream: Any, subject: str) -> None:
    """Print problems as text (one per line plus its fix, then a summary) or as one JSON object."""
    n_errors, n_warnings = len(errors(problems)), len(warnings(problems))
    if output_format == "json":
        document = {
            "subject": subject,
            "valid": n_errors == 0,
            "errors": n_errors,
            "warnings": n_warnings,
            "problems": [problem.to_dict() for problem in problems],
        }
        print(json.dumps(document, indent=2, ensure_ascii=False), file=stream)
        return
    for problem in problems:
        print(problem.format(), file=stream)
    verdict = "valid" if n_errors == 0 else "invalid"
    print(f"{subject}: {verdict}: {n_errors} error(s), {n_warnings} warning(s)", file=stream)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "file", metavar="FILE", help="job config, JSON or YAML (as gcloud batch --config); - for stdin"
    )
    parser.add_argument(
        "--location",
        required=True,
        help="the job's region, e.g. us-central1, or projects/PROJECT/locations/REGION to also check "
        "that an instance template belongs to PROJECT",
    )
    parser.add_argument("--job-id", help="also check the job id")
    parser.add_argument("--request-id", help="also check the CreateJob request id (a non-zero UUID)")
    parser.add_argument("--format", choices=("text", "json"), default="text", dest="output_format")
    add_policy_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from airflow_batchstream.documents import DocumentError, load_document
    from airflow_batchstream.jobspec.validate import validate_job, validate_job_id, validate_request_id

    try:
        job = load_document(args.file)
    except DocumentError as exc:
        print(f"batchstream validate: {exc}", file=sys.stderr)
        return 2
    problems = validate_job(job, args.location, policy_from_args(args))
    if args.request_id is not None:
        problems = validate_request_id(args.request_id) + problems
    if args.job_id is not None:
        problems = validate_job_id(args.job_id) + problems
    report(problems, args.output_format, sys.stdout, args.file)
    return 1 if errors(problems) else 0
