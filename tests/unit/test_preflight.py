"""Pure parts of the image preflight: classification, platforms, layer and config rules, parsing."""

from __future__ import annotations

import gzip
import io
import subprocess
import sys
import tarfile

import pytest

from airflow_batchstream.jobspec.images import parse_image
from airflow_batchstream.jobspec.problems import Problem, Severity
from airflow_batchstream.preflight.checks import (
    artifact_problems,
    classify,
    config_problems,
    index_problems,
    layer_problems,
    media_type_problems,
    oci_manifest_problems,
    platform_problems,
    select_from_index,
    tar_is_empty,
)
from airflow_batchstream.preflight.media import (
    ACCEPT,
    EMPTY_BLOB_DIGEST,
    EMPTY_GZIP_TAR_DIGEST,
    EMPTY_TAR_DIFF_ID,
    OCI_EMPTY_DIGEST,
    Layer,
    Platform,
    PreflightResult,
    platform_for_machine_type,
)
from airflow_batchstream.preflight.registry import check_base_url, parse_challenge

DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64
D3 = "sha256:" + "3" * 64


def test_accept_lists_schema1_last():
    types = [t.strip() for t in ACCEPT.split(",")]
    assert types[-2:] == [
        "application/vnd.docker.distribution.manifest.v1+prettyjws",
        "application/vnd.docker.distribution.manifest.v1+json",
    ]
    assert types[0] == "application/vnd.oci.image.index.v1+json"


@pytest.mark.parametrize(
    ("content_type", "body", "kind"),
    [
        ("application/vnd.docker.distribution.manifest.v2+json", {"schemaVersion": 2}, "image"),
        ("application/vnd.oci.image.manifest.v1+json; charset=utf-8", {"schemaVersion": 2}, "image"),
        ("application/vnd.oci.image.index.v1+json", {"manifests": []}, "index"),
        ("application/vnd.docker.distribution.manifest.list.v2+json", {}, "index"),
        ("application/vnd.docker.distribution.manifest.v1+prettyjws", {}, "schema1"),
        ("application/vnd.docker.distribution.manifest.v1+json", {}, "schema1"),
        ("application/json", {"schemaVersion": 1, "fsLayers": []}, "schema1"),
        ("application/vnd.docker.distribution.manifest.v2+json", {"schemaVersion": 1}, "schema1"),
        # OCI manifests may omit mediaType; old registries serve application/json.
        ("application/json", {"schemaVersion": 2, "config": {}, "layers": []}, "image"),
        ("application/json", {"schemaVersion": 2, "manifests": []}, "index"),
        ("", {"mediaType": "application/vnd.oci.image.index.v1+json"}, "index"),
        ("application/vnd.cncf.helm.chart.content.v1.tar+gzip", {}, "unknown"),
        ("text/html", None, "unknown"),
    ],
)
def test_classify(content_type, body, kind):
    assert classify(content_type, body) == kind


def test_body_media_type_contradicting_content_type():
    [problem] = media_type_problems(
        "application/vnd.docker.distribution.manifest.v2+json",
        {"mediaType": "application/vnd.oci.image.manifest.v1+json"},
    )
    assert problem.rule == "REG-3" and "application/vnd.oci.image.manifest.v1+json" in problem.message
    assert media_type_problems("application/vnd.oci.image.manifest.v1+json", {"schemaVersion": 2}) == []


@pytest.mark.parametrize(
    ("machine_type", "platform"),
    [
        (None, "linux/amd64"),
        ("e2-standard-4", "linux/amd64"),
        ("n2d-highcpu-8", "linux/amd64"),
        ("c3d-standard-4", "linux/amd64"),
        ("t2a-standard-1", "linux/arm64"),
        ("c4a-highmem-72", "linux/arm64"),
        ("n4a-standard-2", "linux/arm64"),
        ("a4x-highgpu-4g", "linux/arm64"),
        ("C4A-STANDARD-8", "linux/arm64"),
    ],
)
def test_platform_for_machine_type(machine_type, platform):
    assert platform_for_machine_type(machine_type) == platform


