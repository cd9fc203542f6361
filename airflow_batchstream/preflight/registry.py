"""The registry side of the image preflight: HTTP, authentication and caches, in one reviewable file.

:class:`RegistryClient` speaks the registry HTTP API v2 / OCI distribution API with the Docker
token flow as Artifact Registry runs it; :class:`ImageReader` reads one image's manifests and blobs
through the process-wide caches. The security rules live here:

* https everywhere, plain http only to loopback (:func:`check_base_url`), for the registry and for
  the token realm that receives a Google access token;
* the Authorization header goes only to the origin it was made for, never along a redirect to
  another one (signed blob URLs);
* every answer read is capped (:data:`MAX_DOCUMENT_BYTES`), and no message carries a token or a
  signed query string;
* caches are keyed by the identity that asked as well, so one identity's read never vouches for
  another's permission.

Imports ``requests`` and ``google.auth`` only when a request is made: parse time is sacred, and the
operator imports the preflight.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import logging
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import urljoin, urlsplit

from airflow_batchstream import config
from airflow_batchstream.preflight.media import ACCEPT, ImageUnreadable
from airflow_batchstream.retry import RetryPolicy, retry_after_seconds

if TYPE_CHECKING:
    from airflow_batchstream.jobspec.images import ImageRef

log = logging.getLogger(__name__)

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
#: still fails the preflight within a minute). ``Retry-After`` is honoured within the budget. The
#: operator takes the budget from ``[batchstream] preflight_retry_budget``.
REGISTRY_RETRY = RetryPolicy(
    initial=0.5, multiplier=2.0, maximum=8.0, budget=config.PREFLIGHT_RETRY_BUDGET.default
)
#: Largest manifest, config or token answer read (distribution caps manifests at 4 MiB).
MAX_DOCUMENT_BYTES = 16 * 1024 * 1024
_MAX_CACHED_DOCUMENTS = 512
_CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
_READ_PERMISSION = "artifactregistry.repositories.downloadArtifacts (roles/artifactregistry.reader)"
_NOT_SUBMITTED = "No Batch job was submitted."


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


def digest_of(body: bytes, algorithm: str = "sha256") -> str:
    if algorithm not in ("sha256", "sha512"):
        raise ValueError(f"unsupported digest algorithm {algorithm!r}")
    return f"{algorithm}:{hashlib.new(algorithm, body).hexdigest()}"


class ImageReader:
    """Reads the manifests and blobs of one image, through the caches, verifying digests."""

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
