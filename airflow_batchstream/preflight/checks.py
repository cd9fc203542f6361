"""The image preflight's rules: manifest and config JSON in, problems out. No I/O.

A Docker schema-1 manifest (IS-5), a repeated layer digest or ``rootfs.diff_ids`` entry (IS-6), an
empty layer (IS-7: the gzipped empty tar, the empty tar's diff id, a zero-size or empty blob, or a
small layer whose tar has no entries), an image for another platform or an index without the
job's (IS-11), content that does not hash to its digest (REG-1), a media type that contradicts
itself or is no image manifest (REG-3), an OCI artifact instead of an image (REG-4).
docs/batch-facts.md sections 4 and 5 hold the facts; the rule catalog (``jobspec/catalog/``)
their sources.
"""

from __future__ import annotations

import io
import tarfile
import zlib
from typing import TYPE_CHECKING, Any

from airflow_batchstream.jobspec.policy import PolicyLevel, problems_at_level
from airflow_batchstream.jobspec.problems import Problem
from airflow_batchstream.preflight.media import (
    EMPTY_BLOB_DIGEST,
    EMPTY_GZIP_TAR_DIGEST,
    EMPTY_TAR_DIFF_ID,
    IMAGE_CONFIG_TYPES,
    IMAGE_MANIFEST_TYPES,
    INDEX_TYPES,
    LAYER_TYPES,
    OCI_EMPTY,
    OCI_EMPTY_DIGEST,
    OCI_MANIFEST,
    SCHEMA1_TYPES,
    Layer,
    Platform,
)

if TYPE_CHECKING:
    from airflow_batchstream.jobspec.images import ImageRef

RULE_SCHEMA1 = "IS-5"
RULE_DUPLICATE = "IS-6"
RULE_EMPTY = "IS-7"
RULE_PLATFORM = "IS-11"
RULE_DIGEST = "REG-1"
RULE_MEDIA_TYPE = "REG-3"
RULE_LAYERS = "REG-4"


