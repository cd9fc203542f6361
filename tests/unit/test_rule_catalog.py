"""The rule catalog: no error without a source, and the documents rendered from it in sync."""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import shutil
from pathlib import Path

import pytest

from airflow_batchstream.jobspec import catalog
from airflow_batchstream.jobspec.catalog import Certainty
from airflow_batchstream.jobspec.policy import DEFAULT_POLICY, ValidationPolicy

ROOT = Path(__file__).resolve().parents[2]
SOURCED = {Certainty.DOCUMENTED, Certainty.PROTO}


def _rules_doc():
    spec = importlib.util.spec_from_file_location("rules_doc", ROOT / "scripts" / "rules_doc.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ERRORS = [c for c in catalog.CONDITIONS if c.severity == "error" and c.certainty is not Certainty.INTERNAL]
INFERRED = [c for c in catalog.CONDITIONS if c.certainty is Certainty.INFERRED]


@pytest.mark.parametrize("condition", ERRORS, ids=lambda c: f"{c.rule}.{c.name}")
def test_an_error_has_a_documented_or_proto_source(condition: catalog.Condition) -> None:
    assert condition.certainty in SOURCED, condition
    assert condition.sources, condition
    for source in condition.sources:
        assert source.where.strip() and source.quote.strip(), source


@pytest.mark.parametrize("condition", INFERRED, ids=lambda c: f"{c.rule}.{c.name}")
def test_an_inferred_condition_is_a_warning_or_policy(condition: catalog.Condition) -> None:
    assert condition.severity in ("warning", "policy"), condition
    if condition.severity == "policy":
        assert getattr(DEFAULT_POLICY, condition.policy) != "error", condition
    assert condition.note or condition.sources or condition.policy, "say why it is inferred"


def test_only_the_validator_failing_is_internal() -> None:
    assert [(c.rule, c.name) for c in catalog.CONDITIONS if c.certainty is Certainty.INTERNAL] == [
        ("J-INTERNAL", "failed")
    ]


def test_policy_conditions_name_a_policy_level_field() -> None:
    names = {field.name for field in dataclasses.fields(ValidationPolicy)}
    for condition in catalog.CONDITIONS:
        assert (condition.severity == "policy") == (condition.policy is not None), condition
        if condition.policy:
            assert condition.policy in names
            assert getattr(DEFAULT_POLICY, condition.policy) in ("error", "warning", "off")


def test_conditions_are_unique_and_rules_contiguous() -> None:
    keys = [(c.rule, c.name) for c in catalog.CONDITIONS]
    assert len(keys) == len(set(keys))
    order = list(dict.fromkeys(c.rule for c in catalog.CONDITIONS))
    runs = [
        c.rule for i, c in enumerate(catalog.CONDITIONS) if i == 0 or catalog.CONDITIONS[i - 1].rule != c.rule
    ]
    assert runs == order  # a rule's conditions sit together, so each document shows it once


def test_the_image_streaming_errors_by_design_say_so() -> None:
    for key in (("IS-1", "host"), ("IS-3", "fields")):
        assert "by design" in catalog.CONDITION[key].note


def test_a_rule_family_keeps_its_conditions_beside_its_name() -> None:
    # The conditions of the checks in rules/labels.py are in catalog/labels.py, and so on.
    from airflow_batchstream.jobspec.validate import RULES

    for rule_id, check in RULES:
        family = importlib.import_module(f"{catalog.__name__}.{check.__module__.rsplit('.', 1)[-1]}")
        assert rule_id in {c.rule for c in family.CONDITIONS}, (rule_id, check.__module__)
    assert {c.rule for c in catalog.preflight.CONDITIONS} == {
        c.rule for c in catalog.CONDITIONS if c.stage == "preflight"
    }


def test_docs_and_readme_are_rendered_from_the_catalog() -> None:
    rules_doc = _rules_doc()
    assert (ROOT / "docs" / "rules.md").read_text(encoding="utf-8") == rules_doc.rules_markdown()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert rules_doc.readme_with_tables(readme) == readme
    for condition in catalog.CONDITIONS:
        assert f"| {condition.rule}" in readme
        assert f"| {condition.name} |" in rules_doc.rules_markdown()


def test_check_mode_finds_a_stale_copy_and_rewriting_fixes_it(tmp_path: Path, capsys) -> None:
    rules_doc = _rules_doc()
    generated = ["README.md", "docs/rules.md", *(name for name, _, _ in rules_doc.DOCSTRINGS)]
    for name in generated:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, tmp_path / name)
    assert rules_doc.main(["--check", "--root", str(tmp_path)]) == 0
    readme = tmp_path / "README.md"
    readme.write_text(readme.read_text().replace("| TG-PARALLEL |", "| TG-PARALLEL-OLD |"))
    (tmp_path / "docs" / "rules.md").unlink()
    operators = tmp_path / "airflow_batchstream" / "operators.py"
    operators.write_text(operators.read_text().replace(":param spot:", ":param spot_vms:"))
    assert rules_doc.main(["--check", "--root", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "README.md is out of date" in err and "operators.py is out of date" in err
    assert rules_doc.main(["--root", str(tmp_path)]) == 0
    for name in generated:
        assert (tmp_path / name).read_text() == (ROOT / name).read_text(), name
