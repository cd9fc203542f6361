"""Image preflight: prove an image can be streamed before a Batch job is submitted.

Batch accepts a streaming job whose image cannot be streamed and only fails (or silently pulls the
slow way) once the VM starts. This module reads the image over the registry HTTP API v2 / OCI
distribution API, as Artifact Registry serves it, and reports through :class:`Problem`:

* a Docker schema-1 manifest (IS-5),
* a repeated layer digest or a repeated ``rootfs.diff_ids`` entry (IS-6),
* an empty layer: the gzipped empty tar, the empty tar's diff id, a zero-size or empty blob, or a
  small layer whose tar has no entries (IS-7),
* an OCI artifact rather than a container image, or an unknown manifest type (REG-3, REG-4),
* a manifest list / OCI index without the job's platform, or an image for another platform (IS-11).

The reference is ``shared/reference/batch-rules.md`` sections 4 and 5. The module imports neither
``requests`` nor ``google.*`` at import time: parse time is sacred, and the operator imports it.
"""

from __future__ import annotations

import base64
import hashlib
import io
import ipaddress
import json
import logging
import re
import tarfile
import threading
import time
import zlib
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import urljoin, urlsplit

from airflow_batchstream.jobspec.policy import DEFAULT_POLICY, PolicyLevel, ValidationPolicy
from airflow_batchstream.jobspec.problems import Problem, Severity, format_problems
from airflow_batchstream.retry import RetryPolicy, retry_after_seconds

if TYPE_CHECKING:
    from airflow_batchstream.jobspec.images import ImageRef

log = logging.getLogger(__name__)

# --- media types (reference REG-2 .. REG-4) ---------------------------------------------------------

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

# --- what counts as an empty layer (reference section 4) --------------------------------------------

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

#: How long a tag stays resolved to a digest within the process: short, because tags move.
TAG_TTL_SECONDS = 60.0
#: Bearer tokens without ``expires_in`` live this long (Docker token spec default).
DEFAULT_TOKEN_SECONDS = 60
_TOKEN_MARGIN_SECONDS = 10
_MAX_REDIRECTS = 5
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
#: Registry answers worth asking again: throttling and server errors (and, in ``RegistryClient``,
#: connection failures and timeouts).
RETRIED_STATUSES = frozenset({429}) | frozenset(range(500, 600))
#: How long one registry request keeps retrying those (a blip must not cost the try; an outage
#: still fails the preflight within a minute). ``Retry-After`` is honoured within the budget.
REGISTRY_RETRY = RetryPolicy(initial=0.5, multiplier=2.0, maximum=8.0, budget=30.0)
#: Largest manifest, config or token answer read (distribution caps manifests at 4 MiB).
MAX_DOCUMENT_BYTES = 16 * 1024 * 1024
_MAX_CACHED_DOCUMENTS = 512
_CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
_READ_PERMISSION = "artifactregistry.repositories.downloadArtifacts (roles/artifactregistry.reader)"
_NOT_SUBMITTED = "No Batch job was submitted."

RULE_SCHEMA1 = "IS-5"
RULE_DUPLICATE = "IS-6"
RULE_EMPTY = "IS-7"
RULE_PLATFORM = "IS-11"
RULE_DIGEST = "REG-1"
RULE_MEDIA_TYPE = "REG-3"
RULE_LAYERS = "REG-4"


class ImageUnreadable(Exception):
    """The image could not be read (authentication, permission, not found, network).

    Deliberately not an ``AirflowException``: this module does not import Airflow; the operator
    wraps it. The message names the identity and permission, or the missing reference, or the
    network failure, and never contains a token.
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


# --- pure checks: manifest and config JSON in, problems out --------------------------------------------


def _bare_media_type(content_type: str | None) -> str:
    """``Content-Type`` without its parameters, lower-cased (``""`` when absent)."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def classify(content_type: str | None, document: Any) -> str:
    """Which kind of manifest this is: ``schema1``, ``image``, ``index`` or ``unknown``.

    The ``Content-Type`` decides (its parameters ignored); the body's ``mediaType`` and
    ``schemaVersion`` back it up, since OCI manifests may omit ``mediaType`` and old registries
    answer schema 1 as ``application/json`` (REG-3).
    """
    media_type = _bare_media_type(content_type)
    body = document if isinstance(document, dict) else {}
    if media_type in SCHEMA1_TYPES or body.get("schemaVersion") == 1:
        return "schema1"
    declared = body.get("mediaType")
    effective = media_type if media_type not in ("", "application/json") else declared or ""
    if effective in INDEX_TYPES or (not effective and "manifests" in body):
        return "index"
    if effective in IMAGE_MANIFEST_TYPES or (not effective and "config" in body and "layers" in body):
        return "image"
    return "unknown"


def effective_media_type(content_type: str | None, document: Any) -> str:
    media_type = _bare_media_type(content_type)
    if media_type in ("", "application/json") and isinstance(document, dict):
        return str(document.get("mediaType") or media_type or "application/json")
    return media_type