def _bare_media_type(content_type: str | None) -> str:
    """``Content-Type`` without its parameters, lower-cased (``""`` when absent)."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def classify(content_type: str | None, document: Any) -> str:
    """Which kind of manifest this is: ``schema1``, ``image``, ``index`` or ``unknown``.

    The ``Content-Type`` decides (its parameters ignored); the body's ``mediaType`` and
    ``schemaVersion`` back it up, since OCI manifests may omit ``mediaType`` and old registries
    answer schema 1 as ``application/json`` (REG-3).
    """
    media_type = _bare_media_type(content_type)
    body = document if isinstance(document, dict) else {}
    if media_type in SCHEMA1_TYPES or body.get("schemaVersion") == 1:
        return "schema1"
    declared = body.get("mediaType")
    effective = media_type if media_type not in ("", "application/json") else declared or ""
    if effective in INDEX_TYPES or (not effective and "manifests" in body):
        return "index"
    if effective in IMAGE_MANIFEST_TYPES or (not effective and "config" in body and "layers" in body):
        return "image"
    return "unknown"


def effective_media_type(content_type: str | None, document: Any) -> str:
    media_type = _bare_media_type(content_type)
    if media_type in ("", "application/json") and isinstance(document, dict):
        return str(document.get("mediaType") or media_type or "application/json")
    return media_type


def media_type_problems(content_type: str | None, document: Any) -> list[Problem]:
    """A body ``mediaType`` that contradicts the ``Content-Type`` (REG-3)."""
    media_type = _bare_media_type(content_type)
    declared = document.get("mediaType") if isinstance(document, dict) else None
    if declared and media_type not in ("", "application/json") and declared != media_type:
        return [
            Problem(
                "image",
                RULE_MEDIA_TYPE,
                f"the registry served the manifest as {media_type} but its mediaType says {declared}",
                "re-push the manifest with the Content-Type matching its mediaType",
            )
        ]
    return []


def schema1_problem(document: Any) -> Problem:
    layers = document.get("fsLayers") if isinstance(document, dict) else None
    count = len(layers) if isinstance(layers, list) else 0
    return Problem(
        "image",
        RULE_SCHEMA1,
        f"the image uses a Docker schema-1 manifest ({count} fsLayers); image streaming does not "
        "support schema 1",
        "rebuild and push with a current Docker/BuildKit (docker buildx build --push), or convert the "
        "existing image: skopeo copy --format v2s2 docker://IMAGE docker://IMAGE",
    )


def select_from_index(document: Any, wanted: Platform) -> tuple[dict[str, Any] | None, list[Platform]]:
    """Pick the index entry for ``wanted``; also return every platform the index offers.

    Entries for ``unknown/unknown`` (BuildKit attestations) are never chosen. Among matches an exact
    variant match wins, then an entry without a variant.
    """
    entries = document.get("manifests") if isinstance(document, dict) else None
    candidates: list[tuple[int, dict[str, Any]]] = []
    available: list[Platform] = []
    for entry in entries if isinstance(entries, list) else []:
        platform = Platform.from_descriptor(entry.get("platform")) if isinstance(entry, dict) else None
        if platform is None or platform.os == "unknown":
            continue
        available.append(platform)
        if wanted.matches(platform) and isinstance(entry.get("digest"), str):
            rank = 0 if platform.variant == wanted.variant else 1 if platform.variant is None else 2
            candidates.append((rank, entry))
    candidates.sort(key=lambda item: item[0])
    return (candidates[0][1] if candidates else None), available


def _runs_on(wanted: Platform, machine_type: str | None) -> str:
    return f"machine type {machine_type} runs {wanted}" if machine_type else f"the job runs {wanted}"


def no_platform_problem(wanted: Platform, available: list[Platform], machine_type: str | None) -> Problem:
    offered = ", ".join(sorted({str(p) for p in available})) or "none"
    runs_on = _runs_on(wanted, machine_type)
    return Problem(
        "image",
        RULE_PLATFORM,
        f"the image index has no {wanted} image ({runs_on}); it offers: {offered}",
        f"build and push a multi-platform image including {wanted} (docker buildx build --platform "
        f"linux/amd64,linux/arm64 --push ...), or choose a machine type for an offered platform",
    )


def layer_problems(layers: list[Layer]) -> list[Problem]:
    """Repeated digests (IS-6), empty layers (IS-7) and non-layer media types (REG-4)."""
    problems: list[Problem] = []
    first_seen: dict[str, int] = {}
    for index, layer in enumerate(layers):
        path = f"image.layers[{index}]"
        if layer.media_type == OCI_EMPTY or layer.digest == OCI_EMPTY_DIGEST:
            problems.append(_artifact_problem(path, f"layer {layer.digest} is the OCI empty descriptor"))
            continue
        if layer.media_type not in LAYER_TYPES:
            problems.append(
                _artifact_problem(path, f"layer {layer.digest} has media type {layer.media_type!r}")
            )
        if layer.digest in first_seen:
            problems.append(_duplicate_layer(path, layer.digest, first_seen[layer.digest]))
        else:
            first_seen[layer.digest] = index
        empty_reason = _empty_by_descriptor(layer)
        if empty_reason:
            problems.append(empty_layer_problem(path, layer.digest, empty_reason))
    return problems


def _empty_by_descriptor(layer: Layer) -> str | None:
    if layer.digest == EMPTY_GZIP_TAR_DIGEST:
        return "the gzipped empty tar"
    if layer.digest == EMPTY_BLOB_DIGEST:
        return "the empty blob"
    if layer.size == 0:
        return "zero bytes long"
    return None


def empty_layer_problem(path: str, digest: str, reason: str, *, what: str = "layer") -> Problem:
    return Problem(
        path,
        RULE_EMPTY,
        f"{what} {digest} is an empty layer ({reason}); image streaming does not support empty layers",
        "rebuild with BuildKit (docker buildx build), which drops empty layers, or squash the steps "
        "that change no files (e.g. a lone WORKDIR or RUN that writes nothing) into others",
    )


_DISTINCT_LAYERS_FIX = (
    "rebuild so every layer is distinct: merge or drop the step that re-adds the same files "
    "(BuildKit: docker buildx build), then push again"
)


def _duplicate_layer(path: str, digest: str, first: int) -> Problem:
    return Problem(
        path,
        RULE_DUPLICATE,
        f"layer {digest} repeats image.layers[{first}]; image streaming does not support duplicate layers",
        _DISTINCT_LAYERS_FIX,
    )


def _artifact_problem(path: str, what: str) -> Problem:
    return Problem(
        path,
        RULE_LAYERS,
        f"{what}: this is an OCI artifact (signature, SBOM, chart...), not a container image",
        "point imageUri at the container image itself, not at an artifact stored beside it",
    )


def artifact_problems(manifest: dict[str, Any]) -> list[Problem]:
    """An OCI artifact instead of an image: ``artifactType`` set or a non-image config (REG-4)."""
    problems: list[Problem] = []
    if manifest.get("artifactType"):
        problems.append(
            _artifact_problem("image", f"the manifest sets artifactType {manifest['artifactType']!r}")
        )
    config = manifest.get("config")
    config_type = config.get("mediaType") if isinstance(config, dict) else None
    if config_type not in IMAGE_CONFIG_TYPES:
        problems.append(_artifact_problem("image.config", f"the config media type is {config_type!r}"))
    return problems


def config_problems(config: Any, layer_count: int) -> list[Problem]:
    """Repeated diff ids (IS-6), the empty tar's diff id (IS-7), diff ids not matching layers (REG-4)."""
    rootfs = config.get("rootfs") if isinstance(config, dict) else None
    diff_ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    if not isinstance(diff_ids, list):
        return [
            Problem(
                "image.config.rootfs.diff_ids",
                RULE_LAYERS,
                "the image config has no rootfs.diff_ids list",
                "rebuild the image with a standard builder (docker buildx build)",
            )
        ]
    problems: list[Problem] = []
    first_seen: dict[str, int] = {}
    for index, diff_id in enumerate(diff_ids):
        path = f"image.config.rootfs.diff_ids[{index}]"
        if diff_id in first_seen:
            problems.append(
                Problem(
                    path,
                    RULE_DUPLICATE,
                    f"diff id {diff_id} repeats diff_ids[{first_seen[diff_id]}]: the same layer content "
                    "appears twice (perhaps compressed differently)",
                    _DISTINCT_LAYERS_FIX,
                )
            )
        else:
            first_seen[diff_id] = index
        if diff_id == EMPTY_TAR_DIFF_ID:
            problems.append(empty_layer_problem(path, diff_id, "the empty tar", what="diff id"))
    if len(diff_ids) != layer_count:
        problems.append(
            Problem(
                "image.config.rootfs.diff_ids",
                RULE_LAYERS,
                f"the config lists {len(diff_ids)} diff ids for {layer_count} layers",
                "rebuild and push the image; the manifest and its config disagree",
            )
        )
    return problems


