"""What the benchmarks share: ``batchstream emulator`` in a process of its own, on a free port."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from airflow_batchstream.commands.emulator import ready_address  # noqa: E402


def start_emulator(*options: str) -> tuple[subprocess.Popen, str]:
    """Start the emulator with ``options`` (``--speed``, ``--scenario`` ...); its process and address.

    Its own process, so that what it costs is not counted in the benchmark's.
    """
    command = [
        sys.executable,
        "-m",
        "airflow_batchstream.cli",
        "emulator",
        "--port",
        "0",
        "--quiet",
        *options,
    ]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    line = process.stdout.readline()
    address = ready_address(line)
    if address is None:
        process.kill()
        raise SystemExit(f"the emulator did not start: {line!r}")
    return process, address
