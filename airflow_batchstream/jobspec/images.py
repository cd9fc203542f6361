"""Artifact Registry image references, and which locations contain which regions.

Image streaming works only for images in Artifact Registry (rule IS-1) whose location
contains the region of the job's VMs (IS-2). This module parses an ``imageUri`` into an
:class:`ImageRef` (host, AR location, project, repository, image, tag, digest) and answers
"does AR location L contain region R". It is pure: no network, no ``google.*``.

Accepted forms (``docs/batch-facts.md`` section 4, "Artifact Registry names")::

    LOCATION-docker.pkg.dev/PROJECT/REPOSITORY/IMAGE[/MORE][:TAG][@sha256:HEX64]
    LOCATION-docker.pkg.dev/DOMAIN/PROJECT/REPOSITORY/IMAGE...   (project id "DOMAIN:PROJECT")
    gcr.io/PROJECT/IMAGE...  (and us./eu./asia.gcr.io; AR-hosted, governed by policy.gcr_hosts)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from airflow_batchstream.jobspec.policy import (
    DEFAULT_POLICY,
    PolicyLevel,
    ValidationPolicy,
    problems_at_level,
)
from airflow_batchstream.jobspec.problems import Problem, Severity

#: ``LOC-docker.pkg.dev``; LOC is a region (``us-east1``) or a multi-region (``us``).
AR_HOST_RE = re.compile(r"^(?P<loc>[a-z]+(?:-[a-z]+[0-9]+)?)-docker\.pkg\.dev$")
#: One path component of a repository name (distribution/reference ``regexp.go``).
COMPONENT_RE = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
#: Tag grammar ``[\w][\w.-]{0,127}``, ASCII only as registries implement it.
TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
#: The canonical digest form; Artifact Registry addresses manifests by sha256.
DIGEST_RE = re.compile(r"^sha256:[a-f0-9]{64}$")
#: Google Cloud project ids (``gcloud projects create``): 6-30 chars, no dots or underscores.
PROJECT_ID_RE = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
_REGION = r"[a-z]+-[a-z]+[0-9]+"
#: A Compute Engine region, e.g. ``us-central1``.
REGION_RE = re.compile(rf"^{_REGION}$")
#: Zone ``us-central1-a`` -> region ``us-central1``.
ZONE_RE = re.compile(rf"^(?P<region>{_REGION})-[a-z]$")
#: A character no image reference contains (host, path, tag and digest grammars together).
NOT_IN_REFERENCE_RE = re.compile(r"[^A-Za-z0-9._:/@-]")
#: Many clients refuse ``host/name`` longer than this (distribution spec).
MAX_NAME_LENGTH = 255

_RULE_AR = "IS-1"
_RULE_GCR = "IS-1b"
_EXAMPLE = "us-central1-docker.pkg.dev/my-project/my-repo/my-image:1.0"


@dataclass(frozen=True)
class ImageRef:
    """A parsed Artifact Registry image reference.

    :param host: registry host, e.g. ``us-east1-docker.pkg.dev`` or ``gcr.io``.
    :param location: AR location: a region (``us-east1``) or multi-region (``us``).
    :param project: project id; domain-scoped ids keep their colon (``example.com:proj``).
    :param repository: AR repository; for ``*.gcr.io`` hosts the AR repository named after the host.
    :param image: image name within the repository, may contain ``/``.
    :param tag: tag, or None when absent.
    :param digest: ``sha256:...`` digest, or None when absent.
    """

    host: str
    location: str
    project: str
    repository: str
    image: str
    tag: str | None = None
    digest: str | None = None

    @property
    def is_gcr(self) -> bool:
        """True for an AR-hosted ``*.gcr.io`` repository, whose URIs carry no repository segment."""
        return self.host != f"{self.location}-docker.pkg.dev"

    @property
    def name(self) -> str:
        """Repository path for the registry API (``/v2/<name>/manifests/<reference>``)."""
        project_path = self.project.replace(":", "/")
        if self.is_gcr:
            return f"{project_path}/{self.image}"
        return f"{project_path}/{self.repository}/{self.image}"

    @property
    def reference(self) -> str:
        """What to ask the registry for: the digest if pinned, else the tag, else ``latest``."""
        return self.digest or self.tag or "latest"

    def with_digest(self, digest: str) -> ImageRef:
        """The same image pinned to ``digest``, without its tag: Artifact Registry documents
        ``IMAGE:TAG`` and ``IMAGE@DIGEST``, not ``IMAGE:TAG@DIGEST``."""
        return replace(self, tag=None, digest=digest)

    def __str__(self) -> str:
        uri = f"{self.host}/{self.name}"
        if self.tag:
            uri += f":{self.tag}"
        if self.digest:
            uri += f"@{self.digest}"
        return uri


def parse_image(
    uri: str, policy: ValidationPolicy = DEFAULT_POLICY, path: str = "imageUri"
) -> tuple[ImageRef | None, list[Problem]]:
    """Parse an image URI as an Artifact Registry reference; never raises.

    The ref is None exactly when an error was found (so ``ref is None`` means "not streamable as
    written"); warnings (a ``gcr.io`` host under the default policy, an unknown AR location, an
    unusual project id, a name outside the registry grammar) come with a ref.

    :param uri: the ``imageUri`` value.
    :param policy: decides how ``*.gcr.io`` hosts, unknown locations and the reference grammar are
        reported.
    :param path: JSON path used in the problems, e.g. ``taskGroups[0]...container.imageUri``.
    :return: ``(ref or None, problems)``.
    """
    if not isinstance(uri, str):
        return None, [_layout(path, f"imageUri must be a string, got {type(uri).__name__} {uri!r}")]
    problems: list[Problem] = []
    ref = _Parser(uri, path, policy, problems).parse()
    if any(p.is_error for p in problems):
        return None, problems
    return ref, problems


@dataclass
class _Parser:
    """One parse: the URI, where it is, the policy, and the problems found so far."""

    uri: str
    path: str
    policy: ValidationPolicy
    problems: list[Problem]

    def parse(self) -> ImageRef | None:
        uri = self.uri
        if not uri or uri != uri.strip():
            self.problems.append(
                _layout(self.path, f"image URI {uri!r} is empty or has surrounding whitespace")
            )
            return None
        if "://" in uri:
            self.problems.append(
                _layout(self.path, f"image URI {uri!r} has a scheme", fix=f"drop the scheme, e.g. {_EXAMPLE}")
            )
            return None
        foreign = sorted(set(NOT_IN_REFERENCE_RE.findall(uri)))
        if foreign and _level(self.policy, _RULE_AR, "grammar") == "error":
            # Held to the grammar (the image preflight), characters no reference holds are said first
            # and alone; otherwise the host or grammar checks below name the part that holds them.
            self.grammar(
                f"{uri!r} is not an image reference: {', '.join(map(repr, foreign))} cannot appear in one",
                f"write LOCATION-docker.pkg.dev/PROJECT/REPOSITORY/IMAGE[:TAG], e.g. {_EXAMPLE}",
            )
            return None
        host, slash, rest = uri.partition("/")
        location = self.host_location(host)
        if location is None:
            return None
        if not slash or not rest:
            self.problems.append(_layout(self.path, f"image URI {uri!r} names no project/repository/image"))
            return None
        remainder, digest = self.split_digest(rest)
        remainder, tag = self.split_tag(remainder)
        if len(f"{host}/{remainder}") > MAX_NAME_LENGTH:
            self.grammar(f"image name in {uri!r} is longer than {MAX_NAME_LENGTH} characters", _GRAMMAR_FIX)
        parts = remainder.split("/")
        if "" in parts:
            self.problems.append(_layout(self.path, f"image URI {uri!r} has an empty path segment"))
            return None
        bad = [part for part in parts if not COMPONENT_RE.match(part)]
        if bad:
            self.grammar(
                f"path component {bad[0]!r} of {uri!r} is outside the registry grammar: components are "
                "lowercase letters and digits separated by '.', '_', '__' or '-'",
                "use lowercase names, e.g. my-project/my-repo/my-image",
            )
        return self.assemble(host, location, parts, tag, digest)

    def grammar(self, message: str, fix: str) -> None:
        """A reference outside the OCI grammar, reported at ``policy.image_reference_grammar``."""
        level = _level(self.policy, _RULE_AR, "grammar")
        self.problems.extend(problems_at_level(level, self.path, _RULE_AR, message, fix))

    def host_location(self, host: str) -> str | None:
        uri, path, policy = self.uri, self.path, self.policy
        match = AR_HOST_RE.match(host)
        if match:
            location = match.group("loc")
            if location not in policy.batch_regions and location not in policy.multi_regions:
                self.problems.extend(
                    problems_at_level(
                        _level(policy, _RULE_AR, "unknown-location"),
                        path,
                        _RULE_AR,
                        f"Artifact Registry location {location!r} of {uri!r} is not a known region or "
                        "multi-region",
                        "check the spelling of the location in the host name, or extend "
                        "ValidationPolicy.batch_regions / multi_regions",
                    )
                )
            return location
        gcr = policy.gcr_host_locations
        if host in gcr:
            self.problems.extend(
                problems_at_level(
                    _level(policy, _RULE_GCR, "gcr-host"),
                    path,
                    _RULE_GCR,
                    f"image {uri!r} is on {host}; Batch documents image streaming only for "
                    "LOCATION-docker.pkg.dev hosts",
                    f"push the image to an Artifact Registry repository, e.g. {_EXAMPLE}, or set "
                    "ValidationPolicy.gcr_hosts",
                )
            )
            return gcr[host]
        # A first component that is no host name (no dot, not localhost) is Docker Hub's: "ubuntu:22.04".
        name = host.split(":")[0]
        if COMPONENT_RE.match(name) and "." not in name and name != "localhost":
            where = "it is a Docker Hub name"
        else:
            where = f"host {host!r} is not LOCATION-docker.pkg.dev"
        self.problems.append(
            Problem(
                path,
                _RULE_AR,
                f"image {uri!r} is not in Artifact Registry: {where}; images elsewhere are not streamed",
                f"push the image to Artifact Registry in the job's region and use e.g. {_EXAMPLE}",
                _severity(_RULE_AR, "host"),
            )
        )
        return None

    def split_digest(self, rest: str) -> tuple[str, str | None]:
        remainder, at, digest = rest.partition("@")
        if not at:
            return rest, None
        if not DIGEST_RE.match(digest):
            self.grammar(
                f"digest {digest!r} in {self.uri!r} is not sha256: followed by 64 lowercase hex digits",
                "use the digest the registry reports, e.g. @sha256:<64 hex digits>",
            )
        return remainder, digest

    def split_tag(self, remainder: str) -> tuple[str, str | None]:
        # The tag is after the last ':' that follows the last '/'; a ':' earlier is not a tag.
        last_slash = remainder.rfind("/")
        colon = remainder.find(":", last_slash + 1)
        if colon < 0:
            return remainder, None
        name, tag = remainder[:colon], remainder[colon + 1 :]
        if not TAG_RE.match(tag):
            self.grammar(
                f"tag {tag!r} in {self.uri!r} is outside the registry grammar (letters, digits, '_', "
                "'.', '-'; first not '.' or '-'; at most 128)",
                "use a tag such as 1.0 or v2024-01-01",
            )
        return name, tag

    def assemble(
        self, host: str, location: str, parts: list[str], tag: str | None, digest: str | None
    ) -> ImageRef | None:
        is_gcr = host in self.policy.gcr_host_locations
        # A first segment with a dot is a domain: "example.com/proj" is project "example.com:proj".
        domain_scoped = "." in parts[0]
        project_parts = 2 if domain_scoped else 1
        repository_parts = 0 if is_gcr else 1
        needed = project_parts + repository_parts + 1
        if len(parts) < needed:
            layout = "PROJECT/IMAGE" if is_gcr else "PROJECT/REPOSITORY/IMAGE"
            if domain_scoped:
                layout = "DOMAIN/" + layout
            self.problems.append(
                _layout(
                    self.path,
                    f"image {self.uri!r} has {len(parts)} path component(s); {host} needs {layout}",
                    fix=f"write the full path, e.g. {_EXAMPLE}",
                )
            )
            return None
        project = ":".join(parts[:project_parts])
        self.check_project_id(parts[project_parts - 1])
        repository = host if is_gcr else parts[project_parts]
        image = "/".join(parts[project_parts + repository_parts :])
        return ImageRef(host, location, project, repository, image, tag, digest)

    def check_project_id(self, project_id: str) -> None:
        if not PROJECT_ID_RE.match(project_id):
            self.problems.append(
                Problem(
                    self.path,
                    _RULE_AR,
                    f"project id {project_id!r} in {self.uri!r} does not look like a Google Cloud "
                    "project id (6-30 chars: lowercase letters, digits, '-')",
                    "check the project segment of the image URI",
                    _severity(_RULE_AR, "project-id"),
                )
            )


_GRAMMAR_FIX = "shorten the repository or image name"
_LAYOUT_FIX = f"use an Artifact Registry URI such as {_EXAMPLE}"


def _layout(
    path: str, message: str, fix: str = f"use an Artifact Registry URI such as {_EXAMPLE}"
) -> Problem:
    """The URI does not have Artifact Registry's documented layout (rule IS-1)."""
    return Problem(path, _RULE_AR, message, fix, _severity(_RULE_AR, "layout"))


