"""The image preflight against a real registry (distribution) on loopback, fed over its HTTP API.

Images are addressed as Artifact Registry URIs; ``registry_url`` points the preflight at the local
registry, and every image is pushed under the ImageRef's repository path.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass, replace

import pytest

from airflow_batchstream.jobspec.images import parse_image
from airflow_batchstream.jobspec.policy import DEFAULT_POLICY
from airflow_batchstream.preflight import ImageUnreadable, preflight_image
from airflow_batchstream.preflight.media import EMPTY_BLOB_DIGEST, EMPTY_GZIP_TAR_DIGEST, EMPTY_TAR_DIFF_ID
from airflow_batchstream.retry import RetryPolicy
from tests.integration.registry_tools import (
    DOCKER_MANIFEST_LIST,
    DOCKER_MANIFEST_V2,
    DOCKER_SCHEMA1_SIGNED,
    OCI_EMPTY,
    OCI_MANIFEST,
    Blob,
    canonical_empty_layer,
    descriptor,
    ec_key,
    encode,
    make_empty_tar_layer,
    make_layer,
    sha256,
    signed_schema1_manifest,
)

pytestmark = pytest.mark.usefixtures("fresh_preflight_cache")

HOST = "us-central1-docker.pkg.dev"
PROJECT_REPO = "batch-project/images"


def uri(image: str, reference: str = "1.0") -> str:
    separator = "@" if reference.startswith("sha256:") else ":"
    return f"{HOST}/{PROJECT_REPO}/{image}{separator}{reference}"


def repo_name(image: str) -> str:
    """The registry API repository path, as the project's own parser derives it."""
    ref, problems = parse_image(uri(image))
    assert ref is not None, problems
    return ref.name


def layers(count: int, seed: str) -> list[Blob]:
    return [make_layer({f"{seed}/file{i}.txt": f"{seed} layer {i}\n".encode() * 40}) for i in range(count)]


@dataclass
class Pushed:
    """Digests of what the session pushed, by image name."""

    digests: dict[str, str]
    bodies: dict[str, bytes]