def media_type_problems(content_type: str | None, document: Any) -> list[Problem]:
    """A body ``mediaType`` that contradicts the ``Content-Type`` (REG-3)."""
    media_type = _bare_media_type(content_type)
    declared = document.get("mediaType") if isinstance(document, dict) else None
    if declared and media_type not in ("", "application/json") and declared != media_type:
        return [
            Problem(
                "image",
                RULE_MEDIA_TYPE,
                f"the registry served the manifest as {media_type} but its mediaType says {declared}",
                "re-push the manifest with the Content-Type matching its mediaType",
            )
        ]
    return []


def schema1_problem(document: Any) -> Problem:
    layers = document.get("fsLayers") if isinstance(document, dict) else None
    count = len(layers) if isinstance(layers, list) else 0
    return Problem(
        "image",
        RULE_SCHEMA1,
        f"the image uses a Docker schema-1 manifest ({count} fsLayers); image streaming does not "
        "support schema 1",
        "rebuild and push with a current Docker/BuildKit (docker buildx build --push), or convert the "
        "existing image: skopeo copy --format v2s2 docker://IMAGE docker://IMAGE",
    )


def select_from_index(document: Any, wanted: Platform) -> tuple[dict[str, Any] | None, list[Platform]]:
    """Pick the index entry for ``wanted``; also return every platform the index offers.

    Entries for ``unknown/unknown`` (BuildKit attestations) are never chosen. Among matches an exact
    variant match wins, then an entry without a variant.
    """
    entries = document.get("manifests") if isinstance(document, dict) else None
    candidates: list[tuple[int, dict[str, Any]]] = []
    available: list[Platform] = []
    for entry in entries if isinstance(entries, list) else []:
        platform = Platform.from_descriptor(entry.get("platform")) if isinstance(entry, dict) else None
        if platform is None or platform.os == "unknown":
            continue
        available.append(platform)
        if wanted.matches(platform) and isinstance(entry.get("digest"), str):
            rank = 0 if platform.variant == wanted.variant else 1 if platform.variant is None else 2
            candidates.append((rank, entry))
    candidates.sort(key=lambda item: item[0])
    return (candidates[0][1] if candidates else None), available


def _runs_on(wanted: Platform, machine_type: str | None) -> str:
    return f"machine type {machine_type} runs {wanted}" if machine_type else f"the job runs {wanted}"


def no_platform_problem(wanted: Platform, available: list[Platform], machine_type: str | None) -> Problem:
    offered = ", ".join(sorted({str(p) for p in available})) or "none"
    runs_on = _runs_on(wanted, machine_type)
    return Problem(
        "image",
        RULE_PLATFORM,
        f"the image index has no {wanted} image ({runs_on}); it offers: {offered}",
        f"build and push a multi-platform image including {wanted} (docker buildx build --platform "
        f"linux/amd64,linux/arm64 --push ...), or choose a machine type for an offered platform",
    )


def layer_problems(layers: list[Layer]) -> list[Problem]:
    """Repeated digests (IS-6), empty layers (IS-7) and non-layer media types (REG-4)."""
    problems: list[Problem] = []
    first_seen: dict[str, int] = {}
    for index, layer in enumerate(layers):
        path = f"image.layers[{index}]"
        if layer.media_type == OCI_EMPTY or layer.digest == OCI_EMPTY_DIGEST:
            problems.append(_artifact_problem(path, f"layer {layer.digest} is the OCI empty descriptor"))
            continue
        if layer.media_type not in LAYER_TYPES:
            problems.append(
                _artifact_problem(path, f"layer {layer.digest} has media type {layer.media_type!r}")
            )
        if layer.digest in first_seen:
            problems.append(_duplicate_layer(path, layer.digest, first_seen[layer.digest]))
        else:
            first_seen[layer.digest] = index
        empty_reason = _empty_by_descriptor(layer)
        if empty_reason:
            problems.append(empty_layer_problem(path, layer.digest, empty_reason))
    return problems


def _empty_by_descriptor(layer: Layer) -> str | None:
    if layer.digest == EMPTY_GZIP_TAR_DIGEST:
        return "the gzipped empty tar"
    if layer.digest == EMPTY_BLOB_DIGEST:
        return "the empty blob"
    if layer.size == 0:
        return "zero bytes long"
    return None


def empty_layer_problem(path: str, digest: str, reason: str, *, what: str = "layer") -> Problem:
    return Problem(
        path,
        RULE_EMPTY,
        f"{what} {digest} is an empty layer ({reason}); image streaming does not support empty layers",
        "rebuild with BuildKit (docker buildx build), which drops empty layers, or squash the steps "
        "that change no files (e.g. a lone WORKDIR or RUN that writes nothing) into others",
    )


_DISTINCT_LAYERS_FIX = (
    "rebuild so every layer is distinct: merge or drop the step that re-adds the same files "
    "(BuildKit: docker buildx build), then push again"
)


def _duplicate_layer(path: str, digest: str, first: int) -> Problem:
    return Problem(
        path,
        RULE_DUPLICATE,
        f"layer {digest} repeats image.layers[{first}]; image streaming does not support duplicate layers",
        _DISTINCT_LAYERS_FIX,
    )


def _artifact_problem(path: str, what: str) -> Problem:
    return Problem(
        path,
        RULE_LAYERS,
        f"{what}: this is an OCI artifact (signature, SBOM, chart...), not a container image",
        "point imageUri at the container image itself, not at an artifact stored beside it",
    )


