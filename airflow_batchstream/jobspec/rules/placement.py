"""Where and how the job runs: logs, allowed locations, the allocation policy (instances,
templates, boot disk and image, network tags) and notifications (LOGS-*, LOC-*, AP-*, N-*).

Conditions: :mod:`airflow_batchstream.jobspec.catalog.placement`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from airflow_batchstream.jobspec.forms import COMPUTE_URL_PREFIX
from airflow_batchstream.jobspec.images import region_of_allowed_location
from airflow_batchstream.jobspec.problems import Problem
from airflow_batchstream.jobspec.rules._walk import (
    Context,
    allowed_locations,
    allowed_regions,
    as_dict,
    as_int,
    as_list,
    at_level,
    enum_name,
    found,
    instances_of,
    short,
)
from airflow_batchstream.jobspec.vm_forms import (
    BATCH_IMAGES,
    IMAGE_PATH_RE,
    RETIRED_BATCH_IMAGES,
    boot_disk_image_reason,
    boot_disk_type_reason,
)

TOPIC_RE = re.compile(r"^projects/[^/]+/topics/[^/]+$")

#: An RFC 1035 label, which network tags must be.
TAG_RE = re.compile(r"^[A-Za-z]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?$")

#: ``.../regions/R/instanceTemplates/T``: a regional template, which Batch does not support.
REGIONAL_TEMPLATE_RE = re.compile(r"(?:^|/)regions/[^/]+/instanceTemplates/")

TEMPLATE_PROJECT_RE = re.compile(r"(?:^|/)projects/(?P<project>[^/]+)/")

_DESTINATION = "LogsPolicy.Destination"


def check_logs_policy(context: Context) -> Iterator[Problem]:
    logs = as_dict(context.job.get("logsPolicy"))
    destination = enum_name(logs.get("destination"), _DESTINATION)
    if destination == "PATH" and not logs.get("logsPath"):
        yield found(
            "LOGS-PATH",
            "missing",
            "logsPolicy.logsPath",
            "logsPolicy destination PATH needs logsPath",
            "set logsPath to a file on a mounted volume, e.g. /mnt/data/logs/job.log",
        )
    elif logs.get("logsPath") and destination != "PATH":
        yield found(
            "LOGS-PATH",
            "ignored",
            "logsPolicy.logsPath",
            f"logsPath is ignored with destination {destination!r}",
            "set destination to PATH, or remove logsPath",
        )
    if logs.get("cloudLoggingOption") and destination != "CLOUD_LOGGING":
        yield found(
            "LOGS-PATH",
            "ignored",
            "logsPolicy.cloudLoggingOption",
            f"cloudLoggingOption is ignored with destination {destination!r}",
            "set destination to CLOUD_LOGGING, or remove cloudLoggingOption",
        )


def check_logs_destination(context: Context) -> Iterator[Problem]:
    destination = enum_name(as_dict(context.job.get("logsPolicy")).get("destination"), _DESTINATION)
    if destination in (None, "DESTINATION_UNSPECIFIED"):
        yield found(
            "LOGS-DEST",
            "none",
            "logsPolicy.destination",
            "no logs destination: Batch will keep no task logs",
            'set logsPolicy {"destination": "CLOUD_LOGGING"}',
        )


def check_allowed_location_shape(context: Context) -> Iterator[Problem]:
    for path, entry in allowed_locations(context.job):
        if isinstance(entry, str) and region_of_allowed_location(entry) is None:
            yield found(
                "LOC-SHAPE",
                "format",
                path,
                f"allowed location {entry!r} is not regions/REGION or zones/ZONE",
                "write e.g. regions/us-central1 or zones/us-central1-a",
            )


def check_allowed_locations_one_region(context: Context) -> Iterator[Problem]:
    regions = sorted(allowed_regions(context.job))
    if len(regions) > 1:
        yield found(
            "LOC-REGION",
            "several",
            "allocationPolicy.location.allowedLocations",
            f"allowedLocations span regions {', '.join(regions)}; Batch allows one region",
            "keep one region, or several zones of one region",
        )


def check_allowed_locations_in_job_region(context: Context) -> Iterator[Problem]:
    for path, entry in allowed_locations(context.job):
        region = region_of_allowed_location(entry)
        if region and context.region and region != context.region:
            yield from at_level(
                context,
                "LOC-PARENT",
                "outside",
                path,
                f"allowed location {entry!r} is outside the job's region {context.region!r}",
                f"submit the job in {region}, or allow only locations in {context.region}",
            )


def check_instances(context: Context) -> Iterator[Problem]:
    instances = instances_of(context.job)
    if len(instances) > 1:
        yield found(
            "AP-INSTANCES",
            "several",
            "allocationPolicy.instances",
            f"{len(instances)} instance policies; Batch uses only instances[0]",
            "keep one entry in allocationPolicy.instances",
        )


def check_ignored_allocation_fields(context: Context) -> Iterator[Problem]:
    allocation = as_dict(context.job.get("allocationPolicy"))
    if allocation.get("network") and context.instance_template:
        yield found(
            "AP-IGNORED",
            "network",
            "allocationPolicy.network",
            "network is ignored when instances[0] uses an instanceTemplate",
            "set the network in the instance template, and remove allocationPolicy.network",
        )
    if as_dict(allocation.get("placement")).get("maxDistance") is not None:
        yield found(
            "AP-IGNORED",
            "max-distance",
            "allocationPolicy.placement.maxDistance",
            "placement.maxDistance is not implemented by Batch and is ignored",
            "remove maxDistance",
        )


def check_instance_template(context: Context) -> Iterator[Problem]:
    template = context.instance_template
    if not isinstance(template, str):
        return
    path = "allocationPolicy.instances[0].instanceTemplate"
    fix = "use a global instance template of the job's project, e.g. projects/P/global/instanceTemplates/T"
    if REGIONAL_TEMPLATE_RE.search(template):
        yield found(
            "AP-TEMPLATE",
            "regional",
            path,
            f"instance template {template!r} is regional; Batch supports only global templates",
            fix,
        )
    match = TEMPLATE_PROJECT_RE.search(template)
    owner = match.group("project") if match else None
    # A project number and a project id name the same project in two ways: only like is compared.
    if (
        owner
        and context.project
        and owner.isdigit() == context.project.isdigit()
        and owner != context.project
    ):
        yield found(
            "AP-TEMPLATE",
            "other-project",
            path,
            f"instance template {template!r} belongs to project {owner!r}, not the job's project "
            f"{context.project!r}; Batch supports only templates of the job's project",
            fix,
        )


_BOOT_DISK = "allocationPolicy.instances[0].policy.bootDisk"
#: The smallest boot disk Batch's own images take, in GB.
BATCH_IMAGE_DISK_GB = 30


def check_boot_disk(context: Context) -> Iterator[Problem]:
    disk = as_dict(context.instance_policy.get("bootDisk"))
    snapshot, image = disk.get("snapshot"), disk.get("image")
    if snapshot:
        yield found(
            "AP-BOOTDISK",
            "snapshot",
            f"{_BOOT_DISK}.snapshot",
            f"boot disk from snapshot {short(snapshot)}; Batch boots only from images",
            "set bootDisk.image (e.g. batch-debian or projects/P/global/images/I) instead of snapshot",
        )
    if isinstance(image, str) and image:
        yield from _boot_image_problems(image)
    kind = disk.get("type")
    if isinstance(kind, str) and kind and boot_disk_type_reason(kind):
        yield found(
            "AP-BOOTDISK",
            "type",
            f"{_BOOT_DISK}.type",
            f"boot disk type {short(kind)} is not one Batch names for boot disks",
            "use pd-balanced (the default), pd-ssd, pd-standard, pd-extreme, or a hyperdisk-* type",
        )
    size = as_int(disk.get("sizeGb"))
    batch_image = not image or image in BATCH_IMAGES or _image_name(image).startswith("batch-")
    if size is not None and 0 < size < BATCH_IMAGE_DISK_GB and batch_image:
        yield found(
            "AP-BOOTDISK",
            "small",
            f"{_BOOT_DISK}.sizeGb",
            f"a {size} GB boot disk is smaller than Batch's images ({BATCH_IMAGE_DISK_GB} GB)",
            f"use at least {BATCH_IMAGE_DISK_GB} GB, or remove sizeGb for Batch's sizing",
        )
    if size:
        for path, spec, _ in context.task_specs:
            if as_int(as_dict(spec.get("computeResource")).get("bootDiskMib")):
                yield found(
                    "AP-BOOTDISK",
                    "both-sizes",
                    f"{path}.computeResource.bootDiskMib",
                    "bootDiskMib is ignored: bootDisk.sizeGb is set, and Batch honours only that",
                    "remove bootDiskMib, and count its space in bootDisk.sizeGb",
                )


def _image_name(image: str) -> str:
    return image.rsplit("/", 1)[-1]


def _boot_image_problems(image: str) -> Iterator[Problem]:
    path = f"{_BOOT_DISK}.image"
    if boot_disk_image_reason(image) and not IMAGE_PATH_RE.match(image.removeprefix(COMPUTE_URL_PREFIX)):
        yield found(
            "AP-BOOTDISK",
            "image",
            path,
            f"boot disk image {short(image)} is neither a Batch image (batch-debian, batch-cos, "
            "batch-hpc-rocky) nor projects/PROJECT/global/images/[family/]IMAGE",
            "write e.g. batch-cos, or projects/my-project/global/images/family/my-gpu-image",
        )
    elif image in RETIRED_BATCH_IMAGES or _image_name(image).startswith("batch-debian-11-official"):
        yield found(
            "AP-BOOTDISK",
            "retired",
            path,
            f"boot disk image {short(image)} is a retired Batch image",
            "use batch-debian, batch-cos or batch-hpc-rocky (or a current image version)",
        )


def check_network_tags(context: Context) -> Iterator[Problem]:
    for index, tag in enumerate(as_list(as_dict(context.job.get("allocationPolicy")).get("tags"))):
        if not isinstance(tag, str):
            continue
        path = f"allocationPolicy.tags[{index}]"
        if not TAG_RE.match(tag):
            yield found(
                "AP-TAGS",
                "rfc1035",
                path,
                f"network tag {tag!r} is not 1-63 letters, digits and '-' starting with a letter "
                "and not ending with '-' (RFC 1035)",
                "use e.g. batch-workers",
            )
        elif tag != tag.lower():
            yield found(
                "AP-TAGS",
                "uppercase",
                path,
                f"network tag {tag!r} has uppercase letters; Compute Engine network tags are lowercase",
                f"use {tag.lower()!r}",
            )


def check_notification_topics(context: Context) -> Iterator[Problem]:
    for index, notification in enumerate(as_list(context.job.get("notifications"))):
        if not isinstance(notification, dict):
            continue
        topic = notification.get("pubsubTopic")
        path = f"notifications[{index}].pubsubTopic"
        if topic is None or topic == "":
            yield found(
                "N-TOPIC",
                "missing",
                path,
                "the notification has no pubsubTopic, so Batch sends no notification for it",
                "set pubsubTopic, e.g. projects/my-project/topics/batch-events, or remove the entry",
            )
        elif isinstance(topic, str) and not TOPIC_RE.match(topic):
            yield found(
                "N-TOPIC",
                "format",
                path,
                f"pubsubTopic {topic!r} is not projects/PROJECT/topics/TOPIC",
                "use the topic's full name, e.g. projects/my-project/topics/batch-events",
            )


def check_notification_messages(context: Context) -> Iterator[Problem]:
    for index, notification in enumerate(as_list(context.job.get("notifications"))):
        if not isinstance(notification, dict):
            continue
        path = f"notifications[{index}].message"
        message = notification.get("message")
        if message is None:
            yield found(
                "N-MESSAGE", "missing", path, "the notification has no message, so none is sent", _N_FIX
            )
        elif isinstance(message, dict):
            kind = enum_name(message.get("type"), "JobNotification.Type")
            job_level = kind == "JOB_STATE_CHANGED" or bool(message.get("newJobState"))
            task_level = kind == "TASK_STATE_CHANGED" or bool(message.get("newTaskState"))
            if job_level and task_level:
                yield found(
                    "N-MESSAGE",
                    "mixed",
                    path,
                    f"message mixes job-level and task-level attributes: {short(message)}",
                    _N_FIX,
                )


_N_FIX = (
    'use {"type": "JOB_STATE_CHANGED", "newJobState": ...} or '
    '{"type": "TASK_STATE_CHANGED", "newTaskState": ...}'
)
