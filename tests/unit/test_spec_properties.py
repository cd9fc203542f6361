"""Properties of the validator over generated input.

1. ``validate_job`` never raises and never trips ``J-INTERNAL``, whatever JSON-shaped value it gets.
2. A job it finds no error in is one the real client parses: ``Job.from_json`` accepts it.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_batchstream.jobspec import schema
from airflow_batchstream.jobspec.names import camel_case_fields, snake_case
from airflow_batchstream.jobspec.problems import Problem
from airflow_batchstream.jobspec.render import render_job
from airflow_batchstream.jobspec.validate import validate_job

batch_v1 = pytest.importorskip("google.cloud.batch_v1")

SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)

# Keys include a lone surrogate (valid Python, unsendable JSON) and names the schema nearly knows.
keys = st.text(max_size=8) | st.sampled_from(["\ud800", "a b", "image_uri", "taskgroups"])
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8) | st.just("\ud800"),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(keys, children, max_size=3),
    max_leaves=12,
)

# Values that are right for some field somewhere: they steer generation towards jobs that pass.
plausible = st.sampled_from(
    [
        "3600s", "1.5s", "1", "-1", "0", 1, 0, 101, 5001, 11, True, False, "", "RETRY_TASK", "IN_ORDER",
        "PATH", "FLEX_START", "regions/us-central1", "zones/us-central1-a", "regions/us-east1",
        "us-central1-docker.pkg.dev/example-project/pipelines/etl:1.0", "us-docker.pkg.dev/p/r/i",
        "docker.io/library/ubuntu", "/mnt/data", "/mnt/data/", "/a:/b:ro", "projects/p/secrets/s/versions/1",
        "projects/p/topics/t", "2024-01-01T00:00:00Z", "goog-x", "env", {}, [], "\ud800",
    ]
)  # fmt: skip


def _scalar(kind: str) -> st.SearchStrategy[Any]:
    if kind.startswith("enum:"):
        values = schema.ENUMS[kind[5:]]
        return st.sampled_from([*values, *values.values(), 99])
    return {
        "string": st.text(max_size=6),
        "bool": st.booleans(),
        "int32": st.integers(-(2**31), 2**31 - 1) | st.integers().map(str),
        "int64": st.integers(0, 200_000) | st.integers().map(str) | st.integers(),
        "Duration": st.from_regex(r"\A[0-9]{1,13}(\.[0-9]{1,10})?s\Z"),
        "Timestamp": st.sampled_from(["2024-01-01T00:00:00Z", "2024-02-30T00:00:00Z", "2024-01-01"]),
    }[kind]


def _kind(kind: str, depth: int) -> st.SearchStrategy[Any]:
    if kind.startswith("map:"):
        base = st.dictionaries(keys, _kind(kind[4:], depth + 1), max_size=3)
    elif kind.endswith("[]"):
        base = st.lists(_kind(kind[:-2], depth + 1), max_size=2)
    elif kind in schema.MESSAGES:
        base = _message(kind, depth + 1)
    else:
        base = _scalar(kind)
    # Mostly well-typed, sometimes anything: both sides of every type check get exercised.
    return st.one_of(base, base, base, plausible, json_values)


def _message(name: str, depth: int) -> st.SearchStrategy[dict]:
    if depth > 8:
        return st.just({})
    fields = schema.MESSAGES[name]
    return st.fixed_dictionaries(
        {}, optional={field: st.deferred(lambda k=kind: _kind(k, depth)) for field, kind in fields.items()}
    )


schema_jobs = _message(schema.ROOT, 0)


def _base_job() -> dict:
    return render_job(
        "us-central1-docker.pkg.dev/example-project/pipelines/etl:1.0",
        commands=["run"],
        environment={"A": "1"},
        secret_environment={"S": "projects/p/secrets/s/versions/1"},
        volumes=[{"gcs": {"remotePath": "bucket"}, "mountPath": "/mnt/data"}],
        container_volumes=["/mnt/data:/data:ro"],
        task_count=4,
        parallelism=2,
        machine_type="e2-standard-4",
        max_run_duration=3600,
        max_retries=2,
        labels={"team": "data"},
        allowed_locations=["zones/us-central1-a"],
    )


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every container path inside a JSON value: the places a mutation can hit."""
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