@pytest.fixture(scope="session")
def pushed(registry) -> Pushed:
    pusher = registry.pusher()
    digests: dict[str, str] = {}
    bodies: dict[str, bytes] = {}
    try:
        good = layers(3, "good")
        digests["good"] = pusher.push_image(repo_name("good"), "1.0", good)
        digests["oci"] = pusher.push_image(repo_name("oci"), "1.0", layers(2, "oci"), oci=True)

        amd = layers(2, "amd64")
        arm = layers(2, "arm64")
        name = repo_name("multi")
        digests["multi-amd64"] = pusher.push_image(name, "amd64-only", amd, oci=True)
        digests["multi-arm64"] = pusher.push_image(name, "arm64-only", arm, oci=True, architecture="arm64")
        children = [
            ("linux/amd64", OCI_MANIFEST, pusher.get_manifest(name, digests["multi-amd64"])),
            ("linux/arm64/v8", OCI_MANIFEST, pusher.get_manifest(name, digests["multi-arm64"])),
        ]
        digests["multi"] = pusher.push_index(name, "1.0", children)

        arm_name = repo_name("arm-only")
        digests["arm-only-child"] = pusher.push_image(arm_name, "child", arm, architecture="arm64")
        arm_child = pusher.get_manifest(arm_name, digests["arm-only-child"])
        digests["arm-only"] = pusher.push_index(
            arm_name, "1.0", [("linux/arm64", DOCKER_MANIFEST_V2, arm_child)], oci=False
        )

        dup = layers(2, "dup")
        digests["dup-layer"] = pusher.push_image(repo_name("dup-layer"), "1.0", [dup[0], dup[1], dup[0]])

        # The same tar compressed twice: two layer digests, one diff id.
        tar_files = {"same/content.txt": b"identical content\n" * 100}
        first = make_layer(tar_files)
        recompressed = Blob(
            gzip.compress(gzip.decompress(first.data), compresslevel=1, mtime=0), first.diff_id
        )
        assert recompressed.digest != first.digest
        digests["dup-diff-id"] = pusher.push_image(repo_name("dup-diff-id"), "1.0", [first, recompressed])

        ok = layers(2, "empty")
        digests["empty-layer"] = pusher.push_image(
            repo_name("empty-layer"), "1.0", [ok[0], canonical_empty_layer(), ok[1]]
        )
        zero = Blob(b"", sha256(b""))
        digests["zero-layer"] = pusher.push_image(repo_name("zero-layer"), "1.0", [ok[0], zero])
        digests["empty-tar"] = pusher.push_image(
            repo_name("empty-tar"), "1.0", [ok[0], make_empty_tar_layer()]
        )
        digests["arm-image"] = pusher.push_image(
            repo_name("arm-image"), "1.0", layers(1, "arm"), architecture="arm64"
        )

        s1_name = repo_name("schema1")
        pusher.push_blob(s1_name, canonical_empty_layer().data)
        s1 = layers(1, "schema1")[0]
        pusher.push_blob(s1_name, s1.data)
        body = signed_schema1_manifest(s1_name, "1.0", [s1.digest, EMPTY_GZIP_TAR_DIGEST], ec_key())
        digests["schema1"] = pusher.push_manifest(s1_name, "1.0", body, DOCKER_SCHEMA1_SIGNED)
        bodies["schema1"] = body

        art_name = repo_name("artifact")
        empty_config = b"{}"
        pusher.push_blob(art_name, empty_config)
        artifact = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": "application/vnd.example.sbom.v1+json",
            "config": descriptor(OCI_EMPTY, empty_config),
            "layers": [descriptor(OCI_EMPTY, empty_config)],
        }
        digests["artifact"] = pusher.push_manifest(art_name, "1.0", encode(artifact), OCI_MANIFEST)

        # A correct config whose diff ids count disagrees with the layers.
        mismatch = layers(2, "mismatch")
        digests["diff-count"] = pusher.push_image(
            repo_name("diff-count"), "1.0", mismatch, diff_ids=[mismatch[0].diff_id]
        )
    finally:
        pusher.close()
    return Pushed(digests, bodies)


def check(registry, image: str, reference: str = "1.0", **kwargs):
    return preflight_image(uri(image, reference), registry_url=registry.url, **kwargs)


def rules(result) -> list[tuple[str, str]]:
    return [(p.rule, p.path) for p in result.problems if p.is_error]


# --- streamable images ------------------------------------------------------------------------------------


def test_good_schema2_image_by_tag(registry, pushed):
    result = check(registry, "good")

    assert result.ok, result.problems
    assert result.problems == []
    assert result.digest == pushed.digests["good"]
    assert result.media_type == DOCKER_MANIFEST_V2
    assert result.platform == "linux/amd64"
    assert len(result.layers) == 3
    assert result.total_size == sum(layer.size for layer in result.layers) > 0
    assert all(
        layer.media_type == "application/vnd.docker.image.rootfs.diff.tar.gzip" for layer in result.layers
    )
    assert result.resolved_from_index is False
    assert f"tag 1.0 resolved to {pushed.digests['good']}" in result.notes
    assert result.pinned_uri == f"{HOST}/{PROJECT_REPO}/good@{pushed.digests['good']}"


def test_good_image_by_digest(registry, pushed):
    result = check(registry, "good", pushed.digests["good"])

    assert result.ok
    assert result.digest == pushed.digests["good"]
    assert result.notes == []


