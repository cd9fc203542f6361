"""Credentials Google refuses for good end a wait at once, naming whose they are; a token endpoint
that is only down does not.

Everything on the path is real except Google's own endpoints: an Airflow connection from an
``AIRFLOW_CONN_*`` variable holding a service-account key (``keyfile_dict``) and an
``api_endpoint`` extra, google-auth signing and refreshing, and the Batch client over TLS to the
emulator serving a self-signed certificate at that endpoint. Google's OAuth token endpoint and
IAM's ``generateAccessToken`` are a loopback server (:class:`OAuthTokenEndpoint`), and the
emulator checks the callers' tokens as Batch would (a deleted key's self-signed JWT is refused).

Through impersonation, a refused refresh reaches the client as ``UNAVAILABLE: Getting metadata
from plugin failed``: without the provider seeing through it, those waits (``timeout=None``)
would never end.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fixtures.emulator import make_job
from tests.integration.registry_tools import OAuthTokenEndpoint, ec_key, self_signed_cert

#: A real Airflow or a credential refresh in a subprocess, waited for: scripts/test --fast leaves it out.
pytestmark = pytest.mark.slow


REPO = Path(__file__).resolve().parents[2]
PROJECT = "cred-project"
PARENT = f"projects/{PROJECT}/locations/us-central1"
GOOD = "batch-runner@cred-project.iam.gserviceaccount.com"
REVOKED = "deleted-runner@cred-project.iam.gserviceaccount.com"
TARGET = "batch-target@cred-project.iam.gserviceaccount.com"
NOT_GRANTED = "locked-target@cred-project.iam.gserviceaccount.com"
FLAKY = "flaky-runner@cred-project.iam.gserviceaccount.com"
MODES = ["worker", "trigger"]


def tls_identity(host: str) -> tuple[bytes, bytes]:
    """``(private key PEM, self-signed certificate PEM)`` valid for ``host`` and 127.0.0.1."""
    from cryptography.hazmat.primitives import serialization

    key = ec_key()
    pem_key = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return pem_key, self_signed_cert(key, host, hosts=(host, "127.0.0.1"))


@dataclass
class Google:
    """The stand-ins: Batch (the emulator over TLS) and Google's token and IAM endpoints."""

    emulator: object
    api_endpoint: str
    oauth: OAuthTokenEndpoint
    roots: Path

    def create_job(self, job_id: str, *, hold: bool) -> str:
        """A job in the emulator (RUNNING until finished when ``hold``), created over TLS."""
        import grpc
        from google.cloud.batch_v1 import BatchServiceClient
        from google.cloud.batch_v1.services.batch_service.transports import BatchServiceGrpcTransport

        credentials = grpc.ssl_channel_credentials(root_certificates=self.roots.read_bytes())
        with grpc.secure_channel(self.api_endpoint, credentials) as channel:
            client = BatchServiceClient(transport=BatchServiceGrpcTransport(channel=channel))
            commands = ("hold",) if hold else ("done",)
            return client.create_job(parent=PARENT, job_id=job_id, job=make_job(commands=commands)).name

    def connection(self, email: str) -> str:
        """An ``AIRFLOW_CONN_*`` value: the key of ``email`` and the emulator as Batch endpoint."""
        extra = {
            "keyfile_dict": json.dumps(self.oauth.key_info(email)),
            "project": PROJECT,
            "api_endpoint": self.api_endpoint,
        }
        return json.dumps({"conn_type": "google_cloud_platform", "extra": extra})

    def wait(self, cases: dict[str, dict]) -> dict[str, dict]:
        """How each case's wait ends (see tests/integration/credential_wait.py), in one interpreter."""
        env = {k: v for k, v in os.environ.items() if k != "BATCHSTREAM_EMULATOR_HOST"}
        for email in {case["as"] for case in cases.values()}:
            env[f"AIRFLOW_CONN_{conn_id(email).upper()}"] = self.connection(email)
        env.update(
            GRPC_DEFAULT_SSL_ROOTS_FILE_PATH=str(self.roots),
            BATCHSTREAM_TEST_IAM_ENDPOINT=self.oauth.iam_endpoint,
        )
        script_cases = {name: {**case, "conn": conn_id(case["as"])} for name, case in cases.items()}
        done = subprocess.run(
            [sys.executable, "-m", "tests.integration.credential_wait", json.dumps(script_cases)],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-4000:]
        return json.loads(done.stdout.strip().splitlines()[-1])


def conn_id(email: str) -> str:
    return "batch_" + email.split("@")[0].replace("-", "_")


def batch_checks_the_caller(metadata: dict[str, str]) -> str | None:
    """Batch's check of a caller: a self-signed JWT of a deleted key is refused; tokens from the
    token endpoint or IAM are accepted (their refusals happen there, before any call)."""
    import jwt

    token = metadata.get("authorization", "").removeprefix("Bearer ")
    if not token or token.startswith("ya29."):
        return None  # the test's own calls carry no token
    if jwt.decode(token, options={"verify_signature": False}).get("iss") == REVOKED:
        return "Request had invalid authentication credentials. Expected OAuth 2 access token."
    return None


