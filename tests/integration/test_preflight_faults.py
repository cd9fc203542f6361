"""Faults a correct registry never produces, served by a scripted HTTP server on loopback:
content that does not hash to its digest, HTTP 403 and 5xx, redirect loops."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from airflow_batchstream.preflight import ImageUnreadable, preflight_image
from airflow_batchstream.retry import RetryPolicy
from tests.integration.registry_tools import (
    DOCKER_MANIFEST_V2,
    ScriptedRegistry,
    encode,
    image_manifest,
    make_config,
    make_layer,
    sha256,
)

pytestmark = pytest.mark.usefixtures("fresh_preflight_cache")

NAME = "fault-project/repo/app"
URI = f"us-central1-docker.pkg.dev/{NAME}"
LAYER = make_layer({"f.txt": b"fault\n" * 400})
CONFIG = make_config([LAYER.diff_id])
MANIFEST = encode(image_manifest(CONFIG, [LAYER]))
MANIFEST_DIGEST = sha256(MANIFEST)
V2 = f"/v2/{NAME}"
QUICK = RetryPolicy(initial=0.05, maximum=0.1, budget=0.3)


@pytest.fixture
def scripted() -> Iterator[ScriptedRegistry]:
    server = ScriptedRegistry({}).start()
    yield server
    server.stop()


def serve_image(
    server: ScriptedRegistry, *, manifest: bytes = MANIFEST, config: bytes = CONFIG, digest: str = ""
) -> None:
    headers = {"Content-Type": DOCKER_MANIFEST_V2, "Docker-Content-Digest": digest or sha256(manifest)}
    server.routes[f"{V2}/manifests/1.0"] = (200, headers, manifest)
    server.routes[f"{V2}/manifests/{MANIFEST_DIGEST}"] = (200, headers, manifest)
    server.routes[f"{V2}/blobs/{sha256(CONFIG)}"] = (200, {}, config)
    # The layer is small, so the preflight opens it to see whether its tar has entries.
    server.routes[f"{V2}/blobs/{LAYER.digest}"] = (200, {}, LAYER.data)


def test_scripted_image_is_fine_when_consistent(scripted):
    serve_image(scripted)

    assert preflight_image(f"{URI}:1.0", registry_url=scripted.url).ok


def test_manifest_not_matching_the_requested_digest(scripted):
    serve_image(scripted, manifest=MANIFEST + b" ")

    result = preflight_image(f"{URI}@{MANIFEST_DIGEST}", registry_url=scripted.url)

    assert [(p.rule, p.path) for p in result.problems] == [("REG-1", "image")]
    assert MANIFEST_DIGEST in result.problems[0].message


def test_tag_whose_digest_header_disagrees_with_the_body(scripted):
    serve_image(scripted, digest="sha256:" + "9" * 64)

    result = preflight_image(f"{URI}:1.0", registry_url=scripted.url)

    assert [p.rule for p in result.problems] == ["REG-1"]
    assert not result.ok


def test_config_blob_not_matching_its_digest(scripted):
    serve_image(scripted, config=CONFIG.replace(b"amd64", b"arm64"))

    result = preflight_image(f"{URI}:1.0", registry_url=scripted.url)

    assert [p.rule for p in result.problems] == ["REG-1"]
    assert "config blob" in result.problems[0].message


def test_forbidden_names_the_permission_the_missing_repository_and_the_registry_message(scripted):
    # Artifact Registry's own words, as it answers for a missing role and a missing repository alike.
    said = (
        'Permission "artifactregistry.repositories.downloadArtifacts" denied on resource '
        '"projects/fault-project/locations/us-central1/repositories/repo" (or it may not exist)'
    )
    body = json.dumps({"errors": [{"code": "DENIED", "message": said}]}).encode()
    scripted.routes[f"{V2}/manifests/1.0"] = (403, {}, body)

    with pytest.raises(ImageUnreadable) as caught:
        preflight_image(f"{URI}:1.0", registry_url=scripted.url)

    message = str(caught.value)
    assert "HTTP 403 DENIED: " + said in message
    assert "application default credentials" in message
    assert "repository fault-project/repo/app may not exist" in message
    assert "artifactregistry.repositories.downloadArtifacts (roles/artifactregistry.reader)" in message
    assert "No Batch job was submitted" in message
    assert scripted.seen == [f"{V2}/manifests/1.0"]  # a refusal is not retried


def test_server_error_after_the_retries(scripted):
    scripted.routes[f"{V2}/manifests/1.0"] = (503, {}, b'{"errors":[{"code":"UNAVAILABLE"}]}')

    with pytest.raises(ImageUnreadable, match=r"HTTP 503 UNAVAILABLE.*No Batch job was submitted"):
        preflight_image(f"{URI}:1.0", registry_url=scripted.url, retry=QUICK)
    assert len(scripted.seen) > 1


def test_redirect_loop(scripted):
    scripted.routes[f"{V2}/manifests/1.0"] = (302, {"Location": f"{V2}/manifests/1.0"}, b"")

    with pytest.raises(ImageUnreadable, match="too many redirects"):
        preflight_image(f"{URI}:1.0", registry_url=scripted.url)


def test_unknown_challenge_scheme(scripted):
    scripted.routes[f"{V2}/manifests/1.0"] = (401, {"WWW-Authenticate": 'Negotiate realm="x"'}, b"")

    with pytest.raises(ImageUnreadable, match="authentication this client does not speak"):
        preflight_image(f"{URI}:1.0", registry_url=scripted.url)


def test_not_json(scripted):
    scripted.routes[f"{V2}/manifests/1.0"] = (200, {"Content-Type": "text/html"}, b"<html>login</html>")

    result = preflight_image(f"{URI}:1.0", registry_url=scripted.url)

    assert [p.rule for p in result.problems] == ["REG-3"]
    assert "text/html" in result.problems[0].message


def test_oversized_answer_is_refused(scripted, monkeypatch):
    from airflow_batchstream.preflight import registry

    monkeypatch.setattr(registry, "MAX_DOCUMENT_BYTES", len(MANIFEST) - 1)
    serve_image(scripted)

    with pytest.raises(ImageUnreadable, match=r"answered more than \d+ bytes.*No Batch job was submitted"):
        preflight_image(f"{URI}:1.0", registry_url=scripted.url)
