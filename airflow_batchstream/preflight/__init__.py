"""Image preflight: prove an image can be streamed before a Batch job is submitted.

- :mod:`.media`: media types, empty-layer digests, platforms, and :class:`PreflightResult`;
- :mod:`.checks`: the rules, pure (manifest and config JSON in, problems out);
- :mod:`.registry`: HTTP, the token flow and the caches (the security rules, in one file);
- :mod:`.run`: :func:`preflight_image`, which reads an image and applies the checks.

Importing the package loads neither ``requests`` nor ``google.*``.
"""

from __future__ import annotations

from airflow_batchstream.preflight.media import (
    ARM_MACHINE_FAMILIES,
    ImageUnreadable,
    Platform,
    PreflightResult,
    platform_for_machine_type,
)
from airflow_batchstream.preflight.registry import REGISTRY_RETRY, clear_cache
from airflow_batchstream.preflight.run import preflight_image

__all__ = [
    "ARM_MACHINE_FAMILIES",
    "REGISTRY_RETRY",
    "ImageUnreadable",
    "Platform",
    "PreflightResult",
    "clear_cache",
    "platform_for_machine_type",
    "preflight_image",
]
