"""Artifact Registry image references (rules IS-1, IS-1b) and location containment (IS-2)."""

from __future__ import annotations

import dataclasses

import pytest

from airflow_batchstream.jobspec.images import (
    ImageRef,
    location_contains,
    parse_image,
    region_of_allowed_location,
)
from airflow_batchstream.jobspec.policy import DEFAULT_POLICY, ValidationPolicy
from airflow_batchstream.jobspec.problems import Severity

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        (
            "us-east1-docker.pkg.dev/my-project/my-repo/my-image:1.0",
            ImageRef("us-east1-docker.pkg.dev", "us-east1", "my-project", "my-repo", "my-image", "1.0", None),
        ),
        (
            "us-docker.pkg.dev/my-project/my-repo/team/tools/etl",
            ImageRef("us-docker.pkg.dev", "us", "my-project", "my-repo", "team/tools/etl", None, None),
        ),
        (
            f"europe-west4-docker.pkg.dev/my-project/my-repo/etl@{DIGEST}",
            ImageRef(
                "europe-west4-docker.pkg.dev", "europe-west4", "my-project", "my-repo", "etl", None, DIGEST
            ),
        ),
        (
            f"us-west1-docker.pkg.dev/example.com/my-project/my-repo/img:v2@{DIGEST}",
            ImageRef(
                "us-west1-docker.pkg.dev",
                "us-west1",
                "example.com:my-project",
                "my-repo",
                "img",
                "v2",
                DIGEST,
            ),
        ),
        (
            "us-central1-docker.pkg.dev/my-project/my_repo/a.b__c--d:Tag_1.x-y",
            ImageRef(
                "us-central1-docker.pkg.dev",
                "us-central1",
                "my-project",
                "my_repo",
                "a.b__c--d",
                "Tag_1.x-y",
                None,
            ),
        ),
    ],
)
def test_parse_valid_artifact_registry_uris(uri: str, expected: ImageRef) -> None:
    ref, problems = parse_image(uri)
    assert problems == []
    assert ref == expected
    assert str(ref) == uri


@pytest.mark.parametrize(
    ("uri", "needle"),
    [
        ("ubuntu:22.04", "not in Artifact Registry"),
        ("docker.io/library/ubuntu", "not in Artifact Registry"),
        ("ghcr.io/org/image:1", "not in Artifact Registry"),
        ("us-central1-docker.pkg.dev", "names no project"),
        ("us-central1-docker.pkg.dev/", "names no project"),
        ("us-central1-docker.pkg.dev/my-project/my-image", "needs PROJECT/REPOSITORY/IMAGE"),
        ("us-central1-docker.pkg.dev/example.com/my-project/repo", "needs DOMAIN/PROJECT/REPOSITORY/IMAGE"),
        ("us-central1-docker.pkg.dev/my-project/repo//img", "empty path segment"),
        ("https://us-central1-docker.pkg.dev/my-project/repo/img", "has a scheme"),
        (" us-central1-docker.pkg.dev/my-project/repo/img", "whitespace"),
        ("", "empty"),
        ("US-CENTRAL1-docker.pkg.dev/my-project/repo/img", "not in Artifact Registry"),
    ],
)
def test_parse_uris_outside_the_artifact_registry_layout(uri: str, needle: str) -> None:
    ref, problems = parse_image(uri, path="x.imageUri")
    assert ref is None
    assert problems, uri
    assert all(p.path == "x.imageUri" for p in problems)
    assert any(needle in p.message for p in problems if p.is_error), [p.message for p in problems]
    assert {p.rule for p in problems if p.is_error} == {"IS-1"}
    assert all(p.fix for p in problems)


