"""How many GetJob calls per second the Batch emulator serves with 1,000 live jobs.

The emulator runs as its own process (``batchstream emulator``, as in the e2e stack), so the
clients measured here do not share its interpreter lock. It holds ``--jobs`` jobs that stay
RUNNING; clients then call GetJob on random jobs for ``--duration`` seconds in several shapes:

- ``sync-tN``: the unmodified BatchServiceClient shared by N threads;
- ``async-cN``: the unmodified BatchServiceAsyncClient with N calls in flight;
- ``raw-async-cN``: a bare ``grpc.aio`` stub with N calls in flight (no proto-plus wrapping), an
  estimate of the server's own ceiling on this machine;
- ``waiters-N@Ps``: the load the Airflow benchmarks put on it: N waiters, each polling its own job
  every P seconds through one shared async client; reports latency percentiles too.

Prints a table and writes JSON to ``benchmarks/results/``. Usage::

    .venv/bin/python benchmarks/bench_emulator.py [--jobs 1000] [--duration 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import sys
import tempfile
import threading
import time
from pathlib import Path

import grpc
from google.cloud import batch_v1

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from emulator_process import start_emulator  # noqa: E402

from airflow_batchstream.emulator.client import async_client, sync_client  # noqa: E402

PARENT = "projects/bench-project/locations/us-central1"
SCENARIO = "rules:\n  - stay_running: true\n"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used (Linux /proc), to cost the server alone."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def create_jobs(address: str, count: int) -> list[str]:
    client = sync_client(address)
    container = batch_v1.Runnable.Container(image_uri="us-central1-docker.pkg.dev/p/r/i:1")
    job = batch_v1.Job(
        task_groups=[
            batch_v1.TaskGroup(
                task_spec=batch_v1.TaskSpec(runnables=[batch_v1.Runnable(container=container)])
            )
        ]
    )
    names = [client.create_job(parent=PARENT, job_id=f"bench-{i}", job=job).name for i in range(count)]
    client.transport.close()
    return names


def bench_sync(address: str, names: list[str], threads: int, duration: float) -> int:
    client = sync_client(address)
    counts = [0] * threads
    deadline = time.monotonic() + duration

    def worker(slot: int) -> None:
        rng = random.Random(slot)
        while time.monotonic() < deadline:
            client.get_job(name=rng.choice(names))
            counts[slot] += 1

    workers = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    client.transport.close()
    return sum(counts)


async def _bench_async(address: str, names: list[str], concurrency: int, duration: float, raw: bool) -> int:
    if raw:
        channel = grpc.aio.insecure_channel(address)
        stub = channel.unary_unary("/google.cloud.batch.v1.BatchService/GetJob")
        requests = [batch_v1.GetJobRequest.serialize(batch_v1.GetJobRequest(name=n)) for n in names]

        async def call(rng: random.Random) -> None:
            await stub(rng.choice(requests))

    else:
        client = async_client(address)

        async def call(rng: random.Random) -> None:
            await client.get_job(name=rng.choice(names))

    deadline = time.monotonic() + duration
    counts = [0] * concurrency

    async def worker(slot: int) -> None:
        rng = random.Random(slot)
        while time.monotonic() < deadline:
            await call(rng)
            counts[slot] += 1

    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    await (channel.close() if raw else client.transport.close())
    return sum(counts)


async def _bench_waiters(address: str, names: list[str], interval: float, duration: float) -> dict:
    client = async_client(address)
    latencies: list[float] = []
    deadline = time.monotonic() + duration

    async def waiter(name: str, offset: float) -> None:
        await asyncio.sleep(offset)  # spread the waiters over one interval, as real ones drift
        while time.monotonic() < deadline:
            started = time.monotonic()
            await client.get_job(name=name)
            latencies.append(time.monotonic() - started)
            await asyncio.sleep(max(0.0, interval - (time.monotonic() - started)))

    rng = random.Random(0)
    await asyncio.gather(*(waiter(name, rng.uniform(0, interval)) for name in names))
    await client.transport.close()
    latencies.sort()
    return {
        "calls": len(latencies),
        "p50_ms": round(latencies[len(latencies) // 2] * 1000, 1),
        "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 1),
    }


def bench_async(address: str, names: list[str], concurrency: int, duration: float, raw: bool = False) -> int:
    return asyncio.run(_bench_async(address, names, concurrency, duration, raw))


def _row(shape: str, calls: int, duration: float, server_cpu: float) -> dict:
    return {
        "shape": shape,
        "calls": calls,
        "calls_per_second": round(calls / duration),
        "server_cpu_share": round(server_cpu / duration, 2),  # of one core
        "server_cpu_us_per_call": round(server_cpu / calls * 1e6) if calls else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per measurement")
    parser.add_argument("--interval", type=float, default=2.0, help="poll interval of each waiter")
    parser.add_argument("--waiter-duration", type=float, default=10.0, help="seconds of the waiters run")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        scenario = Path(tmp) / "scenario.yaml"
        scenario.write_text(SCENARIO)
        process, address = start_emulator("--speed", "100", "--scenario", str(scenario))
        try:
            started = time.monotonic()
            names = create_jobs(address, args.jobs)
            create_rate = args.jobs / (time.monotonic() - started)
            shapes = [
                ("sync-t1", lambda: bench_sync(address, names, 1, args.duration)),
                ("sync-t4", lambda: bench_sync(address, names, 4, args.duration)),
                ("async-c1", lambda: bench_async(address, names, 1, args.duration)),
                ("async-c16", lambda: bench_async(address, names, 16, args.duration)),
                ("async-c64", lambda: bench_async(address, names, 64, args.duration)),
                ("raw-async-c64", lambda: bench_async(address, names, 64, args.duration, raw=True)),
            ]
            rows = []
            for shape, run in shapes:
                cpu_before = cpu_seconds(process.pid)
                calls = run()
                rows.append(_row(shape, calls, args.duration, cpu_seconds(process.pid) - cpu_before))
            cpu_before = cpu_seconds(process.pid)
            waiters = asyncio.run(_bench_waiters(address, names, args.interval, args.waiter_duration))
            server_cpu = cpu_seconds(process.pid) - cpu_before
            shape = f"waiters-{len(names)}@{args.interval:g}s"
            rows.append({**_row(shape, waiters.pop("calls"), args.waiter_duration, server_cpu), **waiters})
        finally:
            process.terminate()
            process.wait(15)

    print(f"GetJob throughput, {args.jobs} live jobs, {args.duration:g}s each, {os.cpu_count()} CPUs")
    header = ("client shape", "calls", "calls/s", "srv core", "srv us/call", "p50 ms", "p99 ms")
    print("{:<18}{:>8}{:>9}{:>10}{:>13}{:>8}{:>8}".format(*header))
    for row in rows:
        cells = [row["shape"], row["calls"], row["calls_per_second"], row["server_cpu_share"]]
        cells += [row["server_cpu_us_per_call"], row.get("p50_ms", ""), row.get("p99_ms", "")]
        print("{:<18}{:>8}{:>9}{:>10}{:>13}{:>8}{:>8}".format(*cells))
    print("srv core: share of one CPU the emulator process used; srv us/call: its CPU per call")
    print(f"CreateJob (sync, sequential): {create_rate:.0f} calls/s")

    results = ROOT / "benchmarks" / "results"
    results.mkdir(parents=True, exist_ok=True)
    out = results / f"bench_emulator-{time.strftime('%Y%m%dT%H%M%S')}.json"
    report = {
        "benchmark": "emulator GetJob throughput",
        "jobs": args.jobs,
        "duration_s": args.duration,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "grpcio": grpc.__version__,
        "create_jobs_per_second": round(create_rate),
        "rows": rows,
    }
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
