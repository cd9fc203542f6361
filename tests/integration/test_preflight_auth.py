"""The Docker token flow as Artifact Registry runs it, against a real registry with ``auth: token``.

The token server runs in the test process; it accepts Basic ``oauth2accesstoken:<password>`` and
signs registry JWTs the registry verifies against the certificate it was configured with.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import pytest

from airflow_batchstream.preflight import ImageUnreadable, preflight_image
from tests.fixtures.registry import GOOD_PASSWORD, TOKEN_SERVICE
from tests.integration.registry_tools import RedirectingFront, make_layer

pytestmark = pytest.mark.usefixtures("fresh_preflight_cache")

HOST = "europe-west4-docker.pkg.dev"
NAME = "secure-project/private/app"
DENIED_NAME = "secure-project/private/forbidden"
WRONG_PASSWORD = "ya29.wrong-password-must-never-be-logged"


def uri(image: str = "app", reference: str = "1.0") -> str:
    separator = "@" if reference.startswith("sha256:") else ":"
    return f"{HOST}/secure-project/private/{image}{separator}{reference}"


def user_credentials(token: str):
    """Credentials as google-auth builds them for a user; a valid token, so no refresh happens."""
    from google.oauth2.credentials import Credentials

    return Credentials(token=token)


def service_account_credentials(token: str):
    """A service account's credentials holding a fresh token (no refresh against Google)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from google.oauth2 import service_account

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    credentials = service_account.Credentials.from_service_account_info(
        {
            "type": "service_account",
            "client_email": "preflight@secure-project.iam.gserviceaccount.com",
            "private_key": pem,
            "private_key_id": "test",
            "token_uri": "https://127.0.0.1:9/token",
        }
    )
    credentials.token = token
    credentials.expiry = datetime.utcnow() + timedelta(hours=1)  # google-auth compares naive UTC
    return credentials


@pytest.fixture(scope="session")
def pushed_private(token_registry, token_server):
    pusher = token_registry.pusher()
    try:
        layers = [make_layer({f"app/{i}.txt": f"private {i}\n".encode() * 50}) for i in range(2)]
        digest = pusher.push_image(NAME, "1.0", layers)
        pusher.push_image(NAME, "2.0", layers[:1])
        pusher.push_image(DENIED_NAME, "1.0", layers)
    finally:
        pusher.close()
    token_server.denied.add(DENIED_NAME)
    return digest


def test_bearer_flow_with_basic_oauth2accesstoken(token_registry, token_server, pushed_private, caplog):
    caplog.set_level(logging.DEBUG)
    before = len(token_server.requests)

    result = preflight_image(
        uri(), registry_url=token_registry.url, credentials=user_credentials(GOOD_PASSWORD)
    )

    assert result.ok, result.problems
    assert result.digest == pushed_private
    new = token_server.requests[before:]
    # One token for the manifest and the config blob: same realm, service and scope.
    assert new == [{"service": TOKEN_SERVICE, "scope": f"repository:{NAME}:pull"}]
    secrets = [GOOD_PASSWORD, *token_server.issued]
    assert not any(secret in caplog.text for secret in secrets)


def test_token_is_cached_per_scope_until_expiry(token_registry, token_server, pushed_private):
    credentials = user_credentials(GOOD_PASSWORD)
    before = len(token_server.requests)

    preflight_image(uri(reference="1.0"), registry_url=token_registry.url, credentials=credentials)
    preflight_image(uri(reference="2.0"), registry_url=token_registry.url, credentials=credentials)

    assert len(token_server.requests) == before + 1


def test_expired_token_is_fetched_again(token_registry, token_server, pushed_private, monkeypatch):
    import time

    monkeypatch.setattr(token_server, "expires_in", 11)  # cached for 11 s minus the 10 s margin
    credentials = user_credentials(GOOD_PASSWORD)
    before = len(token_server.requests)

    preflight_image(uri(reference="1.0"), registry_url=token_registry.url, credentials=credentials)
    time.sleep(1.2)
    preflight_image(uri(reference="2.0"), registry_url=token_registry.url, credentials=credentials)

    assert len(token_server.requests) == before + 2


def test_access_token_field_is_accepted(token_registry, token_server, pushed_private, monkeypatch):
    monkeypatch.setattr(token_server, "token_field", "access_token")

    result = preflight_image(
        uri(), registry_url=token_registry.url, credentials=user_credentials(GOOD_PASSWORD)
    )

    assert result.ok


def test_wrong_password_names_identity_and_permission_and_leaks_nothing(
    token_registry, token_server, pushed_private, caplog
):
    caplog.set_level(logging.DEBUG)

    with pytest.raises(ImageUnreadable) as caught:
        preflight_image(uri(), registry_url=token_registry.url, credentials=user_credentials(WRONG_PASSWORD))

    message = str(caught.value)
    assert "refused the given credentials (HTTP 401)" in message
    assert "artifactregistry.repositories.downloadArtifacts" in message
    assert "roles/artifactregistry.reader" in message
    assert "No Batch job was submitted" in message
    for text in (message, caplog.text, repr(caught.value)):
        assert WRONG_PASSWORD not in text
        assert GOOD_PASSWORD not in text
        assert not any(token in text for token in token_server.issued)