@pytest.mark.parametrize("text", ["linux", "linux/", "/amd64", "linux/arm64/v8/extra", ""])
def test_platform_parse_rejects(text):
    with pytest.raises(ValueError, match="os/architecture"):
        Platform.parse(text)


def test_platform_matching_treats_missing_variant_as_any():
    arm = Platform.parse("linux/arm64")
    assert arm.matches(Platform.parse("linux/arm64/v8"))
    assert Platform.parse("linux/arm64/v8").matches(arm)
    assert not Platform.parse("linux/arm/v7").matches(Platform.parse("linux/arm/v6"))
    assert not arm.matches(Platform.parse("linux/amd64"))
    assert str(Platform.parse("linux/arm64/v8")) == "linux/arm64/v8"


def _entry(digest: str, platform: dict) -> dict:
    return {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest, "platform": platform}


def test_select_from_index_skips_attestations_and_prefers_exact_variant():
    index = {
        "manifests": [
            _entry(D1, {"os": "unknown", "architecture": "unknown"}),
            _entry(D2, {"os": "linux", "architecture": "arm", "variant": "v6"}),
            _entry(D3, {"os": "linux", "architecture": "arm", "variant": "v7"}),
        ]
    }
    chosen, available = select_from_index(index, Platform.parse("linux/arm/v7"))
    assert chosen["digest"] == D3
    assert [str(p) for p in available] == ["linux/arm/v6", "linux/arm/v7"]
    chosen, _ = select_from_index(index, Platform.parse("linux/amd64"))
    assert chosen is None


def test_layer_rules():
    layers = [
        Layer(D1, 100, DOCKER_LAYER),
        Layer(EMPTY_GZIP_TAR_DIGEST, 32, DOCKER_LAYER),
        Layer(D1, 100, DOCKER_LAYER),
        Layer(D2, 0, DOCKER_LAYER),
        Layer(EMPTY_BLOB_DIGEST, 0, DOCKER_LAYER),
        Layer(OCI_EMPTY_DIGEST, 2, "application/vnd.oci.empty.v1+json"),
        Layer(D3, 10, "application/vnd.example.thing"),
    ]
    found = [(p.rule, p.path) for p in layer_problems(layers)]
    assert found == [
        ("IS-7", "image.layers[1]"),
        ("IS-6", "image.layers[2]"),
        ("IS-7", "image.layers[3]"),
        ("IS-7", "image.layers[4]"),
        ("REG-4", "image.layers[5]"),
        ("REG-4", "image.layers[6]"),
    ]
    assert layer_problems([Layer(D1, 5, DOCKER_LAYER), Layer(D2, 5, DOCKER_LAYER)]) == []


def test_config_rules():
    config = {"rootfs": {"type": "layers", "diff_ids": [D1, EMPTY_TAR_DIFF_ID, D1]}}
    found = [(p.rule, p.path) for p in config_problems(config, 3)]
    assert found == [
        ("IS-7", "image.config.rootfs.diff_ids[1]"),
        ("IS-6", "image.config.rootfs.diff_ids[2]"),
    ]
    assert [p.rule for p in config_problems(config, 4)][-1] == "REG-4"
    assert [p.rule for p in config_problems({"rootfs": {}}, 1)] == ["REG-4"]
    assert config_problems({"rootfs": {"diff_ids": [D1, D2]}}, 2) == []


def test_artifact_rules():
    image = {"config": {"mediaType": "application/vnd.oci.image.config.v1+json"}}
    assert artifact_problems(image) == []
    artifact = {
        "artifactType": "application/spdx+json",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json"},
    }
    assert [p.path for p in artifact_problems(artifact)] == ["image", "image.config"]


def test_platform_of_single_image():
    assert (
        platform_problems({"os": "linux", "architecture": "amd64"}, Platform.parse("linux/amd64"), None) == []
    )
    [problem] = platform_problems(
        {"os": "linux", "architecture": "arm64"}, Platform.parse("linux/amd64"), "e2-micro"
    )
    assert "built for linux/arm64" in problem.message and "e2-micro" in problem.message
    assert platform_problems({}, Platform.parse("linux/amd64"), None) == []


