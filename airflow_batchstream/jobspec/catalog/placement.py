"""The conditions of where and how the job runs: logs, allowed locations, the allocation policy
(instances, templates, boot disk, network tags) and notifications.

Checked by :mod:`airflow_batchstream.jobspec.rules.placement`.
"""

from __future__ import annotations

from airflow_batchstream.jobspec.catalog.model import (
    INFER,
    PROTO,
    Condition,
    proto,
)

_GLOBAL_TEMPLATES = proto(
    "job.proto AllocationPolicy.InstancePolicyOrTemplate.instance_template",
    "Batch only supports global instance templates from the same project as the job.",
)

CONDITIONS: tuple[Condition, ...] = (
    Condition(
        "LOGS-PATH",
        "missing",
        "logsPolicy destination PATH without logsPath",
        "error",
        PROTO,
        (
            proto(
                "job.proto LogsPolicy.logs_path",
                "When destination is set to PATH, you must set this field",
            ),
        ),
    ),
    Condition(
        "LOGS-PATH",
        "ignored",
        "logsPath without PATH, or cloudLoggingOption without CLOUD_LOGGING",
        "warning",
        PROTO,
        (
            proto(
                "job.proto LogsPolicy.cloud_logging_option",
                "When destination is set to CLOUD_LOGGING, you can optionally set this field",
            ),
        ),
    ),
    Condition(
        "LOGS-DEST",
        "none",
        "no logs destination: Batch keeps no task logs",
        "warning",
        PROTO,
        (proto("job.proto LogsPolicy.Destination", "(Default) Logs are not preserved."),),
    ),
    Condition(
        "LOC-SHAPE",
        "format",
        "an allowedLocations entry that is not regions/REGION or zones/ZONE",
        "error",
        PROTO,
        (
            proto(
                "job.proto AllocationPolicy.LocationPolicy.allowed_locations",
                "A list of location names that are allowed for the job's VMs formatted as URLs. "
                "Each location can be a region or a zone",
            ),
        ),
    ),
    Condition(
        "LOC-REGION",
        "several",
        "allowedLocations spanning more than one region",
        "error",
        PROTO,
        (
            proto(
                "job.proto AllocationPolicy.LocationPolicy.allowed_locations",
                "causes an error because it contains multiple regions",
            ),
        ),
    ),
    Condition(
        "LOC-PARENT",
        "outside",
        "allowedLocations outside the job's region",
        "policy",
        PROTO,
        (
            proto(
                "job.proto AllocationPolicy.LocationPolicy.allowed_locations",
                "The specified region or zones must be in the same region in which the job is "
                "created starting on the following dates",
            ),
        ),
        policy="out_of_region_locations",
        note="an error since 2026-07-31; projects that used other regions before then have until "
        "2027-06-30 and may lower it",
    ),
    Condition(
        "AP-INSTANCES",
        "several",
        "more than one allocationPolicy.instances entry",
        "warning",
        PROTO,
        (proto("job.proto AllocationPolicy.instances", "Only instances[0] is supported now."),),
        note="'supported' does not say the others are refused; Batch uses instances[0]",
    ),
    Condition(
        "AP-IGNORED",
        "network",
        "allocationPolicy.network with an instance template",
        "warning",
        PROTO,
        (
            proto(
                "job.proto AllocationPolicy.network",
                "Batch will use the network settings in the instance template instead of this field.",
            ),
        ),
    ),
    Condition(
        "AP-IGNORED",
        "max-distance",
        "placement.maxDistance",
        "warning",
        PROTO,
        (proto("job.proto AllocationPolicy.PlacementPolicy.max_distance", "Not yet implemented"),),
    ),
    Condition(
        "AP-TAGS",
        "rfc1035",
        "a network tag that is not 1-63 letters, digits and '-', starting with a letter and not "
        "ending with '-'",
        "error",
        PROTO,
        (
            proto(
                "job.proto AllocationPolicy.tags",
                "Each tag must be 1-63 characters long, and comply with RFC1035.",
            ),
        ),
    ),
    Condition(
        "AP-TAGS",
        "uppercase",
        "a network tag with uppercase letters",
        "warning",
        INFER,
        note="RFC 1035 allows them; Compute Engine network tags are written in lowercase",
    ),
    Condition(
        "AP-TEMPLATE",
        "regional",
        "an instance template that is regional (…/regions/R/instanceTemplates/T)",
        "error",
        PROTO,
        (_GLOBAL_TEMPLATES,),
    ),
    Condition(
        "AP-TEMPLATE",
        "other-project",
        "an instance template of another project (checked when the location is given as "
        "projects/P/locations/R)",
        "error",
        PROTO,
        (_GLOBAL_TEMPLATES,),
    ),
    Condition(
        "AP-BOOTDISK",
        "snapshot",
        "a boot disk created from a snapshot",
        "error",
        PROTO,
        (
            proto("job.proto AllocationPolicy.Disk.snapshot", "Snapshot is not supported as boot disk now."),
            proto(
                "job.proto AllocationPolicy.InstancePolicy.boot_disk",
                "Batch API now only supports booting from image.",
            ),
        ),
    ),
    Condition(
        "N-TOPIC",
        "missing",
        "a notification without pubsubTopic: none is sent",
        "warning",
        PROTO,
        (
            proto(
                "job.proto JobNotification.pubsub_topic",
                "If undefined, no Pub/Sub notifications are sent for this job.",
            ),
        ),
    ),
    Condition(
        "N-TOPIC",
        "format",
        "a pubsubTopic that is not projects/PROJECT/topics/TOPIC",
        "error",
        PROTO,
        (
            proto(
                "job.proto JobNotification.pubsub_topic",
                "Specify the topic using the following format: projects/{project}/topics/{topic}.",
            ),
        ),
    ),
    Condition(
        "N-MESSAGE",
        "missing",
        "a notification without message: none is sent",
        "warning",
        PROTO,
        (proto("job.proto JobNotification.message", "Without this field, no message will be sent."),),
    ),
    Condition(
        "N-MESSAGE",
        "mixed",
        "a message with both job-level and task-level attributes",
        "error",
        PROTO,
        (
            proto(
                "job.proto JobNotification.Message",
                "One message should specify either the job or the task level attributes, but not both.",
            ),
        ),
    ),
)
