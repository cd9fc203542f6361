"""The documented forms of the names a job's VMs are given: accelerator types, NVIDIA driver
versions, boot disk types and images, reservations, instance templates. Each ``*_reason`` says why a
string is not the form, or returns None.

Read by the parameter checks (through :func:`~airflow_batchstream.jobspec.forms.vm_reason`, so a DAG
that gives none of these values never loads this module) and by the validator's GPU and boot disk
rules. Pure: imports neither Airflow nor ``google.*``.
"""

from __future__ import annotations

import re

from airflow_batchstream.jobspec.forms import COMPUTE_URL_PREFIX, RFC1035_RE, project_reason
from airflow_batchstream.jobspec.images import ZONE_RE

#: ``nvidia-tesla-t4``: lowercase words joined by '-', as ``gcloud compute accelerator-types list``
#: names them.
ACCELERATOR_TYPE_RE = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
DRIVER_VERSION_RE = re.compile(r"^[0-9]+\.[0-9]+(\.[0-9]+)?$")
BOOT_DISK_TYPES = ("pd-balanced", "pd-extreme", "pd-ssd", "pd-standard")
#: Batch's own images by short name, and the retired ones (still accepted, with a warning).
BATCH_IMAGES = ("batch-debian", "batch-cos", "batch-hpc-rocky")
RETIRED_BATCH_IMAGES = ("batch-centos", "batch-hpc-centos")
IMAGE_PATH_RE = re.compile(r"^projects/(?P<project>[^/]+)/global/images/(family/)?(?P<name>[^/]+)$")
RESERVATION_RE = re.compile(
    r"^(projects/(?P<project>[^/]+)/(zones/(?P<zone>[^/]+)/)?reservations/)?(?P<name>[^/]+)$"
)
TEMPLATE_RE = re.compile(r"^((projects/(?P<project>[^/]+)/)?global/instanceTemplates/)?(?P<name>[^/]+)$")


def accelerator_type_reason(value: str) -> str | None:
    if ACCELERATOR_TYPE_RE.match(value):
        return None
    meant = value.strip().lower().replace("_", "-")
    if ACCELERATOR_TYPE_RE.match(meant):
        return f"accelerator types are lowercase with '-' (did you mean {meant!r}?)"
    return "an accelerator type is a Compute Engine name such as nvidia-tesla-t4 or nvidia-l4"


def driver_version_reason(value: str) -> str | None:
    if DRIVER_VERSION_RE.match(value):
        return None
    return "a driver version is an NVIDIA version number such as 535.104.05"


def boot_disk_type_reason(value: str) -> str | None:
    if value in BOOT_DISK_TYPES or (value.startswith("hyperdisk-") and RFC1035_RE.match(value)):
        return None
    return f"a boot disk type is one of {', '.join(BOOT_DISK_TYPES)} or a hyperdisk-* type"


def boot_disk_image_reason(value: str) -> str | None:
    """A Batch image short name (``batch-cos``), ``projects/P/global/images/[family/]I`` or its URL."""
    if value in BATCH_IMAGES or value in RETIRED_BATCH_IMAGES:
        return None
    match = IMAGE_PATH_RE.match(value.removeprefix(COMPUTE_URL_PREFIX))
    if match and RFC1035_RE.match(match["name"]):
        return _project_part(match["project"])
    return (
        "a boot disk image is a Batch short name (batch-debian, batch-cos, batch-hpc-rocky), "
        "projects/PROJECT/global/images/IMAGE or projects/PROJECT/global/images/family/FAMILY"
    )


def reservation_reason(value: str) -> str | None:
    """``NO_RESERVATION``, a reservation name, or ``projects/P/[zones/Z/]reservations/R``."""
    if value == "NO_RESERVATION":
        return None
    match = RESERVATION_RE.match(value)
    if not match or not RFC1035_RE.match(match["name"]):
        return (
            "a reservation is NO_RESERVATION, a reservation name (lowercase letters, digits, '-'), "
            "or projects/PROJECT/zones/ZONE/reservations/NAME"
        )
    if match["zone"] and not ZONE_RE.match(match["zone"]):
        return f"{match['zone']!r} is not a zone"
    return _project_part(match["project"])


def instance_template_reason(value: str) -> str | None:
    """A global template: a name, ``[projects/P/]global/instanceTemplates/T`` or its full URL."""
    if "/regions/" in f"/{value}":
        return "Batch supports only global instance templates, not regional ones"
    match = TEMPLATE_RE.match(value.removeprefix(COMPUTE_URL_PREFIX))
    if not match or not RFC1035_RE.match(match["name"]):
        return (
            "an instance template is NAME, global/instanceTemplates/NAME or "
            "projects/PROJECT/global/instanceTemplates/NAME"
        )
    return _project_part(match["project"])


def _project_part(project: str | None) -> str | None:
    why = project_reason(project) if project else None
    return f"its project: {why}" if why else None
