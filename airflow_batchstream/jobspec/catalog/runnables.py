"""The conditions of runnables, containers, environments and volumes.

Checked by :mod:`airflow_batchstream.jobspec.rules.runnables`.
"""

from __future__ import annotations

from airflow_batchstream.jobspec.catalog.model import (
    DOC,
    INFER,
    PROTO,
    UNSAID,
    Condition,
    Source,
    proto,
)

DOCKER_VOLUMES = "https://docs.docker.com/engine/storage/bind-mounts/"

CONDITIONS: tuple[Condition, ...] = (
    Condition(
        "R-EXEC",
        "none",
        "a runnable with none of container, script, barrier",
        "warning",
        INFER,
        note=f"{UNSAID}; the runnable does nothing",
    ),
    Condition(
        "R-EXEC",
        "empty-script",
        "a script with neither path nor text",
        "warning",
        INFER,
        note=f"{UNSAID}; the script does nothing",
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
        note=f"{UNSAID}; there is nothing to mount",
    ),
    Condition(
        "VOL-SOURCE",
        "incomplete",
        "a gcs volume without remotePath, or an nfs volume without server or remotePath",
        "warning",
        INFER,
        note=UNSAID,
    ),
    Condition(
        "VOL-MOUNT",
        "missing",
        "a volume without mountPath",
        "warning",
        INFER,
        note=UNSAID,
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
)
