"""Side by side: airflow-batchstream vs apache-airflow-providers-google's Cloud Batch operator.

The "anchor" is ``CloudBatchSubmitJobOperator`` / ``CloudBatchJobFinishedTrigger``. Both sides
talk to the same local Batch emulator over real gRPC (the anchor's async hook is pointed at it by
overriding its client construction, here only). Run::

    .venv/bin/python benchmarks/bench_anchor.py [--jobs 1000] [--poll 12] [--repeat 5]

(a) What a DAG file pays: import time and memory added on top of ``import airflow.sdk``, in fresh
    interpreters, our operator module vs the anchor's (median of ``--repeat``).
(b) ``--jobs`` concurrent waits in one event loop, jobs ending at staggered times: API calls per
    minute, CPU seconds, peak memory, memory per waiting job, latency from job end to event.
    Each side runs in its own fresh process (the emulator in a third), so its figures are its own.
    Ours runs twice: with the default backoff (checks spread out up to 4x ``poll`` while a job's
    state does not change) and with ``max_poll_interval=poll`` (no backoff, the anchor's cadence).

Prints a table and writes JSON to benchmarks/results/. A script, not a test: nothing here asserts.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
PROJECT = "bench-project"
LOCATION = "us-central1"
GROUPS = 100  # distinct end times

# ----------------------------------------------------------------------------- (a) imports

IMPORT_PROBE = r"""
import json, os, sys, time
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
import airflow.sdk
base_modules, base_rss, t0 = len(sys.modules), rss(), time.perf_counter()
{statement}
elapsed = time.perf_counter() - t0
print(json.dumps({{"seconds": elapsed, "rss": rss() - base_rss, "modules": len(sys.modules) - base_modules,
                  "grpc": "grpc" in sys.modules}}))
"""

IMPORTS = {
    "ours": "from airflow_batchstream.operators import BatchStreamJobOperator",
    "anchor": "from airflow.providers.google.cloud.operators.cloud_batch import CloudBatchSubmitJobOperator",
}


def measure_imports(repeat: int) -> dict:
    results: dict[str, dict] = {}
    for side, statement in IMPORTS.items():
        runs = []
        for _ in range(repeat):
            out = subprocess.run(
                [sys.executable, "-c", IMPORT_PROBE.format(statement=statement)],
                capture_output=True,
                text=True,
                check=True,
                cwd=ROOT,
            )
            runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
        results[side] = {
            "seconds": statistics.median(r["seconds"] for r in runs),
            "rss_bytes": statistics.median(r["rss"] for r in runs),
            "modules": statistics.median(r["modules"] for r in runs),
            "loads_grpc": runs[0]["grpc"],
            "runs": runs,
        }
    return results


# ----------------------------------------------------------------------------- emulator

EMULATOR = r"""
import json, sys, time
from airflow_batchstream.emulator import BatchEmulator
scenario = json.loads(sys.argv[1])
emulator = BatchEmulator(speed=1.0, scenario=scenario)
print(emulator.start(), flush=True)
sys.stdin.read()  # serve until the parent closes stdin
print(json.dumps(emulator.call_counts), flush=True)
emulator.stop()
"""


def scenario(first_end: float, spread: float) -> dict:
    """Group k runs ``first_end + k * spread / GROUPS`` seconds: ends spread over ``spread`` s."""
    rules = [
        {"match": {"command": f"grp-{k:03d}-end"}, "phases": {"running": first_end + k * spread / GROUPS}}
        for k in range(GROUPS)
    ]
    return {"phases": {"queued": 1, "scheduled": 1, "assigned": 0.5}, "rules": rules}


# ----------------------------------------------------------------------------- (b) waits


def create_jobs(address: str, prefix: str, count: int) -> list[str]:
    from google.cloud.batch_v1 import Job

    from airflow_batchstream.emulator.client import sync_client

    client = sync_client(address)
    names = []
    for i in range(count):
        spec = {
            "taskGroups": [
                {
                    "taskSpec": {
                        "runnables": [
                            {
                                "container": {
                                    "imageUri": "us-central1-docker.pkg.dev/p/r/i:1",
                                    "commands": [f"grp-{i % GROUPS:03d}-end"],
                                }
                            }
                        ]
                    }
                }
            ]
        }
        job = client.create_job(
            parent=f"projects/{PROJECT}/locations/{LOCATION}",
            job_id=f"{prefix}-{i:05d}",
            job=Job.from_json(json.dumps(spec)),
        )
        names.append(job.name)
    client.transport.close()
    return names


def end_times(address: str, names: list[str]) -> dict[str, float]:
    """Each job's end: the event_time of its transition to a terminal state."""
    from airflow_batchstream.emulator.client import sync_client

    client = sync_client(address)
    ends = {}
    for name in names:
        job = client.get_job(name=name)
        for event in job.status.status_events:
            if "to SUCCEEDED" in event.description or "to FAILED" in event.description:
                ends[name] = event.event_time.timestamp()
    client.transport.close()
    return ends


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def anchor_trigger_factory(address: str, poll: float, counter: list[int]):
    """CloudBatchJobFinishedTrigger, its async hook pointed at the emulator (benchmark only).

    As in the anchor, every trigger builds its own hook, and every hook its own client/channel.
    """
    from airflow.providers.google.cloud.hooks.cloud_batch import CloudBatchAsyncHook
    from airflow.providers.google.cloud.triggers.cloud_batch import CloudBatchJobFinishedTrigger

    from airflow_batchstream.emulator.client import async_client

    def get_conn(self):
        if self._client is None:
            self._client = async_client(address)
        return self._client

    original = CloudBatchAsyncHook.get_batch_job

    async def get_batch_job(self, job_name):
        counter[0] += 1
        return await original(self, job_name)

    CloudBatchAsyncHook.get_conn = get_conn
    CloudBatchAsyncHook.get_batch_job = get_batch_job

    def make(name: str):
        return CloudBatchJobFinishedTrigger(
            job_name=name, project_id=PROJECT, location=LOCATION, polling_period_seconds=poll
        )

    return make


