"""Helpers for the registry tests: real layer bytes, pushes over the distribution API, a token server.

Nothing here uses airflow_batchstream: the tests must not check the preflight with its own code.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import tarfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

DOCKER_MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"

#: distribution's ``gzippedEmptyTar``: 32 bytes that gunzip to a 1024-byte empty tar.
GZIPPED_EMPTY_TAR = bytes(
    [31, 139, 8, 0, 0, 9, 110, 136, 0, 255, 98, 24, 5, 163, 96, 20,
     140, 88, 0, 8, 0, 0, 255, 255, 46, 175, 181, 239, 0, 4, 0, 0]
)  # fmt: skip


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def serve_on_loopback(handler: type[BaseHTTPRequestHandler]) -> ThreadingHTTPServer:
    """Start ``handler`` on a free loopback port in a daemon thread."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def shut_down(server: ThreadingHTTPServer | None) -> None:
    if server is not None:
        server.shutdown()
        server.server_close()


class QuietHandler(BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:  # keep test output quiet
        pass

    def reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        """Answer with ``status``, ``headers`` and ``body`` (its Content-Length added)."""
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def reply_json(self, status: int, document: Any) -> None:
        self.reply(status, json.dumps(document).encode(), {"Content-Type": "application/json"})


@dataclass(frozen=True)
class Blob:
    """Bytes with their digest; ``diff_id`` is the digest of the uncompressed tar for layers."""

    data: bytes
    diff_id: str = ""

    @property
    def digest(self) -> str:
        return sha256(self.data)


def make_layer(files: dict[str, bytes], *, mtime: int = 0) -> Blob:
    """A real tar.gz layer holding ``files``; deterministic (fixed mtime, no gzip name/time)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name, content in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(content)
            info.mtime = mtime
            archive.addfile(info, io.BytesIO(content))
    tar_bytes = raw.getvalue()
    return Blob(gzip.compress(tar_bytes, mtime=0), sha256(tar_bytes))


def make_empty_tar_layer() -> Blob:
    """Python's own empty tar (10240 NUL bytes, gzipped): empty, yet not the canonical digests."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w"):
        pass
    return Blob(gzip.compress(raw.getvalue(), mtime=0), sha256(raw.getvalue()))


def canonical_empty_layer() -> Blob:
    """The gzipped empty tar the registry world knows as sha256:a3ed95...; diff id sha256:5f70bf..."""
    return Blob(GZIPPED_EMPTY_TAR, sha256(gzip.decompress(GZIPPED_EMPTY_TAR)))


def make_config(diff_ids: list[str], *, architecture: str = "amd64", os_name: str = "linux") -> bytes:
    config = {
        "architecture": architecture,
        "os": os_name,
        "config": {"Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created_by": f"step {i}"} for i in range(len(diff_ids))],
    }
    return json.dumps(config, sort_keys=True).encode()


def descriptor(media_type: str, blob: bytes, **extra: Any) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": sha256(blob), "size": len(blob), **extra}


def image_manifest(
    config: bytes, layers: list[Blob], *, oci: bool = False, sizes: list[int] | None = None
) -> dict[str, Any]:
    """A schema-2 (or OCI) manifest; ``sizes`` overrides the declared layer sizes."""
    layer_type = OCI_LAYER if oci else DOCKER_LAYER
    descriptors = [descriptor(layer_type, layer.data) for layer in layers]
    for item, size in zip(descriptors, sizes or [], strict=False):
        item["size"] = size
    return {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST if oci else DOCKER_MANIFEST_V2,
        "config": descriptor(OCI_CONFIG if oci else DOCKER_CONFIG, config),
        "layers": descriptors,
    }


def encode(document: dict[str, Any]) -> bytes:
    return json.dumps(document, indent=3).encode()


# --- pushing over the distribution API -------------------------------------------------------------------


