"""Parse time is sacred: importing the package and using ``jobspec`` loads no heavy client library,
and the ``jobspec`` package loads a module only when one of its names is used."""

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
    ids=["jobspec", "jobspec-commands"],
)
def test_jobspec_imports_no_heavy_modules(extra: str) -> None:
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


@pytest.mark.parametrize(
    ("statement", "modules"),
    [
        ("import airflow_batchstream.jobspec", set()),
        ("from airflow_batchstream.jobspec import ValidationPolicy", {"policy", "problems"}),
        ("from airflow_batchstream import ValidationPolicy", {"policy", "problems"}),
        ("from airflow_batchstream.jobspec import Problem", {"problems"}),
    ],
)
def test_the_jobspec_package_loads_only_what_a_name_needs(statement: str, modules: set[str]) -> None:
    script = (
        f"import json, sys\n{statement}\n"
        "print(json.dumps([n for n in sys.modules if n.startswith('airflow_batchstream.jobspec.')]))"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert set(json.loads(result.stdout)) == {f"airflow_batchstream.jobspec.{name}" for name in modules}


def test_validation_policy_is_one_class_under_both_names() -> None:
    import airflow_batchstream
    from airflow_batchstream.jobspec.policy import ValidationPolicy

    assert airflow_batchstream.ValidationPolicy is ValidationPolicy
