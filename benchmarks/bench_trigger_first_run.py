"""How long a BatchStreamJobTrigger's first run stalls the triggerer's event loop.

Every trigger of a triggerer process shares one event loop: whatever one of them does on the loop
without awaiting (importing grpc and the Batch client, say) delays all the others. This measures
it the way another trigger would feel it: a ticker coroutine sleeps 1 ms in a loop and records
the longest gap between its wake-ups, while one trigger (freshly imported, in a fresh interpreter,
as in a triggerer that just started) waits for a job in the emulator until it fires.

``--ref REF`` runs the same measurement on the package as committed at REF as well (``git
archive``), for a before/after table. Each measurement is a fresh interpreter; ``--runs`` of them.
The emulator runs as its own process. Prints a table and writes JSON to ``benchmarks/results/``::

    .venv/bin/python benchmarks/bench_trigger_first_run.py [--ref main] [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tarfile
import tempfile
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from emulator_process import start_emulator  # noqa: E402

#: Run in the measured interpreter: what a triggerer has loaded, then a ticker and one trigger.
CHILD = r"""
import asyncio, json, sys, time
import airflow.triggers.base  # the triggerer has Airflow's trigger machinery loaded
from airflow_batchstream.triggers import BatchStreamJobTrigger

async def main(address, job_name):
    longest = 0.0
    stop = asyncio.Event()

    async def ticker():
        nonlocal longest
        last = time.perf_counter()
        while not stop.is_set():
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            longest = max(longest, now - last)
            last = now

    tick = asyncio.create_task(ticker())
    await asyncio.sleep(0.05)  # the ticker runs before the trigger starts
    trigger = BatchStreamJobTrigger(
        job_name=job_name, emulator_host=address, poll_interval=0.05, not_before=0.0
    )
    started = time.perf_counter()
    async for event in trigger.run():
        fired = time.perf_counter() - started
        status = event.payload["status"]
        break
    stop.set()
    await tick
    print(json.dumps({"longest_stall_ms": longest * 1000, "first_event_s": fired, "status": status}))

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""

PARENT = "projects/bench-project/locations/us-central1"


def create_job(address: str, job_id: str) -> str:
    from google.cloud import batch_v1

    from airflow_batchstream.emulator.client import sync_client

    container = batch_v1.Runnable.Container(image_uri="us-docker.pkg.dev/p/r/app:1", commands=["run"])
    task_spec = batch_v1.TaskSpec(runnables=[batch_v1.Runnable(container=container)])
    job = batch_v1.Job(task_groups=[batch_v1.TaskGroup(task_count=1, task_spec=task_spec)])
    client = sync_client(address)
    try:
        return client.create_job(parent=PARENT, job_id=job_id, job=job).name
    finally:
        client.transport.close()


def measure(source: Path, address: str, job_name: str, airflow_home: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(source), "AIRFLOW_HOME": airflow_home}
    env.pop("BATCHSTREAM_EMULATOR_HOST", None)
    done = subprocess.run(
        [sys.executable, "-c", CHILD, address, job_name],
        cwd=source,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def package_at(ref: str, into: Path) -> Path:
    """The airflow_batchstream package as committed at ``ref``, extracted under ``into``."""
    into.mkdir(parents=True)
    archive = into / "package.tar"
    subprocess.run(
        ["git", "archive", "--format=tar", "-o", str(archive), ref, "airflow_batchstream"],
        cwd=ROOT,
        check=True,
    )
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")
    return into


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ref", help="also measure the package as committed at this git ref (e.g. main)")
    parser.add_argument("--runs", type=int, default=5, help="fresh interpreters per source")
    args = parser.parse_args()

    process, address = start_emulator("--speed", "50")
    results: dict[str, list[dict]] = {}
    try:
        with tempfile.TemporaryDirectory() as scratch:
            sources = {"this tree": ROOT}
            if args.ref:
                sources[args.ref] = package_at(args.ref, Path(scratch) / "ref")
            home = str(Path(scratch) / "airflow-home")
            # Interleaved, so that a machine busy for a while affects both sources alike.
            for run in range(args.runs):
                for label, source in sources.items():
                    slug = re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")
                    job = create_job(address, f"first-run-{slug}-{run}")
                    results.setdefault(label, []).append(measure(source, address, job, home))
    finally:
        process.terminate()
        process.wait(timeout=10)

    summary = {}
    print(f"{'source':12} {'longest loop stall, ms (median / max)':>40} {'first event, s (median)':>26}")
    for label, runs in results.items():
        stalls = [r["longest_stall_ms"] for r in runs]
        events = [r["first_event_s"] for r in runs]
        summary[label] = {
            "longest_stall_ms_median": round(statistics.median(stalls), 1),
            "longest_stall_ms_max": round(max(stalls), 1),
            "first_event_s_median": round(statistics.median(events), 3),
            "statuses": sorted({r["status"] for r in runs}),
        }
        s = summary[label]
        stall = f"{s['longest_stall_ms_median']} / {s['longest_stall_ms_max']}"
        print(f"{label:12} {stall:>40} {s['first_event_s_median']:>26}")

    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out = ROOT / "benchmarks" / "results" / f"trigger-first-run-{stamp}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "benchmark": "trigger_first_run",
                "when": stamp,
                "python": platform.python_version(),
                "machine": platform.machine(),
                "cpus": os.cpu_count(),
                "summary": summary,
                "runs": results,
                "settings": {"ref": args.ref, "runs": args.runs},
            },
            indent=2,
        )
    )
    print(f"\nwrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