def test_oci_manifest_is_judged_by_policy(registry, pushed):
    default = check(registry, "oci")
    warned = check(registry, "oci", policy=replace(DEFAULT_POLICY, oci_manifest="warning"))
    refused = check(registry, "oci", policy=replace(DEFAULT_POLICY, oci_manifest="error"))

    assert default.ok and default.problems == [] and default.media_type == OCI_MANIFEST
    assert warned.ok and [p.rule for p in warned.problems] == ["IS-11"]
    assert not warned.problems[0].is_error
    assert not refused.ok and rules(refused) == [("IS-11", "image")]


# --- indexes and platforms --------------------------------------------------------------------------------


def test_index_resolves_to_amd64_by_default(registry, pushed):
    result = check(registry, "multi")

    assert result.ok, result.problems
    assert result.resolved_from_index is True
    assert result.index_digest == pushed.digests["multi"]
    assert result.digest == pushed.digests["multi-amd64"]
    assert result.platform == "linux/amd64"
    assert result.pinned_uri.endswith("@" + pushed.digests["multi-amd64"])
    assert any("resolved to" in note and "linux/amd64" in note for note in result.notes)


@pytest.mark.parametrize("machine_type", ["c4a-standard-8", "t2a-standard-4", "n4a-highmem-16"])
def test_index_resolves_to_arm64_for_arm_machine_types(registry, pushed, machine_type):
    result = check(registry, "multi", machine_type=machine_type)

    assert result.ok, result.problems
    assert result.digest == pushed.digests["multi-arm64"]
    assert result.platform == "linux/arm64"


def test_explicit_platform_overrides_machine_type(registry, pushed):
    result = check(registry, "multi", machine_type="c4a-standard-8", platform="linux/amd64")

    assert result.digest == pushed.digests["multi-amd64"]


def test_index_is_reported_when_policy_asks(registry, pushed):
    result = check(registry, "multi", policy=replace(DEFAULT_POLICY, oci_index="warning"))

    assert result.ok
    assert [(p.rule, p.severity.value) for p in result.problems] == [("IS-11", "warning")]
    assert "index" in result.problems[0].message


def test_index_without_the_platform_names_the_available_ones(registry, pushed):
    result = check(registry, "multi", platform="linux/s390x")

    assert not result.ok
    [problem] = result.problems
    assert problem.rule == "IS-11"
    assert "linux/s390x" in problem.message
    assert "linux/amd64, linux/arm64/v8" in problem.message
    assert result.digest == pushed.digests["multi"]


def test_docker_manifest_list_without_amd64(registry, pushed):
    result = check(registry, "arm-only", machine_type="e2-standard-4")

    assert not result.ok
    assert "machine type e2-standard-4 runs linux/amd64" in result.problems[0].message
    assert "linux/arm64" in result.problems[0].message
    assert result.media_type == DOCKER_MANIFEST_LIST


def test_single_platform_image_for_another_architecture(registry, pushed):
    on_x86 = check(registry, "arm-image")
    on_arm = check(registry, "arm-image", machine_type="c4a-standard-2")

    assert rules(on_x86) == [("IS-11", "image")]
    assert "built for linux/arm64" in on_x86.problems[0].message
    assert on_arm.ok


# --- images that cannot be streamed -----------------------------------------------------------------------


def test_duplicate_layer(registry, pushed):
    result = check(registry, "dup-layer")

    assert not result.ok
    assert ("IS-6", "image.layers[2]") in rules(result)
    problem = next(p for p in result.problems if p.path == "image.layers[2]")
    assert result.layers[0].digest in problem.message and "image.layers[0]" in problem.message
    # The repeated content shows in the config's diff ids too.
    assert ("IS-6", "image.config.rootfs.diff_ids[2]") in rules(result)


def test_duplicate_diff_id_with_distinct_layer_digests(registry, pushed):
    result = check(registry, "dup-diff-id")

    assert rules(result) == [("IS-6", "image.config.rootfs.diff_ids[1]")]
    assert len({layer.digest for layer in result.layers}) == 2


