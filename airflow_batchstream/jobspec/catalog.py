"""Every condition the checks report, with its severity, its source and how certain that source is.

This table is the one definition of each condition: the validator and the image parser take the
severity of every problem they report from it (the ``preflight`` entries document the checks of
:mod:`airflow_batchstream.manifest`), and ``scripts/rules_doc.py`` renders it into
``docs/rules.md`` and the README's rule table (a test keeps both in sync). The policy: a condition
is an error only when Google's documentation or the Batch v1 protos (or, for the image preflight,
the OCI specifications) say so; where nothing settles it, it is a warning or a
:class:`~airflow_batchstream.jobspec.policy.ValidationPolicy` item. Two image-streaming rules are
errors by design (IS-1, IS-3): Batch would run such a job *without* streaming, silently, and
streaming is this provider's contract.
"""

from __future__ import annotations

import enum
from typing import Literal, NamedTuple

from airflow_batchstream.jobspec.policy import PolicyLevel, ValidationPolicy
from airflow_batchstream.jobspec.problems import Severity


class Certainty(str, enum.Enum):
    """How well a condition's source settles it."""

    #: A Google documentation page (Batch, Artifact Registry, Resource Manager), or for registry and
    #: Docker rules the OCI or Docker specification, states it.
    DOCUMENTED = "documented"
    #: A field comment of the Batch v1 protos (google/cloud/batch/v1/*.proto, the same text as
    #: google-cloud-batch's ``types``), or protobuf's own JSON mapping of them.
    PROTO = "proto"
    #: Derived; no source states it: only ever a warning or a ValidationPolicy item.
    INFERRED = "inferred"
    #: Not a Batch rule: the validator reporting its own failure.
    INTERNAL = "internal"


class Source(NamedTuple):
    """Where a condition comes from.

    :param where: a URL, or a proto field such as ``job.proto TaskGroup.parallelism``.
    :param quote: the words there that state it, verbatim (a few words elided with ``...``).
    """

    where: str
    quote: str


class Condition(NamedTuple):
    """One thing a rule checks.

    :param rule: the rule id problems carry, e.g. ``TG-PARALLEL``.
    :param name: the condition's name within the rule, e.g. ``in-order``.
    :param checks: what is reported, in a few words.
    :param severity: ``error`` (stops submission), ``warning``, or ``policy`` (the level is the
        :class:`ValidationPolicy` field named by ``policy``).
    :param certainty: how well ``sources`` settle it.
    :param sources: where it comes from.
    :param policy: the ValidationPolicy field that sets the level of a ``policy`` condition.
    :param note: why it has this severity, when the sources alone do not say.
    :param stage: ``validate`` (the job spec) or ``preflight`` (the image, read from its registry).
    """

    rule: str
    name: str
    checks: str
    severity: Literal["error", "warning", "policy"]
    certainty: Certainty
    sources: tuple[Source, ...] = ()
    policy: str | None = None
    note: str = ""
    stage: Literal["validate", "preflight"] = "validate"


def proto(field: str, quote: str) -> Source:
    """A field comment of the Batch v1 protos: ``field`` is e.g. ``job.proto TaskGroup.parallelism``."""
    return Source(f"google/cloud/batch/v1/{field}", quote)


DOC, PROTO, INFER = Certainty.DOCUMENTED, Certainty.PROTO, Certainty.INFERRED

QUOTAS = "https://cloud.google.com/batch/quotas"
LABELS = "https://cloud.google.com/batch/docs/organize-resources-using-labels"
LABEL_REQUIREMENTS = "https://cloud.google.com/resource-manager/docs/labels-overview#requirements"
STREAMING = "https://cloud.google.com/batch/docs/use-image-streaming"
STREAMING_SAMPLE = (
    "https://github.com/GoogleCloudPlatform/batch-samples/blob/main/api-samples/image-streaming/README.md"
)
AR_NAMES = "https://cloud.google.com/artifact-registry/docs/docker/names"
PROTOJSON = "https://protobuf.dev/programming-guides/json/"
DOCKER_VOLUMES = "https://docs.docker.com/engine/storage/bind-mounts/"
DISTRIBUTION = "https://github.com/opencontainers/distribution-spec/blob/main/spec.md"
IMAGE_SPEC = "https://github.com/opencontainers/image-spec/blob/main"

