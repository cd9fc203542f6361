"""The image preflight: read an image from its registry and report whether it can be streamed.

Batch accepts a streaming job whose image cannot be streamed and only fails (or silently pulls the
slow way) once the VM starts. :func:`preflight_image` reads the image's manifest (resolving a
manifest list or OCI index to the job's platform), its config and its small layers through an
:class:`~airflow_batchstream.preflight.registry.ImageReader`, and reports what
:mod:`~airflow_batchstream.preflight.checks` finds. It imports neither ``requests`` nor
``google.*`` at import time: parse time is sacred, and the operator imports it.
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from airflow_batchstream.jobspec.policy import DEFAULT_POLICY, ValidationPolicy
from airflow_batchstream.jobspec.problems import Problem, format_problems
from airflow_batchstream.preflight.checks import (
    RULE_EMPTY,
    RULE_LAYERS,
    artifact_problems,
    classify,
    config_problems,
    digest_mismatch_problem,
    effective_media_type,
    empty_layer_problem,
    index_problems,
    layer_problems,
    media_type_problems,
    no_platform_problem,
    oci_manifest_problems,
    platform_problems,
    schema1_problem,
    select_from_index,
    tar_is_empty,
    unknown_manifest_problem,
)
from airflow_batchstream.preflight.media import (
    LAYER_TYPES,
    OCI_MANIFEST,
    SMALL_LAYER_BYTES,
    Layer,
    Platform,
    PreflightResult,
    platform_for_machine_type,
)
from airflow_batchstream.preflight.registry import REGISTRY_RETRY, ImageReader, RegistryClient
from airflow_batchstream.retry import RetryPolicy

if TYPE_CHECKING:
    from airflow_batchstream.jobspec.images import ImageRef

log = logging.getLogger(__name__)


def _load_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


def preflight_image(
    image_uri: str,
    *,
    machine_type: str | None = None,
    platform: str | None = None,
    policy: ValidationPolicy | None = None,
    credentials: Any = None,
    registry_url: str | None = None,
    timeout: float = 30,
    retry: RetryPolicy = REGISTRY_RETRY,
) -> PreflightResult:
    """Read an image from its registry and report whether it can be streamed.

    :param image_uri: Artifact Registry image URI, with a tag or ``@sha256:`` digest.
    :param machine_type: the job's machine type; decides the platform (Arm families -> linux/arm64).
    :param platform: ``os/arch[/variant]``; overrides ``machine_type``.
    :param policy: how OCI manifests and indexes are judged; default :data:`DEFAULT_POLICY`.
    :param credentials: google.auth credentials; None means application default credentials,
        fetched lazily only when the registry challenges.
    :param registry_url: base URL override (tests, private mirrors), e.g. ``http://127.0.0.1:5000``;
        plain http only for loopback. Default ``https://<image host>``.
    :param timeout: seconds per HTTP request.
    :param retry: how each request retries 429s, 5xx answers and connection failures (jittered
        exponential backoff honouring ``Retry-After``) before the preflight gives up.
    :return: the result; ``result.ok`` is False when any problem is an error.
    :raises ValueError: when the URI is not a valid Artifact Registry reference, the platform is
        malformed, or ``registry_url`` is not allowed.
    :raises ImageUnreadable: when the image cannot be read (401/403, 404, network, or 429/5xx
        after the retries).
    """
    from airflow_batchstream.jobspec.images import parse_image  # jobspec is pure and cheap

    policy = policy or DEFAULT_POLICY
    # The registry API requires its reference grammar, whatever the job validation tolerates.
    image, parse_problems = parse_image(image_uri, replace(policy, image_reference_grammar="error"), "image")
    if image is None:
        raise ValueError(f"cannot preflight {image_uri!r}:\n{format_problems(parse_problems)}")
    wanted = Platform.parse(platform or platform_for_machine_type(machine_type))
    client = RegistryClient(registry_url or f"https://{image.host}", image.name, credentials, timeout, retry)
    try:
        result = _preflight(ImageReader(client, image), image, wanted, machine_type, policy)
    finally:
        client.close()
    if parse_problems:
        result.problems[:0] = parse_problems
    log.info(
        "Image preflight of %s: %s (%s, %d layers, %d bytes), %d problem(s)",
        image,
        result.digest,
        result.platform,
        len(result.layers),
        result.total_size,
        len(result.problems),
    )
    return result


def _preflight(
    reader: ImageReader, image: ImageRef, wanted: Platform, machine_type: str | None, policy: ValidationPolicy
) -> PreflightResult:
    notes: list[str] = []
    digest, content_type, body, verified = reader.manifest(image.reference)
    if not image.digest:
        notes.append(f"tag {image.reference} resolved to {digest}")
    document = _load_json(body)
    media_type = effective_media_type(content_type, document)
    base = {"image": image, "digest": digest, "media_type": media_type, "notes": notes}
    kind = classify(content_type, document)
    # Schema 1 first: its digest covers the payload without signatures, never the body as served.
    if kind == "schema1":
        return _schema1_result(base, document)
    if not verified:
        return _stop(base, digest_mismatch_problem(image, digest, "manifest"))
    if not isinstance(document, dict):
        return _stop(base, unknown_manifest_problem(media_type, "its body is not a JSON object"))
    problems = media_type_problems(content_type, document)
    index_digest = None
    if kind == "index":
        problems += index_problems(policy.oci_index, media_type)
        entry, available = select_from_index(document, wanted)
        if entry is None:
            return _stop(base, *problems, no_platform_problem(wanted, available, machine_type))
        index_digest = digest
        digest, content_type, body, verified = reader.manifest(entry["digest"])
        notes.append(f"index {index_digest} resolved to {digest} for {wanted}")
        document = _load_json(body)
        media_type = effective_media_type(content_type, document)
        base.update(digest=digest, media_type=media_type, resolved_from_index=True, index_digest=index_digest)
        kind = classify(content_type, document)
        if kind == "schema1":
            return _schema1_result(base, document, *problems)
        if not verified:
            return _stop(base, *problems, digest_mismatch_problem(image, digest, "platform manifest"))
        problems += media_type_problems(content_type, document)
    if kind != "image" or not isinstance(document, dict):
        why = "it is neither an image manifest nor an index"
        return _stop(base, *problems, unknown_manifest_problem(media_type, why))
    if media_type == OCI_MANIFEST:
        problems += oci_manifest_problems(policy.oci_manifest)
    return _check_image(reader, base, document, problems, wanted, machine_type)


def _check_image(
    reader: ImageReader,
    base: dict[str, Any],
    manifest: dict[str, Any],
    problems: list[Problem],
    wanted: Platform,
    machine_type: str | None,
) -> PreflightResult:
    layers = _layers(manifest)
    problems += artifact_problems(manifest)
    problems += layer_problems(layers)
    config_descriptor = manifest.get("config")
    built_for: str | None = None
    if not any(p.rule == RULE_LAYERS and p.path == "image.config" for p in problems):
        config_digest = str(config_descriptor.get("digest"))
        config_bytes = reader.blob(config_digest)
        if config_bytes is None:
            problems.append(digest_mismatch_problem(base["image"], config_digest, "config blob"))
        else:
            config = _load_json(config_bytes)
            problems += config_problems(config, len(layers))
            problems += platform_problems(config, wanted, machine_type)
            built = Platform.from_descriptor(config) if isinstance(config, dict) else None
            built_for = str(built) if built else None
    problems += _small_layer_problems(reader, layers, problems)
    return PreflightResult(
        platform=built_for or str(wanted),
        layers=layers,
        total_size=sum(max(layer.size, 0) for layer in layers),
        problems=problems,
        **base,
    )


def _small_layer_problems(reader: ImageReader, layers: list[Layer], found: list[Problem]) -> list[Problem]:
    """Download layers of at most SMALL_LAYER_BYTES and flag tars without entries (IS-7, deep check)."""
    flagged = {p.path for p in found if p.rule == RULE_EMPTY}
    problems: list[Problem] = []
    for index, layer in enumerate(layers):
        path = f"image.layers[{index}]"
        if path in flagged or not 0 < layer.size <= SMALL_LAYER_BYTES or layer.media_type not in LAYER_TYPES:
            continue
        data = reader.blob(layer.digest)
        if data is None:
            problems.append(digest_mismatch_problem(reader.image, layer.digest, "layer blob"))
        elif tar_is_empty(data, layer.media_type):
            problems.append(empty_layer_problem(path, layer.digest, "its tar has no entries"))
    return problems


def _layers(manifest: dict[str, Any]) -> list[Layer]:
    layers = []
    for item in manifest.get("layers") or []:
        if isinstance(item, dict):
            size = item.get("size")
            size = size if isinstance(size, int) else -1
            layers.append(Layer(str(item.get("digest")), size, str(item.get("mediaType"))))
    return layers


def _schema1_result(base: dict[str, Any], document: Any, *problems: Problem) -> PreflightResult:
    arch = document.get("architecture") if isinstance(document, dict) else None
    return _stop(base, *problems, schema1_problem(document), platform=f"linux/{arch}" if arch else None)


def _stop(base: dict[str, Any], *problems: Problem, platform: str | None = None) -> PreflightResult:
    """A result for a manifest that cannot be examined further."""
    fields = {"resolved_from_index": False, "index_digest": None, **base}
    return PreflightResult(platform=platform, layers=[], total_size=0, problems=list(problems), **fields)
