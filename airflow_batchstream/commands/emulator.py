"""`batchstream emulator`: serve the local Batch API (gRPC) until SIGINT/SIGTERM.

Prints ``batchstream emulator serving on HOST:PORT`` on one line once it accepts calls (with
``--port 0`` the port is the free one it picked), then logs one line per RPC to stderr:
method, target, status, milliseconds. Clients find it through ``BATCHSTREAM_EMULATOR_HOST``.
"""

from __future__ import annotations

import argparse
import sys

DEFAULT_PORT = 8795
READY_PREFIX = "batchstream emulator serving on "


def ready_address(line: str) -> str | None:
    """The ``host:port`` announced by the ready line, or None when ``line`` is another line."""
    return line.removeprefix(READY_PREFIX).strip() if line.startswith(READY_PREFIX) else None


def _speed(value: str) -> float:
    try:
        speed = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {value!r}") from None
    if not 0 < speed < float("inf"):
        raise argparse.ArgumentTypeError(f"must be greater than 0, not {value!r}")
    return speed


def _port(value: str) -> int:
    if not value.isdigit() or int(value) > 65535:
        raise argparse.ArgumentTypeError(f"{value!r} is not a TCP port (0-65535; 0 picks a free one)")
    return int(value)


def _per_minute(value: str) -> int:
    if not value.isdigit() or int(value) == 0:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of calls per minute (1 or more)")
    return int(value)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    parser.add_argument(
        "--port", type=_port, default=DEFAULT_PORT, help="port, 0 picks a free one (default: %(default)s)"
    )
    parser.add_argument(
        "--speed",
        type=_speed,
        default=1.0,
        metavar="FACTOR",
        help="time compression: phases last 1/FACTOR of their length (default: %(default)s)",
    )
    parser.add_argument("--scenario", metavar="FILE", help="YAML or JSON scenario deciding the jobs' fates")
    parser.add_argument(
        "--read-quota",
        type=_per_minute,
        metavar="N",
        help="refuse reads beyond N per minute per region with RESOURCE_EXHAUSTED (Batch: 15000)",
    )
    parser.add_argument(
        "--mutation-quota",
        type=_per_minute,
        metavar="N",
        help="refuse creates/cancels/deletes beyond N per minute per region (Batch: 6000)",
    )
    parser.add_argument(
        "--logging-read-quota",
        type=_per_minute,
        metavar="N",
        help="refuse Cloud Logging reads (ListLogEntries pages) beyond N per minute per project "
        "(Cloud Logging: often 60)",
    )
    parser.add_argument("--quiet", action="store_true", help="do not log each RPC")


def run(args: argparse.Namespace) -> int:
    import logging
    import signal
    import threading

    from airflow_batchstream.emulator import BatchEmulator, Scenario

    try:
        scenario = Scenario.from_file(args.scenario) if args.scenario else None
    except ValueError as error:  # DocumentError (unreadable, over a limit) or ScenarioError (shape)
        print(f"batchstream emulator: cannot use scenario {args.scenario}: {error}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format="%(asctime)s %(message)s",
        stream=sys.stderr,
    )
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    emulator = BatchEmulator(speed=args.speed, scenario=scenario)
    emulator.set_quota(args.read_quota, args.mutation_quota, logging_reads_per_minute=args.logging_read_quota)
    try:
        address = emulator.start(args.host, args.port)
    except RuntimeError as error:
        print(f"batchstream emulator: cannot listen on {args.host}:{args.port}: {error}", file=sys.stderr)
        return 2
    print(f"{READY_PREFIX}{address}", flush=True)
    try:
        while not stop.wait(0.5):
            pass  # a timed wait keeps the main thread responsive to signals
    finally:
        emulator.stop()
    return 0