_QUOTA_ERROR = Source(QUOTAS, "Attempts to exceed a quota or limit return an error.")
_UNSAID = "no Google source says Batch refuses it"
_GLOBAL_TEMPLATES = proto(
    "job.proto AllocationPolicy.InstancePolicyOrTemplate.instance_template",
    "Batch only supports global instance templates from the same project as the job.",
)

CONDITIONS: tuple[Condition, ...] = (
    # -- structure -----------------------------------------------------------------------------
    Condition(
        "J-FIELD",
        "unknown",
        "a field name the v1 schema does not have, in either spelling (nearest name suggested)",
        "error",
        PROTO,
        (
            Source(
                "google-cloud-batch 0.22.4 Job.from_json (the v1 protos)",
                'Message type "google.cloud.batch.v1.Runnable" has no field named "type"',
            ),
        ),
        note="camelCase JSON names and the protos' snake_case names are both accepted, as gcloud "
        "and Job.from_json accept them (protobuf.dev: 'Parsers accept both the lowerCamelCase name "
        "... and the original proto field name')",
    ),
    Condition(
        "J-FIELD",
        "both-spellings",
        "one field written twice in one object, camelCase and snake_case (taskCount and task_count)",
        "error",
        PROTO,
        (
            Source(
                "protocolbuffers/protobuf conformance/binary_json_conformance_suite.cc "
                "(FieldNameDuplicateDifferentCasing)",
                "Duplicated field names are not allowed.",
            ),
        ),
        note="newer conformance suites accept last-wins or a parse failure, and Job.from_json merges "
        "the two silently: which value Batch would use is undefined",
    ),
    Condition(
        "J-TYPE",
        "kind",
        "a JSON value of the wrong type for its field: object, array, string, boolean, integer in "
        "the int32/int64 range, enum name or number, RFC 3339 timestamp",
        "error",
        PROTO,
        (
            Source(
                "google-cloud-batch 0.22.4 Job.from_json (the v1 protos)",
                "repeated field instances must be in []",
            ),
        ),
    ),
    Condition(
        "J-TYPE",
        "text",
        "a string with a lone surrogate, which is not Unicode text and cannot be sent",
        "error",
        PROTO,
        (
            Source(
                "https://protobuf.dev/programming-guides/proto3/#scalar",
                "A string must always contain UTF-8 encoded or 7-bit ASCII text",
            ),
        ),
    ),
    Condition(
        "J-DURATION",
        "syntax",
        'a Duration that is not "SECONDS[.FRACTION]s" (at most 9 fraction digits) within +-315,576,000,000 s',
        "error",
        PROTO,
        (
            Source(
                PROTOJSON,
                "Accepted are any fractional digits (also none) as long as they fit into nano-seconds "
                'precision and the suffix "s" is required.',
            ),
            Source(
                "google/protobuf/duration.proto Duration.seconds",
                "Must be from -315,576,000,000 to +315,576,000,000 inclusive.",
            ),
        ),
    ),
    Condition(
        "J-ONEOF",
        "several",
        "more than one member of a oneof (container/script/barrier, nfs/gcs/deviceName, "
        "image/snapshot, newDisk/existingDisk, policy/instanceTemplate, path/text)",
        "error",
        PROTO,
        (
            Source(
                "google-cloud-batch 0.22.4 types/task.py Runnable (the protos' oneof executable)",
                "For each oneof, at most one member field can be set at the same time.",
            ),
        ),
    ),
    Condition(
        "J-OUTPUT",
        "set",
        "an output-only field set (name, uid, status, createTime, updateTime, taskGroups[].name)",
        "warning",
        PROTO,
        (proto("batch.proto CreateJobRequest.job_id", "The job.name field in the request will be ignored"),),
    ),
    Condition(
        "J-DEPRECATED",
        "environments",
        "the deprecated taskSpec.environments map",
        "warning",
        PROTO,
        (
            proto(
                "task.proto TaskSpec.environments", "Deprecated: please use environment(non-plural) instead."
            ),
        ),
    ),
    # -- job -----------------------------------------------------------------------------------
    Condition(
        "J-PARENT",
        "not-a-region",
        "the job location is not a region (a zone, empty, or malformed)",
        "error",
        PROTO,
        (
            proto(
                "batch.proto CreateJobRequest.parent", 'Pattern: "projects/{project}/locations/{location}".'
            ),
        ),
    ),
    Condition(
        "J-PARENT",
        "unknown-region",
        "the job location is not in the list of Batch regions",
        "policy",
        INFER,
        policy="unknown_region",
        note="the list is cloud.google.com/batch/docs/locations as it was; Google adds regions, so "
        "the list kept here may be older than the project",
    ),
    Condition(
        "J-ID",
        "syntax",
        "the job id is not 1-63 of [a-z0-9-], starting with a letter, not ending with '-'",
        "error",
        PROTO,
        (
            proto(
                "batch.proto CreateJobRequest.job_id",
                "This field should contain at most 63 characters and must start with lowercase "
                "characters. Only lowercase characters, numbers and '-' are accepted. The '-' "
                "character cannot be the first or the last one.",
            ),
        ),
    ),
    Condition(
        "J-REQID",
        "uuid",
        "the request id is not a UUID, or is the zero UUID",
        "error",
        PROTO,
        (
            proto(
                "batch.proto CreateJobRequest.request_id",
                "The request ID must be a valid UUID with the exception that zero UUID is not "
                "supported (00000000-0000-0000-0000-000000000000).",
            ),
        ),
    ),
    Condition(
        "J-SIZE",
        "limit",
        "the job's compact JSON is larger than 1 MB (1,000,000 bytes)",
        "error",
        DOC,
        (Source(QUOTAS, "Size of the job definition | 1 MB"), _QUOTA_ERROR),
        note="the page measures the definition as roughly the size of the jobs.create REST request "
        "or the gcloud --config file, i.e. its JSON; MB is read as 10^6 bytes, the stricter reading, "
        "so a job that passes fits either",
    ),
    Condition(
        "J-TG",
        "missing",
        "no taskGroups",
        "error",
        PROTO,
        (proto("job.proto Job.task_groups", "Required. TaskGroups in the Job."),),
    ),
    Condition(
        "J-TG",
        "count",
        "other than exactly one task group",
        "error",
        PROTO,
        (proto("job.proto Job.task_groups", "Only one TaskGroup is supported now."),),
    ),
    Condition(
        "J-PRIORITY",
        "range",
        "priority outside [0, 100)",
        "error",
        PROTO,
        (proto("job.proto Job.priority", "The valid value range is [0, 100)."),),
    ),
    Condition(
        "J-INTERNAL",
        "failed",
        "a rule failed on this input (a bug in the validator; the other rules still ran)",
        "error",
        Certainty.INTERNAL,
        note="the job could not be checked completely, so it is not submitted",
    ),
    # -- task groups and task specs ------------------------------------------------------------
    Condition(
        "TG-SPEC",
        "missing",
        "a task group without taskSpec",
        "error",
        PROTO,
        (proto("job.proto TaskGroup.task_spec", "Required. Tasks in the group share the same task spec."),),
    ),
    Condition(
        "TG-COUNT",
        "limit",
        "more than 100,000 tasks in the task group (taskCount, or the number of taskEnvironments)",
        "error",
        DOC,
        (Source(QUOTAS, "Tasks per task group | 100,000"), _QUOTA_ERROR),
    ),
    Condition(
        "TG-COUNT",
        "zero",
        "taskCount 0, which proto3 reads as unset: Batch runs 1 task",
        "warning",
        PROTO,
        (proto("job.proto TaskGroup.task_count", "Number of Tasks in the TaskGroup. Default is 1."),),
    ),
    Condition(
        "TG-COUNT",
        "negative",
        "a negative taskCount",
        "warning",
        INFER,
        note=_UNSAID,
    ),
    Condition(
        "TG-PARALLEL",
        "limit",
        "parallelism above 5,000",
        "error",
        DOC,
        (Source(QUOTAS, "Parallel tasks per job | 5,000"), _QUOTA_ERROR),
    ),
    Condition(
        "TG-PARALLEL",
        "in-order",
        "parallelism other than 1 with schedulingPolicy IN_ORDER",
        "error",
        PROTO,
        (
            proto(
                "job.proto TaskGroup.parallelism",
                "Field parallelism must be 1 if the scheduling_policy is IN_ORDER.",
            ),
        ),
    ),
    Condition(
        "TG-PARALLEL",
        "in-order-default",
        "IN_ORDER with several tasks and no parallelism (the default is not 1)",
        "warning",
        PROTO,
        (
            proto(
                "job.proto TaskGroup.parallelism",
                "Default to min(task_count, parallel tasks per job limit).",
            ),
        ),
    ),
    Condition(
        "TG-PARALLEL",
        "above-count",
        "parallelism above the task count",
        "warning",
        INFER,
        note=f"{_UNSAID}; at most taskCount tasks can run at once anyway",
    ),
    Condition(
        "TG-PARALLEL",
        "negative",
        "a negative parallelism",
        "warning",
        INFER,
        note=_UNSAID,
    ),
    Condition(
        "TG-ENV",
        "count-ignored",
        "taskCount set beside taskEnvironments with a different count",
        "warning",
        PROTO,
        (
            proto(
                "job.proto TaskGroup.task_environments",
                "If task_environments is used then task_count should not be specified in the "
                "request (and will be ignored).",
            ),
        ),
    ),
    Condition(
        "TS-RUNNABLES",
        "missing",
        "a task spec without runnables",
        "error",
        PROTO,
        (proto("task.proto TaskSpec.runnables", "Required. The sequence of one or more runnables"),),
    ),
    Condition(
        "TS-RETRY",
        "range",
        "maxRetryCount outside 0..10",
        "error",
        PROTO,
        (proto("task.proto TaskSpec.max_retry_count", "The valid value range is [0, 10]."),),
    ),
    Condition(
        "TS-LIFECYCLE",
        "count",
        "more than one lifecycle policy",
        "error",
        PROTO,
        (proto("task.proto TaskSpec.lifecycle_policies", "Currently we only support one lifecycle policy."),),
    ),
    Condition(
        "TS-LIFECYCLE",
        "no-action",
        "a lifecycle policy whose action is neither RETRY_TASK nor FAIL_TASK",
        "warning",
        INFER,
        note=f"{_UNSAID}; the protos do not say what ACTION_UNSPECIFIED does",
    ),
    Condition(
        "TS-MAXRUN",
        "negative",
        "a negative maxRunDuration",
        "error",
        PROTO,
        (
            proto(
                "task.proto TaskSpec.max_run_duration",
                "The field accepts any value between 0 and the maximum listed for the Duration field type",
            ),
        ),
    ),
    Condition(
        "TS-MAXRUN",
        "run-limit",
        "maxRunDuration or a runnable timeout longer than Batch's run-time limit (14 days; 7 with "
        "FLEX_START, or A3 machines with NO_RESERVATION)",
        "warning",
        DOC,
        (
            Source(QUOTAS, "Run time (duration of RUNNING job state) before automatic failure | 14 days"),
            proto(
                "task.proto TaskSpec.max_run_duration",
                "however, the actual maximum run time for a job will be limited to the maximum run "
                "time for a job listed at https://cloud.google.com/batch/quotas#max-job-duration.",
            ),
        ),
        note="the limit is when Batch ends a running job, not a reason to refuse it: a longer limit "
        "is harmless for a job that finishes sooner",
    ),
    Condition(
        "TS-MAXRUN",
        "negative-timeout",
        "a negative runnable timeout",
        "warning",
        INFER,
        note=_UNSAID,
    ),
    Condition(
        "TS-RESOURCES",
        "negative",
        "a negative computeResource value (0 reads as unset: Batch's default)",
        "warning",
        INFER,
        note=_UNSAID,
    ),
    # -- runnables, containers, volumes, environments -----------------------------------------
    Condition(
        "R-EXEC",
        "none",
        "a runnable with none of container, script, barrier",
        "warning",
        INFER,
        note=f"{_UNSAID}; the runnable does nothing",
    ),
    Condition(
        "R-EXEC",
        "empty-script",
        "a script with neither path nor text",
        "warning",
        INFER,
        note=f"{_UNSAID}; the script does nothing",
    ),
    Condition(
        "C-IMAGE",
        "missing",
        "a container without imageUri",
        "error",
        PROTO,
        (
            proto(
                "task.proto Runnable.Container.image_uri",
                "Required. The URI to pull the container image from.",
            ),
        ),
    ),
    Condition(
        "C-VOLUME",
        "syntax",
        "a container volume that is not docker --volume syntax: empty, an empty field, or more than "
        "three ':'-separated fields (the options field may hold several, e.g. ro,z)",
        "error",
        DOC,
        (
            proto(
                "task.proto Runnable.Container.volumes",
                "formatted to match --volume option for the docker run command",
            ),
            Source(
                DOCKER_VOLUMES,
                "Consists of three fields, separated by colon characters (:). ... The third field is "
                "optional, and is a comma-separated list of options",
            ),
        ),
    ),
    Condition(
        "C-VOLUME",
        "relative-target",
        "a container path that is not absolute",
        "warning",
        INFER,
        note="Docker refuses a relative container path; whether Batch refuses the job is not said",
    ),
    Condition(
        "C-VOLUME",
        "named-volume",
        "a host source that is not an absolute path (Docker reads it as a named volume)",
        "warning",
        INFER,
        note="valid docker syntax, but Batch documents host paths (/foo:/bar)",
    ),
    Condition(
        "C-VOLUME",
        "option",
        "an option Docker does not document for --volume (ro, rw, z, Z, nocopy, shared, slave, "
        "private, rshared, rslave, rprivate, consistent, cached, delegated)",
        "warning",
        INFER,
        note="Batch passes the options on; which ones its runtimes accept is not documented",
    ),
    Condition(
        "C-NETWORK",
        "blocked",
        "blockExternalNetwork true and a --network/--net in the container's options",
        "error",
        PROTO,
        (
            proto(
                "task.proto Runnable.Container.block_external_network",
                "network cannot be specified in the container.options field.",
            ),
        ),
        note="a streaming container reports these fields as IS-3 instead",
    ),
    Condition(
        "VOL-SOURCE",
        "none",
        "a volume with none of nfs, gcs, deviceName",
        "warning",
        INFER,
        note=f"{_UNSAID}; there is nothing to mount",
    ),
    Condition(
        "VOL-SOURCE",
        "incomplete",
        "a gcs volume without remotePath, or an nfs volume without server or remotePath",
        "warning",
        INFER,
        note=_UNSAID,
    ),
    Condition(
        "VOL-MOUNT",
        "missing",
        "a volume without mountPath",
        "warning",
        INFER,
        note=_UNSAID,
    ),
    Condition(
        "VOL-MOUNT",
        "relative",
        "a mountPath that is not absolute",
        "warning",
        INFER,
        (proto("volume.proto Volume.mount_path", "The mount path for the volume, e.g. /mnt/disks/share."),),
        note="the protos give only an absolute example",
    ),
    Condition(
        "VOL-MOUNT",
        "trailing-slash",
        "a mountPath ending in '/'",
        "warning",
        INFER,
        note="only a third-party code comment (DataBiosphere/dsub: 'API does not allow trailing "
        "slashes') says Batch refuses it",
    ),
    Condition(
        "VOL-DEVICE",
        "unknown",
        "a volume deviceName that names no disk in allocationPolicy.instances[0].policy.disks "
        "(not checked with an instance template, whose disks cannot be seen)",
        "error",
        PROTO,
        (
            proto(
                "volume.proto Volume.device_name",
                "should align with a device_name specified by "
                "job.allocation_policy.instances[0].policy.disks[i].device_name or defined by the "
                "given instance template",
            ),
        ),
    ),
    Condition(
        "VOL-OPTIONS",
        "existing-disk-write",
        "the write mount option rw on a volume of an existing persistent disk",
        "error",
        PROTO,
        (
            proto(
                "volume.proto Volume.mount_options",
                "For an existing persistent disk, all mount options provided by the mount command "
                "except writing are supported.",
            ),
        ),
    ),
    Condition(
        "ENV-SECRET",
        "format",
        "a secretVariables value that is not projects/P/secrets/S/versions/V",
        "error",
        DOC,
        (
            Source(
                "https://cloud.google.com/batch/docs/create-run-job-secret-manager",
                "projects/PROJECT_ID/secrets/SECRET_NAME/versions/VERSION",
            ),
        ),
    ),
    # -- logs, locations, allocation, notifications --------------------------------------------
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
    # -- labels --------------------------------------------------------------------------------
    Condition(
        "L-1",
        "vm-limit",
        "more than 61 allocationPolicy labels (each VM, disk and GPU has 64, 3 of them Batch's "
        "predefined labels)",
        "error",
        DOC,
        (
            Source(
                LABELS,
                "You can define a maximum of 61 custom labels to apply to each GPU, persistent disk, "
                "and VM created for the job.",
            ),
        ),
    ),
    Condition(
        "L-2",
        "syntax",
        "a label key or value that is not 1-63 (value 0-63) lowercase letters, digits, '_' or '-' "
        "(international letters allowed unless label_charset is ascii), key starting with a "
        "letter, at most 128 bytes",
        "error",
        DOC,
        (
            Source(
                LABEL_REQUIREMENTS,
                "Keys have a minimum length of 1 character and a maximum length of 63 characters and "
                "cannot be empty. Values can be empty and have a maximum length of 63 characters.",
            ),
            Source(
                LABEL_REQUIREMENTS,
                "Keys and values can contain only lowercase letters, numeric characters, underscores, "
                "and dashes. All characters must use UTF-8 encoding, and international characters "
                "are allowed.",
            ),
            Source(LABEL_REQUIREMENTS, "Keys must start with a lowercase letter or international character."),
            Source(
                "google/cloud/batch/v1alpha/resource_allowance.proto ResourceAllowance.labels",
                "Both keys and values are additionally constrained to be <= 128 bytes.",
            ),
        ),
    ),
    Condition(
        "L-3",
        "reserved-prefix",
        "a label key starting with goog- or google- (except the documented "
        "goog-batch-dynamic-workload-scheduler job label)",
        "error",
        PROTO,
        (
            proto(
                "job.proto Job.labels",
                'Label names that start with "goog-" or "google-" are reserved for predefined labels.',
            ),
            Source(LABELS, "Attempting to override a predefined label causes errors."),
        ),
        note="GoogleCloudPlatform/batch-samples (slurm-to-batch/examples/example_batch_job.yaml, "
        "slurm/slrum_single_node_batch.py) set goog-batch-dynamic-workload-scheduler: 'true' for "
        "Dynamic Workload Scheduler jobs, so that key is accepted in the job's labels",
    ),
    Condition(
        "L-3",
        "predefined",
        "a custom label named like one of Batch's predefined labels: batch-job-id on the job and "
        "runnables; batch-job-id, batch-job-uid, batch-node on allocationPolicy (VMs, disks, GPUs)",
        "error",
        DOC,
        (
            Source(LABELS, "Attempting to override a predefined label causes errors."),
            Source(f"{LABELS}#predefined-labels", "batch-job-id ... batch-job-uid ... batch-node"),
        ),
        note="the page's predefined labels are batch-job-id on each job, and batch-job-id, "
        "batch-job-uid and batch-node on each GPU, persistent disk and VM created for it",
    ),
    Condition(
        "L-4",
        "job-limit",
        "more than 63 custom labels on the job and one of its runnables together (distinct keys)",
        "error",
        DOC,
        (
            Source(
                LABELS,
                "You can define a maximum of 63 custom labels to apply to the job and its runnables.",
            ),
        ),
    ),
    Condition(
        "L-4",
        "summed",
        "more than 63 distinct custom labels on the job and all its runnables together",
        "warning",
        INFER,
        note="the page does not say whether the 63 count per runnable or across all of them",
    ),
    # -- image streaming -----------------------------------------------------------------------
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
    # -- image preflight (manifest.py) ---------------------------------------------------------
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

CONDITION: dict[tuple[str, str], Condition] = {(c.rule, c.name): c for c in CONDITIONS}


def severity(rule: str, name: str) -> Severity:
    """The fixed severity of an ``error`` or ``warning`` condition."""
    return Severity(CONDITION[rule, name].severity)


def level(policy: ValidationPolicy, rule: str, name: str) -> PolicyLevel:
    """The level a ``policy`` condition has under ``policy``."""
    return getattr(policy, CONDITION[rule, name].policy or "")