def test_service_account_is_named(token_registry, pushed_private):
    with pytest.raises(ImageUnreadable, match=r"service account preflight@secure-project\.iam"):
        preflight_image(
            uri(), registry_url=token_registry.url, credentials=service_account_credentials(WRONG_PASSWORD)
        )


def test_token_without_access_is_a_permission_error(token_registry, pushed_private, caplog):
    caplog.set_level(logging.DEBUG)

    with pytest.raises(ImageUnreadable) as caught:
        preflight_image(
            uri("forbidden"), registry_url=token_registry.url, credentials=user_credentials(GOOD_PASSWORD)
        )

    message = str(caught.value)
    assert "HTTP 401" in message and "manifest 1.0" in message
    assert "artifactregistry.repositories.downloadArtifacts" in message
    assert "No Batch job was submitted" in message
    assert GOOD_PASSWORD not in message + caplog.text


def test_application_default_credentials_are_loaded_only_on_challenge(
    registry, token_registry, pushed_private, monkeypatch, tmp_path
):
    from tests.integration.registry_tools import Pusher

    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "absent.json"))
    pusher = Pusher(registry.url)
    try:
        pusher.push_image("adc-project/open/app", "1.0", [make_layer({"a.txt": b"open\n"})])
    finally:
        pusher.close()

    # An open registry never challenges, so the broken ADC is never touched.
    open_result = preflight_image(
        "us-east1-docker.pkg.dev/adc-project/open/app:1.0", registry_url=registry.url
    )
    assert open_result.ok
    with pytest.raises(ImageUnreadable, match=r"application default credentials.*No Batch job was submitted"):
        preflight_image(uri(), registry_url=token_registry.url)


def test_redirected_blobs_never_carry_authorization(token_registry, pushed_private):
    pusher = token_registry.pusher()
    front = RedirectingFront(token_registry.url, pusher.get_blob).start()
    try:
        result = preflight_image(uri(), registry_url=front.url, credentials=user_credentials(GOOD_PASSWORD))
    finally:
        front.stop()
        pusher.close()

    assert result.ok, result.problems
    assert front.blob_authorizations, "the config blob was not fetched through the redirect"
    assert front.blob_authorizations == [None] * len(front.blob_authorizations)


def test_non_loopback_plain_http_realm_is_refused(token_registry):
    from airflow_batchstream.preflight.registry import RegistryClient

    client = RegistryClient(token_registry.url, NAME, credentials=user_credentials(GOOD_PASSWORD))
    try:
        with pytest.raises(ImageUnreadable, match="not https; refusing to send credentials"):
            client._authorize('Bearer realm="http://auth.example.com/token",service="x"')
    finally:
        client.close()


def test_cached_token_without_access_is_replaced_after_a_grant(token_registry, token_server, pushed_private):
    """A role granted after a failed preflight: the cached, access-less token is dropped on 401."""
    name = "secure-project/private/later"
    pusher = token_registry.pusher()
    try:
        pusher.push_image(name, "1.0", [make_layer({"later.txt": b"later\n" * 300})])
    finally:
        pusher.close()
    credentials = user_credentials(GOOD_PASSWORD)
    token_server.denied.add(name)
    try:
        with pytest.raises(ImageUnreadable, match="HTTP 401"):
            preflight_image(uri("later"), registry_url=token_registry.url, credentials=credentials)
    finally:
        token_server.denied.discard(name)
    before = len(token_server.requests)

    result = preflight_image(uri("later"), registry_url=token_registry.url, credentials=credentials)

    assert result.ok
    assert len(token_server.requests) == before + 1


@pytest.mark.parametrize(("access_token", "ok"), [(GOOD_PASSWORD, True), (WRONG_PASSWORD, False)])
def test_application_default_credentials_end_to_end(
    token_registry, pushed_private, monkeypatch, tmp_path, caplog, access_token, ok
):
    """ADC from a service-account key file: JWT grant at its token_uri, then the registry flow."""
    from tests.integration.registry_tools import OAuthTokenEndpoint

    caplog.set_level(logging.DEBUG)
    email = "batch-runner@secure-project.iam.gserviceaccount.com"
    oauth = OAuthTokenEndpoint(access_token).start()
    try:
        monkeypatch.setenv(
            "GOOGLE_APPLICATION_CREDENTIALS", str(oauth.write_key_file(tmp_path / "k.json", email))
        )
        if ok:
            result = preflight_image(uri(), registry_url=token_registry.url)
            assert result.ok and result.digest == pushed_private
        else:
            with pytest.raises(ImageUnreadable) as caught:
                preflight_image(uri(), registry_url=token_registry.url)
            assert f"service account {email} (application default credentials)" in str(caught.value)
            assert access_token not in str(caught.value)
    finally:
        oauth.stop()
    assert oauth.grants == [email]  # fetched once, only because the registry challenged
    assert access_token not in caplog.text


def test_cached_reads_do_not_vouch_for_another_identity(token_registry, pushed_private):
    good = preflight_image(
        uri(), registry_url=token_registry.url, credentials=user_credentials(GOOD_PASSWORD)
    )

    for reference in ("1.0", good.digest):
        with pytest.raises(ImageUnreadable, match="refused the given credentials"):
            preflight_image(
                uri(reference=reference),
                registry_url=token_registry.url,
                credentials=user_credentials(WRONG_PASSWORD),
            )
