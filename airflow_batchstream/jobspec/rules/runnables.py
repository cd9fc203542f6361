"""Runnables, containers, environments and volumes (R-EXEC, C-*, ENV-SECRET, VOL-*).

Conditions: :mod:`airflow_batchstream.jobspec.catalog.runnables`.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterator

from airflow_batchstream.jobspec.limits import SECRET_RE
from airflow_batchstream.jobspec.problems import Problem
from airflow_batchstream.jobspec.rules._walk import (
    Context,
    as_dict,
    as_list,
    found,
    is_streaming,
    key_path,
)

#: The options field of ``docker run --volume`` (docs.docker.com, bind mounts and volumes).
DOCKER_VOLUME_OPTIONS = frozenset(
    {"ro", "rw", "z", "Z", "nocopy", "shared", "slave", "private", "rshared", "rslave", "rprivate",
     "consistent", "cached", "delegated"}
)  # fmt: skip
#: The ``mount`` option that makes a mount writable, which existing persistent disks do not take.
WRITE_MOUNT_OPTIONS = frozenset({"rw"})


def check_executable(context: Context) -> Iterator[Problem]:
    for path, runnable in context.runnables:
        if all(runnable.get(name) is None for name in ("container", "script", "barrier")):
            yield found(
                "R-EXEC", "none", path, "the runnable has no container, script or barrier", "add a container"
            )
        script = runnable.get("script")
        if isinstance(script, dict) and not (script.get("path") or script.get("text")):
            yield found(
                "R-EXEC",
                "empty-script",
                f"{path}.script",
                "the script has neither path nor text",
                "set text or path",
            )


def check_image_present(context: Context) -> Iterator[Problem]:
    for path, container in context.containers:
        if not container.get("imageUri"):
            yield found(
                "C-IMAGE",
                "missing",
                f"{path}.imageUri",
                "the container has no imageUri",
                "set imageUri, e.g. us-central1-docker.pkg.dev/my-project/my-repo/my-image:1.0",
            )


def check_container_volumes(context: Context) -> Iterator[Problem]:
    for path, container in context.containers:
        for index, volume in enumerate(as_list(container.get("volumes"))):
            if isinstance(volume, str):
                yield from _container_volume_problems(volume, f"{path}.volumes[{index}]")


def _container_volume_problems(volume: str, path: str) -> Iterator[Problem]:
    """``docker run --volume`` syntax: ``[SOURCE:]TARGET[:OPTION[,OPTION...]]``."""
    parts = volume.split(":")
    if len(parts) > 3 or "" in parts:
        yield found(
            "C-VOLUME",
            "syntax",
            path,
            f"container volume {volume!r} is not [SOURCE:]TARGET[:OPTIONS] (docker --volume syntax)",
            "write e.g. /mnt/disks/data:/data or /mnt/disks/data:/data:ro",
        )
        return
    source, target = (None, parts[0]) if len(parts) == 1 else (parts[0], parts[1])
    if not target.startswith("/"):
        yield found(
            "C-VOLUME",
            "relative-target",
            path,
            f"container path {target!r} in {volume!r} is not absolute; Docker refuses relative ones",
            f"write /{target}",
        )
    if source is not None and not source.startswith("/"):
        yield found(
            "C-VOLUME",
            "named-volume",
            path,
            f"{source!r} in {volume!r} is not a host path: Docker reads it as a named volume",
            f"mount a directory of the VM, e.g. /mnt/disks/{source}:{target}",
        )
    options = parts[2].split(",") if len(parts) == 3 else []
    unknown = [option for option in options if option not in DOCKER_VOLUME_OPTIONS]
    if unknown:
        yield found(
            "C-VOLUME",
            "option",
            path,
            f"volume option(s) {', '.join(map(repr, unknown))} in {volume!r} are not docker --volume options",
            f"use options such as ro, rw, z or Z ({', '.join(sorted(DOCKER_VOLUME_OPTIONS))})",
        )


def _network_options(options: str) -> list[str]:
    """The ``--network``/``--net`` settings among ``docker run`` options."""
    try:
        words = shlex.split(options)
    except ValueError:  # unbalanced quotes: Docker would not parse it either; read plain words
        words = options.split()
    return [
        word for word in words if word in ("--network", "--net") or word.startswith(("--network=", "--net="))
    ]


def check_blocked_network(context: Context) -> Iterator[Problem]:
    for path, container in context.containers:
        options = container.get("options")
        if (
            is_streaming(container)
            or container.get("blockExternalNetwork") is not True
            or not isinstance(options, str)
        ):
            continue  # a streaming container's options are IS-3's business
        networks = _network_options(options)
        if networks:
            yield found(
                "C-NETWORK",
                "blocked",
                f"{path}.options",
                f"options set {networks[0]} while blockExternalNetwork is true; Batch takes no network "
                "option for a container whose external network is blocked",
                "remove the --network option, or set blockExternalNetwork to false",
            )


def _environments(context: Context) -> Iterator[tuple[str, dict]]:
    for path, spec, group in context.task_specs:
        yield f"{path}.environment", as_dict(spec.get("environment"))
        group_path = path.removesuffix(".taskSpec")
        for index, env in enumerate(as_list(group.get("taskEnvironments"))):
            yield f"{group_path}.taskEnvironments[{index}]", as_dict(env)
    for path, runnable in context.runnables:
        yield f"{path}.environment", as_dict(runnable.get("environment"))


def check_secret_variables(context: Context) -> Iterator[Problem]:
    for path, env in _environments(context):
        for name, secret in as_dict(env.get("secretVariables")).items():
            if isinstance(secret, str) and not SECRET_RE.match(secret):
                yield found(
                    "ENV-SECRET",
                    "format",
                    key_path(f"{path}.secretVariables", name),
                    f"secret {secret!r} is not a Secret Manager version name",
                    "use projects/PROJECT/secrets/SECRET/versions/VERSION (e.g. versions/latest)",
                )


def check_volume_source(context: Context) -> Iterator[Problem]:
    required = {"gcs": ("remotePath",), "nfs": ("server", "remotePath")}
    for path, volume in context.volumes:
        sources = [name for name in ("nfs", "gcs", "deviceName") if volume.get(name) is not None]
        if not sources:
            yield found(
                "VOL-SOURCE",
                "none",
                path,
                "the volume has no source, so there is nothing to mount",
                'set one of gcs {"remotePath": "bucket"}, nfs {"server", "remotePath"} or deviceName',
            )
        for source, keys in required.items():
            spec = volume.get(source)
            for key in keys if isinstance(spec, dict) else ():
                if not spec.get(key):
                    yield found(
                        "VOL-SOURCE",
                        "incomplete",
                        f"{path}.{source}.{key}",
                        f"{source} volume without {key}",
                        f"set {key}",
                    )


def check_mount_path(context: Context) -> Iterator[Problem]:
    for path, volume in context.volumes:
        mount = volume.get("mountPath")
        where = f"{path}.mountPath"
        if mount is None or mount == "":
            yield found(
                "VOL-MOUNT",
                "missing",
                where,
                "the volume has no mountPath",
                "set an absolute path, e.g. /mnt/data",
            )
            continue
        if not isinstance(mount, str):
            continue
        suggestion = f"/{mount.strip('/') or 'mnt/data'}"
        if not mount.startswith("/"):
            yield found(
                "VOL-MOUNT",
                "relative",
                where,
                f"mountPath {mount!r} is not absolute",
                f"use e.g. {suggestion}",
            )
        if len(mount) > 1 and mount.endswith("/"):
            yield found(
                "VOL-MOUNT",
                "trailing-slash",
                where,
                f"mountPath {mount!r} ends with '/', which the Batch API is reported to refuse",
                f"use {suggestion}",
            )


def _disks(context: Context) -> list[dict]:
    """``instances[0].policy.disks``, the disks volumes can name."""
    return [disk for disk in as_list(context.instance_policy.get("disks")) if isinstance(disk, dict)]


def check_device_names(context: Context) -> Iterator[Problem]:
    if context.instance_template:
        return  # the disks live in the template, which we cannot see
    disks = {disk.get("deviceName") for disk in _disks(context)}
    for path, volume in context.volumes:
        device = volume.get("deviceName")
        if isinstance(device, str) and device not in disks:
            yield found(
                "VOL-DEVICE",
                "unknown",
                f"{path}.deviceName",
                f"deviceName {device!r} matches no disk in allocationPolicy.instances[0].policy.disks",
                "add a disk with that deviceName, or fix the name",
            )


def check_existing_disk_mount_options(context: Context) -> Iterator[Problem]:
    existing = {disk.get("deviceName") for disk in _disks(context) if disk.get("existingDisk")}
    for path, volume in context.volumes:
        if volume.get("deviceName") not in existing:
            continue
        for index, entry in enumerate(as_list(volume.get("mountOptions"))):
            options = entry.split(",") if isinstance(entry, str) else []
            if WRITE_MOUNT_OPTIONS.intersection(options):
                yield found(
                    "VOL-OPTIONS",
                    "existing-disk-write",
                    f"{path}.mountOptions[{index}]",
                    f"mount option {entry!r} writes to an existing persistent disk, which Batch mounts "
                    "read-only (multi-writer mode restrictions)",
                    "remove rw (use ro or no option), or write to a new disk",
                )