def test_canonical_empty_layer(registry, pushed):
    result = check(registry, "empty-layer")

    assert ("IS-7", "image.layers[1]") in rules(result)
    assert ("IS-7", "image.config.rootfs.diff_ids[1]") in rules(result)
    messages = " ".join(p.message for p in result.problems)
    assert EMPTY_GZIP_TAR_DIGEST in messages and EMPTY_TAR_DIFF_ID in messages
    assert all("BuildKit" in p.fix for p in result.problems)


def test_zero_size_layer(registry, pushed):
    result = check(registry, "zero-layer")

    assert ("IS-7", "image.layers[1]") in rules(result)
    assert EMPTY_BLOB_DIGEST in result.problems[0].message


def test_empty_tar_with_other_bytes_is_found_by_opening_it(registry, pushed):
    result = check(registry, "empty-tar")

    assert rules(result) == [("IS-7", "image.layers[1]")]
    assert "no entries" in result.problems[0].message


def test_schema1_manifest(registry, pushed):
    result = check(registry, "schema1")

    assert rules(result) == [("IS-5", "image")]
    assert result.media_type == DOCKER_SCHEMA1_SIGNED
    assert "schema-1" in result.problems[0].message
    assert "v2s2" in result.problems[0].fix
    assert result.digest == pushed.digests["schema1"]
    # A schema-1 digest covers the payload without signatures, not the body as served.
    assert result.digest != sha256(pushed.bodies["schema1"])


def test_oci_artifact_is_not_an_image(registry, pushed):
    result = check(registry, "artifact")

    assert not result.ok
    assert {p.rule for p in result.problems} == {"REG-4"}
    paths = [p.path for p in result.problems]
    assert paths == ["image", "image.config", "image.layers[0]"]
    assert "artifactType" in result.problems[0].message


def test_config_disagreeing_with_layers(registry, pushed):
    result = check(registry, "diff-count")

    assert rules(result) == [("REG-4", "image.config.rootfs.diff_ids")]
    assert "1 diff ids for 2 layers" in result.problems[0].message


# --- unreadable images ------------------------------------------------------------------------------------


def test_missing_tag_raises_naming_the_reference(registry, pushed):
    with pytest.raises(ImageUnreadable) as caught:
        check(registry, "good", "no-such-tag")

    message = str(caught.value)
    assert "no-such-tag" in message and "404" in message and "MANIFEST_UNKNOWN" in message
    assert "No Batch job was submitted" in message


def test_missing_repository_raises(registry, pushed):
    with pytest.raises(ImageUnreadable, match=r"not found \(HTTP 404.*No Batch job was submitted"):
        check(registry, "never-pushed")


def test_network_failure_raises(registry):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    quick = RetryPolicy(initial=0.05, maximum=0.1, budget=0.3)
    with pytest.raises(ImageUnreadable, match=r"network failure .*No Batch job was submitted"):
        preflight_image(uri("good"), registry_url=f"http://127.0.0.1:{closed_port}", timeout=2, retry=quick)


@pytest.mark.parametrize("url", ["http://registry.example.com:5000", "http://10.0.0.8", "ftp://127.0.0.1"])
def test_plain_http_only_for_loopback(url):
    with pytest.raises(ValueError, match="registry URL"):
        preflight_image(uri("good"), registry_url=url)


def test_invalid_uri_is_a_value_error():
    with pytest.raises(ValueError, match="IS-1"):
        preflight_image("docker.io/library/busybox:latest", registry_url="http://127.0.0.1:1")


# --- caching ----------------------------------------------------------------------------------------------


def test_second_preflight_is_served_from_cache(registry, pushed):
    first = check(registry, "good")
    registry.process.send_signal(__import__("signal").SIGSTOP)  # a stopped registry answers nothing
    try:
        second = check(registry, "good", timeout=1)
    finally:
        registry.process.send_signal(__import__("signal").SIGCONT)

    assert second.digest == first.digest and second.layers == first.layers and second.ok
