"""`batchstream validate` and `batchstream render`, run as a user would."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_batchstream.cli import main

DATA = Path(__file__).parent / "data"
SEED_JSON = DATA / "seed_job.json"
SEED_YAML = DATA / "seed_job.yaml"
IMAGE = "us-central1-docker.pkg.dev/example-project/pipelines/etl:1.0"


def _bad_job(tmp_path: Path) -> Path:
    job = json.loads(SEED_JSON.read_text())
    container = job["taskGroups"][0]["taskSpec"]["runnables"][0]["container"]
    container["options"] = "--privileged"
    job["labels"] = {"goog-team": "x"}
    job["name"] = "projects/p/locations/us-central1/jobs/j"  # a warning
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(job))
    return path


@pytest.mark.parametrize("path", [SEED_JSON, SEED_YAML], ids=["json", "yaml"])
def test_validate_seed_is_clean(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(path), "--location", "us-central1"]) == 0
    out = capsys.readouterr().out
    assert out.strip() == f"{path}: valid: 0 error(s), 0 warning(s)"


def test_validate_reports_every_problem_as_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _bad_job(tmp_path)
    assert main(["validate", str(path), "--location", "us-central1"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert (
        'taskGroups[0].taskSpec.runnables[0].container.options: options="--privileged" is not supported '
        "with image streaming; Batch ignores it silently [IS-3]"
    ) in lines
    assert any(line.startswith('labels["goog-team"]: ') and line.endswith("[L-3]") for line in lines)
    assert any(line.startswith("name: warning: ") and line.endswith("[J-OUTPUT]") for line in lines)
    assert sum(line.startswith("    fix: ") for line in lines) == 3
    assert lines[-1] == f"{path}: invalid: 2 error(s), 1 warning(s)"


def test_validate_json_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _bad_job(tmp_path)
    assert main(["validate", str(path), "--location", "us-central1", "--format", "json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert (report["errors"], report["warnings"], report["valid"]) == (2, 1, False)
    assert {p["rule"] for p in report["problems"]} == {"IS-3", "L-3", "J-OUTPUT"}
    assert set(report["problems"][0]) == {"path", "rule", "message", "fix", "severity"}


def test_validate_warnings_only_exits_zero(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "job.yaml"
    path.write_text(SEED_YAML.read_text().replace(IMAGE, "gcr.io/example-project/etl:1.0"))
    assert main(["validate", str(path), "--location", "us-central1"]) == 0
    assert "[IS-1b]" in capsys.readouterr().out
    assert main(["validate", str(path), "--location", "us-central1", "--gcr-hosts", "error"]) == 1


def test_validate_job_id_option(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(SEED_JSON), "--location", "us-central1", "--job-id", "Bad_Id"]) == 1
    assert "[J-ID]" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("request_id", "code"),
    [("6f1c9a3e-2b4d-4f6a-9c8e-1d2e3f4a5b6c", 0), ("00000000-0000-0000-0000-000000000000", 1), ("x", 1)],
)
def test_validate_request_id_option(request_id: str, code: int, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["validate", str(SEED_JSON), "--location", "us-central1", "--request-id", request_id]
    assert main(argv) == code
    assert ("requestId: " in capsys.readouterr().out) == bool(code)


def test_validate_a_snake_case_config_with_the_job_project(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Written as gcloud users write configs; the template names another project.
    path = tmp_path / "job.yaml"
    path.write_text(
        "task_groups:\n"
        "  - task_spec:\n"
        "      runnables:\n"
        f"        - container: {{image_uri: '{IMAGE}', enable_image_streaming: true}}\n"
        "allocation_policy:\n"
        "  instances:\n"
        "    - instance_template: projects/other-project/global/instanceTemplates/t\n"
        "logs_policy: {destination: CLOUD_LOGGING}\n"
    )
    assert main(["validate", str(path), "--location", "us-central1"]) == 0
    capsys.readouterr()
    parent = "projects/example-project/locations/us-central1"
    assert main(["validate", str(path), "--location", parent, "--format", "json"]) == 1
    [problem] = json.loads(capsys.readouterr().out)["problems"]
    assert (problem["rule"], problem["path"]) == (
        "AP-TEMPLATE",
        "allocation_policy.instances[0].instance_template",
    )


def test_validate_image_reference_grammar_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "job.yaml"
    path.write_text(SEED_YAML.read_text().replace(IMAGE, IMAGE.replace("etl:1.0", "ETL:1.0")))
    assert main(["validate", str(path), "--location", "us-central1"]) == 0
    assert "warning: path component 'ETL'" in capsys.readouterr().out
    assert (
        main(["validate", str(path), "--location", "us-central1", "--image-reference-grammar", "error"]) == 1
    )


@pytest.mark.parametrize(
    ("name", "content"),
    [("broken.json", '{"taskGroups": ['), ("broken.yaml", "taskGroups: [\n  - {")],
)
def test_validate_unparsable_file_exits_2(
    tmp_path: Path, name: str, content: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / name
    path.write_text(content)
    assert main(["validate", str(path), "--location", "us-central1"]) == 2
    assert "batchstream validate:" in capsys.readouterr().err


def test_validate_missing_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(tmp_path / "nope.json"), "--location", "us-central1"]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_validate_without_location_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as exited:
        main(["validate", str(SEED_JSON)])
    assert exited.value.code == 2


def test_render_prints_a_valid_job(capsys: pytest.CaptureFixture[str]) -> None:
    argv = [
        "render", "--image", IMAGE, "--location", "us-central1",
        "--command=--date", "--command", "2024-01-01",
        "--entrypoint", "/app/run", "--env", "MODE=fast=1", "--task-count", "4", "--parallelism", "2",
        "--machine-type", "e2-standard-4", "--spot", "--max-retries", "2", "--retry-exit-code", "75",
        "--label", "team=data", "--gcs-volume", "bucket/in:/mnt/in", "--max-run-duration", "3600",
        "--overrides", '{"priority": 10}',
    ]  # fmt: skip
    assert main(argv) == 0
    captured = capsys.readouterr()
    job = json.loads(captured.out)
    assert captured.err == ""
    container = job["taskGroups"][0]["taskSpec"]["runnables"][0]["container"]
    assert container["commands"] == ["--date", "2024-01-01"]
    assert container["enableImageStreaming"] is True
    spec = job["taskGroups"][0]["taskSpec"]
    assert spec["environment"] == {"variables": {"MODE": "fast=1"}}
    assert spec["volumes"] == [{"gcs": {"remotePath": "bucket/in"}, "mountPath": "/mnt/in"}]
    assert spec["maxRunDuration"] == "3600s"
    assert 75 in spec["lifecyclePolicies"][0]["actionCondition"]["exitCodes"]
    assert job["allocationPolicy"]["instances"][0]["policy"]["provisioningModel"] == "SPOT"
    assert (job["labels"], job["priority"]) == ({"team": "data"}, 10)


def test_render_has_one_flag_per_job_parameter_with_the_table_help_and_defaults(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import argparse

    from airflow_batchstream.commands import render as render_command
    from airflow_batchstream.jobspec.parameters import JOB_PARAMETERS

    monkeypatch.setenv("COLUMNS", "1000")  # one line per flag
    parser = argparse.ArgumentParser()
    render_command.add_arguments(parser)
    assert set(render_command.FLAGS) == set(JOB_PARAMETERS)
    assert len(set(render_command.FLAGS.values())) == len(JOB_PARAMETERS)
    # One entry per option: its line, and its help's line when the flag is too long to share one.
    entries: dict[str, str] = {}
    for line in parser.format_help().splitlines():
        if line.startswith("  -"):
            flag = line.split()[0].rstrip(",")  # "--x, --no-x" for a flag with a negative form
            entries[flag] = line
        elif line.startswith("   ") and entries:
            entries[flag] += line
    for name, flag in render_command.FLAGS.items():
        if name != "image_streaming":  # --no-image-streaming says what the flag does instead
            meaning = JOB_PARAMETERS[name].doc.replace("`", "").replace(" when None", " when not given")
            assert meaning in entries[flag], name
    args = parser.parse_args(["--image", IMAGE, "--location", "us-central1"])
    defaults = {name: parameter.default for name, parameter in JOB_PARAMETERS.items()}
    assert render_command.parameters_from(args) == {**defaults, "image_uri": IMAGE}


def test_render_reports_problems_on_stderr_and_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    image = "us-east1-docker.pkg.dev/example-project/pipelines/etl:1.0"
    assert main(["render", "--image", image, "--location", "us-central1"]) == 1
    captured = capsys.readouterr()
    assert (
        json.loads(captured.out)["taskGroups"][0]["taskSpec"]["runnables"][0]["container"]["imageUri"]
        == image
    )
    assert "[IS-2]" in captured.err and "1 error(s)" in captured.err


def test_render_reads_overrides_and_volumes_from_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    overrides = tmp_path / "overrides.yaml"
    overrides.write_text("priority: 7\nlabels:\n  team: data\n")
    volume = '{"nfs": {"server": "10.0.0.2", "remotePath": "/share"}, "mountPath": "/mnt/nfs"}'
    argv = ["render", "--image", IMAGE, "--location", "us-central1", "--overrides", f"@{overrides}"]
    assert main([*argv, "--volume", volume]) == 0
    job = json.loads(capsys.readouterr().out)
    assert (job["priority"], job["labels"]) == (7, {"team": "data"})
    assert job["taskGroups"][0]["taskSpec"]["volumes"] == [json.loads(volume)]


@pytest.mark.parametrize(
    ("levels", "code", "found"),
    [
        ([], 0, "warning: this GPU job's container streams its image"),
        (["--gpu-with-image-streaming", "off"], 0, None),
        (["--gpu-with-image-streaming", "error", "--gpu-drivers-missing", "error"], 1, "2 error(s)"),
    ],
)
def test_render_a_gpu_job_with_the_gpu_policy_levels_as_flags(
    levels: list[str], code: int, found: str | None, capsys: pytest.CaptureFixture[str]
) -> None:
    gpu = [
        "--machine-type",
        "n1-standard-8",
        "--accelerator-type",
        "nvidia-tesla-t4",
        "--accelerator-count",
        "2",
    ]
    drivers = ["--no-install-gpu-drivers"] if "--gpu-drivers-missing" in levels else []
    assert main(["render", "--image", IMAGE, "--location", "us-central1", *gpu, *drivers, *levels]) == code
    captured = capsys.readouterr()
    first = json.loads(captured.out)["allocationPolicy"]["instances"][0]
    assert first["policy"]["accelerators"] == [{"type": "nvidia-tesla-t4", "count": 2}]
    assert first.get("installGpuDrivers") is (None if drivers else True)
    if found is None:
        assert "GPU-" not in captured.err
    else:
        assert found in captured.err, captured.err


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (["--env", "NOVALUE"], "argument --env: expected KEY=VALUE, got 'NOVALUE'"),
        (["--spot", "--provisioning-model", "FLEX_START"], "--spot (allocationPolicy.instances[0]"),
        (["--accelerator-type", "NVIDIA_L4"], "did you mean 'nvidia-l4'?"),
        (["--task-count", "many"], "--task-count (taskGroups[0].taskCount): expected an integer"),
        (["--overrides", "[1]"], "--overrides: expected a mapping of Batch Job fields"),
    ],
)
def test_render_bad_arguments_exit_2(bad: list[str], message: str) -> None:
    done = _batchstream("render", "--image", IMAGE, "--location", "us-central1", *bad)
    assert done.returncode == 2
    assert done.stdout == ""  # nothing is rendered from a bad flag
    assert done.stderr.startswith("batchstream render: error: ") and message in done.stderr


def _batchstream(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "airflow_batchstream.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )


def test_commands_run_as_a_real_process(tmp_path: Path) -> None:
    rendered = _batchstream("render", "--image", IMAGE, "--location", "us-central1")
    assert rendered.returncode == 0, rendered.stderr
    job_file = tmp_path / "job.json"
    job_file.write_text(rendered.stdout)
    validated = _batchstream("validate", str(job_file), "--location", "us-central1")
    assert validated.returncode == 0, validated.stdout
    piped = _batchstream("validate", "-", "--location", "us-east1", stdin=rendered.stdout)
    assert piped.returncode == 1 and "[IS-2]" in piped.stdout
