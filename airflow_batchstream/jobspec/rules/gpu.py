"""GPUs and the VMs that carry them: accelerator types and counts against the machine type, GPU
drivers, GPUs under image streaming, provisioning models and reservations (GPU-*, AP-PROVISIONING,
AP-RESERVATION).

Conditions: :mod:`airflow_batchstream.jobspec.catalog.gpu`; the machine and GPU tables:
:mod:`airflow_batchstream.jobspec.gpus`.
"""

from __future__ import annotations

from collections.abc import Iterator

from airflow_batchstream.jobspec import gpus
from airflow_batchstream.jobspec.problems import Problem
from airflow_batchstream.jobspec.rules._walk import (
    Context,
    as_dict,
    as_int,
    as_list,
    at_level,
    enum_name,
    found,
    instances_of,
    is_streaming,
    short,
)
from airflow_batchstream.jobspec.vm_forms import DRIVER_VERSION_RE, reservation_reason

_INSTANCE = "allocationPolicy.instances[0]"
_POLICY = f"{_INSTANCE}.policy"
_MODEL = "AllocationPolicy.ProvisioningModel"


def _accelerators(context: Context) -> list[tuple[str, dict]]:
    entries = as_list(context.instance_policy.get("accelerators"))
    return [
        (f"{_POLICY}.accelerators[{i}]", entry) for i, entry in enumerate(entries) if isinstance(entry, dict)
    ]


def _machine_type(context: Context) -> str | None:
    machine = context.instance_policy.get("machineType")
    return machine if isinstance(machine, str) and machine else None


def _installs_drivers(context: Context) -> bool:
    instances = instances_of(context.job)
    first = as_dict(instances[0]) if instances else {}
    deprecated = any(entry.get("installGpuDrivers") is True for _, entry in _accelerators(context))
    return first.get("installGpuDrivers") is True or deprecated


def is_gpu_job(context: Context) -> bool:
    """Whether the job's VMs have GPUs: attached accelerators, or a machine type that comes with them."""
    return bool(_accelerators(context)) or gpus.is_gpu_machine(_machine_type(context))


def _named_reservation(policy: dict) -> str | None:
    reservation = policy.get("reservation")
    return reservation if isinstance(reservation, str) and reservation not in ("", "NO_RESERVATION") else None


def check_accelerator_types(context: Context) -> Iterator[Problem]:
    known = gpus.ACCELERATOR_TYPES | context.policy.extra_accelerator_types
    for path, entry in _accelerators(context):
        kind = entry.get("type")
        if not isinstance(kind, str) or kind in known:
            continue
        meant = kind.strip().lower().replace("_", "-")
        hint = f" (did you mean {meant!r}?)" if meant in known else ""
        yield from at_level(
            context,
            "GPU-TYPE",
            "unknown",
            f"{path}.type",
            f"accelerator type {short(kind)} is not a Compute Engine GPU type{hint}",
            "use a name `gcloud compute accelerator-types list` shows, e.g. nvidia-tesla-t4 or nvidia-l4; "
            "for a GPU newer than this list, add it to ValidationPolicy.extra_accelerator_types",
        )


def check_gpu_machine(context: Context) -> Iterator[Problem]:
    machine = _machine_type(context)
    if machine is None:
        return
    path = f"{_POLICY}.machineType"
    series = gpus.outside_batch_series(machine)
    if series:
        arm = " (an Arm family)" if gpus.family(machine) in gpus.ARM_FAMILIES else ""
        yield from at_level(
            context,
            "GPU-MACHINE",
            "outside-batch",
            path,
            f"machine type {machine!r} is of the {series} series{arm}, which Batch's list of machine "
            "series does not include",
            "use an A4, A3, A2 or G2 machine type (accelerator-optimized), or N1 with attached GPUs",
        )
    if _accelerators(context) and not gpus.is_n1(machine) and not gpus.is_gpu_machine(machine):
        arm = gpus.family(machine) in gpus.ARM_FAMILIES
        why = "its Arm series takes no GPU" if arm else "its series takes no GPU"
        yield found(
            "GPU-MACHINE",
            "no-gpus",
            path,
            f"accelerators are attached to {machine!r}: {why} (only N1 and the accelerator-optimized "
            "A4, A3, A2 and G2 series do)",
            "use an N1 machine type (e.g. n1-standard-8) with the accelerator, or an accelerator-optimized "
            "one (e.g. g2-standard-8 for nvidia-l4) without accelerators",
        )