def artifact_problems(manifest: dict[str, Any]) -> list[Problem]:
    """An OCI artifact instead of an image: ``artifactType`` set or a non-image config (REG-4)."""
    problems: list[Problem] = []
    if manifest.get("artifactType"):
        problems.append(
            _artifact_problem("image", f"the manifest sets artifactType {manifest['artifactType']!r}")
        )
    config = manifest.get("config")
    config_type = config.get("mediaType") if isinstance(config, dict) else None
    if config_type not in IMAGE_CONFIG_TYPES:
        problems.append(_artifact_problem("image.config", f"the config media type is {config_type!r}"))
    return problems


def config_problems(config: Any, layer_count: int) -> list[Problem]:
    """Repeated diff ids (IS-6), the empty tar's diff id (IS-7), diff ids not matching layers (REG-4)."""
    rootfs = config.get("rootfs") if isinstance(config, dict) else None
    diff_ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    if not isinstance(diff_ids, list):
        return [
            Problem(
                "image.config.rootfs.diff_ids",
                RULE_LAYERS,
                "the image config has no rootfs.diff_ids list",
                "rebuild the image with a standard builder (docker buildx build)",
            )
        ]
    problems: list[Problem] = []
    first_seen: dict[str, int] = {}
    for index, diff_id in enumerate(diff_ids):
        path = f"image.config.rootfs.diff_ids[{index}]"
        if diff_id in first_seen:
            problems.append(
                Problem(
                    path,
                    RULE_DUPLICATE,
                    f"diff id {diff_id} repeats diff_ids[{first_seen[diff_id]}]: the same layer content "
                    "appears twice (perhaps compressed differently)",
                    _DISTINCT_LAYERS_FIX,
                )
            )
        else:
            first_seen[diff_id] = index
        if diff_id == EMPTY_TAR_DIFF_ID:
            problems.append(empty_layer_problem(path, diff_id, "the empty tar", what="diff id"))
    if len(diff_ids) != layer_count:
        problems.append(
            Problem(
                "image.config.rootfs.diff_ids",
                RULE_LAYERS,
                f"the config lists {len(diff_ids)} diff ids for {layer_count} layers",
                "rebuild and push the image; the manifest and its config disagree",
            )
        )
    return problems


def platform_problems(config: Any, wanted: Platform, machine_type: str | None) -> list[Problem]:
    """The image's own os/architecture against the job's platform (IS-11)."""
    built = Platform.from_descriptor(config) if isinstance(config, dict) else None
    if built is None or wanted.matches(built):
        return []
    runs_on = _runs_on(wanted, machine_type)
    return [
        Problem(
            "image",
            RULE_PLATFORM,
            f"the image is built for {built} but {runs_on}",
            f"build and push a {wanted} image (docker buildx build --platform {wanted} --push ...), "
            "or choose a machine type of the image's platform",
        )
    ]


def tar_is_empty(data: bytes, media_type: str) -> bool | None:
    """Whether a (small) layer blob is a tar without entries; None when it cannot be told (zstd)."""
    if media_type.endswith("zstd"):
        return None
    if data[:2] == b"\x1f\x8b":
        try:
            data = zlib.decompress(data, wbits=47)
        except zlib.error:
            return None
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as archive:
            return archive.next() is None
    except tarfile.TarError:
        return None


def policy_problem(level: PolicyLevel, rule: str, message: str, fix: str) -> list[Problem]:
    """A policy-governed finding at ``level``: error, warning, or nothing when ``off``."""
    if level == "off":
        return []
    severity = Severity.ERROR if level == "error" else Severity.WARNING
    return [Problem("image", rule, message, fix, severity)]


# --- HTTP: registry API v2 with the Docker token flow as Artifact Registry runs it -----------------------


def check_base_url(url: str) -> str:
    """Validate a registry base URL: https anywhere, plain http only on loopback.

    :raises ValueError: for another scheme, or plain http to a non-loopback host.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"registry URL {url!r} must be https://HOST[:PORT] (or http:// on loopback)")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ValueError(
            f"registry URL {url!r} uses plain http to a non-loopback host; only https is allowed there "
            "(plain http is for a local registry on 127.0.0.1, ::1 or localhost)"
        )
    return url.rstrip("/")


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """``Bearer realm="...",service="...",scope="..."`` -> ``("bearer", {...})``; service may be absent."""
    scheme, _, rest = header.strip().partition(" ")
    params = {
        key.lower(): quoted if quoted or not bare else bare
        for key, quoted, bare in re.findall(r'(\w+)\s*=\s*(?:"([^"]*)"|([^,\s]*))', rest)
    }
    return scheme.lower(), params


@dataclass
class _Token:
    value: str
    expires_at: float
    credentials: Any  # held so the id() in the cache key cannot be reused by another object


class _Cache:
    """Process-wide caches: content-addressed documents forever (LRU), tags and tokens until expiry."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        # (base URL, repository, digest, identity) -> (content type, body, credentials held so
        # the id() in the key cannot be reused by another object while the entry lives)
        self.documents: OrderedDict[tuple[str, str, str, int], tuple[str, bytes, Any]] = OrderedDict()
        self.tags: dict[tuple[str, str, str, int], tuple[str, float, Any]] = {}
        self.tokens: dict[tuple[str, str, str, int], _Token] = {}
        self.challenges: dict[tuple[str, str], tuple[str, dict[str, str]]] = {}

    def document(self, key: tuple[str, str, str, int]) -> tuple[str, bytes, Any] | None:
        with self.lock:
            if key in self.documents:
                self.documents.move_to_end(key)
                return self.documents[key]
            return None

    def store_document(self, key: tuple[str, str, str, int], value: tuple[str, bytes, Any]) -> None:
        with self.lock:
            self.documents[key] = value
            self.documents.move_to_end(key)
            while len(self.documents) > _MAX_CACHED_DOCUMENTS:
                self.documents.popitem(last=False)

    def prune(self) -> None:
        """Drop expired tags and tokens (called on insert; keeps long-lived workers small)."""
        now = time.monotonic()
        with self.lock:
            for key in [k for k, v in self.tags.items() if v[1] <= now]:
                del self.tags[key]
            for key in [k for k, v in self.tokens.items() if v.expires_at <= now]:
                del self.tokens[key]

    def clear(self) -> None:
        with self.lock:
            self.documents.clear()
            self.tags.clear()
            self.tokens.clear()
            self.challenges.clear()