def _severity(rule: str, name: str) -> Severity:
    """The severity the rule catalog gives a condition."""
    # Imported on the first problem: the parameter checks import this module when a DAG is parsed.
    from airflow_batchstream.jobspec import catalog

    return catalog.severity(rule, name)


def _level(policy: ValidationPolicy, rule: str, name: str) -> PolicyLevel:
    """The level ``policy`` gives a policy condition of the rule catalog."""
    from airflow_batchstream.jobspec import catalog

    return catalog.level(policy, rule, name)


def region_of_allowed_location(entry: str) -> str | None:
    """The region of an ``allowedLocations`` entry: ``regions/R`` -> R, ``zones/R-x`` -> R.

    :param entry: an ``allocationPolicy.location.allowedLocations`` item.
    :return: the region, or None when the entry has neither shape.
    """
    if not isinstance(entry, str):
        return None
    kind, _, name = entry.partition("/")
    if kind == "regions" and REGION_RE.match(name):
        return name
    if kind == "zones":
        match = ZONE_RE.match(name)
        return match.group("region") if match else None
    return None


def location_contains(image_location: str, region: str, policy: ValidationPolicy = DEFAULT_POLICY) -> bool:
    """Whether an AR location contains a VM region: the same region, or a multi-region holding it.

    :param image_location: AR location of the image (``us-east1``, ``us``...).
    :param region: region of the job's VMs.
    :param policy: supplies the multi-region table (docs/batch-facts.md section 4, IS-2b, inferred).
    """
    if image_location == region:
        return True
    return region in policy.multi_regions.get(image_location, frozenset())