def _tar(files: dict[str, bytes]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return raw.getvalue()


def test_tar_is_empty():
    assert tar_is_empty(gzip.compress(_tar({})), DOCKER_LAYER) is True
    assert tar_is_empty(_tar({}), "application/vnd.oci.image.layer.v1.tar") is True
    assert tar_is_empty(gzip.compress(_tar({"a": b"x"})), DOCKER_LAYER) is False
    assert tar_is_empty(b"\x28\xb5\x2f\xfd", "application/vnd.oci.image.layer.v1.tar+zstd") is None
    assert tar_is_empty(b"not a tar at all", DOCKER_LAYER) is None


@pytest.mark.parametrize(
    ("header", "params"),
    [
        (
            'Bearer realm="https://us-docker.pkg.dev/v2/token",service="us-docker.pkg.dev",'
            'scope="repository:p/r/i:pull"',
            {
                "realm": "https://us-docker.pkg.dev/v2/token",
                "service": "us-docker.pkg.dev",
                "scope": "repository:p/r/i:pull",
            },
        ),
        # Observed Artifact Registry challenges may omit service.
        (
            'Bearer realm="https://x/v2/token",scope="repository:p/r/i:pull"',
            {"realm": "https://x/v2/token", "scope": "repository:p/r/i:pull"},
        ),
        (
            'Bearer realm="https://x/t", scope="repository:a:pull,push"',
            {"realm": "https://x/t", "scope": "repository:a:pull,push"},
        ),
        ("Bearer realm=https://x/t,service=reg", {"realm": "https://x/t", "service": "reg"}),
    ],
)
def test_parse_challenge(header, params):
    assert parse_challenge(header) == ("bearer", params)


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://europe-docker.pkg.dev", True),
        ("http://127.0.0.1:5000/", True),
        ("http://[::1]:5000", True),
        ("http://localhost:5000", True),
        ("http://127.8.9.10", True),
        ("http://192.168.1.5:5000", False),
        ("http://mirror.internal", False),
        ("ftp://127.0.0.1", False),
        ("127.0.0.1:5000", False),
    ],
)
def test_check_base_url(url, ok):
    if ok:
        assert check_base_url(url) == url.rstrip("/")
    else:
        with pytest.raises(ValueError, match="registry URL"):
            check_base_url(url)


@pytest.mark.parametrize(("level", "severity"), [("error", Severity.ERROR), ("warning", Severity.WARNING)])
def test_policy_governed_findings_follow_their_level(level, severity):
    [index] = index_problems(level, "application/vnd.oci.image.index.v1+json")
    [oci] = oci_manifest_problems(level)
    for problem in (index, oci):
        assert problem.severity is severity and problem.path == "image" and problem.rule == "IS-11"
    assert "multi-platform index" in index.message and "OCI manifest" in oci.message
    assert index_problems("off", "x") == [] and oci_manifest_problems("off") == []


def test_result_ok_and_pinned_uri():
    ref, _ = parse_image("us-central1-docker.pkg.dev/my-project/repo/app:1.0")
    warning = Problem("image", "IS-11", "m", "f", Severity.WARNING)
    result = PreflightResult(
        ref, D1, "application/vnd.docker.distribution.manifest.v2+json", "linux/amd64", [], 0, [warning]
    )
    assert result.ok
    assert result.pinned_uri == f"us-central1-docker.pkg.dev/my-project/repo/app@{D1}"  # no tag
    assert not PreflightResult(ref, D1, "", None, [], 0, [Problem("image", "IS-5", "m", "f")]).ok
    assert result.to_dict()["pinned_uri"] == result.pinned_uri


def test_import_pulls_in_neither_requests_nor_google_auth():
    code = (
        "import sys, airflow_batchstream.preflight, airflow_batchstream.commands.inspect_image\n"
        "bad = [m for m in sys.modules if m == 'requests' or m.startswith(('requests.', 'google.auth', "
        "'google.oauth2', 'airflow.', 'urllib3'))]\n"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
