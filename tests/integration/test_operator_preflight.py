"""The operator's image preflight against a real registry on loopback, then the emulator.

``registry_url`` points the preflight at the local registry (as it would at a mirror); the job
itself still goes to the emulator.
"""

from __future__ import annotations

import pytest

from airflow_batchstream.exceptions import ImageCheckFailed
from airflow_batchstream.operators import BatchStreamJobOperator
from airflow_batchstream.preflight.media import format_size
from tests.fixtures.airflow import LOCATION, PROJECT, make_context
from tests.integration.registry_tools import FaultyFront, make_layer

pytestmark = pytest.mark.usefixtures("fresh_preflight_cache")

HOST_REPO = "us-central1-docker.pkg.dev/test-project/images"


def operator(registry, image: str, **overrides) -> BatchStreamJobOperator:
    args = {
        "task_id": "crunch",
        "image_uri": f"{HOST_REPO}/{image}:1.0",
        "location": LOCATION,
        "project_id": PROJECT,
        "commands": ["app"],
        "poll_interval": 0.1,
        "registry_url": registry.url,
    }
    args.update(overrides)
    return BatchStreamJobOperator(**args)


def push(registry, image: str, layers) -> str:
    pusher = registry.pusher()
    try:
        return pusher.push_image(f"test-project/images/{image}", "1.0", layers)
    finally:
        pusher.close()


def test_pinned_digest_is_what_runs_and_is_reported(gcp_env, emulator, registry):
    digest = push(registry, "good", [make_layer({"a.txt": b"a\n" * 50}), make_layer({"b.txt": b"b\n" * 50})])
    summary = operator(registry, "good", pin_image_digest=True).execute(make_context())
    assert summary["image_digest"] == digest
    uri = emulator.jobs()[0].task_groups[0].task_spec.runnables[0].container.image_uri
    # IMAGE@DIGEST, the form Artifact Registry documents (not IMAGE:TAG@DIGEST).
    assert uri == f"{HOST_REPO}/good@{digest}"


def test_ineligible_image_fails_before_submission(gcp_env, emulator, registry):
    layer = make_layer({"same.txt": b"same\n" * 50})
    push(registry, "dup", [layer, layer])  # duplicate layers cannot be streamed (IS-6)
    with pytest.raises(ImageCheckFailed, match="cannot be streamed"):
        operator(registry, "dup").execute(make_context())
    assert emulator.call_counts == {}


def test_warn_mode_submits_anyway(gcp_env, emulator, registry):
    layer = make_layer({"same.txt": b"again\n" * 50})
    push(registry, "dup2", [layer, layer])
    summary = operator(registry, "dup2", image_check="warn").execute(make_context())
    assert summary["state"] == "SUCCEEDED"


def test_unreadable_image_fails_before_submission(gcp_env, emulator, registry):
    with pytest.raises(ImageCheckFailed, match="cannot be checked"):
        operator(registry, "missing").execute(make_context())
    assert emulator.call_counts == {}


def test_preflight_is_skipped_offline_without_registry_url(gcp_env, emulator):
    op = BatchStreamJobOperator(
        task_id="crunch",
        image_uri=f"{HOST_REPO}/nowhere:1.0",
        location=LOCATION,
        project_id=PROJECT,
        poll_interval=0.1,
    )
    assert op.execute(make_context())["state"] == "SUCCEEDED"


def _operator(**kwargs) -> BatchStreamJobOperator:
    return BatchStreamJobOperator(
        task_id="crunch", location=LOCATION, project_id=PROJECT, poll_interval=0.1, **kwargs
    )


def test_a_reference_the_validator_rejects_costs_no_registry_call(gcp_env, emulator):
    from airflow_batchstream.exceptions import ParameterInvalid
    from tests.integration.registry_tools import ScriptedRegistry

    watcher = ScriptedRegistry(routes={}).start()
    image = "docker.io/library/busybox:1.36"  # not Artifact Registry: IS-1, an error
    refusal = r"image_uri .*not in Artifact Registry.*\[IS-1\]"
    try:
        # A static reference fails when the DAG is parsed; a templated one when the task runs.
        with pytest.raises(ParameterInvalid, match=refusal):
            _operator(image_uri=image, registry_url=watcher.url)
        op = _operator(image_uri="{{ var.value.image }}", registry_url=watcher.url)
        op.image_uri = image  # as rendered
        with pytest.raises(ParameterInvalid, match=refusal):
            op.execute(make_context())
    finally:
        watcher.stop()
    assert watcher.seen == []
    assert emulator.call_counts == {}


def test_a_reference_outside_the_registry_grammar_is_refused_by_the_preflight_before_any_call(
    gcp_env, emulator
):
    from tests.integration.registry_tools import ScriptedRegistry

    watcher = ScriptedRegistry(routes={}).start()
    try:
        # Only a warning for the job (the DAG parses), but the registry API cannot be asked about
        # it, so the preflight refuses it before any call.
        op = _operator(
            image_uri="us-central1-docker.pkg.dev/test-project/Images/app:1.0", registry_url=watcher.url
        )
        with pytest.raises(ImageCheckFailed, match=r"'Images'(.|\n)*\[IS-1\]"):
            op.execute(make_context())
    finally:
        watcher.stop()
    assert watcher.seen == []
    assert emulator.call_counts == {}


def test_the_registry_retry_budget_is_the_configured_one(gcp_env, emulator, registry, monkeypatch):
    push(registry, "throttled", [make_layer({"t.txt": b"t\n" * 50})])
    front = FaultyFront(registry.url, faults=[(503, {})], forever=True).start()
    monkeypatch.setenv("AIRFLOW__BATCHSTREAM__PREFLIGHT_RETRY_BUDGET", "0.000001")
    try:
        with pytest.raises(ImageCheckFailed, match="HTTP 503"):
            operator(front, "throttled").execute(make_context())
        # A budget that short leaves no room for a retry (the default, 30 s, retries for 30 s).
        assert [status for _, _, status in front.answers] == [503]
    finally:
        front.stop()
    assert emulator.call_counts == {}


def test_the_image_size_and_layers_are_logged_with_the_chosen_boot_disk(gcp_env, emulator, registry, capfd):
    layers = [make_layer({"weights.bin": bytes(range(256)) * 64}), make_layer({"infer.py": b"print(1)\n"})]
    push(registry, "gpu-infer", layers)
    gpu = operator(
        registry,
        "gpu-infer",
        machine_type="g2-standard-8",
        boot_disk_size_gb=200,
        boot_disk_type="pd-ssd",
        boot_disk_image="batch-cos",
    )
    assert gpu.execute(make_context())["state"] == "SUCCEEDED"
    size = format_size(sum(len(layer.data) for layer in layers))
    assert (
        f"Image {HOST_REPO}/gpu-infer:1.0: 2 layers, {size} compressed, streamed as tasks read it instead "
        "of pulled whole; boot disk: 200 GB, pd-ssd, image batch-cos"
    ) in _output(capfd)
    assert size.endswith(" B")  # the two small layers' bytes, summed


def test_batchs_own_boot_disk_sizing_is_named_when_none_is_given(gcp_env, emulator, registry, capfd):
    push(registry, "small", [make_layer({"a.txt": b"a\n"})])
    operator(registry, "small", boot_disk_mib=4096).execute(make_context())
    assert "boot disk: sized by Batch + 4096 MiB per task, pd-balanced, image Batch's default image" in (
        _output(capfd)
    )


def _output(capfd) -> str:
    """What the task logged (Airflow's task logger writes through structlog), on one line."""
    captured = capfd.readouterr()
    return " ".join((captured.out + captured.err).split())
