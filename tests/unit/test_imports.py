"""Parse time is sacred: importing the package and using ``jobspec`` loads no heavy client library."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

FORBIDDEN = ("google.cloud.batch_v1", "grpc", "google.api_core", "google.protobuf", "requests", "airflow")

SCRIPT = f"""
import json, sys
import airflow_batchstream, airflow_batchstream.jobspec
from airflow_batchstream.jobspec import render_job, validate_job
{{extra}}
job = render_job("us-central1-docker.pkg.dev/example-project/pipelines/etl:1.0", max_retries=1)
assert validate_job(job, "us-central1") == [], "the rendered job should be valid"
loaded = [name for name in sys.modules
          if any(name == bad or name.startswith(bad + ".") for bad in {FORBIDDEN!r})]
print(json.dumps(loaded))
"""


@pytest.mark.parametrize(
    "extra",
    ["", "import airflow_batchstream.commands.validate, airflow_batchstream.commands.render"],
    ids=["spec", "spec-commands"],
)
def test_spec_imports_no_heavy_modules(extra: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(extra=extra)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []


def test_the_check_can_fail() -> None:
    # The same probe must notice a forbidden module, or the test above proves nothing.
    script = SCRIPT.format(extra="import google.protobuf")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert "google.protobuf" in json.loads(result.stdout)