def check_accelerator_counts(context: Context) -> Iterator[Problem]:
    machine = _machine_type(context)
    built_in = gpus.built_in_gpus(machine)
    for path, entry in _accelerators(context):
        kind, count = entry.get("type"), as_int(entry.get("count", 0))
        if not isinstance(kind, str) or count is None:
            continue
        if count < 1:
            yield found(
                "GPU-COUNT",
                "not-positive",
                f"{path}.count",
                f"accelerator count {count} asks for no GPU",
                "set count to the GPUs per VM, e.g. 1",
            )
        elif built_in is not None:
            other_type = gpus.canonical_accelerator(kind) != built_in.type
            if other_type or count != built_in.count:
                yield found(
                    "GPU-COUNT",
                    "built-in",
                    f"{path}.type" if other_type else f"{path}.count",
                    f"{machine!r} comes with {built_in.count} x {built_in.type}, but accelerators ask for "
                    f"{count} x {kind}",
                    f"remove the accelerators (the machine type brings its GPUs), or choose the machine "
                    f"type that has {count} x {kind}",
                )
        elif gpus.is_n1(machine):
            yield from _n1_problems(machine, path, gpus.canonical_accelerator(kind), count)


def _n1_problems(machine: str, path: str, kind: str, count: int) -> Iterator[Problem]:
    allowed = gpus.N1_GPUS.get(kind)
    if allowed is None:
        yield found(
            "GPU-COUNT",
            "n1",
            f"{path}.type",
            f"N1 machine types take only T4, P4, V100 and P100 GPUs, not {kind!r}",
            "use nvidia-tesla-t4 (or p4, v100, p100) on N1, or the accelerator-optimized machine type "
            "that comes with your GPU (e.g. g2-standard-8 for nvidia-l4)",
        )
    elif count not in allowed:
        yield found(
            "GPU-COUNT",
            "n1",
            f"{path}.count",
            f"{kind} comes in counts of {', '.join(map(str, allowed))} on N1, not {count}",
            f"set count to one of {', '.join(map(str, allowed))}",
        )
    else:
        vcpus = gpus.n1_vcpus(machine)
        if vcpus is not None and vcpus > allowed[count]:
            more = [n for n, most in allowed.items() if most >= vcpus]
            fix = f"use {count} GPU(s) with at most {allowed[count]} vCPUs"
            yield found(
                "GPU-COUNT",
                "n1-vcpus",
                f"{path}.count",
                f"{machine!r} has {vcpus} vCPUs; with {count} x {kind} an N1 VM has at most {allowed[count]}",
                fix + (f", or {min(more)} GPUs" if more else ""),
            )


def check_gpu_drivers(context: Context) -> Iterator[Problem]:
    installs = _installs_drivers(context)
    for path, entry in _accelerators(context):
        if entry.get("installGpuDrivers") is not None:
            yield found(
                "GPU-DRIVERS",
                "deprecated",
                f"{path}.installGpuDrivers",
                "accelerators[].installGpuDrivers is deprecated",
                f"set {_INSTANCE}.installGpuDrivers instead",
            )
        version = entry.get("driverVersion")
        if isinstance(version, str) and version and not DRIVER_VERSION_RE.match(version):
            yield found(
                "GPU-DRIVERS",
                "version",
                f"{path}.driverVersion",
                f"driverVersion {short(version)} is not an NVIDIA driver version",
                "write e.g. 535.104.05, or remove it for Batch's choice",
            )
        elif isinstance(version, str) and version and not installs:
            yield found(
                "GPU-DRIVERS",
                "version-unused",
                f"{path}.driverVersion",
                f"driverVersion {short(version)} is set, but Batch is not asked to install drivers",
                f"set {_INSTANCE}.installGpuDrivers to true, or remove driverVersion",
            )
    machine = _machine_type(context)
    if is_gpu_job(context) and not installs:
        yield from at_level(
            context,
            "GPU-DRIVERS",
            "missing",
            f"{_INSTANCE}.installGpuDrivers",
            "the job's VMs have GPUs, but Batch is not asked to install their drivers: the GPUs are "
            "unusable unless the boot image brings them",
            f"set {_INSTANCE}.installGpuDrivers to true (install_gpu_drivers=True), or boot an image "
            "with the drivers and lower ValidationPolicy.gpu_drivers_missing",
        )
    elif installs and machine and not is_gpu_job(context) and not context.instance_template:
        yield found(
            "GPU-DRIVERS",
            "no-gpu",
            f"{_INSTANCE}.installGpuDrivers",
            f"GPU drivers are to be installed, but {machine!r} has no GPU and no accelerators are attached",
            "attach accelerators, use a GPU machine type, or remove installGpuDrivers",
        )