@st.composite
def mutated_jobs(draw: st.DrawFn) -> dict:
    job = copy.deepcopy(_base_job())
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_paths(job)))
        target = job
        for step in path[:-1]:
            target = target[step]
        if not path:
            continue
        key = path[-1]
        action = draw(st.sampled_from(["replace", "delete", "rename", "add"]))
        if action == "replace":
            target[key] = draw(plausible | json_values)
        elif action == "delete":
            del target[key]
        elif action == "rename" and isinstance(target, dict):
            new_key = draw(st.sampled_from([key + "_", key.lower(), "image_uri", "Options", "wat"]))
            target[new_key] = target.pop(key)
        elif isinstance(target[key], dict):
            target[key][draw(st.text(max_size=10) | st.sampled_from(_ALL_FIELDS))] = draw(
                plausible | json_values
            )
    return job


_ALL_FIELDS = sorted({field for fields in schema.MESSAGES.values() for field in fields})


def _assert_printable(problems: list[Problem]) -> None:
    # The CLI prints every problem: a lone surrogate in a path or message would crash it.
    for problem in problems:
        assert isinstance(problem, Problem)
        problem.format().encode("utf-8")
        json.dumps(problem.to_dict(), ensure_ascii=False).encode("utf-8")


def _assert_sound(job: Any, location: str = "us-central1") -> None:
    problems = validate_job(job, location)
    _assert_printable(problems)
    assert not [p for p in problems if p.rule == "J-INTERNAL"], problems
    if not any(p.is_error for p in problems):
        batch_v1.Job.from_json(json.dumps(job))  # raises if the validator let a bad job through


@SETTINGS
@given(json_values, st.one_of(st.none(), st.text(max_size=12), st.sampled_from(["us-central1", "us"])))
def test_any_json_value_never_raises(value: Any, location: Any) -> None:
    problems = validate_job(value, location)
    assert not [p for p in problems if p.rule == "J-INTERNAL"]
    _assert_printable(problems)


STRUCTURE_RULES = {"J-FIELD", "J-TYPE", "J-DURATION", "J-ONEOF"}


@SETTINGS
@given(schema_jobs)
def test_schema_shaped_jobs_without_structure_errors_parse(job: dict) -> None:
    # Generated jobs rarely pass every rule (a task group is optional here), so check the stronger
    # claim that the structure rules alone decide whether the client can parse the job.
    problems = validate_job(job, "us-central1")
    assert not [p for p in problems if p.rule == "J-INTERNAL"], problems
    if not any(p.is_error and p.rule in STRUCTURE_RULES for p in problems):
        batch_v1.Job.from_json(json.dumps(job))


@SETTINGS
@given(mutated_jobs())
def test_mutated_valid_jobs_accepted_only_if_the_client_parses_them(job: dict) -> None:
    _assert_sound(job)


def _snake_fields(value: Any, kind: str = schema.ROOT) -> Any:
    """``value`` with every schema field name in its proto (snake_case) spelling; map keys kept."""
    if kind.endswith("[]"):
        return [_snake_fields(item, kind[:-2]) for item in value] if isinstance(value, list) else value
    if kind.startswith("map:") or kind not in schema.MESSAGES or not isinstance(value, dict):
        return value
    fields = schema.MESSAGES[kind]
    return {
        snake_case(key) if key in fields else key: _snake_fields(item, fields[key]) if key in fields else item
        for key, item in value.items()
    }


@SETTINGS
@given(schema_jobs)
def test_snake_case_spelling_changes_nothing_but_the_paths(job: dict) -> None:
    snake = _snake_fields(job)
    assert camel_case_fields(snake) == job
    as_written = validate_job(snake, "us-central1")
    as_camel = validate_job(job, "us-central1")
    assert sorted((p.rule, p.severity.value) for p in as_written) == sorted(
        (p.rule, p.severity.value) for p in as_camel
    )
    _assert_printable(as_written)


def test_the_base_job_is_valid() -> None:
    # Without this, the mutation test could pass by never starting from a clean job.
    assert validate_job(_base_job(), "us-central1") == []