GRAMMAR = [
    ("us-central1-docker.pkg.dev/my-project/My-Repo/img", "path component 'My-Repo'"),
    ("us-central1-docker.pkg.dev/my-project/repo/img-", "path component 'img-'"),
    ("us-central1-docker.pkg.dev/my-project/repo/img:", "tag ''"),
    ("us-central1-docker.pkg.dev/my-project/repo/img:-bad", "tag '-bad'"),
    ("us-central1-docker.pkg.dev/my-project/repo/img:" + "t" * 129, "tag 'ttt"),
    ("us-central1-docker.pkg.dev/my-project/repo/img@sha256:abc", "digest 'sha256:abc'"),
    ("us-central1-docker.pkg.dev/my-project/repo/img@sha512:" + "a" * 128, "digest 'sha512:"),
    ("us-central1-docker.pkg.dev/my-project/repo/img@sha256:" + "A" * 64, "digest 'sha256:AAAA"),
    ("us-central1-docker.pkg.dev/my-project/repo/" + "a" * 250, "longer than 255"),
]


@pytest.mark.parametrize(("uri", "needle"), GRAMMAR)
def test_reference_grammar_is_a_warning_by_default(uri: str, needle: str) -> None:
    # Artifact Registry documents the layout, not the registry API's grammar: Batch may accept it.
    ref, problems = parse_image(uri, path="x.imageUri")
    assert ref is not None and ref.location == "us-central1"
    assert [p.severity for p in problems] == [Severity.WARNING], [p.message for p in problems]
    assert needle in problems[0].message and problems[0].rule == "IS-1"


@pytest.mark.parametrize(("uri", "needle"), GRAMMAR)
def test_reference_grammar_follows_policy(uri: str, needle: str) -> None:
    strict = dataclasses.replace(DEFAULT_POLICY, image_reference_grammar="error")
    ref, problems = parse_image(uri, strict)
    assert ref is None
    assert any(needle in p.message for p in problems if p.is_error)
    lenient = dataclasses.replace(DEFAULT_POLICY, image_reference_grammar="off")
    assert parse_image(uri, lenient)[1] == []


def test_characters_no_reference_holds_follow_the_grammar_policy() -> None:
    uri = "us-central1-docker.pkg.dev/my-project/repo/my image!"
    # Held to the grammar (the image preflight), they are named first and alone.
    strict = dataclasses.replace(DEFAULT_POLICY, image_reference_grammar="error")
    ref, problems = parse_image(uri, strict)
    assert ref is None
    assert [(p.rule, p.severity) for p in problems] == [("IS-1", Severity.ERROR)]
    assert "is not an image reference: ' ', '!' cannot appear in one" in problems[0].message
    # Otherwise the grammar check names the component holding them, as a warning.
    ref, problems = parse_image(uri)
    assert ref is not None
    assert [(p.severity, p.message.split(" of ")[0]) for p in problems] == [
        (Severity.WARNING, "path component 'my image!'")
    ]


@pytest.mark.parametrize(
    ("uri", "where"),
    [
        ("ubuntu:22.04", "it is a Docker Hub name"),
        ("not a uri!!", "host 'not a uri!!' is not LOCATION-docker.pkg.dev"),
        ("localhost:5000/app", "host 'localhost:5000' is not LOCATION-docker.pkg.dev"),
    ],
)
def test_only_a_docker_hub_name_is_called_one(uri: str, where: str) -> None:
    ref, problems = parse_image(uri)
    assert ref is None
    assert [p.rule for p in problems if p.is_error] == ["IS-1"]
    assert where in problems[0].message


@pytest.mark.parametrize("value", [None, 3, ["a"], {"a": 1}, b"bytes"])
def test_parse_non_string_never_raises(value: object) -> None:
    ref, problems = parse_image(value)  # type: ignore[arg-type]
    assert ref is None
    assert problems[0].rule == "IS-1"
    assert type(value).__name__ in problems[0].message


def test_gcr_host_is_a_warning_by_default_and_maps_to_a_multi_region() -> None:
    ref, problems = parse_image("eu.gcr.io/my-project/team/img:1")
    assert ref is not None
    assert (ref.location, ref.repository, ref.image, ref.tag) == ("europe", "eu.gcr.io", "team/img", "1")
    assert ref.name == "my-project/team/img"
    assert str(ref) == "eu.gcr.io/my-project/team/img:1"
    assert [(p.rule, p.is_error) for p in problems] == [("IS-1b", False)]


