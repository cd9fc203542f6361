"""Session fixtures for the end-to-end tests: the Batch emulator and a real Airflow 3 on loopback.

One stack serves the whole session (starting Airflow costs 15-25 s on two cores). When a test
fails, the tail of every process log is attached to its report; when the stack cannot start, the
fixture error carries those logs.
"""

from __future__ import annotations

import pytest

from tests.e2e.harness import (
    E2E_DAGS,
    EXAMPLE_DAGS,
    SCENARIO,
    AirflowApi,
    AirflowStack,
    start_emulator,
)

#: Emulated seconds per wall second: the e2e scenario's phases last a few wall seconds.
EMULATOR_SPEED = 2.0
#: Any project and location work against the emulator; these are what the example DAGs default to.
PROJECT = "example-project"
LOCATION = "us-central1"


#: What the failure report needs from the session fixtures (set as they start).
_SESSION: dict = {}


@pytest.fixture(scope="session")
def e2e_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("e2e")
    _SESSION["dir"] = path
    return path


@pytest.fixture(scope="session")
def e2e_emulator_address(e2e_dir):
    """``host:port`` of a ``batchstream emulator`` subprocess running the e2e scenario."""
    service, address = start_emulator(e2e_dir / "emulator.log", speed=EMULATOR_SPEED, scenario=SCENARIO)
    try:
        yield address
    finally:
        service.stop()


#: The image the examples default to, as its repository path in a registry and its tag.
DEFAULT_IMAGE_NAME, DEFAULT_IMAGE_TAG = "example-project/pipelines/etl", "1.0"
#: The GPU example's image: two layers, as a (much smaller) CUDA image would have many.
GPU_IMAGE_NAME = "example-project/pipelines/gpu-infer"


@pytest.fixture(scope="session")
def e2e_registry(request):
    """``(url, digest)``: a loopback registry holding the examples' default image, or None.

    The preflight example reads its registry from the ``batchstream_registry_url`` Variable; with
    this registry it really checks the image and pins the digest. Without the ``docker-registry``
    binary (CI installs it) the preflight stays skipped, as it is against the emulator alone.
    """
    try:
        registry = request.getfixturevalue("registry")
    except pytest.skip.Exception:
        return None
    from tests.integration.registry_tools import make_layer

    pusher = registry.pusher()
    try:
        layer = make_layer({"app/etl.py": b"print('etl')\n"})
        digest = pusher.push_image(DEFAULT_IMAGE_NAME, DEFAULT_IMAGE_TAG, [layer])
        gpu_layers = [
            make_layer({"model/weights.bin": bytes(4096)}),
            make_layer({"infer/score.py": b"pass\n"}),
        ]
        pusher.push_image(GPU_IMAGE_NAME, DEFAULT_IMAGE_TAG, gpu_layers)
    finally:
        pusher.close()
    return registry.url, digest


@pytest.fixture(scope="session")
def airflow_stack(e2e_dir, e2e_emulator_address, e2e_registry, migrated_airflow_db):
    """API server, scheduler, DAG processor and triggerer, with dags/ and tests/e2e/dags/."""
    extra_env = {"BATCHSTREAM_EMULATOR_HOST": e2e_emulator_address}
    if e2e_registry is not None:
        extra_env["AIRFLOW_VAR_BATCHSTREAM_REGISTRY_URL"] = e2e_registry[0]
    stack = AirflowStack(
        home=e2e_dir / "airflow-home",
        dag_folders=[EXAMPLE_DAGS, E2E_DAGS],
        database=migrated_airflow_db,
        extra_env=extra_env,
    )
    try:
        stack.start()
        stack.wait_healthy()
    except BaseException as error:
        logs = stack.logs()
        stack.stop()
        raise RuntimeError(f"the Airflow stack did not start: {error}\n{logs}") from error
    _SESSION["stack"] = stack
    try:
        yield stack
    finally:
        _SESSION.pop("stack", None)
        stack.stop()


@pytest.fixture(scope="session")
def api(airflow_stack):
    client = AirflowApi(airflow_stack)
    yield client
    client.close()


@pytest.fixture(scope="session")
def end_job(e2e_emulator_address):
    """Ends a job the scenario holds RUNNING, successfully, from the test (the emulator runs in its
    own process): how a test drives a job past the moment it needs it running."""
    from airflow_batchstream.emulator.client import finish_job

    return lambda name: finish_job(name, address=e2e_emulator_address)


@pytest.fixture(scope="session")
def batch(e2e_emulator_address):
    """The real google-cloud-batch client, pointed at the emulator (plain gRPC, no credentials)."""
    import grpc
    from google.cloud import batch_v1
    from google.cloud.batch_v1.services.batch_service.transports import BatchServiceGrpcTransport

    channel = grpc.insecure_channel(e2e_emulator_address)
    client = batch_v1.BatchServiceClient(transport=BatchServiceGrpcTransport(channel=channel))
    yield client
    channel.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Attach the Airflow and emulator logs to the report of a failed e2e test."""
    outcome = yield
    report = outcome.get_result()
    if not report.failed or call.when not in ("setup", "call") or "e2e" not in item.keywords:
        return
    stack = _SESSION.get("stack")
    if stack is not None:
        report.sections.append(("airflow logs", stack.logs()))
    emulator_log = _SESSION["dir"] / "emulator.log" if "dir" in _SESSION else None
    if emulator_log is not None and emulator_log.exists():
        tail = emulator_log.read_text(errors="replace").splitlines()[-80:]
        report.sections.append(("emulator log", "\n".join(tail)))
