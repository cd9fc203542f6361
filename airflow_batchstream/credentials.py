"""Google credentials that can no longer be refreshed: recognised however the client wraps them,
and explained by whose they are and what to fix.

Credentials that need a token endpoint (impersonation, user or external-account credentials,
the metadata server, the source key of an impersonation) fail to refresh when a key is revoked, a
service account deleted or disabled, or an impersonation not granted: google-auth raises
``RefreshError``. gRPC does not pass that exception on: its auth plugin turns it into
``UNAVAILABLE: Getting metadata from plugin failed ...``, which looks exactly like a transient
outage, and a wait would retry it forever. So on a transient error the hook asks the credentials
themselves (:func:`permanent_refresh_error`): when they hold no valid token, refreshing them now
either works (the outage was something else), fails for a transient reason (network, 429, 5xx:
keep waiting), or fails for good (end the wait with :class:`CredentialsRefused`).

A service-account key used directly signs its own tokens (the Batch client asks google-auth for
self-signed JWTs), so no refresh fails: Batch itself answers UNAUTHENTICATED, which the hook
reports the same way.

Imports google.auth lazily; imported only where the hook is.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from airflow_batchstream.exceptions import CredentialsRefused

#: HTTP statuses of an IAM answer that a later retry may not get (google-auth marks every
#: impersonation failure non-retryable, 503s included).
_TRANSIENT_HTTP = frozenset({408, 429, 500, 502, 503, 504})
_MAX_CHAIN = 16


def refusal_in_chain(exc: BaseException) -> BaseException | None:
    """The permanent google-auth error in ``exc`` or its causes, if there is one."""
    from google.auth import exceptions as auth_exceptions

    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(seen) < _MAX_CHAIN:
        seen.add(id(current))
        if isinstance(current, auth_exceptions.DefaultCredentialsError):
            return current
        if isinstance(current, auth_exceptions.RefreshError) and not _retryable(current):
            return current
        current = current.__cause__ or current.__context__
    return None


def permanent_refresh_error(credentials: Any) -> BaseException | None:
    """Refresh ``credentials`` if they hold no valid token; return the error if it is permanent.

    Cheap when the token is valid (nothing is sent): then the credentials are not what failed.
    Blocking I/O otherwise; call it off the event loop.
    """
    from google.auth import exceptions as auth_exceptions

    if credentials is None or getattr(credentials, "valid", True):
        return None
    import google.auth.transport.requests

    try:
        credentials.refresh(google.auth.transport.requests.Request())
    except auth_exceptions.GoogleAuthError as error:
        return refusal_in_chain(error)
    return None


def _retryable(error: BaseException) -> bool:
    if getattr(error, "retryable", False):
        return True
    # Impersonation: RefreshError("Unable to acquire impersonated credentials", <IAM error JSON>).
    for arg in getattr(error, "args", ())[1:]:
        try:
            status = json.loads(arg)["error"]["code"] if isinstance(arg, str) else None
        except (ValueError, KeyError, TypeError):
            status = None
        if status in _TRANSIENT_HTTP:
            return True
    return False


def identity_of(credentials: Any, gcp_conn_id: str, impersonation_chain: str | Sequence[str] | None) -> str:
    """Whose credentials these are, for messages: the connection, the key's service account when
    known, and the impersonation chain. Never a secret."""
    parts = [f"connection {gcp_conn_id!r}"]
    source = getattr(credentials, "_source_credentials", None)  # impersonated credentials
    email = _email_of(source if source is not None else credentials)
    if email:
        parts.append(f"as {email}")
    chain = [impersonation_chain] if isinstance(impersonation_chain, str) else list(impersonation_chain or [])
    if chain:
        parts.append("impersonating " + " -> ".join(chain))
    return " ".join(parts)


def _email_of(credentials: Any) -> str:
    for attribute in ("service_account_email", "signer_email", "account"):
        value = getattr(credentials, attribute, None)
        if isinstance(value, str) and value and value != "default":
            return value
    return ""


def refused(error: BaseException, identity: str, *, impersonating: bool) -> CredentialsRefused:
    """The error a task fails with when Google refuses its credentials for good."""
    from google.auth import exceptions as auth_exceptions

    if isinstance(error, auth_exceptions.DefaultCredentialsError):
        fix = (
            "configure credentials: a service-account key (keyfile_dict or key_path) in the "
            "connection, or application default credentials on the worker and the triggerer"
        )
    elif impersonating:
        fix = (
            "check the key of the connection's own identity, and that each account of "
            "impersonation_chain grants roles/iam.serviceAccountTokenCreator to the one before it "
            "(and that the IAM Service Account Credentials API is enabled)"
        )
    else:
        fix = (
            "the key may be revoked or deleted, or its service account deleted or disabled: "
            "create a new key and update the connection"
        )
    detail = str(error)
    detail = detail if len(detail) <= 400 else detail[:400] + "..."
    return CredentialsRefused(
        f"Google refused the credentials of {identity}: {type(error).__name__}: {detail}. "
        f"Retrying cannot fix this; {fix}."
    )
