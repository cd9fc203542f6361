"""Benchmark: how long the image preflight takes for a 20-layer image against a local registry.

A script, not a test. It starts distribution's ``docker-registry`` on loopback (open, and with
``auth: token`` behind an in-process token server), pushes a 20-layer image, then times
``preflight_image``:

* cold: every cache cleared (tag, manifest, config, token), so each run does the full HTTP exchange;
* cached: the same tag again within the tag TTL, served from the process cache.

Prints a table and writes JSON to ``benchmarks/results/``. Usage::

    .venv/bin/python benchmarks/bench_preflight.py [--runs 30] [--layers 20]
"""

from __future__ import annotations

import argparse
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

from airflow_batchstream.preflight import clear_cache, preflight_image  # noqa: E402
from tests.fixtures.registry import (  # noqa: E402
    GOOD_PASSWORD,
    TOKEN_ISSUER,
    TOKEN_SERVICE,
    start_registry,
)
from tests.integration.registry_tools import TokenServer, make_layer  # noqa: E402

IMAGE_URI = "us-central1-docker.pkg.dev/bench-project/bench/app:1.0"
IMAGE_NAME = "bench-project/bench/app"


def _layers(count: int) -> list:
    # Incompressible 64 KiB per layer: realistic descriptors, no "small layer" deep check.
    return [make_layer({f"layer{i}/data.bin": os.urandom(64 * 1024)}) for i in range(count)]


def _time(runs: int, before_each, call) -> list[float]:
    samples = []
    for _ in range(runs):
        before_each()
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def _summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "runs": len(samples),
        "median_ms": round(statistics.median(ordered), 3),
        "p90_ms": round(ordered[max(0, int(len(ordered) * 0.9) - 1)], 3),
        "min_ms": round(ordered[0], 3),
        "max_ms": round(ordered[-1], 3),
    }


def _bench(label: str, registry_url: str, runs: int, credentials, expected_layers: int) -> dict[str, dict]:
    def check() -> None:
        result = preflight_image(IMAGE_URI, registry_url=registry_url, credentials=credentials)
        assert result.ok and len(result.layers) == expected_layers, result.problems

    clear_cache()
    check()  # warm the Python side (imports, first connection) so "cold" means cold caches only
    cold = _time(runs, clear_cache, check)
    clear_cache()
    check()
    cached = _time(runs, lambda: None, check)
    return {f"{label} cold": _summary(cold), f"{label} cached": _summary(cached)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--layers", type=int, default=20)
    args = parser.parse_args(argv)

    from google.oauth2.credentials import Credentials

    layers = _layers(args.layers)
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="bench-preflight-") as tmp:
        open_registry = start_registry(Path(tmp) / "open")
        token_server = TokenServer(TOKEN_ISSUER, TOKEN_SERVICE, {GOOD_PASSWORD}).start()
        secure_dir = Path(tmp) / "token"
        secure_dir.mkdir()
        auth = {
            "token": {
                "realm": token_server.url,
                "service": TOKEN_SERVICE,
                "issuer": TOKEN_ISSUER,
                "rootcertbundle": str(token_server.write_cert(secure_dir / "issuer.pem")),
            }
        }
        token_registry = start_registry(secure_dir, {"auth": auth})
        token_registry.password = GOOD_PASSWORD
        try:
            for running in (open_registry, token_registry):
                pusher = running.pusher()
                pusher.push_image(IMAGE_NAME, "1.0", layers)
                pusher.close()
            results |= _bench("open registry", open_registry.url, args.runs, None, args.layers)
            results |= _bench(
                "token auth", token_registry.url, args.runs, Credentials(token=GOOD_PASSWORD), args.layers
            )
        finally:
            open_registry.stop()
            token_registry.stop()
            token_server.stop()

    print(f"preflight of a {args.layers}-layer image, local registry (distribution) on loopback")
    print(f"{'case':<22} {'runs':>5} {'median ms':>10} {'p90 ms':>8} {'min ms':>8} {'max ms':>8}")
    for case, row in results.items():
        print(
            f"{case:<22} {row['runs']:>5} {row['median_ms']:>10.2f} {row['p90_ms']:>8.2f} "
            f"{row['min_ms']:>8.2f} {row['max_ms']:>8.2f}"
        )
    out_dir = ROOT / "benchmarks" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out = out_dir / f"preflight-{stamp}.json"
    out.write_text(
        json.dumps(
            {
                "benchmark": "preflight",
                "layers": args.layers,
                "when": stamp,
                "python": platform.python_version(),
                "machine": platform.machine(),
                "cpus": os.cpu_count(),
                "results": results,
            },
            indent=2,
        )
    )
    print(f"wrote {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