def platform_problems(config: Any, wanted: Platform, machine_type: str | None) -> list[Problem]:
    """The image's own os/architecture against the job's platform (IS-11)."""
    built = Platform.from_descriptor(config) if isinstance(config, dict) else None
    if built is None or wanted.matches(built):
        return []
    runs_on = _runs_on(wanted, machine_type)
    return [
        Problem(
            "image",
            RULE_PLATFORM,
            f"the image is built for {built} but {runs_on}",
            f"build and push a {wanted} image (docker buildx build --platform {wanted} --push ...), "
            "or choose a machine type of the image's platform",
        )
    ]


def tar_is_empty(data: bytes, media_type: str) -> bool | None:
    """Whether a (small) layer blob is a tar without entries; None when it cannot be told (zstd)."""
    if media_type.endswith("zstd"):
        return None
    if data[:2] == b"\x1f\x8b":
        try:
            data = zlib.decompress(data, wbits=47)
        except zlib.error:
            return None
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as archive:
            return archive.next() is None
    except tarfile.TarError:
        return None


def index_problems(level: PolicyLevel, media_type: str) -> list[Problem]:
    """A manifest list or OCI index, at the ``oci_index`` policy's level (IS-11)."""
    return problems_at_level(
        level,
        "image",
        RULE_PLATFORM,
        f"the image is a multi-platform index ({media_type}); Batch documents streaming only for "
        "single-platform schema-2 images",
        "pass the platform manifest's digest (pin_image_digest) or push a single-platform image",
    )


def oci_manifest_problems(level: PolicyLevel) -> list[Problem]:
    """An OCI image manifest, at the ``oci_manifest`` policy's level (IS-11)."""
    return problems_at_level(
        level,
        "image",
        RULE_PLATFORM,
        f"the image uses an OCI manifest ({OCI_MANIFEST}); Batch documents Docker schema 2",
        "if Batch rejects it, re-push as Docker schema 2: skopeo copy --format v2s2 docker://IMAGE "
        "docker://IMAGE",
    )


def digest_mismatch_problem(image: ImageRef, digest: str, what: str) -> Problem:
    """Content the registry returned that does not hash to ``digest`` (REG-1)."""
    return Problem(
        "image",
        RULE_DIGEST,
        f"the {what} the registry returned for {image} does not hash to {digest}",
        "re-push the image; if it persists, the registry or a proxy in between alters content",
    )


def unknown_manifest_problem(media_type: str, why: str) -> Problem:
    """A manifest that is neither an image manifest nor an index (REG-3)."""
    return Problem(
        "image",
        RULE_MEDIA_TYPE,
        f"the registry returned {media_type or 'no media type'} for the image, and {why}",
        "point imageUri at a container image (Docker schema 2 or OCI image manifest)",
    )
