"""What the installed distribution tells pip and Airflow: one version, the provider entry point,
type hints, and dependency bounds the tested releases satisfy."""

from __future__ import annotations

import re
from importlib import metadata, resources
from pathlib import Path

from packaging.requirements import Requirement

import airflow_batchstream
from airflow_batchstream.provider_info import get_provider_info

REPO = Path(__file__).resolve().parents[2]
DISTRIBUTION = "airflow-batchstream"

#: The packages whose next release may break the provider: each must have an upper bound.
BOUNDED = ("apache-airflow", "apache-airflow-providers-google", "google-cloud-batch")


def requirements() -> dict[str, Requirement]:
    """The distribution's own dependencies (not its extras), by name."""
    parsed = (Requirement(line) for line in metadata.requires(DISTRIBUTION) or ())
    return {req.name: req for req in parsed if req.marker is None}


def test_one_version_everywhere():
    version = airflow_batchstream.__version__
    assert metadata.version(DISTRIBUTION) == version
    assert get_provider_info()["versions"] == [version]
    newest = re.search(r"^## (\S+)", (REPO / "CHANGELOG.md").read_text(encoding="utf-8"), re.MULTILINE)
    assert newest is not None and newest.group(1) == version, "CHANGELOG.md's newest section"


def test_airflow_finds_the_provider_through_its_entry_point():
    entry_points = metadata.distribution(DISTRIBUTION).entry_points
    (entry_point,) = entry_points.select(group="apache_airflow_provider", name="provider_info")
    assert entry_point.load()()["package-name"] == DISTRIBUTION


def test_the_classifiers_say_airflow_provider():
    classifiers = metadata.metadata(DISTRIBUTION).get_all("Classifier")
    assert "Framework :: Apache Airflow :: Provider" in classifiers
    assert "Typing :: Typed" in classifiers


def test_the_package_ships_its_type_hints():
    assert resources.files(airflow_batchstream).joinpath("py.typed").is_file()


def test_the_tested_releases_satisfy_the_declared_bounds():
    declared = requirements()
    for name in BOUNDED:
        specifier = declared[name].specifier
        assert any(spec.operator == "<" for spec in specifier), f"{name} has no upper bound: {specifier}"
        installed = metadata.version(name)
        assert specifier.contains(installed), f"{name} {installed} is outside {specifier}"
