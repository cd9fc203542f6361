"""What Compute Engine documents about GPUs and machine types, as data: the one table the validator,
the renderer and the emulator read.

Sources: Compute Engine "GPU machine types" (https://cloud.google.com/compute/docs/gpus, the
accelerator-optimized series, their built-in GPUs and the N1 attachable GPUs with their vCPU
bounds), "About GPUs" (https://cloud.google.com/compute/docs/gpus/about-gpus: "GPUs can't be used
with other machine series") and Batch's list of machine series a job may use
(https://cloud.google.com/batch/docs/get-started, restrictions). Google adds GPU models and series:
the validator's ``ValidationPolicy.accelerator_types`` extends the known types.

Pure: no Airflow, no ``google.*``; not loaded when a DAG file is parsed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import NamedTuple

#: Accelerator type names as ``gcloud compute accelerator-types list`` gives them (GPUs, NVIDIA).
#: ``nvidia-a100-40gb`` and ``nvidia-tesla-a100`` both name A2 Standard's GPU on Google's page.
ACCELERATOR_TYPES: frozenset[str] = frozenset(
    {
        "nvidia-gb300", "nvidia-gb200", "nvidia-b200", "nvidia-h200-141gb", "nvidia-h100-mega-80gb",
        "nvidia-h100-80gb", "nvidia-a100-80gb", "nvidia-tesla-a100", "nvidia-a100-40gb",
        "nvidia-rtx-pro-6000", "nvidia-rtx-pro-6000-vws", "nvidia-l4", "nvidia-l4-vws",
        "nvidia-tesla-t4", "nvidia-tesla-t4-vws", "nvidia-tesla-p4", "nvidia-tesla-p4-vws",
        "nvidia-tesla-v100", "nvidia-tesla-p100", "nvidia-tesla-p100-vws",
    }
)  # fmt: skip

#: Names meaning the same GPU (compared after mapping through this).
ACCELERATOR_ALIASES: Mapping[str, str] = {"nvidia-a100-40gb": "nvidia-tesla-a100"}


class BuiltIn(NamedTuple):
    """The GPUs an accelerator-optimized machine type comes with."""

    type: str
    count: int


def _series(accelerator: str, counts: Mapping[str, int]) -> dict[str, BuiltIn]:
    return {machine: BuiltIn(accelerator, count) for machine, count in counts.items()}


#: Accelerator-optimized machine types Batch accepts (A4, A3 Ultra, A3 Mega, A3 High, A2, G2):
#: their GPUs are attached automatically, with a fixed type and count.
BUILT_IN_GPUS: Mapping[str, BuiltIn] = {
    **_series("nvidia-b200", {"a4-highgpu-8g": 8}),
    **_series("nvidia-h200-141gb", {"a3-ultragpu-8g": 8}),
    **_series("nvidia-h100-mega-80gb", {"a3-megagpu-8g": 8}),
    **_series("nvidia-h100-80gb", {f"a3-highgpu-{n}g": n for n in (1, 2, 4, 8)}),
    **_series("nvidia-a100-80gb", {f"a2-ultragpu-{n}g": n for n in (1, 2, 4, 8)}),
    **_series("nvidia-tesla-a100", {**{f"a2-highgpu-{n}g": n for n in (1, 2, 4, 8)}, "a2-megagpu-16g": 16}),
    **_series(
        "nvidia-l4",
        {"g2-standard-4": 1, "g2-standard-8": 1, "g2-standard-12": 1, "g2-standard-16": 1,
         "g2-standard-32": 1, "g2-standard-24": 2, "g2-standard-48": 4, "g2-standard-96": 8},
    ),
}  # fmt: skip

#: Accelerator-optimized series Compute Engine has but Batch's list of machine series omits, by
#: machine-type prefix: A4X Max and A4X (Arm Grace CPUs), A3 Edge, G4.
OUTSIDE_BATCH_GPU_SERIES: Mapping[str, str] = {
    "a4x-maxgpu-": "A4X Max",
    "a4x-": "A4X",
    "a3-edgegpu-": "A3 Edge",
    "g4-": "G4",
}

#: N1 machine types take these GPUs, attached: accelerator type -> {count: most vCPUs with it}.
N1_GPUS: Mapping[str, Mapping[int, int]] = {
    **{name: {1: 48, 2: 48, 4: 96} for name in ("nvidia-tesla-t4", "nvidia-tesla-t4-vws")},
    **{name: {1: 24, 2: 48, 4: 96} for name in ("nvidia-tesla-p4", "nvidia-tesla-p4-vws")},
    "nvidia-tesla-v100": {1: 12, 2: 24, 4: 48, 8: 96},
    **{name: {1: 16, 2: 32, 4: 96} for name in ("nvidia-tesla-p100", "nvidia-tesla-p100-vws")},
}

#: N1 shared-core machine types, which take no GPU.
N1_SHARED_CORE: frozenset[str] = frozenset({"f1-micro", "g1-small"})

#: Machine families whose CPUs are Arm (none Batch accepts takes GPUs).
ARM_FAMILIES: frozenset[str] = frozenset({"t2a", "c4a", "n4a", "a4x"})

_N1_VCPUS_RE = re.compile(
    r"^n1-(?:(?:standard|highmem|highcpu)-(?P<n>[0-9]+)|custom-(?P<c>[0-9]+)-[0-9]+(?:-ext)?)$"
)


def canonical_accelerator(name: str) -> str:
    return ACCELERATOR_ALIASES.get(name, name)


def built_in_gpus(machine_type: object) -> BuiltIn | None:
    """The GPUs an accelerator-optimized machine type Batch accepts comes with, or None."""
    return BUILT_IN_GPUS.get(machine_type) if isinstance(machine_type, str) else None


def outside_batch_series(machine_type: object) -> str | None:
    """The name of the GPU series Batch does not list, when ``machine_type`` is one of them."""
    if not isinstance(machine_type, str):
        return None
    series = OUTSIDE_BATCH_GPU_SERIES.items()
    return next((name for prefix, name in series if machine_type.startswith(prefix)), None)


def is_n1(machine_type: object) -> bool:
    return isinstance(machine_type, str) and machine_type.startswith("n1-")


def n1_vcpus(machine_type: str) -> int | None:
    """The vCPUs of a predefined or custom N1 machine type; None when the name does not say."""
    match = _N1_VCPUS_RE.match(machine_type)
    return int(match["n"] or match["c"]) if match else None


def family(machine_type: str) -> str:
    return machine_type.split("-", 1)[0]


def is_gpu_machine(machine_type: object) -> bool:
    """Whether the machine type comes with GPUs (accelerator-optimized, in Batch's list or not)."""
    return built_in_gpus(machine_type) is not None or outside_batch_series(machine_type) is not None
