"""credentials: which google-auth failures are permanent however they are wrapped, and whose they are."""

from __future__ import annotations

import json

import pytest
from google.api_core import exceptions as api_exceptions
from google.auth import exceptions as auth_exceptions

from airflow_batchstream.credentials import identity_of, refusal_in_chain, refused
from airflow_batchstream.exceptions import CredentialsRefused

IAM_DENIED = json.dumps({"error": {"code": 403, "status": "PERMISSION_DENIED", "message": "denied"}})
IAM_DOWN = json.dumps({"error": {"code": 503, "status": "UNAVAILABLE", "message": "try later"}})


def wrapped(error: BaseException) -> BaseException:
    """``error`` as the cause of an API error, the way api_core chains what it caught."""
    try:
        try:
            raise error
        except Exception as inner:
            raise api_exceptions.ServiceUnavailable("Getting metadata from plugin failed") from inner
    except api_exceptions.ServiceUnavailable as outer:
        return outer


@pytest.mark.parametrize(
    "error",
    [
        auth_exceptions.RefreshError("invalid_grant: Invalid JWT Signature.", {"error": "invalid_grant"}),
        auth_exceptions.RefreshError("Unable to acquire impersonated credentials", IAM_DENIED),
        auth_exceptions.DefaultCredentialsError("Your default credentials were not found."),
    ],
)
def test_permanent_failures_are_found_however_deep(error):
    assert refusal_in_chain(error) is error
    assert refusal_in_chain(wrapped(error)) is error


@pytest.mark.parametrize(
    "error",
    [
        auth_exceptions.RefreshError("temporarily_unavailable", retryable=True),
        auth_exceptions.RefreshError("Unable to acquire impersonated credentials", IAM_DOWN),
        auth_exceptions.TransportError("connection reset"),
        api_exceptions.ServiceUnavailable("the service is down"),
    ],
)
def test_transient_failures_are_not_refusals(error):
    assert refusal_in_chain(error) is None
    assert refusal_in_chain(wrapped(error)) is None


def test_a_cycle_in_the_chain_ends_the_search():
    first, second = ValueError("a"), ValueError("b")
    first.__context__, second.__context__ = second, first
    assert refusal_in_chain(first) is None


def service_account(email: str):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from google.oauth2 import service_account as sa

    pem = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        .decode()
    )
    info = {"client_email": email, "private_key": pem, "token_uri": "http://127.0.0.1:9/token"}
    return sa.Credentials.from_service_account_info(info)


def test_the_identity_names_the_connection_the_key_and_the_chain():
    from google.auth import impersonated_credentials

    source = service_account("runner@p.iam.gserviceaccount.com")
    assert identity_of(source, "gcp", None) == "connection 'gcp' as runner@p.iam.gserviceaccount.com"
    target = impersonated_credentials.Credentials(source, "target@p.iam.gserviceaccount.com", None, [])
    chain = ["middle@p.iam.gserviceaccount.com", "target@p.iam.gserviceaccount.com"]
    assert identity_of(target, "gcp", chain) == (
        "connection 'gcp' as runner@p.iam.gserviceaccount.com impersonating "
        "middle@p.iam.gserviceaccount.com -> target@p.iam.gserviceaccount.com"
    )
    assert identity_of(None, "gcp", None) == "connection 'gcp'"  # not built yet: no secret, no guess


@pytest.mark.parametrize(
    ("error", "impersonating", "fix"),
    [
        (auth_exceptions.RefreshError("invalid_grant"), False, "create a new key"),
        (auth_exceptions.RefreshError("invalid_grant"), True, "roles/iam.serviceAccountTokenCreator"),
        (auth_exceptions.DefaultCredentialsError("not found"), False, "configure credentials"),
    ],
)
def test_the_refusal_says_what_to_fix(error, impersonating, fix):
    failure = refused(error, "connection 'gcp'", impersonating=impersonating)
    assert isinstance(failure, CredentialsRefused)
    assert "connection 'gcp'" in str(failure) and fix in str(failure)
    assert "Retrying cannot fix this" in str(failure)
