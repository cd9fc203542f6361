"""Bad input to every `batchstream` subcommand: exit code, one line, no traceback, bounded cost.

Each case runs the real command in a subprocess, which reports its own peak memory
(``resource.getrusage``) when it exits. The bounds are sanity limits, generous on purpose (the
"billion laughs" document below used to run past 60 s and 3.7 GiB): the point is that every
case fails on a limit, not how fast.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from airflow_batchstream.documents import MAX_DEPTH, MAX_DOCUMENT_BYTES

IMAGE = "us-central1-docker.pkg.dev/example-project/pipelines/etl:1.0"
SANITY_SECONDS = 30.0
MAX_RSS_MIB = 300

RUNNER = """
import json, os, resource, sys
from airflow_batchstream.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as exit:
    code = exit.code
with open(os.environ["RUSAGE_FILE"], "w") as report:
    json.dump({"maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}, report)
sys.exit(code)
"""


def alias_bomb(levels: int = 17) -> str:
    """A few hundred bytes of YAML whose aliases expand to 9**levels strings."""
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in range(1, levels + 1):
        lines.append(f"a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


#: name -> (file name, content) of the documents the cases read.
DOCUMENTS: dict[str, tuple[str, str | bytes]] = {
    "bomb": ("bomb.yaml", alias_bomb()),
    "deep_json": ("deep.json", "[" * 200_000 + "]" * 200_000),
    "deep_yaml_flow": ("deep.yaml", "[" * 200_000 + "]" * 200_000),
    "deep_yaml_block": ("block.yaml", "".join("  " * i + "- \n" for i in range(MAX_DEPTH + 5))),
    "recursive": ("recursive.yaml", "a: &a [*a]\n"),
    "huge": ("huge.json", '{"labels": {"a": "' + "x" * MAX_DOCUMENT_BYTES + '"}}'),
    "binary": ("job.json", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"),
    "latin1": ("job.yaml", "name: caf\xe9\n".encode("latin-1")),
    "empty_json": ("empty.json", ""),
    "empty_yaml": ("empty.yaml", ""),
    "comments": ("comments.yaml", "# nothing here\n"),
    "broken_json": ("broken.json", '{"taskGroups": ['),
    "list_json": ("list.json", "[1, 2]"),
    "scenario_rules_int": ("scenario.yaml", "rules: 5\n"),
    "scenario_bad_code": ("scenario.yaml", 'rules:\n  - exit_codes: {"*": x}\n'),
    "scenario_bad_bool": ("scenario.yaml", "rules:\n  - stay_running: 'no'\n"),
    "scenario_text": ("scenario.json", '"everything succeeds"'),
    "scenario_phase": ("scenario.yaml", "phases: {running: soon}\n"),
}


@dataclass(frozen=True)
class Case:
    """One bad input: argv (``{name}`` is the path of that document), exit code, a piece of the line."""

    argv: tuple[str, ...]
    code: int
    says: str

    def id(self) -> str:
        return " ".join(self.argv)[:60]


def render(*args: str) -> tuple[str, ...]:
    return ("render", "--image", IMAGE, "--location", "us-central1", *args)


def validate(name: str) -> tuple[str, ...]:
    return ("validate", f"{{{name}}}", "--location", "us-central1")


CASES = [
    Case(validate("bomb"), 2, "expands through its YAML aliases beyond the 8 MiB limit"),
    Case(validate("deep_json"), 2, f"is nested deeper than the limit of {MAX_DEPTH} levels"),
    Case(validate("deep_yaml_flow"), 2, "exceeded maximum nesting depth"),
    Case(validate("deep_yaml_block"), 2, f"is nested deeper than the limit of {MAX_DEPTH} levels"),
    Case(validate("recursive"), 2, "contains itself (alias *a inside its anchor)"),
    Case(validate("huge"), 2, "is larger than the 8 MiB limit"),
    Case(validate("binary"), 2, "is binary, not JSON or YAML text"),
    Case(validate("latin1"), 2, "is not UTF-8 text"),
    Case(validate("empty_json"), 2, "is empty"),
    Case(validate("empty_yaml"), 2, "is empty"),
    Case(validate("comments"), 2, "holds no document"),
    Case(validate("broken_json"), 2, "is not valid JSON"),
    Case(("validate", "/nonexistent/job.json", "--location", "us-central1"), 2, "cannot read"),
    Case(render("--overrides", "@{bomb}"), 2, "--overrides: @"),
    Case(render("--overrides", "@{empty_json}"), 2, "is empty"),
    Case(render("--overrides", "@{list_json}"), 2, "--overrides: expected a mapping"),
    Case(render("--volume", "notjson"), 2, "argument --volume: the value is not valid JSON"),
    Case(render("--volume", "[" * 100 + "]" * 100), 2, "nested deeper than the limit"),
    Case(render("--task-count", "0"), 2, "--task-count (taskGroups[0].taskCount): 0 is outside 1..100000"),
    Case(render("--task-count", "many"), 2, "got the string 'many'"),
    Case(render("--max-retries", "-1"), 2, "--max-retries (taskGroups[0].taskSpec.maxRetryCount): -1 is"),
    Case(render("--command", "echo hi", "--service-account", "me"), 2, "--service-account"),
    Case(
        render("--label", "managed-by=me"),
        2,
        "--label (labels): label key(s) 'managed-by' are set by the provider",
    ),
    Case(render("--env", "NOVALUE"), 2, "argument --env: expected KEY=VALUE"),
    Case(("emulator", "--port", "70000"), 2, "argument --port: '70000' is not a TCP port"),
    Case(("emulator", "--port", "-1"), 2, "argument --port: '-1' is not a TCP port"),
    Case(("emulator", "--read-quota", "0"), 2, "argument --read-quota: '0' is not a number of calls"),
    Case(("emulator", "--speed", "inf"), 2, "argument --speed: must be greater than 0"),
    Case(("emulator", "--scenario", "{bomb}"), 2, "expands through its YAML aliases"),
    Case(("emulator", "--scenario", "{deep_json}"), 2, "nested deeper than the limit"),
    Case(("emulator", "--scenario", "{empty_yaml}"), 2, "is empty"),
    Case(("emulator", "--scenario", "{broken_json}"), 2, "is not valid JSON"),
    Case(("emulator", "--scenario", "{scenario_rules_int}"), 2, "rules: expected a list of rules, got 5"),
    Case(
        ("emulator", "--scenario", "{scenario_bad_code}"), 2, "rules[0].exit_codes['*']: expected an integer"
    ),
    Case(
        ("emulator", "--scenario", "{scenario_bad_bool}"), 2, "rules[0].stay_running: expected true or false"
    ),
    Case(("emulator", "--scenario", "{scenario_text}"), 2, "a scenario is a mapping with 'rules'"),
    Case(("emulator", "--scenario", "{scenario_phase}"), 2, "phases.running: expected seconds"),
    Case(("inspect-image", "not a uri!!"), 2, "is not an image reference: ' ', '!' cannot appear in one"),
    Case(("inspect-image", "ubuntu:22.04"), 2, "it is a Docker Hub name"),
    Case(
        ("inspect-image", "--timeout", "-1", IMAGE), 2, "argument --timeout: '-1' is not a number of seconds"
    ),
    Case(("bogus",), 2, "argument COMMAND: invalid choice: 'bogus'"),
]


@pytest.fixture(scope="module")
def documents(tmp_path_factory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("documents")
    paths = {}
    for name, (file_name, content) in DOCUMENTS.items():
        path = folder / name / file_name
        path.parent.mkdir()
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        paths[name] = str(path)
    return paths


def run_cli(argv: tuple[str, ...], tmp_path: Path) -> tuple[subprocess.CompletedProcess[str], float, float]:
    """Run ``batchstream *argv``; return the process, its wall seconds and its peak RSS in MiB."""
    rusage = tmp_path / "rusage.json"
    env = {**os.environ, "RUSAGE_FILE": str(rusage)}
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", RUNNER, *argv], capture_output=True, text=True, env=env, timeout=120
    )
    seconds = time.monotonic() - started
    return done, seconds, json.loads(rusage.read_text())["maxrss_kib"] / 1024


@pytest.mark.parametrize("case", CASES, ids=Case.id)
def test_bad_input_is_one_line_and_an_exit_code(
    case: Case, documents: dict[str, str], tmp_path: Path
) -> None:
    argv = tuple(arg.format(**documents) for arg in case.argv)
    done, seconds, peak_mib = run_cli(argv, tmp_path)
    assert done.returncode == case.code, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert case.says in lines[0], lines[0]
    assert done.stdout == ""  # nothing half-done is printed
    assert seconds < SANITY_SECONDS
    assert peak_mib < MAX_RSS_MIB, f"{peak_mib:.0f} MiB"


def test_the_bomb_is_refused_before_it_is_built(tmp_path: Path) -> None:
    # The events are read, the document is not: a larger bomb costs no more than a small one.
    costs: dict[int, float] = {}
    for levels in (4, 30):
        path = tmp_path / f"bomb{levels}.yaml"
        path.write_text(alias_bomb(levels))
        done, _, costs[levels] = run_cli(("validate", str(path), "--location", "us-central1"), tmp_path)
        assert done.returncode == (1 if levels == 4 else 2), done.stderr
    assert costs[30] < costs[4] + 20, costs


@pytest.mark.parametrize(
    ("write", "code"),
    [
        (lambda path: path.write_text('{"taskGroups": [{"taskSpec": {"runnables": []}}]}'), 1),
        (lambda path: path.write_text("[1, 2]"), 1),
    ],
    ids=["invalid job", "not a job object"],
)
def test_a_readable_document_with_problems_is_exit_1(
    write: Callable[[Path], object], code: int, tmp_path: Path
) -> None:
    path = tmp_path / "job.json"
    write(path)
    done, _, _ = run_cli(("validate", str(path), "--location", "us-central1"), tmp_path)
    assert done.returncode == code
    assert "Traceback" not in done.stderr and "invalid:" in done.stdout
