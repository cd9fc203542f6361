"""What the image preflight reads and reports: media types, empty-layer digests, platforms, and
its result.

Facts from docs/batch-facts.md sections 4 and 5, and the OCI image and distribution specs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from airflow_batchstream.jobspec.images import ImageRef
    from airflow_batchstream.jobspec.problems import Problem

# --- media types (rules REG-2 .. REG-4) ----------------------------------------------------------

DOCKER_MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"

#: Sent with every manifest GET. Schema-1 types come last so a schema-1-only image is returned as
#: what it is (and detected) instead of the registry converting or hiding it (REG-2).
ACCEPT = ", ".join(
    [OCI_INDEX, DOCKER_MANIFEST_LIST, OCI_MANIFEST, DOCKER_MANIFEST_V2, DOCKER_SCHEMA1_SIGNED, DOCKER_SCHEMA1]
)

SCHEMA1_TYPES = frozenset({DOCKER_SCHEMA1, DOCKER_SCHEMA1_SIGNED})
INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_MANIFEST_LIST})
IMAGE_MANIFEST_TYPES = frozenset({DOCKER_MANIFEST_V2, OCI_MANIFEST})
IMAGE_CONFIG_TYPES = frozenset(
    {"application/vnd.docker.container.image.v1+json", "application/vnd.oci.image.config.v1+json"}
)
LAYER_TYPES = frozenset(
    {
        "application/vnd.docker.image.rootfs.diff.tar.gzip",
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
        "application/vnd.oci.image.layer.v1.tar",
        "application/vnd.oci.image.layer.v1.tar+gzip",
        "application/vnd.oci.image.layer.v1.tar+zstd",
        "application/vnd.oci.image.layer.nondistributable.v1.tar",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
    }
)

# --- what counts as an empty layer (docs/batch-facts.md section 4) ----------------------------------

#: The 32-byte gzip of an empty tar (distribution ``gzippedEmptyTar``): the schema-1 "throwaway" layer.
EMPTY_GZIP_TAR_DIGEST = "sha256:a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4"
#: The uncompressed empty tar (1024 NUL bytes, moby ``DigestSHA256EmptyTar``), as a diff id.
EMPTY_TAR_DIFF_ID = "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef"
#: The digest of zero bytes.
EMPTY_BLOB_DIGEST = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#: The OCI empty descriptor ``{}``: an artifact's config, never an image layer.
OCI_EMPTY_DIGEST = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
#: Layers up to this compressed size are downloaded and opened to find tars without entries.
SMALL_LAYER_BYTES = 1024

# --- platforms ----------------------------------------------------------------------------------------

#: Compute Engine machine families that run Arm (linux/arm64): Tau T2A (Ampere Altra), C4A and N4A
#: (Google Axion), A4X (NVIDIA Grace). Every other family is x86-64. The one place this is decided.
ARM_MACHINE_FAMILIES: frozenset[str] = frozenset({"t2a", "c4a", "n4a", "a4x"})
DEFAULT_PLATFORM = "linux/amd64"


class ImageUnreadable(Exception):
    """The image could not be read (authentication, permission, not found, network).

    Deliberately not an ``AirflowException``: the preflight does not import Airflow (``batchstream
    inspect-image`` runs without it); the operator wraps it. The message names the identity and
    permission, or the missing reference, or the network failure, and never contains a token.
    """


class Layer(NamedTuple):
    """One layer descriptor of the checked manifest."""

    digest: str
    size: int
    media_type: str


@dataclass(frozen=True)
class Platform:
    """``os/architecture[/variant]`` as in image indexes."""

    os: str
    architecture: str
    variant: str | None = None

    @classmethod
    def parse(cls, text: str) -> Platform:
        """Parse ``linux/amd64`` or ``linux/arm64/v8``.

        :raises ValueError: when ``text`` is not of that form.
        """
        parts = text.strip().split("/")
        if len(parts) not in (2, 3) or not all(parts):
            raise ValueError(f"platform {text!r} is not os/architecture[/variant], e.g. linux/amd64")
        return cls(parts[0], parts[1], parts[2] if len(parts) == 3 else None)

    @classmethod
    def from_descriptor(cls, data: Any) -> Platform | None:
        if not isinstance(data, dict) or not data.get("os") or not data.get("architecture"):
            return None
        return cls(str(data["os"]), str(data["architecture"]), data.get("variant") or None)

    def matches(self, other: Platform) -> bool:
        """Whether an image for ``other`` runs on this platform (arm64 without variant is v8)."""
        if (self.os, self.architecture) != (other.os, other.architecture):
            return False
        if self.variant is None or other.variant is None:
            return True
        return self.variant == other.variant

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


def platform_for_machine_type(machine_type: str | None) -> str:
    """The platform a Compute Engine machine type runs: linux/arm64 for Arm families, else amd64.

    :param machine_type: e.g. ``c4a-standard-8``, ``t2a-standard-1``, ``e2-standard-4`` or None.
    """
    if not machine_type:
        return DEFAULT_PLATFORM
    family = machine_type.strip().lower().split("-", 1)[0]
    return "linux/arm64" if family in ARM_MACHINE_FAMILIES else DEFAULT_PLATFORM


def format_size(count: int) -> str:
    """Bytes as people read them: ``5.2 GiB``; a negative count (unknown) says so."""
    if count < 0:
        return "size unknown"
    if count < 1024:
        return f"{count} B"
    size = count / 1024
    for unit in ("KiB", "MiB"):
        if size < 1024:
            return f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"


@dataclass(frozen=True)
class PreflightResult:
    """What the preflight found.

    :param image: the parsed reference as given.
    :param digest: digest of the checked image manifest (the platform manifest when resolved
        from an index).
    :param media_type: media type of the checked manifest.
    :param platform: platform of the checked image (``linux/amd64``), when known.
    :param layers: ``(digest, size, media_type)`` per layer, in manifest order.
    :param total_size: sum of the layer sizes (compressed bytes).
    :param problems: what stops (errors) or may stop (warnings) streaming.
    :param resolved_from_index: True when ``image`` named a manifest list / OCI index.
    :param index_digest: digest of that index, when resolved from one.
    :param notes: informational lines (tag resolution, index resolution); not problems.
    """

    image: ImageRef
    digest: str
    media_type: str
    platform: str | None
    layers: list[Layer]
    total_size: int
    problems: list[Problem]
    resolved_from_index: bool = False
    index_digest: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No error problems: the image can be streamed as far as the registry shows."""
        return not any(p.is_error for p in self.problems)

    @property
    def pinned_uri(self) -> str:
        """The image URI pinned to the checked manifest digest (``...@sha256:...``)."""
        return str(self.image.with_digest(self.digest))

    def to_dict(self) -> dict[str, Any]:
        return {
            "image": str(self.image),
            "pinned_uri": self.pinned_uri,
            "digest": self.digest,
            "media_type": self.media_type,
            "platform": self.platform,
            "resolved_from_index": self.resolved_from_index,
            "index_digest": self.index_digest,
            "layers": [layer._asdict() for layer in self.layers],
            "total_size": self.total_size,
            "ok": self.ok,
            "problems": [p.to_dict() for p in self.problems],
            "notes": list(self.notes),
        }