class Pusher:
    """Pushes blobs and manifests to a registry; answers a Bearer challenge with ``password``."""

    def __init__(self, base_url: str, password: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.password = password
        self.session = requests.Session()
        self._tokens: dict[str, str] = {}

    def close(self) -> None:
        self.session.close()

    def _request(self, method: str, url: str, name: str, **kwargs: Any) -> requests.Response:
        headers = kwargs.pop("headers", {})
        if name in self._tokens:
            headers["Authorization"] = f"Bearer {self._tokens[name]}"
        response = self.session.request(method, url, headers=headers, timeout=30, **kwargs)
        if response.status_code == 401 and self.password is not None:
            self._tokens[name] = self._token(response.headers["WWW-Authenticate"], name)
            headers["Authorization"] = f"Bearer {self._tokens[name]}"
            response = self.session.request(method, url, headers=headers, timeout=30, **kwargs)
        return response

    def _token(self, challenge: str, name: str) -> str:
        params = dict(part.split("=", 1) for part in challenge.split(" ", 1)[1].split('",'))
        params = {k.strip(): v.strip('"') for k, v in params.items()}
        response = self.session.get(
            params["realm"],
            params={"service": params.get("service", ""), "scope": f"repository:{name}:pull,push"},
            auth=("oauth2accesstoken", self.password or ""),
            timeout=30,
        )
        response.raise_for_status()
        return response.json()["token"]

    def push_blob(self, name: str, data: bytes) -> str:
        """Monolithic upload: POST to start, PUT with ?digest= to finish (distribution spec)."""
        digest = sha256(data)
        start = self._request("POST", f"{self.base_url}/v2/{name}/blobs/uploads/", name)
        assert start.status_code == 202, (start.status_code, start.text)
        location = start.headers["Location"]
        if location.startswith("/"):
            location = self.base_url + location
        separator = "&" if "?" in location else "?"
        done = self._request(
            "PUT",
            f"{location}{separator}digest={digest}",
            name,
            data=data,
            headers={"Content-Type": "application/octet-stream"},
        )
        assert done.status_code == 201, (done.status_code, done.text)
        return digest

    def push_manifest(self, name: str, reference: str, body: bytes, media_type: str) -> str:
        response = self._request(
            "PUT",
            f"{self.base_url}/v2/{name}/manifests/{reference}",
            name,
            data=body,
            headers={"Content-Type": media_type},
        )
        assert response.status_code == 201, (response.status_code, response.text)
        return response.headers["Docker-Content-Digest"]

    def push_image(
        self,
        name: str,
        tag: str,
        layers: list[Blob],
        *,
        diff_ids: list[str] | None = None,
        oci: bool = False,
        architecture: str = "amd64",
        sizes: list[int] | None = None,
    ) -> str:
        """Push layers, a config and a manifest; returns the manifest digest."""
        config = make_config(
            diff_ids if diff_ids is not None else [layer.diff_id for layer in layers],
            architecture=architecture,
        )
        for layer in {layer.digest: layer for layer in layers}.values():
            self.push_blob(name, layer.data)
        self.push_blob(name, config)
        manifest = image_manifest(config, layers, oci=oci, sizes=sizes)
        return self.push_manifest(name, tag, encode(manifest), manifest["mediaType"])

    def push_index(
        self, name: str, tag: str, children: list[tuple[str, str, bytes]], *, oci: bool = True
    ) -> str:
        """Push an index over already-pushed manifests ``(platform, media_type, body)``."""
        manifests = []
        for platform, media_type, body in children:
            os_name, arch, *variant = platform.split("/")
            plat = {"os": os_name, "architecture": arch}
            if variant:
                plat["variant"] = variant[0]
            manifests.append(descriptor(media_type, body, platform=plat))
        media_type = OCI_INDEX if oci else DOCKER_MANIFEST_LIST
        index = {"schemaVersion": 2, "mediaType": media_type, "manifests": manifests}
        return self.push_manifest(name, tag, encode(index), media_type)

    def get_blob(self, name: str, digest: str) -> bytes:
        response = self._request("GET", f"{self.base_url}/v2/{name}/blobs/{digest}", name)
        assert response.status_code == 200, response.status_code
        return response.content

    def get_manifest(self, name: str, reference: str) -> bytes:
        response = self._request(
            "GET",
            f"{self.base_url}/v2/{name}/manifests/{reference}",
            name,
            headers={"Accept": f"{OCI_MANIFEST}, {DOCKER_MANIFEST_V2}, {OCI_INDEX}, {DOCKER_MANIFEST_LIST}"},
        )
        assert response.status_code == 200, response.status_code
        return response.content


# --- keys, libtrust key ids, schema-1 signatures --------------------------------------------------------


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def libtrust_key_id(public_key: Any) -> str:
    """docker/libtrust ``KeyID``: SHA-256 of the DER public key, 240 bits, base32, 12 groups of 4."""
    from cryptography.hazmat.primitives import serialization

    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    encoded = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode("ascii").rstrip("=")
    return ":".join(encoded[i : i + 4] for i in range(0, len(encoded), 4))


def ec_key() -> Any:
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1())


