"""Where and how the job runs: logs, allowed locations, the allocation policy (instances,
templates, boot disk, network tags) and notifications (LOGS-*, LOC-*, AP-*, N-*).

Conditions: :mod:`airflow_batchstream.jobspec.catalog.placement`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from airflow_batchstream.jobspec.images import region_of_allowed_location
from airflow_batchstream.jobspec.problems import Problem
from airflow_batchstream.jobspec.rules._walk import (
    Context,
    allowed_locations,
    allowed_regions,
    as_dict,
    as_list,
    at_level,
    enum_name,
    found,
    instances_of,
    short,
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


def check_boot_disk(context: Context) -> Iterator[Problem]:
    snapshot = as_dict(context.instance_policy.get("bootDisk")).get("snapshot")
    if snapshot:
        yield found(
            "AP-BOOTDISK",
            "snapshot",
            "allocationPolicy.instances[0].policy.bootDisk.snapshot",
            f"boot disk from snapshot {short(snapshot)}; Batch boots only from images",
            "set bootDisk.image (e.g. batch-debian or projects/P/global/images/I) instead of snapshot",
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
