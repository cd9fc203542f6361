"""Image streaming: on, from an Artifact Registry image in a location that contains the VMs'
region, with only the container fields streaming supports, on every container or none (IS-OFF,
IS-1 .. IS-4).

The image URI itself is parsed by :func:`airflow_batchstream.jobspec.images.parse_image` (IS-1,
IS-1b). Conditions: :mod:`airflow_batchstream.jobspec.catalog.streaming`.
"""

from __future__ import annotations

from collections.abc import Iterator

from airflow_batchstream.jobspec import schema
from airflow_batchstream.jobspec.images import location_contains
from airflow_batchstream.jobspec.limits import STREAMING_FIELDS
from airflow_batchstream.jobspec.problems import Problem
from airflow_batchstream.jobspec.rules._walk import Context, at_level, found, is_streaming, short, vm_regions


def check_streaming_enabled(context: Context) -> Iterator[Problem]:
    containers = list(context.containers)
    if containers and not any(is_streaming(container) for _, container in containers):
        yield from at_level(
            context,
            "IS-OFF",
            "off",
            containers[0][0],
            "no container enables image streaming",
            'set "enableImageStreaming": true on the container',
        )


def check_streaming_images(context: Context) -> Iterator[Problem]:
    for path, container in context.containers:
        uri = container.get("imageUri")
        if is_streaming(container) and isinstance(uri, str) and uri:
            yield from context.image(uri, f"{path}.imageUri")[1]


def check_image_location(context: Context) -> Iterator[Problem]:
    regions, source = vm_regions(context)
    for path, container in context.containers:
        uri = container.get("imageUri")
        if not (is_streaming(container) and isinstance(uri, str)):
            continue
        ref = context.image(uri, f"{path}.imageUri")[0]
        for region in sorted(regions) if ref else ():
            if not location_contains(ref.location, region, context.policy):
                yield found(
                    "IS-2",
                    "location",
                    f"{path}.imageUri",
                    f"image location {ref.location!r} does not contain the VMs' region {region!r} "
                    f"(from {source}); the image will not be streamed",
                    f"push the image to {region}-docker.pkg.dev (or a multi-region containing "
                    f"{region}), or run the job in the image's location",
                )


_CONTAINER_FIELDS = schema.MESSAGES["Runnable.Container"]


def check_streaming_container_fields(context: Context) -> Iterator[Problem]:
    for path, container in context.containers:
        if not is_streaming(container):
            continue
        for name, value in container.items():
            if name in STREAMING_FIELDS or name not in _CONTAINER_FIELDS or value in (None, "", False):
                continue  # unknown names are J-FIELD's business
            yield found(
                "IS-3",
                "fields",
                f"{path}.{name}",
                f"{name}={short(value)} is not supported with image streaming; Batch ignores it silently",
                f"remove {name}; a streaming container takes only {', '.join(sorted(STREAMING_FIELDS))}",
            )


def check_streaming_not_mixed(context: Context) -> Iterator[Problem]:
    containers = list(context.containers)
    if not any(is_streaming(container) for _, container in containers):
        return
    for path, container in containers:
        if not is_streaming(container):
            yield found(
                "IS-4",
                "mixed",
                f"{path}.enableImageStreaming",
                "this container does not stream its image while another in the job does",
                'set "enableImageStreaming": true on every container runnable, or on none',
            )