_CACHE = _Cache()


def clear_cache() -> None:
    """Forget cached manifests, blobs, tag resolutions, tokens and challenges (tests, benchmarks)."""
    _CACHE.clear()


class _Response(NamedTuple):
    status: int
    headers: Any
    body: bytes


class RegistryClient:
    """GETs against one repository of one registry, authenticating on demand.

    :param base_url: ``https://HOST`` or a loopback ``http://`` URL.
    :param name: repository path, e.g. ``proj/repo/img``.
    :param credentials: google.auth credentials; None means application default credentials,
        fetched only when the registry asks for authentication.
    :param timeout: seconds per HTTP request.
    :param retry: how 429s, 5xx answers and connection failures are retried.
    """

    def __init__(
        self,
        base_url: str,
        name: str,
        credentials: Any = None,
        timeout: float = 30,
        retry: RetryPolicy = REGISTRY_RETRY,
    ) -> None:
        import requests  # lazily: parse time is sacred

        self.retry = retry
        self.base_url = check_base_url(base_url)
        self.name = name
        self.credentials = credentials
        # Fixed before ADC may replace ``credentials``: caches key tokens and tags by the identity
        # asked for (0 = application default credentials), so one never vouches for another.
        self.credentials_key = id(credentials) if credentials is not None else 0
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers["User-Agent"] = "airflow-batchstream-preflight"

    def close(self) -> None:
        self.session.close()

    # identity ----------------------------------------------------------------------------------

    @property
    def identity(self) -> str:
        """Who we authenticate as, for messages; never a secret."""
        creds = self.credentials
        email = getattr(creds, "service_account_email", None) or getattr(creds, "signer_email", None)
        source = "application default credentials" if self.credentials_key == 0 else "the given credentials"
        if isinstance(email, str) and email and email != "default":
            return f"service account {email} ({source})"
        return source

    def _google_access_token(self) -> str:
        from google.auth import exceptions as auth_exceptions  # lazily: parse time is sacred

        try:
            if self.credentials is None:
                import google.auth

                self.credentials, _ = google.auth.default(scopes=[_CLOUD_PLATFORM_SCOPE])
            if not self.credentials.valid:
                import google.auth.transport.requests

                self.credentials.refresh(google.auth.transport.requests.Request())
        except auth_exceptions.GoogleAuthError as exc:
            raise ImageUnreadable(
                f"cannot get a Google access token for {self.identity} to read {self.base_url}/{self.name}: "
                f"{type(exc).__name__}. Configure credentials (gcloud auth application-default login, "
                f"or the Airflow connection's service account). {_NOT_SUBMITTED}"
            ) from None
        token = self.credentials.token
        if not token:
            raise ImageUnreadable(f"{self.identity} produced no access token. {_NOT_SUBMITTED}")
        return token

    # requests -------------------------------------------------------------------------------------

    def get(self, path: str, accept: str | None = None) -> _Response:
        """GET ``/v2/<name>/<path>``, answering one authentication challenge."""
        url = f"{self.base_url}/v2/{self.name}/{path}"
        headers = {"Accept": accept} if accept else {}
        authorization = self._cached_authorization()
        response = self._send(url, headers, authorization)
        if response.status == 401:
            if authorization:
                self._forget_token()  # revoked or scoped too narrowly: ask for a fresh one once
            challenge = response.headers.get("WWW-Authenticate", "")
            authorization = self._authorize(challenge)
            response = self._send(url, headers, authorization)
        return response

    def _send(self, url: str, headers: dict[str, str], authorization: str | None) -> _Response:
        """One GET, following redirects; Authorization goes only to the origin it was made for."""
        origin = _origin(url)
        for _ in range(_MAX_REDIRECTS + 1):
            sent = dict(headers)
            if authorization and _origin(url) == origin:
                sent["Authorization"] = authorization
            response = self._get(url, sent, f"reading {_redact(url)}")
            if response.status in _REDIRECTS and "Location" in response.headers:
                url = urljoin(url, response.headers["Location"])
                continue
            return response
        raise ImageUnreadable(f"too many redirects reading {_redact(url)}. {_NOT_SUBMITTED}")

    def _get(
        self, url: str, headers: dict[str, str], place: str, params: dict[str, str] | None = None
    ) -> _Response:
        """One GET (redirects not followed), retried per ``self.retry`` on 429, 5xx, connection
        failures and timeouts, honouring ``Retry-After``. The last answer is returned once the
        budget is spent (the caller explains it); a network failure raises.

        :param place: where, for the network failure's message ("reading URL").
        """
        import requests

        plan = self.retry.plan()
        while True:
            try:
                response = self.session.get(
                    url,
                    params=params,
                    headers=headers,
                    timeout=self.timeout,
                    allow_redirects=False,
                    stream=True,
                )
                body = b"" if response.is_redirect else _read_capped(response, url)
            except (requests.ConnectionError, requests.Timeout) as exc:
                delay = plan.next_delay()
                if delay is None:
                    raise _network_failure(place, exc) from None
                log.warning("Network failure %s (%s); retrying in %.1fs", place, type(exc).__name__, delay)
                time.sleep(delay)
                continue
            except requests.RequestException as exc:
                raise _network_failure(place, exc) from None
            if response.status_code in RETRIED_STATUSES:
                asked = retry_after_seconds(response.headers.get("Retry-After"))
                delay = plan.next_delay(at_least=asked)
                if delay is not None:
                    log.warning("HTTP %s %s; retrying in %.1fs", response.status_code, place, delay)
                    time.sleep(delay)
                    continue
            response.close()
            return _Response(response.status_code, response.headers, body)

    def _forget_token(self) -> None:
        with _CACHE.lock:
            known = _CACHE.challenges.get((self.base_url, self.name))
            if known is not None:
                _CACHE.tokens.pop(self._token_key(known[1]), None)

    def _cached_authorization(self) -> str | None:
        with _CACHE.lock:
            known = _CACHE.challenges.get((self.base_url, self.name))
        if known is None:
            return None
        scheme, params = known
        if scheme != "bearer":
            return None
        with _CACHE.lock:
            token = _CACHE.tokens.get(self._token_key(params))
        if token and token.expires_at > time.monotonic():
            return f"Bearer {token.value}"
        return None

    def _token_key(self, params: dict[str, str]) -> tuple[str, str, str, int]:
        scope = params.get("scope") or f"repository:{self.name}:pull"
        return (params.get("realm", ""), params.get("service", ""), scope, self.credentials_key)

    def _authorize(self, header: str) -> str:
        scheme, params = parse_challenge(header)
        with _CACHE.lock:
            _CACHE.challenges[(self.base_url, self.name)] = (scheme, params)
        if scheme == "basic":
            return _basic(self._google_access_token())
        if scheme != "bearer" or not params.get("realm"):
            raise ImageUnreadable(
                f"{self.base_url} asked for authentication this client does not speak ({scheme or 'none'}). "
                f"{_NOT_SUBMITTED}"
            )
        return f"Bearer {self._bearer_token(params)}"

    def _bearer_token(self, params: dict[str, str]) -> str:
        key = self._token_key(params)
        with _CACHE.lock:
            cached = _CACHE.tokens.get(key)
        if cached and cached.expires_at > time.monotonic():
            return cached.value
        realm = params["realm"]
        # The realm receives a Google access token: never send it in clear text off this machine.
        try:
            check_base_url(realm)
        except ValueError:
            raise ImageUnreadable(
                f"the registry's token realm {realm} is not https; refusing to send credentials. "
                f"{_NOT_SUBMITTED}"
            ) from None
        query = {"scope": key[2]}
        if params.get("service"):
            query["service"] = params["service"]
        response = self._token_request(realm, query)
        token, expires_in = _parse_token_response(response, realm)
        _CACHE.prune()
        with _CACHE.lock:
            _CACHE.tokens[key] = _Token(
                token,
                time.monotonic() + max(expires_in - _TOKEN_MARGIN_SECONDS, 1),
                self.credentials,
            )
        return token

    def _token_request(self, realm: str, query: dict[str, str]) -> _Response:
        authorization = _basic(self._google_access_token())
        response = self._get(
            realm,
            {"Authorization": authorization},
            f"reaching the registry's token service {realm}",
            params=query,
        )
        if response.status in (401, 403):
            raise ImageUnreadable(
                f"the registry's token service {realm} refused {self.identity} "
                f"(HTTP {response.status}) for {query['scope']}: the identity is not authenticated "
                f"or lacks {_READ_PERMISSION} on the repository. {_NOT_SUBMITTED}"
            )
        if response.status != 200:
            raise ImageUnreadable(
                f"the registry's token service {realm} answered HTTP {response.status}. {_NOT_SUBMITTED}"
            )
        return response


