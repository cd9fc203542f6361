"""The conditions of the job's VMs as GPU jobs need them: accelerators and the machine types that
take them, GPU drivers, GPUs under image streaming, provisioning models and reservations (the
boot disk's are with the placement rules, AP-BOOTDISK).

Checked by :mod:`airflow_batchstream.jobspec.rules.gpu`. Batch's own GPU page says little that can
be quoted as a refusal, so most of these come from Compute Engine's GPU pages (which Batch's VMs
obey), Google's published Batch samples, and the v1 protos; what none of them settles is a warning
or a :class:`~airflow_batchstream.jobspec.policy.ValidationPolicy` item.
"""

from __future__ import annotations

from airflow_batchstream.jobspec.catalog.model import DOC, INFER, PROTO, Condition, Source, proto

GPU_MACHINE_TYPES = "https://cloud.google.com/compute/docs/gpus"
ABOUT_GPUS = "https://cloud.google.com/compute/docs/gpus/about-gpus"
GET_STARTED = "https://cloud.google.com/batch/docs/get-started"
RELEASE_NOTES = "https://cloud.google.com/batch/docs/release-notes"
RESERVATIONS_JA = "https://cloud.google.com/batch/docs/create-run-job-reservation?hl=ja"
REST_JOBS = "https://cloud.google.com/batch/docs/reference/rest/v1/projects.locations.jobs"
GPU_SAMPLE = (
    "https://github.com/GoogleCloudPlatform/nodejs-docs-samples/blob/main/batch/create/create_gpu_job.js"
)

_ONLY_SERIES = Source(
    ABOUT_GPUS,
    "GPUs are supported for the N1 general-purpose machine series and the accelerator-optimized (A4, "
    "A3, A2, and G2) machine series. ... GPUs can't be used with other machine series.",
)
_N1_TABLE = Source(
    GPU_MACHINE_TYPES,
    "N1 instances with fewer GPUs limit the maximum number of vCPUs. ... Accelerator type | GPU count "
    "| vCPU count",
)
_BUILT_IN = Source(
    GPU_MACHINE_TYPES,
    "For VMs that use accelerator-optimized machine types, the GPUs are automatically attached when "
    "you create the VM.",
)
_DRIVERS_SAMPLE = Source(
    GPU_SAMPLE,
    "If you set this field to false (default), you need to install GPU drivers manually to use any GPUs "
    "for this job.",
)

