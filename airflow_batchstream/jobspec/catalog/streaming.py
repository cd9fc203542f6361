"""The conditions of image streaming in the job: streaming on, an Artifact Registry image in a
location containing the VMs' region, only the container fields streaming supports, not mixed.

Checked by :mod:`airflow_batchstream.jobspec.rules.streaming`, the image URI (IS-1, IS-1b) by
:func:`airflow_batchstream.jobspec.images.parse_image`.
"""

from __future__ import annotations

from airflow_batchstream.jobspec.catalog.model import (
    DISTRIBUTION,
    DOC,
    INFER,
    STREAMING,
    Condition,
    Source,
    proto,
)

STREAMING_SAMPLE = (
    "https://github.com/GoogleCloudPlatform/batch-samples/blob/main/api-samples/image-streaming/README.md"
)
AR_NAMES = "https://cloud.google.com/artifact-registry/docs/docker/names"

CONDITIONS: tuple[Condition, ...] = (
    Condition(
        "IS-OFF",
        "off",
        "no container enables image streaming",
        "policy",
        DOC,
        (
            Source(
                STREAMING,
                "To enable Image streaming for a container runnable, set enableImageStreaming field to true",
            ),
        ),
        policy="streaming_off",
        note="the job itself is valid, so a warning for job files; image streaming is this "
        "provider's purpose, so the operator and batchstream render hold it to an error (off with "
        "image_streaming=False)",
    ),
    Condition(
        "IS-1",
        "host",
        "a streaming image not on a LOCATION-docker.pkg.dev host",
        "error",
        DOC,
        (
            Source(
                STREAMING,
                "Batch only supports Image streaming for container images that are stored in "
                "Artifact Registry.",
            ),
            Source(STREAMING_SAMPLE, "Otherwise, images will not be streamed."),
        ),
        note="an error by design: Batch would run the job without streaming, silently, and "
        "streaming is this provider's contract",
    ),
    Condition(
        "IS-1",
        "layout",
        "a streaming image URI without PROJECT/REPOSITORY/IMAGE after the host (or with a scheme, "
        "surrounding whitespace, or nothing at all)",
        "error",
        DOC,
        (Source(AR_NAMES, "LOCATION-docker.pkg.dev/PROJECT-ID/REPOSITORY/IMAGE"),),
    ),
    Condition(
        "IS-1",
        "grammar",
        "image name components, tag or digest outside the OCI reference grammar, a name longer "
        "than 255 characters, or characters no reference holds",
        "policy",
        INFER,
        (
            Source(
                DISTRIBUTION,
                "<name> MUST match the following regular expression: "
                "[a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*(\\/[a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*)*",
            ),
        ),
        policy="image_reference_grammar",
        note="Artifact Registry and Batch do not restate the registry API's grammar; the image "
        "preflight, which calls that API, always treats it as an error",
    ),
    Condition(
        "IS-1",
        "unknown-location",
        "an Artifact Registry location that is not a known region or multi-region",
        "policy",
        INFER,
        policy="unknown_region",
    ),
    Condition(
        "IS-1",
        "project-id",
        "a project segment that does not look like a project id (6-30 of [a-z0-9-])",
        "warning",
        INFER,
        note="the registry is the authority; old or test projects may not match",
    ),
    Condition(
        "IS-1b",
        "gcr-host",
        "a streaming image on an Artifact Registry-hosted *.gcr.io host",
        "policy",
        INFER,
        policy="gcr_hosts",
        note="Batch documents streaming only for LOCATION-docker.pkg.dev images",
    ),
    Condition(
        "IS-2",
        "location",
        "the image's Artifact Registry location does not contain the VMs' region (the job's "
        "location, or its allowedLocations)",
        "error",
        DOC,
        (
            Source(
                STREAMING,
                "You must run your Batch job's VMs in the same location as where you store your "
                "container image in Artifact Registry.",
            ),
        ),
        note="which regions a multi-region (us, europe, asia) contains is ValidationPolicy."
        "multi_regions (inferred)",
    ),
    Condition(
        "IS-3",
        "fields",
        "a streaming container sets options, blockExternalNetwork, username or password",
        "error",
        DOC,
        (
            Source(
                STREAMING,
                "When you use Image streaming, containers runnables only support the following fields",
            ),
            proto(
                "task.proto Runnable.Container.enable_image_streaming",
                "any other container subfields are ignored.",
            ),
        ),
        note="an error by design: Batch would ignore the fields silently",
    ),
    Condition(
        "IS-4",
        "mixed",
        "streaming and non-streaming containers in one job",
        "error",
        DOC,
        (
            Source(
                STREAMING_SAMPLE,
                "Users must not specify image streaming and docker containers in the same job.",
            ),
        ),
    ),
)