def _network_failure(place: str, exc: BaseException) -> ImageUnreadable:
    return ImageUnreadable(f"network failure {place}: {type(exc).__name__}: {_short(exc)}. {_NOT_SUBMITTED}")


def _read_capped(response: Any, url: str) -> bytes:
    """The body, refusing more than MAX_DOCUMENT_BYTES: manifests and configs are small, and a
    registry (or whatever answers in its place) must not make the preflight swallow gigabytes."""
    chunks, total = [], 0
    try:
        for chunk in response.iter_content(64 * 1024):
            total += len(chunk)
            if total > MAX_DOCUMENT_BYTES:
                raise ImageUnreadable(
                    f"{_redact(url)} answered more than {MAX_DOCUMENT_BYTES} bytes; a manifest or image "
                    f"config is never that large. {_NOT_SUBMITTED}"
                )
            chunks.append(chunk)
    finally:
        response.close()
    return b"".join(chunks)


def _parse_token_response(response: _Response, realm: str) -> tuple[str, int]:
    try:
        data = json.loads(response.body)
        token = data.get("token") or data.get("access_token")
        expires_in = int(data.get("expires_in") or DEFAULT_TOKEN_SECONDS)
    except (ValueError, AttributeError, TypeError):
        token, expires_in = None, 0
    if not isinstance(token, str) or not token:
        raise ImageUnreadable(f"the registry's token service {realm} returned no token. {_NOT_SUBMITTED}")
    return token, expires_in


