"""Policy for the rules no Google document states outright (the facts marked [INFER] in
``docs/batch-facts.md``).

Each is a default with an override: pass ``ValidationPolicy(...)`` (or ``dataclasses.replace``) to
the validator, the image preflight, the operator (``validation_policy=``) or the CLI.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from airflow_batchstream.jobspec.problems import Problem, Severity

#: How a policy-governed finding is reported: as an error (blocks submission), a warning, or not at all.
PolicyLevel = Literal["error", "warning", "off"]

#: Batch regions (cloud.google.com/batch/docs/locations). A location outside it is a warning by
#: default: Google adds regions, and this list may be older than your project.
BATCH_REGIONS: frozenset[str] = frozenset(
    {
        "northamerica-northeast1", "northamerica-northeast2", "southamerica-east1", "southamerica-west1",
        "us-central1", "us-east1", "us-east4", "us-east5", "us-south1",
        "us-west1", "us-west2", "us-west3", "us-west4",
        "europe-central2", "europe-north1", "europe-southwest1", "europe-west1", "europe-west2",
        "europe-west3", "europe-west4", "europe-west6", "europe-west8", "europe-west9", "europe-west10",
        "europe-west12", "me-central1", "me-central2", "me-west1",
        "asia-east1", "asia-east2", "asia-northeast1", "asia-northeast2", "asia-northeast3",
        "asia-south1", "asia-south2", "asia-southeast1", "asia-southeast2",
        "australia-southeast1", "australia-southeast2",
    }
)  # fmt: skip

#: Which regions an Artifact Registry multi-region contains (docs/batch-facts.md section 4, IS-2b,
#: inferred from the "data centers in the US / EU member states / Asia" wording; London, Zurich,
#: the Middle East and Australia are in none).
MULTI_REGIONS: Mapping[str, frozenset[str]] = {
    "us": frozenset(
        {"us-central1", "us-east1", "us-east4", "us-east5", "us-south1",
         "us-west1", "us-west2", "us-west3", "us-west4"}
    ),
    "europe": frozenset(
        {"europe-central2", "europe-north1", "europe-north2", "europe-southwest1", "europe-west1",
         "europe-west3", "europe-west4", "europe-west8", "europe-west9", "europe-west10", "europe-west12"}
    ),
    "asia": frozenset(
        {"asia-east1", "asia-east2", "asia-northeast1", "asia-northeast2", "asia-northeast3",
         "asia-south1", "asia-south2", "asia-southeast1", "asia-southeast2"}
    ),
}  # fmt: skip

#: Artifact Registry-hosted gcr.io repositories and the multi-region each lives in
#: (docs/batch-facts.md section 4, IS-1b).
GCR_HOSTS: Mapping[str, str] = {
    "gcr.io": "us",
    "us.gcr.io": "us",
    "eu.gcr.io": "europe",
    "asia.gcr.io": "asia",
}


@dataclass(frozen=True)
class ValidationPolicy:
    """The configurable parts of validation.

    :param batch_regions: regions Batch is known to serve; a job location outside is ``unknown_region``.
    :param unknown_region: level for a job location not in ``batch_regions``.
    :param multi_regions: Artifact Registry multi-region -> the regions it contains.
    :param gcr_hosts: level for an image on an AR-hosted ``*.gcr.io`` host (Batch documents only
        ``*-docker.pkg.dev``; whether it streams gcr.io hosts is unknown).
    :param gcr_host_locations: AR-hosted ``*.gcr.io`` host -> the multi-region it lives in.
    :param out_of_region_locations: level for ``allowedLocations`` outside the job's region (an
        error since the 2026-07-31 cutover; projects with the 2027-06-30 grace may lower it).
    :param label_charset: ``unicode`` allows international lowercase letters in labels as Google
        documents; ``ascii`` enforces the strict ``[a-z0-9_-]`` subset.
    :param image_reference_grammar: level for an image reference outside the OCI distribution
        grammar (lowercase name components, tag syntax, ``sha256:`` digests, 255 characters), which
        neither Artifact Registry nor Batch restates. The image preflight always treats it as an error.
    :param oci_manifest: level for an OCI image manifest (the docs name only Docker schema 2).
    :param oci_index: level for a manifest list / OCI index (resolved to the job's platform either way).
    :param streaming_off: level for a job in which no container streams its image (rule IS-OFF). A
        warning for job files in general; the operator and ``batchstream render`` hold it to an
        error, since streaming is their contract, unless ``image_streaming=False`` asks for a job
        that pulls its image (then it is off).
    :param extra_accelerator_types: accelerator types to accept besides the ones Compute Engine's
        GPU page lists (``airflow_batchstream.jobspec.gpus.ACCELERATOR_TYPES``): GPUs newer than it.
    :param unknown_accelerator_type: level for an accelerator type in neither list.
    :param gpu_machine_outside_batch: level for a GPU machine series Batch's list of machine series
        omits (A4X, A4X Max, A3 Edge, G4; the list is dated 2026-04).
    :param gpu_drivers_missing: level for a GPU job without ``installGpuDrivers`` (Google's samples
        say its GPUs are then unusable unless the image brings drivers).
    :param gpu_with_image_streaming: level for a GPU job whose container streams its image: Batch
        documents GPU access for Docker container runnables only, and streaming runs containerd.
    """

    batch_regions: frozenset[str] = BATCH_REGIONS
    unknown_region: PolicyLevel = "warning"
    multi_regions: Mapping[str, frozenset[str]] = field(default_factory=lambda: dict(MULTI_REGIONS))
    gcr_hosts: PolicyLevel = "warning"
    gcr_host_locations: Mapping[str, str] = field(default_factory=lambda: dict(GCR_HOSTS))
    out_of_region_locations: PolicyLevel = "error"
    label_charset: Literal["unicode", "ascii"] = "unicode"
    image_reference_grammar: PolicyLevel = "warning"
    oci_manifest: PolicyLevel = "off"
    oci_index: PolicyLevel = "off"
    streaming_off: PolicyLevel = "warning"
    extra_accelerator_types: frozenset[str] = frozenset()
    unknown_accelerator_type: PolicyLevel = "error"
    gpu_machine_outside_batch: PolicyLevel = "error"
    gpu_drivers_missing: PolicyLevel = "warning"
    gpu_with_image_streaming: PolicyLevel = "warning"


DEFAULT_POLICY = ValidationPolicy()


def problems_at_level(level: PolicyLevel, path: str, rule: str, message: str, fix: str) -> list[Problem]:
    """A policy-governed finding at ``level``: one error or warning, or nothing when ``off``."""
    if level == "off":
        return []
    severity = Severity.ERROR if level == "error" else Severity.WARNING
    return [Problem(path, rule, message, fix, severity)]
