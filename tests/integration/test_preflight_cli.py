"""`batchstream inspect-image` against the real registry: output and exit codes 0 / 1 / 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_batchstream.cli import main
from tests.integration.registry_tools import make_layer

pytestmark = pytest.mark.usefixtures("fresh_preflight_cache")

HOST = "us-west1-docker.pkg.dev"


@pytest.fixture(scope="session")
def cli_images(registry) -> dict[str, str]:
    pusher = registry.pusher()
    try:
        good = [make_layer({"cli/a.txt": b"a\n" * 300}), make_layer({"cli/b.txt": b"b\n" * 300})]
        return {
            "good": pusher.push_image("cli-project/repo/good", "v1", good),
            "dup": pusher.push_image("cli-project/repo/dup", "v1", [good[0], good[0]]),
        }
    finally:
        pusher.close()


def test_streamable_image_exits_0_with_text(registry, cli_images, capsys):
    code = main(["inspect-image", f"{HOST}/cli-project/repo/good:v1", "--registry-url", registry.url])

    out = capsys.readouterr().out
    assert code == 0
    assert f"digest:      {cli_images['good']}" in out
    assert "media type:  application/vnd.docker.distribution.manifest.v2+json" in out
    assert "platform:    linux/amd64" in out
    assert "layers:      2 (" in out
    assert "streamable:  yes" in out


def test_problems_exit_1_and_are_printed(registry, cli_images, capsys):
    code = main(["inspect-image", f"{HOST}/cli-project/repo/dup:v1", "--registry-url", registry.url])

    out = capsys.readouterr().out
    assert code == 1
    assert "image.layers[1]: layer sha256:" in out and "[IS-6]" in out
    assert "    fix: " in out
    assert "streamable:  NO" in out


def test_json_output(registry, cli_images, capsys):
    code = main(
        [
            "inspect-image",
            f"{HOST}/cli-project/repo/dup:v1",
            "--registry-url",
            registry.url,
            "--machine-type",
            "c4a-standard-4",
            "--format",
            "json",
        ]
    )

    data = json.loads(capsys.readouterr().out)
    assert code == 1
    assert data["digest"] == cli_images["dup"] and data["ok"] is False
    assert {p["rule"] for p in data["problems"]} >= {"IS-6", "IS-11"}  # also built for amd64, runs arm64
    assert data["layers"][0]["digest"] == data["layers"][1]["digest"]


def test_unreadable_image_exits_2(registry, cli_images, capsys):
    code = main(["inspect-image", f"{HOST}/cli-project/repo/good:missing", "--registry-url", registry.url])

    err = capsys.readouterr().err
    assert code == 2
    assert "missing" in err and "No Batch job was submitted" in err


def test_bad_registry_url_exits_2(capsys):
    code = main(["inspect-image", f"{HOST}/p-roject/repo/x:1", "--registry-url", "http://10.1.2.3:5000"])

    assert code == 2
    assert "loopback" in capsys.readouterr().err


def test_console_script_entry_point(registry, cli_images):
    script = Path(sys.executable).with_name("batchstream")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "airflow_batchstream.cli"]
    done = subprocess.run(
        [*command, "inspect-image", f"{HOST}/cli-project/repo/good:v1", "--registry-url", registry.url],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert cli_images["good"] in done.stdout