def _basic(access_token: str) -> str:
    # Artifact Registry's documented docker-login convention: user oauth2accesstoken, password = token.
    return "Basic " + base64.b64encode(f"oauth2accesstoken:{access_token}".encode()).decode("ascii")


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc.lower()


def _redact(url: str) -> str:
    """A URL without its query string (a redirect target may carry a signed query)."""
    return url.split("?", 1)[0]


def _short(exc: BaseException) -> str:
    text = str(exc)
    return text if len(text) <= 300 else text[:300] + "..."


# --- the preflight ---------------------------------------------------------------------------------------


def digest_of(body: bytes, algorithm: str = "sha256") -> str:
    if algorithm not in ("sha256", "sha512"):
        raise ValueError(f"unsupported digest algorithm {algorithm!r}")
    return f"{algorithm}:{hashlib.new(algorithm, body).hexdigest()}"


class _Reader:
    """Reads manifests and blobs of one image through the caches."""

    def __init__(self, client: RegistryClient, image: ImageRef) -> None:
        self.client = client
        self.image = image

    def _key(self, reference: str) -> tuple[str, str, str, int]:
        """Cache key of a digest (documents) or tag (tag resolutions) of this repository.

        Per identity as well: content is immutable, but a cached read by one identity must not
        let another skip the registry's permission check.
        """
        return (self.client.base_url, self.client.name, reference, self.client.credentials_key)

    def manifest(self, reference: str) -> tuple[str, str, bytes, bool]:
        """``(digest, content_type, body, digest_verified)`` for a tag or digest reference."""
        is_digest = ":" in reference
        digest = reference if is_digest else self._cached_tag(reference)
        if digest:
            cached = _CACHE.document(self._key(digest))
            if cached:
                return digest, cached[0], cached[1], True
        response = self.client.get(f"manifests/{reference}", accept=ACCEPT)
        self._raise_for_status(response, f"manifest {reference}")
        content_type = response.headers.get("Content-Type", "")
        body = response.body
        algorithm = reference.split(":", 1)[0] if is_digest else "sha256"
        actual = digest_of(body, algorithm)
        if is_digest and actual != reference:
            return reference, content_type, body, False
        header_digest = response.headers.get("Docker-Content-Digest")
        if not is_digest and header_digest and header_digest != actual:
            return header_digest, content_type, body, False
        _CACHE.store_document(self._key(actual), (content_type, body, self.client.credentials))
        if not is_digest:
            expires = time.monotonic() + TAG_TTL_SECONDS
            _CACHE.prune()
            with _CACHE.lock:
                _CACHE.tags[self._key(reference)] = (actual, expires, self.client.credentials)
        return actual, content_type, body, True

    def _cached_tag(self, tag: str) -> str | None:
        with _CACHE.lock:
            entry = _CACHE.tags.get(self._key(tag))
        if entry and entry[1] > time.monotonic():
            return entry[0]
        return None

    def blob(self, digest: str) -> bytes | None:
        """A blob's bytes, or None when they do not hash to ``digest``."""
        cached = _CACHE.document(self._key(digest))
        if cached:
            return cached[1]
        response = self.client.get(f"blobs/{digest}")
        self._raise_for_status(response, f"blob {digest}")
        algorithm = digest.split(":", 1)[0]
        if digest_of(response.body, algorithm) != digest:
            return None
        _CACHE.store_document(self._key(digest), ("", response.body, self.client.credentials))
        return response.body

    def _raise_for_status(self, response: _Response, what: str) -> None:
        if response.status == 200:
            return
        where = f"{self.client.base_url}/v2/{self.client.name}"
        if response.status == 401:
            raise ImageUnreadable(
                f"the registry refused {self.client.identity} reading {what} of {self.image} (HTTP 401): "
                f"not authenticated for {where}; it needs {_READ_PERMISSION} on the repository. "
                f"{_NOT_SUBMITTED}"
            )
        if response.status == 403:
            raise ImageUnreadable(
                f"{self.client.identity} may not read {what} of {self.image} "
                f"(HTTP 403{_registry_error(response.body)}): the repository {self.client.name} may not "
                f"exist (Artifact Registry answers 403 for that too; check the image path), or the "
                f"identity lacks {_READ_PERMISSION} on it. {_NOT_SUBMITTED}"
            )
        if response.status == 404:
            raise ImageUnreadable(
                f"{what} of {self.image} was not found (HTTP 404{_registry_error(response.body)}) in "
                f"repository {self.client.name} at {self.client.base_url}: check the image name, tag "
                f"or digest. {_NOT_SUBMITTED}"
            )
        raise ImageUnreadable(
            f"the registry answered HTTP {response.status}{_registry_error(response.body)} reading {what} "
            f"of {self.image}. {_NOT_SUBMITTED}"
        )