@pytest.mark.parametrize(("level", "expected"), [("error", ["IS-1b"]), ("off", [])])
def test_gcr_host_follows_policy(level: str, expected: list[str]) -> None:
    policy = dataclasses.replace(DEFAULT_POLICY, gcr_hosts=level)
    ref, problems = parse_image("gcr.io/my-project/img", policy)
    assert [p.rule for p in problems] == expected
    assert (ref is None) == bool(expected)


def test_gcr_host_needs_project_and_image() -> None:
    ref, problems = parse_image("gcr.io/img")
    assert ref is None
    assert any("needs PROJECT/IMAGE" in p.message for p in problems)


def test_unknown_ar_location_follows_unknown_region_policy() -> None:
    uri = "mars-north1-docker.pkg.dev/my-project/repo/img"
    ref, problems = parse_image(uri)
    assert ref is not None
    assert [(p.rule, p.is_error) for p in problems] == [("IS-1", False)]
    strict = ValidationPolicy(unknown_region="error")
    assert parse_image(uri, strict)[0] is None


def test_unusual_project_id_is_only_a_warning() -> None:
    ref, problems = parse_image("us-docker.pkg.dev/example.com/proj/repo/img")
    assert ref is not None and ref.project == "example.com:proj"
    assert [(p.rule, p.is_error) for p in problems] == [("IS-1", False)]


def test_name_reference_and_with_digest() -> None:
    ref, _ = parse_image("us-west1-docker.pkg.dev/example.com/my-project/repo/team/img:1.0")
    assert ref is not None
    assert ref.name == "example.com/my-project/repo/team/img"
    assert ref.reference == "1.0"
    pinned = ref.with_digest(DIGEST)
    assert pinned.reference == DIGEST
    # IMAGE@DIGEST, the form Artifact Registry documents: the tag is dropped, never IMAGE:TAG@DIGEST.
    assert pinned.tag is None and ref.tag == "1.0" and ref.digest is None
    assert str(pinned) == f"us-west1-docker.pkg.dev/example.com/my-project/repo/team/img@{DIGEST}"
    reparsed, problems = parse_image(str(pinned))
    assert reparsed == pinned and not problems
    bare, _ = parse_image("us-docker.pkg.dev/my-project/repo/img")
    assert bare is not None and bare.reference == "latest"
    with pytest.raises(dataclasses.FrozenInstanceError):
        bare.tag = "x"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("entry", "region"),
    [
        ("regions/us-central1", "us-central1"),
        ("zones/us-central1-a", "us-central1"),
        ("zones/europe-west4-b", "europe-west4"),
        ("regions/us-central1-a", None),
        ("zones/us-central1", None),
        ("us-central1", None),
        ("", None),
        (None, None),
        (7, None),
    ],
)
def test_region_of_allowed_location(entry: object, region: str | None) -> None:
    assert region_of_allowed_location(entry) == region  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("image_location", "region", "contained"),
    [
        ("us-east1", "us-east1", True),
        ("us", "us-east1", True),
        ("us", "northamerica-northeast1", False),
        ("europe", "europe-west4", True),
        ("europe", "europe-west2", False),
        ("asia", "australia-southeast1", False),
        ("us-east1", "us-east4", False),
        ("mars", "us-east1", False),
    ],
)
def test_location_contains(image_location: str, region: str, contained: bool) -> None:
    assert location_contains(image_location, region) is contained


def test_location_contains_uses_the_policy_table() -> None:
    policy = ValidationPolicy(multi_regions={"us": frozenset({"northamerica-northeast1"})})
    assert location_contains("us", "northamerica-northeast1", policy)
    assert not location_contains("us", "us-east1", policy)
