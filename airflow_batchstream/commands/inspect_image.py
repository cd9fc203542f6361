"""`batchstream inspect-image`: check that an image can be streamed, before any job is submitted.

Exit codes: 0 streamable, 1 problems (errors) found, 2 the image cannot be read or bad input.
"""

from __future__ import annotations

import argparse
import json
import sys


def _timeout(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = float("nan")
    if not 0 < seconds < float("inf"):
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of seconds above 0")
    return seconds


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from airflow_batchstream.preflight import ARM_MACHINE_FAMILIES  # pure: imports no client library

    arm = ", ".join(sorted(ARM_MACHINE_FAMILIES))
    parser.add_argument("image", metavar="URI", help="Artifact Registry image URI (tag or @sha256: digest)")
    parser.add_argument(
        "--platform", help="os/arch[/variant] the job runs, e.g. linux/arm64 (default: from --machine-type)"
    )
    parser.add_argument(
        "--machine-type", help=f"the job's machine type; Arm families ({arm}) mean linux/arm64"
    )
    parser.add_argument(
        "--registry-url",
        help="registry base URL instead of https://HOST (plain http only for loopback, e.g. http://127.0.0.1:5000)",
    )
    parser.add_argument("--timeout", type=_timeout, default=30, help="seconds per HTTP request (default 30)")
    parser.add_argument("--format", choices=("text", "json"), default="text", help="output format")


def run(args: argparse.Namespace) -> int:
    from airflow_batchstream.preflight import ImageUnreadable, preflight_image

    try:
        result = preflight_image(
            args.image,
            machine_type=args.machine_type,
            platform=args.platform,
            registry_url=args.registry_url,
            timeout=args.timeout,
        )
    except (ImageUnreadable, ValueError) as exc:
        if args.format == "json":
            print(json.dumps({"image": args.image, "ok": False, "error": str(exc)}, indent=2))
        else:
            print(f"batchstream inspect-image: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    if args.format == "json":
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(_text(result))
    return 0 if result.ok else 1


def _text(result) -> str:
    from airflow_batchstream.preflight.media import format_size

    lines = [
        f"image:       {result.image}",
        f"digest:      {result.digest}",
        f"pinned:      {result.pinned_uri}",
        f"media type:  {result.media_type}",
        f"platform:    {result.platform or 'unknown'}",
    ]
    if result.resolved_from_index:
        lines.append(f"index:       {result.index_digest}")
    lines.append(f"layers:      {len(result.layers)} ({format_size(result.total_size)})")
    lines += [f"  [{i}] {layer.digest}  {format_size(layer.size)}" for i, layer in enumerate(result.layers)]
    lines += [f"note: {note}" for note in result.notes]
    if result.problems:
        lines.append(f"problems:    {len(result.problems)}")
        lines += [problem.format() for problem in result.problems]
    lines.append("streamable:  yes" if result.ok else "streamable:  NO")
    return "\n".join(lines)