def _registry_error(body: bytes) -> str:
    """`` DENIED: <the registry's message>`` from a distribution error body, or nothing.

    The message is passed through (Artifact Registry's says which permission on which resource, or
    that it may not exist), printable characters only and shortened.
    """
    try:
        error = (json.loads(body).get("errors") or [])[0]
        code, message = error.get("code"), error.get("message")
    except (ValueError, AttributeError, IndexError, TypeError):
        return ""
    text = f" {code}" if isinstance(code, str) and re.fullmatch(r"[A-Z_]{1,64}", code) else ""
    if isinstance(message, str) and message.strip():
        message = "".join(c if c.isprintable() else " " for c in message).strip()
        text += f": {message if len(message) <= 300 else message[:300] + '...'}"
    return text


def _load_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


def preflight_image(
    image_uri: str,
    *,
    machine_type: str | None = None,
    platform: str | None = None,
    policy: ValidationPolicy | None = None,
    credentials: Any = None,
    registry_url: str | None = None,
    timeout: float = 30,
    retry: RetryPolicy = REGISTRY_RETRY,
) -> PreflightResult:
    """Read an image from its registry and report whether it can be streamed.

    :param image_uri: Artifact Registry image URI, with a tag or ``@sha256:`` digest.
    :param machine_type: the job's machine type; decides the platform (Arm families -> linux/arm64).
    :param platform: ``os/arch[/variant]``; overrides ``machine_type``.
    :param policy: how OCI manifests and indexes are judged; default :data:`DEFAULT_POLICY`.
    :param credentials: google.auth credentials; None means application default credentials,
        fetched lazily only when the registry challenges.
    :param registry_url: base URL override (tests, private mirrors), e.g. ``http://127.0.0.1:5000``;
        plain http only for loopback. Default ``https://<image host>``.
    :param timeout: seconds per HTTP request.
    :param retry: how each request retries 429s, 5xx answers and connection failures (jittered
        exponential backoff honouring ``Retry-After``) before the preflight gives up.
    :return: the result; ``result.ok`` is False when any problem is an error.
    :raises ValueError: when the URI is not a valid Artifact Registry reference, the platform is
        malformed, or ``registry_url`` is not allowed.
    :raises ImageUnreadable: when the image cannot be read (401/403, 404, network, or 429/5xx
        after the retries).
    """
    from airflow_batchstream.jobspec.images import parse_image  # spec is pure and cheap

    policy = policy or DEFAULT_POLICY
    # The registry API requires its reference grammar, whatever the job validation tolerates.
    image, parse_problems = parse_image(image_uri, replace(policy, image_reference_grammar="error"), "image")
    if image is None:
        raise ValueError(f"cannot preflight {image_uri!r}:\n{format_problems(parse_problems)}")
    wanted = Platform.parse(platform or platform_for_machine_type(machine_type))
    client = RegistryClient(registry_url or f"https://{image.host}", image.name, credentials, timeout, retry)
    try:
        result = _preflight(_Reader(client, image), image, wanted, machine_type, policy)
    finally:
        client.close()
    if parse_problems:
        result.problems[:0] = parse_problems
    log.info(
        "Image preflight of %s: %s (%s, %d layers, %d bytes), %d problem(s)",
        image,
        result.digest,
        result.platform,
        len(result.layers),
        result.total_size,
        len(result.problems),
    )
    return result