CONDITIONS: tuple[Condition, ...] = (
    Condition(
        "GPU-TYPE",
        "unknown",
        "an accelerator type Compute Engine does not list (e.g. Vertex AI's NVIDIA_TESLA_T4 spelling)",
        "policy",
        DOC,
        (
            Source(GPU_MACHINE_TYPES, "nvidia-tesla-t4"),
            proto(
                "job.proto AllocationPolicy.Accelerator.type",
                'The accelerator type. For example, "nvidia-tesla-t4". See `gcloud compute '
                "accelerator-types list`.",
            ),
        ),
        policy="unknown_accelerator_type",
        note="Google adds GPU models: name new ones in ValidationPolicy.extra_accelerator_types",
    ),
    Condition(
        "GPU-MACHINE",
        "no-gpus",
        "accelerators on a machine type that takes no GPU: any series but N1 and the "
        "accelerator-optimized ones (Arm families included), and N1's shared-core f1-micro and g1-small",
        "error",
        DOC,
        (_ONLY_SERIES,),
    ),
    Condition(
        "GPU-MACHINE",
        "outside-batch",
        "a GPU machine series Compute Engine has but Batch's list omits (A4X, A4X Max, A3 Edge, G4)",
        "policy",
        DOC,
        (
            Source(
                GET_STARTED,
                "Jobs can only use machine types from the following machine series: ... "
                "Accelerator-optimized: A4, A3 Ultra, A3 Mega, A3 High, A2, and G2",
            ),
        ),
        policy="gpu_machine_outside_batch",
        note="the list is dated; if Batch adds a series, lower the level",
    ),
    Condition(
        "GPU-COUNT",
        "n1",
        "on N1, an accelerator type N1 does not take, or a count the type does not come in "
        "(T4 and P4: 1, 2, 4; V100: 1, 2, 4, 8; P100: 1, 2, 4)",
        "error",
        DOC,
        (_N1_TABLE,),
    ),
    Condition(
        "GPU-COUNT",
        "n1-vcpus",
        "an N1 machine type with more vCPUs than its GPU count allows (one V100 allows at most 12)",
        "error",
        DOC,
        (_N1_TABLE,),
    ),
    Condition(
        "GPU-COUNT",
        "built-in",
        "an accelerator-optimized machine type with accelerators other than the GPUs it comes with",
        "error",
        DOC,
        (_BUILT_IN,),
        note="Google's samples either omit accelerators for these types or repeat the built-in ones",
    ),
    Condition(
        "GPU-COUNT",
        "not-positive",
        "an accelerator count below 1",
        "warning",
        INFER,
        note="the protos state no range; a GPU job needs at least one GPU",
    ),
    Condition(
        "GPU-DRIVERS",
        "missing",
        "a GPU job (accelerators, or an accelerator-optimized machine type) without installGpuDrivers",
        "policy",
        DOC,
        (
            _DRIVERS_SAMPLE,
            proto(
                "job.proto AllocationPolicy.InstancePolicyOrTemplate.install_gpu_drivers", "Default is false."
            ),
        ),
        policy="gpu_drivers_missing",
        note="Google's samples say the GPUs are then unusable unless the image brings drivers; no "
        "source says Batch refuses such a job",
    ),
    Condition(
        "GPU-DRIVERS",
        "deprecated",
        "the deprecated accelerators[].installGpuDrivers",
        "warning",
        PROTO,
        (
            proto(
                "job.proto AllocationPolicy.Accelerator.install_gpu_drivers",
                "Deprecated: please use instances[0].install_gpu_drivers instead.",
            ),
        ),
    ),
    Condition(
        "GPU-DRIVERS",
        "version",
        "a driverVersion that is not an NVIDIA version number such as 535.104.05",
        "warning",
        PROTO,
        (
            proto(
                "job.proto AllocationPolicy.Accelerator.driver_version",
                'You can define the specific driver version such as "470.103.01"',
            ),
        ),
        note="the protos give an example, not a grammar",
    ),
    Condition(
        "GPU-DRIVERS",
        "version-unused",
        "a driverVersion while installGpuDrivers is not true",
        "warning",
        INFER,
        note="the version is what Batch installs; the protos do not say what it does without installing",
    ),
    Condition(
        "GPU-DRIVERS",
        "no-gpu",
        "installGpuDrivers on a machine type with no GPU and no accelerators",
        "warning",
        INFER,
        note="nothing to install drivers for; no source says Batch refuses it",
    ),
    Condition(
        "GPU-STREAMING",
        "undocumented",
        "a GPU job whose container streams its image: Batch documents GPU access for Docker "
        "container runnables, not for the containerd runtime image streaming uses",
        "policy",
        INFER,
        (
            Source(
                RELEASE_NOTES,
                "Jobs that use software from June 3, 2023 and later don't need to mount GPUs to containers.",
            ),
            proto(
                "task.proto Runnable.Container.enable_image_streaming",
                "the container runtime is containerd instead of Docker",
            ),
        ),
        policy="gpu_with_image_streaming",
        note="no Google source says whether the GPUs reach a streaming container; run one GPU task "
        "first, and lower the level once it works for you",
    ),
    Condition(
        "AP-PROVISIONING",
        "preemptible",
        "the deprecated provisioningModel PREEMPTIBLE",
        "warning",
        DOC,
        (Source(REST_JOBS, "PREEMPTIBLE ... This item is deprecated!"),),
    ),
    Condition(
        "AP-PROVISIONING",
        "gpu-capacity",
        "A3 High 1g/2g/4g not on SPOT or FLEX_START; A4 or A3 Ultra not on a reservation, SPOT or FLEX_START",
        "warning",
        DOC,
        (
            Source(
                GPU_MACHINE_TYPES,
                "you must create instances by using Spot VMs or Flex-start VMs",
            ),
            Source(
                GPU_MACHINE_TYPES,
                "you must reserve capacity to create instances or clusters, use Spot VMs, use Flex-start VMs",
            ),
        ),
        note="Compute Engine's rule; whether Batch refuses the job or leaves it queued is not documented",
    ),
    Condition(
        "AP-PROVISIONING",
        "reservation-bound",
        "RESERVATION_BOUND without a named reservation",
        "warning",
        INFER,
        (
            proto(
                "job.proto AllocationPolicy.ProvisioningModel.RESERVATION_BOUND",
                "Bound to the lifecycle of the reservation in which it is provisioned.",
            ),
        ),
        note="the protos do not say whether Batch picks a reservation for it",
    ),
    Condition(
        "AP-PROVISIONING",
        "flex-reservation",
        "FLEX_START with a named reservation",
        "warning",
        INFER,
        note="Flex-start VMs are provisioned on demand, not from a reservation",
    ),
    Condition(
        "AP-RESERVATION",
        "format",
        "a reservation that is not NO_RESERVATION, a name, or projects/P/[zones/Z/]reservations/R",
        "warning",
        INFER,
        (
            proto(
                "job.proto AllocationPolicy.InstancePolicy.reservation",
                'If "NO_RESERVATION" is specified, VMs will not consume any reservation. Otherwise, if '
                "specified, VMs will consume only the specified reservation.",
            ),
        ),
        note="the protos do not give the form of a reservation",
    ),
    Condition(
        "AP-RESERVATION",
        "collocated",
        "a named reservation with placement.collocation COLLOCATED",
        "warning",
        DOC,
        (
            Source(
                RESERVATIONS_JA,
                "コンパクト プレースメント ポリシーを指定した場合、ジョブの VM で予約を使用できません",
            ),
        ),
        note="the VMs cannot consume the reservation; whether Batch refuses the job is not documented",
    ),
)
