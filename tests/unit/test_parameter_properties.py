"""Properties of the parameter checks over generated values.

1. ``render_job`` and the operator's and sensor's constructors raise nothing but the provider's own
   errors (``InvalidParameters`` / ``ParameterInvalid``), whatever JSON-shaped values they get.
2. Whatever passes the operator's checks renders, and the validator judges the result without
   tripping over it (no ``J-INTERNAL``).
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_batchstream.exceptions import ParameterInvalid
from airflow_batchstream.identity import TaskInstanceIdentity
from airflow_batchstream.jobspec.parameters import (
    JOB_PARAMETERS,
    OPERATOR_PARAMETERS,
    SENSOR_PARAMETERS,
    InvalidParameters,
)
from airflow_batchstream.jobspec.render import render_job
from airflow_batchstream.jobspec.validate import validate_job
from airflow_batchstream.operators import BatchStreamJobOperator
from airflow_batchstream.sensors import BatchStreamJobSensor

SETTINGS = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
IMAGE = "us-central1-docker.pkg.dev/example-project/pipelines/etl:1.0"

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=10,
)

# Values that are right for some parameter: they steer generation past the first check.
plausible = st.sampled_from(
    [
        1, 0, -1, 10, 5000, 100_001, 2.5, True, False, "", "3600s", "1h", "us-central1", "us-central1-a",
        "my-project", "My Project!", "e2-standard-4", "global/networks/default", "regions/us-central1",
        "runner@my-project.iam.gserviceaccount.com", "PATH", "NONE", "off", "/mnt/logs", IMAGE,
        "projects/my-project/locations/us-central1/jobs/j", ["a", "b"], ["regions/us-central1"], [1, 75],
        {"A": "1"}, {"managed-by": "x"}, {"priority": 5}, "{{ ds }}", [{"mountPath": "/m"}],
        {"taskGroups": [{"taskSpec": {"runnables": [{"container": {"enableImageStreaming": False}}]}}]},
    ]
)  # fmt: skip
values = st.one_of(plausible, json_values)


def some_of(table: dict) -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(st.sampled_from(sorted(table)), values, max_size=5)


@SETTINGS
@given(some_of({name: p for name, p in JOB_PARAMETERS.items() if name != "image_uri"}))
def test_render_job_raises_only_invalid_parameters(arguments: dict[str, Any]) -> None:
    try:
        job = render_job(IMAGE, **arguments)
    except InvalidParameters:
        return
    problems = validate_job(job, "us-central1")
    assert not [p for p in problems if p.rule == "J-INTERNAL"], problems


@SETTINGS
@given(some_of({name: p for name, p in OPERATOR_PARAMETERS.items() if name not in ("image_uri", "location")}))
def test_the_operator_constructor_raises_only_parameter_invalid(arguments: dict[str, Any]) -> None:
    try:
        op = BatchStreamJobOperator(task_id="t", image_uri=IMAGE, location="us-central1", **arguments)
    except ParameterInvalid:
        return
    # Passing the constructor means a template (checked once rendered) or a good value: as the
    # task would, check the values as they are now, then render and validate the job.
    try:
        checked = op.check_parameters({name: getattr(op, name) for name in OPERATOR_PARAMETERS}, static=False)
    except ParameterInvalid:
        return
    for name, value in checked.items():
        setattr(op, name, value)
    job = op.render(TaskInstanceIdentity("dag", "task", "run"))
    problems = validate_job(job, "us-central1")
    assert not [p for p in problems if p.rule == "J-INTERNAL"], problems


@SETTINGS
@given(some_of(dict(SENSOR_PARAMETERS)))
def test_the_sensor_constructor_raises_only_parameter_invalid(arguments: dict[str, Any]) -> None:
    arguments.setdefault("job_name", "projects/my-project/locations/us-central1/jobs/j")
    try:
        BatchStreamJobSensor(task_id="s", **arguments)
    except ParameterInvalid:
        return
