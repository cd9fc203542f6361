"""Parse time is sacred: importing what a DAG file imports loads no grpc / google.api_core / Batch client.

Each check runs in a fresh interpreter and inspects ``sys.modules``; the anchor
(apache-airflow-providers-google's Cloud Batch operator) is checked the same way to show the gap.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("grpc", "google.api_core", "google.cloud.batch_v1", "google.auth", "google.protobuf", "requests")
#: The project's own modules a DAG file does not need: the validator with its field table and rule
#: catalog, the renderer, the image preflight and the hook.
OURS_HEAVY = tuple(
    f"airflow_batchstream.{name}"
    for name in (
        "jobspec.validate",
        "jobspec.schema",
        "jobspec.catalog",
        "jobspec.names",
        "jobspec.render",
        "preflight",
        "hooks",
    )
)


def loaded_after(statement: str, modules: tuple[str, ...] = HEAVY) -> dict[str, bool]:
    code = f"import sys, json\n{statement}\nprint(json.dumps({{m: m in sys.modules for m in {modules!r}}}))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "statement",
    [
        "import airflow_batchstream",
        "from airflow_batchstream.operators import BatchStreamJobOperator",
        "from airflow_batchstream.sensors import BatchStreamJobSensor",
        "import airflow_batchstream.triggers, airflow_batchstream.links, airflow_batchstream.states",
        # A whole DAG definition, as the DAG processor runs it.
        "from airflow.sdk import DAG\n"
        "from airflow_batchstream.operators import BatchStreamJobOperator\n"
        "from airflow_batchstream.sensors import BatchStreamJobSensor\n"
        "with DAG('d', schedule=None):\n"
        "    op = BatchStreamJobOperator(\n"
        "        task_id='t', image_uri='us-docker.pkg.dev/p/r/i:1', location='us-central1'\n"
        "    )\n"
        "    BatchStreamJobSensor(task_id='s', job_name='projects/my-project/locations/us-central1/jobs/j')",
    ],
)
def test_our_modules_load_nothing_heavy(statement):
    loaded = loaded_after(statement)
    assert not any(loaded.values()), {m for m, yes in loaded.items() if yes}


@pytest.mark.parametrize(
    "statement",
    [
        "import airflow_batchstream, airflow_batchstream.jobspec",
        "from airflow_batchstream.operators import BatchStreamJobOperator",
        "from airflow_batchstream.sensors import BatchStreamJobSensor",
        # The parameter checks of a DAG without mistakes (the catalog is loaded for a problem only).
        "from airflow.sdk import DAG\n"
        "from airflow_batchstream.operators import BatchStreamJobOperator\n"
        "with DAG('d', schedule=None):\n"
        "    BatchStreamJobOperator(\n"
        "        task_id='t', image_uri='us-docker.pkg.dev/my-project/r/i:1', location='us-central1'\n"
        "    )",
    ],
)
def test_the_parameter_checks_load_neither_the_validator_nor_the_renderer(statement):
    loaded = loaded_after(statement, OURS_HEAVY)
    assert not any(loaded.values()), {m for m, yes in loaded.items() if yes}


def test_the_anchor_operator_loads_grpc_and_the_batch_client():
    loaded = loaded_after(
        "from airflow.providers.google.cloud.operators.cloud_batch import CloudBatchSubmitJobOperator"
    )
    assert loaded["grpc"] and loaded["google.api_core"] and loaded["google.cloud.batch_v1"]