def check_gpu_streaming(context: Context) -> Iterator[Problem]:
    if not is_gpu_job(context):
        return
    for path, container in context.containers:
        if is_streaming(container):
            yield from at_level(
                context,
                "GPU-STREAMING",
                "undocumented",
                f"{path}.enableImageStreaming",
                "this GPU job's container streams its image: Batch documents that it gives Docker "
                "containers access to the GPUs, but not whether it does for streaming containers, "
                "which run on containerd (and container options such as --gpus are not supported there)",
                "run one task first and check that it sees its GPUs (e.g. nvidia-smi); then lower "
                "ValidationPolicy.gpu_with_image_streaming to 'off'",
            )


def check_provisioning(context: Context) -> Iterator[Problem]:
    policy = context.instance_policy
    path = f"{_POLICY}.provisioningModel"
    model = enum_name(policy.get("provisioningModel"), _MODEL)
    machine = _machine_type(context) or ""
    named = _named_reservation(policy)
    if model == "PREEMPTIBLE":
        yield found(
            "AP-PROVISIONING", "preemptible", path, "provisioningModel PREEMPTIBLE is deprecated", "use SPOT"
        )
    spot_or_flex = model in ("SPOT", "FLEX_START")
    if machine in ("a3-highgpu-1g", "a3-highgpu-2g", "a3-highgpu-4g") and not spot_or_flex:
        yield found(
            "AP-PROVISIONING",
            "gpu-capacity",
            path,
            f"Compute Engine creates {machine!r} VMs only as Spot or Flex-start VMs",
            "set provisioningModel to SPOT or FLEX_START, or use a3-highgpu-8g",
        )
    elif machine.startswith(("a4-", "a3-ultragpu-")) and not (
        spot_or_flex or named or model == "RESERVATION_BOUND"
    ):
        yield found(
            "AP-PROVISIONING",
            "gpu-capacity",
            path,
            f"Compute Engine creates {machine!r} VMs only from reserved capacity, or as Spot or "
            "Flex-start VMs: without a matching reservation the job waits for capacity that never comes",
            "set provisioningModel to SPOT or FLEX_START, or name a reservation",
        )
    if model == "RESERVATION_BOUND" and not named:
        yield found(
            "AP-PROVISIONING",
            "reservation-bound",
            path,
            "provisioningModel RESERVATION_BOUND, but no reservation is named",
            f"set {_POLICY}.reservation to the reservation the VMs are bound to",
        )
    if model == "FLEX_START" and named:
        yield found(
            "AP-PROVISIONING",
            "flex-reservation",
            f"{_POLICY}.reservation",
            f"provisioningModel FLEX_START, but reservation {named!r} is named: Flex-start VMs do not "
            "come from a reservation",
            "remove the reservation, or use RESERVATION_BOUND or STANDARD to consume it",
        )


def check_reservation(context: Context) -> Iterator[Problem]:
    policy = context.instance_policy
    reservation = policy.get("reservation")
    path = f"{_POLICY}.reservation"
    if isinstance(reservation, str) and reservation and reservation_reason(reservation):
        yield found(
            "AP-RESERVATION",
            "format",
            path,
            f"reservation {short(reservation)} is not in a known form: {reservation_reason(reservation)}",
            "write the reservation's name, NO_RESERVATION, or projects/P/zones/Z/reservations/R",
        )
    placement = as_dict(as_dict(context.job.get("allocationPolicy")).get("placement"))
    if _named_reservation(policy) and placement.get("collocation") == "COLLOCATED":
        yield found(
            "AP-RESERVATION",
            "collocated",
            path,
            "a reservation is named, but placement.collocation is COLLOCATED: VMs with a compact "
            "placement policy cannot consume reservations",
            "remove placement.collocation, or the reservation",
        )