#: name -> (the connection's key, impersonated account, whether the job is held RUNNING).
CASES = {
    "valid": (GOOD, None, False),
    "deleted_key": (REVOKED, None, True),
    "revoked_source": (REVOKED, TARGET, True),
    "not_granted": (GOOD, NOT_GRANTED, True),
    "outage": (FLAKY, TARGET, False),
}


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory) -> Iterator[tuple[dict[str, dict], Google]]:
    """Every case's wait, in the worker and in the trigger: ``({"<case>-<mode>": outcome}, google)``."""
    from airflow_batchstream.emulator import BatchEmulator

    key, cert = tls_identity("localhost")
    roots = tmp_path_factory.mktemp("tls") / "emulator.pem"
    roots.write_bytes(cert)
    hold = {"rules": [{"match": {"command": "hold"}, "stay_running": True}]}
    emulator = BatchEmulator(speed=20, scenario=hold, authenticate=batch_checks_the_caller)
    port = emulator.start("127.0.0.1", 0, tls=(key, cert)).rsplit(":", 1)[1]
    # More 503s than google-auth's own three attempts of one refresh, for each of the two waits.
    oauth = OAuthTokenEndpoint(
        "ya29.cred-test", revoked={REVOKED}, not_granted={NOT_GRANTED}, unavailable={FLAKY: 8}
    ).start()
    google = Google(emulator, f"localhost:{port}", oauth, roots)
    try:
        cases = {
            f"{name}-{mode}": {
                "mode": mode,
                "as": email,
                "impersonate": impersonate,
                "job": google.create_job(f"{name.replace('_', '-')}-{mode}", hold=hold_job),
            }
            for name, (email, impersonate, hold_job) in CASES.items()
            for mode in MODES
        }
        cases["valid-deferred"] = {"mode": "deferred", "as": GOOD, "impersonate": None, "job": ""}
        yield google.wait(cases), google
    finally:
        oauth.stop()
        emulator.stop()


def ended_by_refused_credentials(outcomes, case: str, mode: str) -> str:
    """The wait ended with CredentialsRefused (worker) or its ``error`` event (trigger); its message."""
    outcome = outcomes[0][f"{case}-{mode}"]
    if mode == "worker":
        assert outcome.get("raised") == "CredentialsRefused", outcome
    else:
        assert (outcome["status"], outcome["error"]) == ("error", "credentials"), outcome
    return outcome["message"]


@pytest.mark.parametrize("mode", MODES)
def test_a_valid_key_reaches_batch_over_tls_at_the_connections_endpoint(outcomes, mode):
    outcome = outcomes[0][f"valid-{mode}"]
    assert outcome["status"] == "success", outcome
    if mode == "worker":
        assert outcome["endpoint"] == outcomes[1].api_endpoint


def test_a_deferred_operator_hands_the_connections_endpoint_to_its_trigger(outcomes):
    outcome, google = outcomes[0]["valid-deferred"], outcomes[1]
    # Created through the endpoint, awaited by a trigger rebuilt from its serialized kwargs.
    assert outcome["api_endpoint"] == google.api_endpoint
    assert outcome["status"] == "success", outcome
    assert google.emulator.job(outcome["job"]).status.state.name == "SUCCEEDED"


@pytest.mark.parametrize("mode", MODES)
def test_a_deleted_key_ends_the_wait_naming_the_identity_and_the_fix(outcomes, mode):
    # The job is held RUNNING: nothing but the refusal can end this wait.
    message = ended_by_refused_credentials(outcomes, "deleted_key", mode)
    assert f"connection 'batch_deleted_runner' as {REVOKED}" in message
    assert "invalid authentication credentials" in message
    assert "create a new key and update the connection" in message


@pytest.mark.parametrize("mode", MODES)
def test_a_revoked_source_key_of_an_impersonation_ends_the_wait(outcomes, mode):
    message = ended_by_refused_credentials(outcomes, "revoked_source", mode)
    assert f"as {REVOKED} impersonating {TARGET}" in message
    assert "invalid_grant" in message  # the token endpoint's answer, which gRPC reports as UNAVAILABLE
    assert "roles/iam.serviceAccountTokenCreator" in message


@pytest.mark.parametrize("mode", MODES)
def test_an_impersonation_not_granted_ends_the_wait_naming_the_chain(outcomes, mode):
    message = ended_by_refused_credentials(outcomes, "not_granted", mode)
    assert f"connection 'batch_batch_runner' as {GOOD} impersonating {NOT_GRANTED}" in message
    assert "PERMISSION_DENIED" in message
    assert f"impersonate:{NOT_GRANTED}" in outcomes[1].oauth.grants  # IAM was really asked


@pytest.mark.parametrize("mode", MODES)
def test_a_token_endpoint_outage_that_passes_does_not_end_the_wait(outcomes, mode):
    outcome = outcomes[0][f"outage-{mode}"]
    assert outcome["status"] == "success", outcome
    assert outcomes[1].oauth.unavailable[FLAKY] == 0  # the outage happened, and was waited out
