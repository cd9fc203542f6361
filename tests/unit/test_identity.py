"""identity: deterministic job ids, lineage, labels."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_batchstream import identity
from airflow_batchstream.identity import TaskInstanceIdentity, job_id_for

JOB_ID = re.compile(r"^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$")
KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
VALUE = re.compile(r"^[a-z0-9_-]{0,63}$")


def test_job_id_is_readable_and_deterministic():
    job_id = job_id_for("etl_daily", "load.to.bq", "scheduled__2024-01-01T00:00:00+00:00", -1, 1)
    assert job_id.startswith("etl-daily-load-to-bq-")
    assert job_id.endswith("-t1")
    assert job_id == job_id_for("etl_daily", "load.to.bq", "scheduled__2024-01-01T00:00:00+00:00", -1, 1)


@pytest.mark.parametrize(
    "change",
    [
        {"run_id": "scheduled__2024-01-02T00:00:00+00:00"},
        {"map_index": 3},
        {"try_number": 2},
        {"task_id": "Load_To_BQ"},  # sanitizes to the same readable text: the hash tells them apart
    ],
)
def test_any_part_changes_the_id(change):
    base = {
        "dag_id": "etl_daily",
        "task_id": "load_to_bq",
        "run_id": "scheduled__2024-01-01T00:00:00+00:00",
        "map_index": -1,
        "try_number": 1,
    }
    assert job_id_for(**base) != job_id_for(**{**base, **change})


def test_tries_share_a_lineage():
    first = TaskInstanceIdentity("d", "t", "r", -1, 1)
    second = TaskInstanceIdentity("d", "t", "r", -1, 2)
    assert first.lineage == second.lineage
    assert first.job_id.rsplit("-t", 1)[0] == second.job_id.rsplit("-t", 1)[0]
    assert identity.belongs_to(second.labels(), first, same_try=False)
    assert not identity.belongs_to(second.labels(), first)


@given(
    dag_id=st.text(min_size=1, max_size=250),
    task_id=st.text(min_size=1, max_size=250),
    run_id=st.text(min_size=1, max_size=250),
    map_index=st.integers(-1, 100_000),
    try_number=st.integers(1, 10_000),
)
def test_ids_and_labels_always_follow_batch_rules(dag_id, task_id, run_id, map_index, try_number):
    job_id = job_id_for(dag_id, task_id, run_id, map_index, try_number)
    assert JOB_ID.match(job_id), job_id
    assert len(job_id) <= 63
    for key, value in identity.job_labels(dag_id, task_id, run_id, map_index, try_number).items():
        assert KEY.match(key), key
        assert VALUE.match(value), value


def test_long_names_keep_the_hash_and_try():
    job_id = job_id_for("d" * 300, "t" * 300, "r", -1, 12345)
    assert len(job_id) <= 63
    assert job_id.endswith("-t12345")


def test_leading_digits_get_a_letter():
    assert job_id_for("2024_reports", "1st", "r")[0].isalpha()


def test_user_labels_cannot_override_ours():
    ours = identity.job_labels("d", "t", "r")
    merged = identity.merge_labels({"team": "x", "managed-by": "someone-else"}, ours)
    assert merged["managed-by"] == "airflow-batchstream"
    assert merged["team"] == "x"


def test_sanitized_label_key_starts_with_a_letter():
    assert identity.sanitize_label_key("9lives") == "k9lives"
    assert (
        identity.sanitize_label_value("Scheduled__2024-01-01T00:00:00+00:00")
        == "scheduled__2024-01-01t00-00-00-00-00"
    )


#: A version-4 UUID as RFC 4122 writes it: version nibble 4, variant bits 10xx.
UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


@given(st.text(min_size=1, max_size=80), st.sampled_from(["create", "cancel", "delete"]))
def test_request_ids_are_deterministic_version_4_uuids(name, verb):
    import uuid

    request_id = identity.request_id_for(name, verb)
    assert UUID4.match(request_id), request_id
    parsed = uuid.UUID(request_id)
    assert parsed.version == 4 and parsed.variant == uuid.RFC_4122 and parsed.int != 0
    assert request_id == identity.request_id_for(name, verb)  # a retried mutation is deduplicated


def test_request_ids_differ_per_verb_and_per_job():
    job = "projects/p/locations/l/jobs/j"
    ids = {identity.request_id_for(job, verb) for verb in ("create", "cancel", "delete")}
    ids.add(identity.request_id_for(job + "2"))
    assert len(ids) == 4
