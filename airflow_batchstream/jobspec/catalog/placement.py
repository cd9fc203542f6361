"""The conditions of where and how the job runs: logs, allowed locations, the allocation policy
(instances, templates, boot disk, network tags) and notifications.

Checked by :mod:`airflow_batchstream.jobspec.rules.placement`.
"""

from __future__ import annotations

from airflow_batchstream.jobspec.catalog.model import (
    DOC,
    INFER,
    PROTO,
    Condition,
    Source,
    proto,
)

RELEASE_NOTES = "https://cloud.google.com/batch/docs/release-notes"
BOOT_DISK_SAMPLE = (
    "https://github.com/GoogleCloudPlatform/batch-samples/blob/main/api-samples/boot-disk/submit.sh"
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
        "AP-BOOTDISK",
        "image",
        "a boot disk image that is neither a Batch short name (batch-debian, batch-cos, batch-hpc-rocky) "
        "nor projects/P/global/images/[family/]I",
        "error",
        PROTO,
        (
            proto(
                "job.proto AllocationPolicy.Disk.image",
                "projects/{project}/global/images/family/{image_family} ... You can also use Batch "
                "customized image in short names. The following image values are supported for a boot "
                "disk: `batch-debian` ... `batch-cos` ... `batch-hpc-rocky`",
            ),
        ),
    ),
    Condition(
        "AP-BOOTDISK",
        "retired",
        "a retired Batch image: batch-centos, batch-hpc-centos, or the batch-debian-11-official family",
        "warning",
        DOC,
        (
            Source(
                RELEASE_NOTES,
                "The last Batch Debian 11 images—any image versions with the batch-debian-11-official "
                "prefix—are only supported until August 31, 2026.",
            ),
        ),
    ),
    Condition(
        "AP-BOOTDISK",
        "type",
        "a boot disk type other than pd-balanced, pd-extreme, pd-ssd, pd-standard or hyperdisk-*",
        "warning",
        PROTO,
        (
            proto(
                "job.proto AllocationPolicy.Disk.type",
                'Persistent disks and boot disks use "pd-balanced", "pd-extreme", "pd-ssd" or "pd-standard".',
            ),
        ),
        note="hyperdisk-* is accepted too: the families that need it boot only from Hyperdisk",
    ),
    Condition(
        "AP-BOOTDISK",
        "small",
        "a boot disk under 30 GB with a Batch image (or Batch's default image)",
        "warning",
        DOC,
        (Source(BOOT_DISK_SAMPLE, "no smaller than the default disk size 30GB"),),
    ),
    Condition(
        "AP-BOOTDISK",
        "both-sizes",
        "bootDisk.sizeGb and a task's computeResource.bootDiskMib: Batch honours only sizeGb",
        "warning",
        PROTO,
        (
            proto(
                "job.proto AllocationPolicy.Disk.size_gb",
                "If both this field and the `boot_disk_mib` field in task spec's `compute_resource` are "
                "defined, Batch will only honor this field.",
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