def _es256(private_key: Any, message: bytes) -> bytes:
    """ES256 in JWS form: raw r || s, 32 bytes each."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    r, s = decode_dss_signature(private_key.sign(message, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def signed_schema1_manifest(name: str, tag: str, blob_digests: list[str], private_key: Any) -> bytes:
    """A schema-1 manifest with a libtrust JWS signature, as distribution 2.x verifies on push."""
    numbers = private_key.public_key().public_numbers()
    manifest = {
        "schemaVersion": 1,
        "name": name,
        "tag": tag,
        "architecture": "amd64",
        "fsLayers": [{"blobSum": digest} for digest in blob_digests],
        "history": [{"v1Compatibility": json.dumps({"id": uuid.uuid4().hex * 2})} for _ in blob_digests],
    }
    content = json.dumps(manifest, indent=3).encode()
    # libtrust signs the pretty JSON up to its closing brace; the brace and whitespace are the "tail".
    format_length = len(content.rstrip()[:-1].rstrip())
    tail = content[format_length:]
    protected = b64url(
        json.dumps(
            {
                "formatLength": format_length,
                "formatTail": b64url(tail),
                "time": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
        ).encode()
    )
    signature = _es256(private_key, f"{protected}.{b64url(content)}".encode())
    jwk = {
        "crv": "P-256",
        "kid": libtrust_key_id(private_key.public_key()),
        "kty": "EC",
        "x": b64url(numbers.x.to_bytes(32, "big")),
        "y": b64url(numbers.y.to_bytes(32, "big")),
    }
    signatures = [
        {"header": {"jwk": jwk, "alg": "ES256"}, "signature": b64url(signature), "protected": protected}
    ]
    body = (
        content[:format_length] + b',\n   "signatures": ' + json.dumps(signatures, indent=3).encode() + tail
    )
    return body


def self_signed_cert(
    private_key: Any, common_name: str = "batchstream test token issuer", *, hosts: tuple[str, ...] = ()
) -> bytes:
    """PEM of a self-signed certificate for ``private_key`` (the registry's ``rootcertbundle``,
    or a TLS server's certificate, valid for the DNS names and IP addresses in ``hosts``)."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(private_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    )
    if hosts:
        names = []
        for host in hosts:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                names.append(x509.DNSName(host))
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(private_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


# --- a token server speaking the Docker token protocol, as Artifact Registry's /v2/token does ------------


@dataclass
class TokenServer:
    """Issues registry JWTs for Basic ``oauth2accesstoken:<password>``.

    :param issuer: the ``iss`` claim the registry trusts.
    :param service: the ``aud`` claim; the registry's service name.
    :param passwords: accepted passwords (what a Google access token is to Artifact Registry).
    :param expires_in: lifetime of issued tokens, seconds.
    :param token_field: ``token`` or ``access_token`` (both are valid answers).
    :param denied: repository names for which tokens grant no actions (a missing IAM role).
    """

    issuer: str
    service: str
    passwords: set[str]
    expires_in: int = 300
    token_field: str = "token"
    denied: set[str] = field(default_factory=set)
    key: Any = field(default_factory=ec_key)
    requests: list[dict[str, Any]] = field(default_factory=list)
    issued: list[str] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/token"

    def write_cert(self, path: Path) -> Path:
        path.write_bytes(self_signed_cert(self.key))
        return path

    def start(self) -> TokenServer:
        server = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                self.reply_json(*server._answer(self.path, self.headers.get("Authorization", "")))

        self._server = serve_on_loopback(Handler)
        return self

    def stop(self) -> None:
        shut_down(self._server)
        self._server = None

    def _answer(self, path: str, authorization: str) -> tuple[int, dict[str, Any]]:
        query = parse_qs(urlsplit(path).query)
        scope = query.get("scope", [""])[0]
        self.requests.append({"service": query.get("service", [None])[0], "scope": scope})
        user, password = _basic_credentials(authorization)
        if user != "oauth2accesstoken" or password not in self.passwords:
            return 401, {"errors": [{"code": "UNAUTHORIZED", "message": "bad credentials"}]}
        token = self._sign(scope)
        self.issued.append(token)
        return 200, {self.token_field: token, "expires_in": self.expires_in}

    def _sign(self, scope: str) -> str:
        import jwt

        access = []
        if scope:
            # repository:NAME:ACTIONS; a name has no ':', so the actions follow the last one.
            kind, rest = scope.split(":", 1)
            name, actions = rest.rsplit(":", 1)
            granted = [] if name in self.denied else actions.split(",")
            access.append({"type": kind, "name": name, "actions": granted})
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": "oauth2accesstoken",
            "aud": self.service,
            "exp": now + self.expires_in,
            "nbf": now - 10,
            "iat": now,
            "jti": uuid.uuid4().hex,
            "access": access,
        }
        headers = {"kid": libtrust_key_id(self.key.public_key()), "typ": "JWT"}
        return jwt.encode(claims, self.key, algorithm="ES256", headers=headers)


def _basic_credentials(header: str) -> tuple[str, str]:
    if not header.lower().startswith("basic "):
        return "", ""
    try:
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    except ValueError:
        return "", ""
    return user, password


# --- a redirecting front: blob GETs go elsewhere, as Artifact Registry sends them to storage ------------


@dataclass
class RedirectingFront:
    """Forwards registry requests to ``upstream``, but answers blob GETs with a 307 to a second
    server on another host name (``localhost`` instead of ``127.0.0.1``), which serves the blob and
    records the Authorization header it received (it must receive none).

    :param upstream: the registry base URL.
    :param fetch_blob: returns a blob's bytes given (name, digest), by any authorized means.
    """

    upstream: str
    fetch_blob: Any
    blob_authorizations: list[str | None] = field(default_factory=list)
    _servers: list[ThreadingHTTPServer] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._servers[0].server_address[1]}"

    def start(self) -> RedirectingFront:
        front = self

        class Front(QuietHandler):
            def do_GET(self) -> None:
                path = urlsplit(self.path).path
                if "/blobs/" in path:
                    name, digest = path[len("/v2/") :].split("/blobs/")
                    port = front._servers[1].server_address[1]
                    location = f"http://localhost:{port}/storage/{name}/{digest}?sig=x"
                    self.reply(307, headers={"Location": location})
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() in ("accept", "authorization")}
                answer = requests.get(front.upstream + self.path, headers=headers, timeout=30)
                passed = ("Content-Type", "Docker-Content-Digest", "WWW-Authenticate")
                self.reply(
                    answer.status_code,
                    answer.content,
                    {key: answer.headers[key] for key in passed if key in answer.headers},
                )

        class Storage(QuietHandler):
            def do_GET(self) -> None:
                front.blob_authorizations.append(self.headers.get("Authorization"))
                path = urlsplit(self.path).path[len("/storage/") :]
                name, digest = path.rsplit("/", 1)
                self.reply(200, front.fetch_blob(name, digest))

        self._servers = [serve_on_loopback(handler) for handler in (Front, Storage)]
        return self

    def stop(self) -> None:
        for server in self._servers:
            shut_down(server)
        self._servers.clear()


