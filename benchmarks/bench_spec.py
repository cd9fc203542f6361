"""Benchmark: the pure job-spec layer's speed and weight.

A script, not a test. It measures

* throughput: ``render_job`` + ``validate_job`` of a typical job (jobs/s), and each alone;
* import cost of ``airflow_batchstream.jobspec`` next to ``airflow.sdk`` (what every DAG file already
  imports), each in fresh subprocesses: wall time, RSS growth, tracemalloc peak, modules loaded.

Prints a table and the ratios, and writes JSON to ``benchmarks/results/``. Usage::

    .venv/bin/python benchmarks/bench_spec.py [--seconds 3] [--imports 7]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from airflow_batchstream.jobspec import render_job, validate_job  # noqa: E402

TYPICAL = {
    "commands": ["--date", "2024-01-01", "--mode", "full"],
    "volumes": [{"gcs": {"remotePath": "bucket/in"}, "mountPath": "/mnt/in"}],
    "environment": {"STAGE": "prod", "LOG_LEVEL": "info"},
    "secret_environment": {"TOKEN": "projects/example-project/secrets/token/versions/latest"},
    "task_count": 50,
    "parallelism": 10,
    "cpu_milli": 2000,
    "memory_mib": 4096,
    "machine_type": "e2-standard-4",
    "spot": True,
    "max_run_duration": 3600,
    "max_retries": 3,
    "labels": {"dag": "etl", "task": "load", "run": "scheduled-2024-01-01"},
    "service_account": "runner@example-project.iam.gserviceaccount.com",
    "allowed_locations": ["zones/us-central1-a", "zones/us-central1-b"],
}
IMAGE = "us-central1-docker.pkg.dev/example-project/pipelines/etl:1.0"

# Run in a fresh interpreter: time and RSS without tracemalloc (it slows imports), then allocations.
PROBE = r"""
import json, os, sys, time
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
mode, module = sys.argv[1], sys.argv[2]
before_modules = len(sys.modules)
if mode == "time":
    r0 = rss(); t0 = time.perf_counter()
    __import__(module)
    t1 = time.perf_counter(); r1 = rss()
    loaded = len(sys.modules) - before_modules
    print(json.dumps({"seconds": t1 - t0, "rss_bytes": r1 - r0, "modules": loaded}))
else:
    import tracemalloc
    tracemalloc.start()
    __import__(module)
    current, peak = tracemalloc.get_traced_memory()
    print(json.dumps({"traced_bytes": current, "traced_peak_bytes": peak}))
"""


def _rate(call, seconds: float, rounds: int = 5) -> float:
    """Calls per second, best of ``rounds``: on a shared machine the best round is the least disturbed."""
    call()  # warm up
    best = 0.0
    for _ in range(rounds):
        count, start = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - start) < seconds / rounds:
            call()
            count += 1
        best = max(best, count / elapsed)
    return best


def throughput(seconds: float) -> dict[str, float]:
    job = render_job(IMAGE, **TYPICAL)
    assert validate_job(job, "us-central1") == [], "the typical job must be valid"
    return {
        "render_per_s": round(_rate(lambda: render_job(IMAGE, **TYPICAL), seconds)),
        "validate_per_s": round(_rate(lambda: validate_job(job, "us-central1"), seconds)),
        "render_validate_per_s": round(
            _rate(lambda: validate_job(render_job(IMAGE, **TYPICAL), "us-central1"), seconds)
        ),
    }


def _probe(mode: str, module: str, env: dict[str, str]) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, mode, module],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def import_cost(module: str, runs: int, env: dict[str, str]) -> dict[str, float]:
    timings = [_probe("time", module, env) for _ in range(runs)]  # median of fresh interpreters
    traced = _probe("alloc", module, env)
    return {
        "import_ms": round(statistics.median(t["seconds"] for t in timings) * 1000, 2),
        "rss_mib": round(statistics.median(t["rss_bytes"] for t in timings) / 2**20, 2),
        "traced_mib": round(traced["traced_bytes"] / 2**20, 2),
        "traced_peak_mib": round(traced["traced_peak_bytes"] / 2**20, 2),
        "modules": timings[0]["modules"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="seconds per throughput measurement")
    parser.add_argument("--imports", type=int, default=7, help="fresh interpreters per import measurement")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as airflow_home:
        # airflow.sdk may write a default config on import: keep it out of the user's home.
        env = {**os.environ, "AIRFLOW_HOME": airflow_home, "PYTHONPATH": str(ROOT)}
        imports = {
            "airflow_batchstream.jobspec": import_cost("airflow_batchstream.jobspec", args.imports, env),
            "airflow.sdk": import_cost("airflow.sdk", args.imports, env),
        }
    rates = throughput(args.seconds)
    spec, sdk = imports["airflow_batchstream.jobspec"], imports["airflow.sdk"]
    columns = ("import_ms", "rss_mib", "traced_mib", "traced_peak_mib", "modules")
    ratios = {key: round(spec[key] / sdk[key], 4) if sdk[key] else None for key in columns}

    print(f"{'throughput (typical job)':34} {'per second':>12}")
    for key, value in rates.items():
        print(f"  {key:32} {value:>12,}")
    print()
    print(f"{'import (fresh interpreter)':28}" + "".join(f"{c:>16}" for c in columns))
    for name, cost in imports.items():
        print(f"  {name:26}" + "".join(f"{cost[c]:>16}" for c in columns))
    print(f"  {'ratio spec / airflow.sdk':26}" + "".join(f"{ratios[c]!s:>16}" for c in columns))

    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out = ROOT / "benchmarks" / "results" / f"spec-{stamp}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "benchmark": "spec",
                "when": stamp,
                "python": platform.python_version(),
                "machine": platform.machine(),
                "cpus": os.cpu_count(),
                "throughput": rates,
                "imports": imports,
                "ratios_spec_over_airflow_sdk": ratios,
                "settings": {"seconds": args.seconds, "imports": args.imports},
            },
            indent=2,
        )
    )
    print(f"\nwrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
