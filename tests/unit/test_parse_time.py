"""Parse time is sacred: what a DAG file imports loads no heavy module, and stays within its budget.

The heavy modules are ruff's ``banned-module-level-imports`` in pyproject.toml (rule TID253, a lint
for the modules a DAG file loads); here each check runs in a fresh interpreter and inspects
``sys.modules``, so an import hidden behind a function call is caught too. The anchor
(apache-airflow-providers-google's Cloud Batch operator) is checked the same way to show the gap.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
RUFF = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["ruff"]["lint"]
BANNED = tuple(RUFF["flake8-tidy-imports"]["banned-module-level-imports"])
#: Third-party modules a DAG file must never load, whatever it contains.
THIRD_PARTY = tuple(name for name in BANNED if not name.startswith("airflow_batchstream"))
#: The project's own heavy or run-time modules (the validator with its rules, catalog and field
#: table, the renderer, the image preflight, the hook, the emulator, the ownership register): loaded
#: only when a DAG has a mistake to explain, or when a task runs.
OURS = tuple(name for name in BANNED if name.startswith("airflow_batchstream"))

#: What a DAG file (and Airflow, listing the provider) imports.
DAG_FILE_IMPORTS = (
    "import airflow_batchstream, airflow_batchstream.provider_info\n"
    "from airflow_batchstream.operators import BatchStreamJobOperator\n"
    "from airflow_batchstream.sensors import BatchStreamJobSensor\n"
    "import airflow_batchstream.triggers, airflow_batchstream.links, airflow_batchstream.states"
)

#: The budget of ``from ...operators import ...`` and ``from ...sensors import ...`` after
#: ``import airflow.sdk`` (which every DAG file pays anyway): modules added, and KiB allocated
#: (tracemalloc, what stays allocated). Measured at 17 modules and 672 KiB on Python 3.11.7; the
#: memory margin absorbs other interpreter versions, not a new module.
BUDGET_MODULES = 17
BUDGET_KIB = 720

MEASURE = """
import json, sys, tracemalloc
import airflow.sdk
before = set(sys.modules)
tracemalloc.start()
from airflow_batchstream.operators import BatchStreamJobOperator
from airflow_batchstream.sensors import BatchStreamJobSensor
allocated = tracemalloc.get_traced_memory()[0]
print(json.dumps({"modules": sorted(set(sys.modules) - before), "kib": allocated / 1024}))
"""


def loaded_after(statement: str, modules: tuple[str, ...]) -> set[str]:
    """Which of ``modules`` (or their submodules) a fresh interpreter has loaded after ``statement``.

    Namespace packages (``google.cloud``, which a ``.pth`` file of the Google libraries registers
    at start-up) hold no code, so they do not count.
    """
    code = (
        f"import sys, json\n{statement}\n"
        "print(json.dumps(sorted(n for n, m in list(sys.modules.items()) if getattr(m, '__file__', None))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    names = json.loads(out.stdout.strip().splitlines()[-1])
    return {name for name in names if any(name == m or name.startswith(m + ".") for m in modules)}


@pytest.mark.parametrize(
    "statement",
    [
        DAG_FILE_IMPORTS,
        # A whole DAG definition, as the DAG processor runs it; the image's project ("p") is not a
        # project id, so the parameter checks have a problem to explain.
        "from airflow.sdk import DAG\n"
        "from airflow_batchstream.operators import BatchStreamJobOperator\n"
        "from airflow_batchstream.sensors import BatchStreamJobSensor\n"
        "with DAG('d', schedule=None):\n"
        "    op = BatchStreamJobOperator(\n"
        "        task_id='t', image_uri='us-docker.pkg.dev/p/r/i:1', location='us-central1'\n"
        "    )\n"
        "    BatchStreamJobSensor(task_id='s', job_name='projects/my-project/locations/us-central1/jobs/j')",
    ],
    ids=["imports", "dag-with-a-problem"],
)
def test_a_dag_file_loads_no_heavy_library(statement):
    assert loaded_after(statement, THIRD_PARTY) == set()


@pytest.mark.parametrize(
    "statement",
    [
        DAG_FILE_IMPORTS,
        "import airflow_batchstream.jobspec",
        # The parameter checks of a DAG without mistakes (the catalog is loaded for a problem only).
        "from airflow.sdk import DAG\n"
        "from airflow_batchstream.operators import BatchStreamJobOperator\n"
        "from airflow_batchstream.sensors import BatchStreamJobSensor\n"
        "with DAG('d', schedule=None):\n"
        "    BatchStreamJobOperator(\n"
        "        task_id='t', image_uri='us-docker.pkg.dev/my-project/r/i:1', location='us-central1'\n"
        "    )\n"
        "    BatchStreamJobSensor(task_id='s', job_name='projects/my-project/locations/us-central1/jobs/j')",
    ],
    ids=["imports", "jobspec", "dag"],
)
def test_a_dag_file_without_mistakes_loads_none_of_our_heavy_modules(statement):
    assert loaded_after(statement, OURS) == set()


def test_the_check_can_fail():
    # The same probe must see a heavy module that is loaded, or the tests above prove nothing.
    statement = "import airflow_batchstream.jobspec.validate, grpc"
    assert loaded_after(statement, BANNED) >= {"airflow_batchstream.jobspec.validate", "grpc"}


def test_every_banned_module_exists():
    # A module renamed or removed would leave its old name here, banning nothing.
    assert [name for name in BANNED if importlib.util.find_spec(name) is None] == []


def test_the_lint_covers_exactly_the_modules_a_dag_file_loads():
    (pattern,) = [key for key, rules in RUFF["per-file-ignores"].items() if "TID253" in rules]
    assert pattern.startswith("!{") and pattern.endswith("}")  # the rule applies to these files only
    linted = set(pattern[2:-1].split(","))
    loaded = loaded_after(DAG_FILE_IMPORTS, ("airflow_batchstream",))
    files = {str(Path(importlib.util.find_spec(name).origin).relative_to(ROOT).as_posix()) for name in loaded}
    assert files == linted, {"add to the TID253 list": files - linted, "not loaded": linted - files}


def test_the_operator_and_sensor_stay_within_their_budget():
    out = subprocess.run(
        [sys.executable, "-c", MEASURE], capture_output=True, text=True, timeout=120, check=True
    )
    added = json.loads(out.stdout.strip().splitlines()[-1])
    ours = [name for name in added["modules"] if name.startswith("airflow_batchstream")]
    others = [name for name in added["modules"] if name not in ours]
    assert len(added["modules"]) <= BUDGET_MODULES, added["modules"]
    assert all(name.startswith("airflow.sdk") for name in others), others
    assert added["kib"] <= BUDGET_KIB, added["kib"]


def test_the_anchor_operator_loads_grpc_and_the_batch_client():
    loaded = loaded_after(
        "from airflow.providers.google.cloud.operators.cloud_batch import CloudBatchSubmitJobOperator",
        ("grpc", "google.api_core", "google.cloud.batch_v1"),
    )
    assert {"grpc", "google.api_core", "google.cloud.batch_v1"} <= loaded
