"""What forwarding task logs costs 1,000 deferred waits in one triggerer, next to not forwarding.

The emulator runs as its own process (``batchstream emulator``, at speed 1, so that line times are
wall times). It holds ``--jobs`` one-task jobs that each print ``--lines`` lines over
``--running`` seconds. One event loop, as in a triggerer, runs a BatchStreamJobTrigger per job
with ``container_logs="all"``, then again with ``"off"``, and reports:

- Logging reads per minute (ListLogEntries requests, pages included) and RESOURCE_EXHAUSTED
  answers, against the ``[batchstream] logging_reads_per_minute`` budget (default 30);
- the delay from a line's timestamp (when the container printed it) to the moment its trigger
  logged it: median, p95, max;
- memory per wait: the growth of the process's resident set while the waits run, divided by the
  number of waits;
- GetJob calls per minute, and CPU seconds of this process.

Prints a table and writes JSON to ``benchmarks/results/``. Usage::

    .venv/bin/python benchmarks/bench_container_logs.py [--jobs 1000] [--lines 20] [--running 60]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from emulator_process import start_emulator  # noqa: E402

PARENT = "projects/bench-project/locations/us-central1"


def scenario(lines: int, running: float) -> str:
    printed = ", ".join(f'"line {n} of task {{task}}"' for n in range(lines))
    return (
        f"phases: {{queued: 5, scheduled: 5, assigned: 2, running: {running}}}\n"
        f"rules:\n  - match: {{}}\n    output: {{'*': [{printed}]}}\n"
    )


def create_jobs(address: str, count: int, label: str) -> list[str]:
    from google.cloud import batch_v1

    from airflow_batchstream.emulator.client import sync_client

    container = batch_v1.Runnable.Container(image_uri="us-docker.pkg.dev/p/r/app:1", commands=["run"])
    job = batch_v1.Job(
        task_groups=[
            batch_v1.TaskGroup(
                task_spec=batch_v1.TaskSpec(runnables=[batch_v1.Runnable(container=container)])
            )
        ],
        logs_policy=batch_v1.LogsPolicy(destination=batch_v1.LogsPolicy.Destination.CLOUD_LOGGING),
    )
    client = sync_client(address)
    try:
        return [
            client.create_job(parent=PARENT, job_id=f"{label}-{i:04d}", job=job).name for i in range(count)
        ]
    finally:
        client.transport.close()


def rss_bytes() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def run_waits(names: list[str], container_logs: str, poll_interval: float) -> dict:
    from airflow_batchstream import container_logs as rules
    from airflow_batchstream import logreader
    from airflow_batchstream.triggers import BatchStreamJobTrigger

    delays: list[float] = []
    take = rules.JobLog.take

    def timed_take(self) -> list[str]:
        # Instrumentation: how old each line is when its trigger logs it.
        now = time.time_ns()
        if self.tail is None or self.drained:
            delays.extend((now - line.timestamp_ns) / 1e9 for line in self._pending)
        return take(self)

    rules.JobLog.take = timed_take
    peak = before = rss_bytes()
    stop = asyncio.Event()

    async def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, rss_bytes())
            await asyncio.sleep(0.5)

    async def wait(name: str) -> str:
        trigger = BatchStreamJobTrigger(
            job_name=name, poll_interval=poll_interval, container_logs=container_logs, not_before=0.0
        )
        async for event in trigger.run():
            return event.payload["status"]
        return "no event"

    sampler = asyncio.create_task(sample())
    cpu = time.process_time()
    started = time.monotonic()
    statuses = await asyncio.gather(*(wait(name) for name in names))
    elapsed = time.monotonic() - started
    cpu = time.process_time() - cpu
    stop.set()
    await sampler
    rules.JobLog.take = take
    readers = [r for by_key in logreader._ASYNC_READERS.values() for r in by_key.values()]
    reads = sum(r.reads for r in readers)
    refusals = sum(r.refusals for r in readers)
    for by_key in logreader._ASYNC_READERS.values():
        by_key.clear()
    delays.sort()
    return {
        "container_logs": container_logs,
        "waits": len(names),
        "succeeded": statuses.count("success"),
        "elapsed_s": round(elapsed, 1),
        "logging_reads": reads,
        "logging_reads_per_minute": round(reads / elapsed * 60, 1),
        "resource_exhausted": refusals,
        "lines_logged": len(delays),
        "delay_s_median": round(statistics.median(delays), 2) if delays else None,
        "delay_s_p95": round(delays[int(0.95 * (len(delays) - 1))], 2) if delays else None,
        "delay_s_max": round(delays[-1], 2) if delays else None,
        "rss_growth_kib_per_wait": round((peak - before) / 1024 / len(names), 1),
        "cpu_s": round(cpu, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--lines", type=int, default=20, help="lines each task prints")
    parser.add_argument("--running", type=float, default=60.0, help="seconds each task runs")
    parser.add_argument("--poll-interval", type=float, default=5.0)
    args = parser.parse_args()

    os.environ.pop("BATCHSTREAM_EMULATOR_HOST", None)
    # Loaded up front, as in a triggerer that has run a trigger before: memory is the waits'.
    import airflow_batchstream.hooks
    import airflow_batchstream.logreader  # noqa: F401

    results = []
    with tempfile.TemporaryDirectory() as scratch:
        scenario_file = Path(scratch) / "scenario.yaml"
        scenario_file.write_text(scenario(args.lines, args.running))
        os.environ.setdefault("AIRFLOW_HOME", str(Path(scratch) / "airflow-home"))
        process, address = start_emulator(
            "--speed", "1", "--scenario", str(scenario_file), "--logging-read-quota", "60"
        )
        os.environ["BATCHSTREAM_EMULATOR_HOST"] = address
        try:
            for setting in ("off", "all"):
                names = create_jobs(address, args.jobs, f"bench-{setting}")
                results.append(asyncio.run(run_waits(names, setting, args.poll_interval)))
        finally:
            process.terminate()
            process.wait(timeout=10)

    columns = [
        ("container_logs", 14),
        ("succeeded", 9),
        ("elapsed_s", 9),
        ("logging_reads_per_minute", 14),
        ("resource_exhausted", 9),
        ("lines_logged", 8),
        ("delay_s_median", 9),
        ("delay_s_p95", 9),
        ("delay_s_max", 9),
        ("rss_growth_kib_per_wait", 12),
        ("cpu_s", 7),
    ]
    print(" ".join(f"{name[:width]:>{width}}" for name, width in columns))
    for row in results:
        print(" ".join(f"{row[name]!s:>{width}}" for name, width in columns))

    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out = ROOT / "benchmarks" / "results" / f"container-logs-{stamp}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "benchmark": "container_logs",
                "when": stamp,
                "python": platform.python_version(),
                "machine": platform.machine(),
                "cpus": os.cpu_count(),
                "settings": vars(args),
                "results": results,
            },
            indent=2,
        )
    )
    print(f"\nwrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