# --- a faulty front: a real registry behind throttling, outages and dropped connections ---------------

#: A fault that closes the connection without answering (the client sees a connection error).
DROP = (0, {})


@dataclass
class FaultyFront:
    """Forwards GETs to a real registry (``upstream``), but answers the first requests with
    scripted faults instead: ``faults`` is consumed one ``(status, headers)`` per request (``DROP``
    closes the connection unanswered); with ``forever`` the last fault repeats for good.

    ``answers`` records ``(arrival monotonic time, path, status)`` per request (status 0: dropped).
    """

    upstream: str
    faults: list[tuple[int, dict[str, str]]]
    forever: bool = False
    answers: list[tuple[float, str, int]] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def _next_fault(self) -> tuple[int, dict[str, str]] | None:
        with self._lock:
            if not self.faults:
                return None
            return self.faults[0] if self.forever and len(self.faults) == 1 else self.faults.pop(0)

    def start(self) -> FaultyFront:
        front = self

        class Front(QuietHandler):
            def do_GET(self) -> None:
                arrived = time.monotonic()
                path = urlsplit(self.path).path
                fault = front._next_fault()
                if fault is not None:
                    status, headers = fault
                    front.answers.append((arrived, path, status))
                    if status == 0:
                        self.close_connection = True
                        self.connection.shutdown(2)  # no status line: a connection error
                        return
                    body = json.dumps({"errors": [{"code": "UNAVAILABLE", "message": "scripted fault"}]})
                    self.reply(status, body.encode(), headers)
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() in ("accept", "authorization")}
                answer = requests.get(front.upstream + self.path, headers=headers, timeout=30)
                front.answers.append((arrived, path, answer.status_code))
                passed = ("Content-Type", "Docker-Content-Digest", "WWW-Authenticate")
                self.reply(
                    answer.status_code,
                    answer.content,
                    {key: answer.headers[key] for key in passed if key in answer.headers},
                )

        self._server = serve_on_loopback(Front)
        return self

    def stop(self) -> None:
        shut_down(self._server)
        self._server = None