def _preflight(
    reader: _Reader, image: ImageRef, wanted: Platform, machine_type: str | None, policy: ValidationPolicy
) -> PreflightResult:
    notes: list[str] = []
    digest, content_type, body, verified = reader.manifest(image.reference)
    if not image.digest:
        notes.append(f"tag {image.reference} resolved to {digest}")
    document = _load_json(body)
    media_type = effective_media_type(content_type, document)
    base = {"image": image, "digest": digest, "media_type": media_type, "notes": notes}
    kind = classify(content_type, document)
    # Schema 1 first: its digest covers the payload without signatures, never the body as served.
    if kind == "schema1":
        return _schema1_result(base, document)
    if not verified:
        return _stop(base, _digest_mismatch(image, digest, "manifest"))
    if not isinstance(document, dict):
        return _stop(base, _unknown_manifest(media_type, "its body is not a JSON object"))
    problems = media_type_problems(content_type, document)
    index_digest = None
    if kind == "index":
        problems += policy_problem(
            policy.oci_index,
            RULE_PLATFORM,
            f"the image is a multi-platform index ({media_type}); Batch documents streaming only for "
            "single-platform schema-2 images",
            "pass the platform manifest's digest (pin_image_digest) or push a single-platform image",
        )
        entry, available = select_from_index(document, wanted)
        if entry is None:
            return _stop(base, *problems, no_platform_problem(wanted, available, machine_type))
        index_digest = digest
        digest, content_type, body, verified = reader.manifest(entry["digest"])
        notes.append(f"index {index_digest} resolved to {digest} for {wanted}")
        document = _load_json(body)
        media_type = effective_media_type(content_type, document)
        base.update(digest=digest, media_type=media_type, resolved_from_index=True, index_digest=index_digest)
        kind = classify(content_type, document)
        if kind == "schema1":
            return _schema1_result(base, document, *problems)
        if not verified:
            return _stop(base, *problems, _digest_mismatch(image, digest, "platform manifest"))
        problems += media_type_problems(content_type, document)
    if kind != "image" or not isinstance(document, dict):
        why = "it is neither an image manifest nor an index"
        return _stop(base, *problems, _unknown_manifest(media_type, why))
    if media_type == OCI_MANIFEST:
        problems += policy_problem(
            policy.oci_manifest,
            RULE_PLATFORM,
            f"the image uses an OCI manifest ({OCI_MANIFEST}); Batch documents Docker schema 2",
            "if Batch rejects it, re-push as Docker schema 2: skopeo copy --format v2s2 docker://IMAGE "
            "docker://IMAGE",
        )
    return _check_image(reader, base, document, problems, wanted, machine_type)


def _check_image(
    reader: _Reader,
    base: dict[str, Any],
    manifest: dict[str, Any],
    problems: list[Problem],
    wanted: Platform,
    machine_type: str | None,
) -> PreflightResult:
    layers = _layers(manifest)
    problems += artifact_problems(manifest)
    problems += layer_problems(layers)
    config_descriptor = manifest.get("config")
    built_for: str | None = None
    if not any(p.rule == RULE_LAYERS and p.path == "image.config" for p in problems):
        config_digest = str(config_descriptor.get("digest"))
        config_bytes = reader.blob(config_digest)
        if config_bytes is None:
            problems.append(_digest_mismatch(base["image"], config_digest, "config blob"))
        else:
            config = _load_json(config_bytes)
            problems += config_problems(config, len(layers))
            problems += platform_problems(config, wanted, machine_type)
            built = Platform.from_descriptor(config) if isinstance(config, dict) else None
            built_for = str(built) if built else None
    problems += _small_layer_problems(reader, layers, problems)
    return PreflightResult(
        platform=built_for or str(wanted),
        layers=layers,
        total_size=sum(max(layer.size, 0) for layer in layers),
        problems=problems,
        **base,
    )


def _small_layer_problems(reader: _Reader, layers: list[Layer], found: list[Problem]) -> list[Problem]:
    """Download layers of at most SMALL_LAYER_BYTES and flag tars without entries (IS-7, deep check)."""
    flagged = {p.path for p in found if p.rule == RULE_EMPTY}
    problems: list[Problem] = []
    for index, layer in enumerate(layers):
        path = f"image.layers[{index}]"
        if path in flagged or not 0 < layer.size <= SMALL_LAYER_BYTES or layer.media_type not in LAYER_TYPES:
            continue
        data = reader.blob(layer.digest)
        if data is None:
            problems.append(_digest_mismatch(reader.image, layer.digest, "layer blob"))
        elif tar_is_empty(data, layer.media_type):
            problems.append(empty_layer_problem(path, layer.digest, "its tar has no entries"))
    return problems


def _layers(manifest: dict[str, Any]) -> list[Layer]:
    layers = []
    for item in manifest.get("layers") or []:
        if isinstance(item, dict):
            size = item.get("size")
            size = size if isinstance(size, int) else -1
            layers.append(Layer(str(item.get("digest")), size, str(item.get("mediaType"))))
    return layers


def _schema1_result(base: dict[str, Any], document: Any, *problems: Problem) -> PreflightResult:
    arch = document.get("architecture") if isinstance(document, dict) else None
    return _stop(base, *problems, schema1_problem(document), platform=f"linux/{arch}" if arch else None)


def _stop(base: dict[str, Any], *problems: Problem, platform: str | None = None) -> PreflightResult:
    """A result for a manifest that cannot be examined further."""
    fields = {"resolved_from_index": False, "index_digest": None, **base}
    return PreflightResult(platform=platform, layers=[], total_size=0, problems=list(problems), **fields)


def _digest_mismatch(image: ImageRef, digest: str, what: str) -> Problem:
    return Problem(
        "image",
        RULE_DIGEST,
        f"the {what} the registry returned for {image} does not hash to {digest}",
        "re-push the image; if it persists, the registry or a proxy in between alters content",
    )


def _unknown_manifest(media_type: str, why: str) -> Problem:
    return Problem(
        "image",
        RULE_MEDIA_TYPE,
        f"the registry returned {media_type or 'no media type'} for the image, and {why}",
        "point imageUri at a container image (Docker schema 2 or OCI image manifest)",
    )
