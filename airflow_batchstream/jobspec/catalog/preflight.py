"""The conditions of the image preflight: what the image's manifest and config, read from its
registry, must be for Batch to stream it (``stage="preflight"``).

Checked by the image preflight (:mod:`airflow_batchstream.preflight.checks`), not by the validator.
"""

from __future__ import annotations

from airflow_batchstream.jobspec.catalog.model import (
    DISTRIBUTION,
    DOC,
    INFER,
    STREAMING,
    Condition,
    Source,
)

IMAGE_SPEC = "https://github.com/opencontainers/image-spec/blob/main"

CONDITIONS: tuple[Condition, ...] = (
    Condition(
        "IS-5",
        "schema1",
        "the image's manifest is Docker schema 1",
        "error",
        DOC,
        (
            Source(
                STREAMING,
                "Containers that use the Docker image manifest version 2, schema 1 aren't supported.",
            ),
        ),
        stage="preflight",
    ),
    Condition(
        "IS-6",
        "duplicate",
        "a layer digest, or a rootfs.diff_ids entry (the same content compressed differently), appears twice",
        "error",
        DOC,
        (Source(STREAMING, "Container images with empty layers or duplicate layers aren't supported."),),
        stage="preflight",
    ),
    Condition(
        "IS-7",
        "empty",
        "an empty layer: the gzipped empty tar sha256:a3ed95ca..., the empty-tar diff id "
        "sha256:5f70bf18..., a zero-size layer, or a tar with no entries",
        "error",
        DOC,
        (Source(STREAMING, "Container images with empty layers or duplicate layers aren't supported."),),
        stage="preflight",
    ),
    Condition(
        "IS-11",
        "platform",
        "the image (or the index's choice) is not built for the VMs' platform (linux/amd64, or "
        "linux/arm64 on Arm machine types)",
        "error",
        DOC,
        (
            Source(
                f"{IMAGE_SPEC}/config.md",
                "The CPU architecture which the binaries in this image are built to run on.",
            ),
        ),
        stage="preflight",
    ),
    Condition(
        "IS-11",
        "oci-manifest",
        "an OCI image manifest (the streaming page names only Docker schema 2)",
        "policy",
        INFER,
        policy="oci_manifest",
        stage="preflight",
    ),
    Condition(
        "IS-11",
        "oci-index",
        "a manifest list or OCI index (resolved to the job's platform either way)",
        "policy",
        INFER,
        policy="oci_index",
        stage="preflight",
    ),
    Condition(
        "REG-1",
        "digest",
        "the manifest the registry returned does not hash to the requested digest",
        "error",
        DOC,
        (
            Source(
                DISTRIBUTION,
                "If the <tag-or-digest> part of a manifest request is a digest, clients SHOULD verify "
                "the returned manifest matches this digest.",
            ),
        ),
        stage="preflight",
    ),
    Condition(
        "REG-3",
        "media-type",
        "a manifest whose mediaType disagrees with its Content-Type, or that is no image manifest",
        "error",
        DOC,
        (
            Source(
                DISTRIBUTION,
                "If the manifest has a mediaType field, clients SHOULD reject unless the mediaType "
                "field's value matches the type specified by the Content-Type header.",
            ),
        ),
        stage="preflight",
    ),
    Condition(
        "REG-4",
        "not-an-image",
        "an OCI artifact (artifactType, or a config that is not an image config) or a config "
        "whose rootfs.diff_ids do not match the layers",
        "error",
        DOC,
        (
            Source(
                f"{IMAGE_SPEC}/manifest.md",
                "Content other than OCI container images MAY be packaged using the image manifest. "
                "When this is done, the config.mediaType value MUST be set to a value specific to "
                "the artifact type",
            ),
            Source(
                f"{IMAGE_SPEC}/config.md",
                "diff_ids array of strings, REQUIRED ... An array of layer content hashes (DiffIDs), "
                "in order from first to last.",
            ),
        ),
        stage="preflight",
    ),
)