def ours_trigger_factory(address: str, poll: float, counter: list[int], max_poll: float | None):
    from airflow_batchstream.hooks import BatchStreamHook
    from airflow_batchstream.triggers import BatchStreamJobTrigger

    original = BatchStreamHook.aget_job

    async def aget_job(self, name):
        counter[0] += 1
        return await original(self, name)

    BatchStreamHook.aget_job = aget_job

    def make(name: str):
        # not_before=0: the post-deferral hold guards against Airflow's scheduler race, which
        # a bare event loop does not have; latency here is the wait's own.
        return BatchStreamJobTrigger(
            job_name=name,
            poll_interval=poll,
            emulator_host=address,
            max_poll_interval=max_poll,
            not_before=0.0,
        )

    return make


def wait_worker(side: str, address: str, count: int, poll: float) -> dict:
    """Create ``count`` jobs, then wait for all of them at once in one event loop."""
    import asyncio
    import threading

    os.environ["AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT"] = json.dumps(
        {"conn_type": "google_cloud_platform", "extra": {"project": PROJECT}}
    )
    import logging

    logging.disable(logging.WARNING)  # the anchor logs every poll; do not benchmark the log handler
    counter = [0]
    if side == "anchor":
        make = anchor_trigger_factory(address, poll, counter)
    else:
        make = ours_trigger_factory(address, poll, counter, poll if side == "ours-no-backoff" else None)
    prefix = side.replace("-", "")[:10] + "-" + str(int(time.time()))[-5:]
    names = create_jobs(address, prefix, count)

    received: dict[str, float] = {}
    statuses: dict[str, str] = {}
    baseline = rss()
    peak = [baseline]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], rss())
            time.sleep(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()

    async def one(name: str):
        async for event in make(name).run():
            received[name] = time.time()
            statuses[name] = event.payload.get("status", "")
            return

    async def main():
        await asyncio.gather(*(one(name) for name in names))

    cpu0, wall0 = time.process_time(), time.monotonic()
    asyncio.run(main())
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    stop.set()
    sampler.join()

    ends = end_times(address, names)
    latencies = sorted(received[n] - ends[n] for n in names if n in ends)
    return {
        "side": side,
        "jobs": count,
        "poll_interval": poll,
        "wall_seconds": wall,
        "api_calls": counter[0],
        "calls_per_minute": counter[0] / (wall / 60),
        "cpu_seconds": cpu,
        "peak_rss_added_bytes": peak[0] - baseline,
        "bytes_per_waiting_job": (peak[0] - baseline) / count,
        "latency_p50": statistics.median(latencies),
        "latency_p95": latencies[int(0.95 * (len(latencies) - 1))],
        "latency_max": latencies[-1],
        "statuses": sorted(set(statuses.values())),
    }


def measure_waits(count: int, poll: float, sides: list[str]) -> dict:
    first_end = max(10.0, 1.5 * poll)
    emulator = subprocess.Popen(
        [sys.executable, "-c", EMULATOR, json.dumps(scenario(first_end, spread=2.5 * poll))],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        address = emulator.stdout.readline().strip()
        results = {}
        for side in sides:
            out = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--wait-worker",
                    side,
                    "--address",
                    address,
                    "--jobs",
                    str(count),
                    "--poll",
                    str(poll),
                ],
                capture_output=True,
                text=True,
                cwd=ROOT,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
            )
            lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
            if not lines:
                raise SystemExit(f"{side} worker failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
            results[side] = json.loads(lines[-1])
            print(f"  {side}: done in {results[side]['wall_seconds']:.0f}s", file=sys.stderr)
    finally:
        emulator.stdin.close()
        emulator.wait(timeout=30)
    return results


# ----------------------------------------------------------------------------- report


def ratio(anchor: float, ours: float) -> str:
    return f"{anchor / ours:.1f}x" if ours > 0 else "inf"


def report(imports: dict, waits: dict, args) -> str:
    a, o = imports["anchor"], imports["ours"]
    lines = [
        f"(a) added to a DAG file on top of `import airflow.sdk` "
        f"(median of {args.repeat} fresh interpreters)",
        f"{'':28}{'ours':>14}{'anchor':>14}{'anchor/ours':>14}",
        f"{'import time (ms)':28}{o['seconds'] * 1e3:>14.1f}{a['seconds'] * 1e3:>14.1f}"
        f"{ratio(a['seconds'], o['seconds']):>14}",
        f"{'memory (RSS MiB)':28}{o['rss_bytes'] / 2**20:>14.2f}{a['rss_bytes'] / 2**20:>14.2f}"
        f"{ratio(a['rss_bytes'], o['rss_bytes']):>14}",
        f"{'modules loaded':28}{o['modules']:>14.0f}{a['modules']:>14.0f}"
        f"{ratio(a['modules'], o['modules']):>14}",
        f"{'loads grpc':28}{o['loads_grpc']!s:>14}{a['loads_grpc']!s:>14}",
        "",
    ]
    if waits:
        sides = list(waits)
        anchor = waits.get("anchor")
        lines.append(
            f"(b) {args.jobs} concurrent waits in one event loop, poll interval {args.poll:g}s, "
            f"ends spread over {2.5 * args.poll:g}s"
        )
        lines.append(f"{'':28}" + "".join(f"{s:>18}" for s in sides))
        rows = [
            ("API calls / minute", "calls_per_minute", "{:.0f}"),
            ("API calls total", "api_calls", "{:.0f}"),
            ("CPU seconds", "cpu_seconds", "{:.2f}"),
            ("peak RSS added (MiB)", "peak_rss_added_bytes", "MiB"),
            ("memory / waiting job (KiB)", "bytes_per_waiting_job", "KiB"),
            ("latency p50 (s)", "latency_p50", "{:.2f}"),
            ("latency p95 (s)", "latency_p95", "{:.2f}"),
            ("latency max (s)", "latency_max", "{:.2f}"),
            ("wall seconds", "wall_seconds", "{:.1f}"),
        ]
        for label, key, fmt in rows:
            cells = []
            for s in sides:
                value = waits[s][key]
                if fmt == "MiB":
                    cells.append(f"{value / 2**20:.1f}")
                elif fmt == "KiB":
                    cells.append(f"{value / 1024:.1f}")
                else:
                    cells.append(fmt.format(value))
            lines.append(f"{label:28}" + "".join(f"{c:>18}" for c in cells))
        if anchor:
            lines.append("")
            for s in sides:
                if s == "anchor":
                    continue
                w = waits[s]
                per_job = ratio(anchor["bytes_per_waiting_job"], w["bytes_per_waiting_job"])
                lines.append(
                    f"anchor/{s}: memory per job {per_job}, "
                    f"CPU {ratio(anchor['cpu_seconds'], w['cpu_seconds'])}, "
                    f"API calls {ratio(anchor['api_calls'], w['api_calls'])}; "
                    f"p95 latency {w['latency_p95']:.2f}s vs target <= {args.poll + 1:g}s"
                )
        lines.append("statuses: " + ", ".join(f"{s}={waits[s]['statuses']}" for s in sides))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--poll", type=float, default=12.0)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--sides", default="anchor,ours,ours-no-backoff")
    parser.add_argument("--skip-waits", action="store_true")
    parser.add_argument("--wait-worker", help=argparse.SUPPRESS)
    parser.add_argument("--address", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.wait_worker:
        print(json.dumps(wait_worker(args.wait_worker, args.address, args.jobs, args.poll)))
        return

    print("measuring imports ...", file=sys.stderr)
    imports = measure_imports(args.repeat)
    waits = {}
    if not args.skip_waits:
        print(f"measuring {args.jobs} concurrent waits per side ...", file=sys.stderr)
        waits = measure_waits(args.jobs, args.poll, args.sides.split(","))
    table = report(imports, waits, args)
    print(table)
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"bench_anchor_{time.strftime('%Y%m%dT%H%M%S')}.json"
    path.write_text(
        json.dumps({"args": vars(args), "imports": imports, "waits": waits, "table": table}, indent=2)
    )
    print(f"\nwritten to {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