# --- a misbehaving registry: fixed answers per path, for faults a correct registry never produces ---------


@dataclass
class ScriptedRegistry:
    """Answers ``GET path`` with a fixed ``(status, headers, body)``; 404 for anything else.

    Used only for what a correct registry cannot be made to do: a body that does not hash to its
    digest (a tampering proxy), HTTP 403 (Artifact Registry's answer to a missing role), 5xx,
    redirect loops.
    """

    routes: dict[str, tuple[int, dict[str, str], bytes]]
    seen: list[str] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> ScriptedRegistry:
        scripted = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                path = urlsplit(self.path).path
                scripted.seen.append(path)
                status, headers, body = scripted.routes.get(path, (404, {}, b'{"errors":[]}'))
                self.reply(status, body, {k: v.replace("{url}", scripted.url) for k, v in headers.items()})

        self._server = serve_on_loopback(Handler)
        return self

    def stop(self) -> None:
        shut_down(self._server)
        self._server = None


# --- an OAuth 2.0 token endpoint for service-account JSON keys (what oauth2.googleapis.com does) --------


@dataclass
class OAuthTokenEndpoint:
    """Answers google-auth's JWT-bearer grant with ``access_token``; records each assertion's issuer.

    Lets application default credentials run for real: a service-account key file whose
    ``token_uri`` is this endpoint, named by ``GOOGLE_APPLICATION_CREDENTIALS``.

    It also plays the two refusals Google answers for credentials that can no longer work: a key
    of a service account in ``revoked`` gets ``400 invalid_grant`` (a revoked or deleted key, a
    deleted service account), and IAM's ``generateAccessToken`` for a target in ``not_granted``
    gets ``403 PERMISSION_DENIED`` (a missing Service Account Token Creator grant); see
    :attr:`iam_endpoint`. The next ``unavailable[email]`` grants of a key get ``503
    temporarily_unavailable``: an outage that passes.
    """

    access_token: str
    revoked: set[str] = field(default_factory=set)
    not_granted: set[str] = field(default_factory=set)
    unavailable: dict[str, int] = field(default_factory=dict)
    grants: list[str] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/token"

    @property
    def iam_endpoint(self) -> str:
        """google-auth's ``iam._IAM_ENDPOINT`` template, served here instead of by Google."""
        assert self._server is not None
        port = self._server.server_address[1]
        return f"http://127.0.0.1:{port}/v1/projects/-/serviceAccounts/{{}}:generateAccessToken"

    def start(self) -> OAuthTokenEndpoint:
        endpoint = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                path = urlsplit(self.path).path
                if path.endswith(":generateAccessToken"):
                    self.reply_json(*endpoint._impersonate(path.rsplit("/", 1)[1].split(":")[0]))
                else:
                    self.reply_json(*endpoint._grant(parse_qs(body.decode())))

        self._server = serve_on_loopback(Handler)
        return self

    def _grant(self, form: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        import jwt

        claims = jwt.decode(form["assertion"][0], options={"verify_signature": False})
        self.grants.append(claims["iss"])
        if self.unavailable.get(claims["iss"], 0) > 0:
            self.unavailable[claims["iss"]] -= 1
            return 503, {"error": "temporarily_unavailable"}
        if claims["iss"] in self.revoked:
            return 400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}
        return 200, {"access_token": self.access_token, "expires_in": 3600, "token_type": "Bearer"}

    def _impersonate(self, target: str) -> tuple[int, dict[str, Any]]:
        self.grants.append(f"impersonate:{target}")
        if target in self.not_granted:
            message = (
                "Permission 'iam.serviceAccounts.getAccessToken' denied on resource (or it may not exist)."
            )
            return 403, {"error": {"code": 403, "message": message, "status": "PERMISSION_DENIED"}}
        expires = (datetime.now(timezone.utc) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        return 200, {"accessToken": f"{self.access_token}-as-{target}", "expireTime": expires}

    def stop(self) -> None:
        shut_down(self._server)
        self._server = None

    def write_key_file(self, path: Path, email: str) -> Path:
        """A service-account JSON key (fresh RSA key) whose token_uri is this endpoint."""
        path.write_text(json.dumps(self.key_info(email)))
        return path

    def key_info(self, email: str) -> dict[str, str]:
        """A service-account key (fresh RSA key) as a dict, whose token_uri is this endpoint."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        info = {
            "type": "service_account",
            "project_id": email.split("@")[1].split(".")[0],
            "private_key_id": "test-key",
            "private_key": pem,
            "client_email": email,
            "client_id": "1",
            "token_uri": self.url,
        }
        return info
