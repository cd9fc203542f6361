"""config: the [batchstream] section, declared to Airflow and read through its conf."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_batchstream import _shared, config
from airflow_batchstream.exceptions import ConfigInvalid
from airflow_batchstream.provider_info import get_provider_info


def test_the_provider_info_with_its_config_section_matches_airflows_schema():
    import jsonschema
    from airflow import __file__ as airflow_init

    schema = json.loads((Path(airflow_init).parent / "provider_info.schema.json").read_text())
    info = get_provider_info()
    jsonschema.validate(info, schema)
    assert set(info["config"]["batchstream"]["options"]) == {option.key for option in config.OPTIONS}


def test_airflow_config_list_shows_the_section(tmp_path):
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path), "AIRFLOW__BATCHSTREAM__API_RETRY_BUDGET": "42"}
    command = ["config", "list", "--section", "batchstream", "--show-values", "--include-descriptions"]
    listed = subprocess.run(
        [sys.executable, "-m", "airflow", *command],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    for option in config.OPTIONS:
        assert f"# {option.description}\n" in listed
        value = "42" if option is config.API_RETRY_BUDGET else option.default
        assert f"\n{option.key} = {value}\n" in listed


@pytest.mark.parametrize("option", config.OPTIONS, ids=lambda option: option.key)
def test_an_unset_option_reads_as_its_default(option, monkeypatch):
    monkeypatch.delenv(f"AIRFLOW__BATCHSTREAM__{option.key.upper()}", raising=False)
    assert option.read() == option.default


def test_options_are_read_when_used_not_at_import(monkeypatch):
    monkeypatch.setenv("AIRFLOW__BATCHSTREAM__API_RETRY_BUDGET", "12.5")
    assert config.API_RETRY_BUDGET.read() == 12.5
    monkeypatch.setenv("AIRFLOW__BATCHSTREAM__API_RETRY_BUDGET", "7")
    assert config.API_RETRY_BUDGET.read() == 7.0
    monkeypatch.setenv("AIRFLOW__BATCHSTREAM__EMULATOR_PROJECT", "other-project")
    assert config.EMULATOR_PROJECT.read() == "other-project"


@pytest.mark.parametrize("value", ["soon", "0", "-5", "nan", "inf"])
def test_a_number_that_cannot_be_used_is_refused_by_name(value, monkeypatch):
    monkeypatch.setenv("AIRFLOW__BATCHSTREAM__TRIGGER_READS_PER_SECOND", value)
    with pytest.raises(ConfigInvalid) as raised:
        config.TRIGGER_READS_PER_SECOND.read()
    message = str(raised.value)
    assert "[batchstream] trigger_reads_per_second" in message and repr(value) in message
    assert "above 0" in message and "AIRFLOW__BATCHSTREAM__TRIGGER_READS_PER_SECOND" in message


def test_the_read_limiter_of_a_triggerer_takes_the_configured_rate(monkeypatch):
    monkeypatch.setenv("AIRFLOW__BATCHSTREAM__TRIGGER_READS_PER_SECOND", "7")

    async def rate() -> float:
        return _shared.read_limiter("batch.googleapis.com", "us-central1").rate

    assert asyncio.run(rate()) == 7.0


def test_the_emulator_address_is_an_environment_variable(monkeypatch):
    monkeypatch.setenv(config.EMULATOR_ENV, "127.0.0.1:8795")
    assert config.emulator_host() == "127.0.0.1:8795"
    monkeypatch.setenv(config.EMULATOR_ENV, "")
    assert config.emulator_host() is None


def test_reading_the_emulator_address_imports_no_airflow():
    code = (
        "import sys; from airflow_batchstream.config import emulator_host; emulator_host(); "
        "print([m for m in sys.modules if m == 'airflow' or m.startswith('airflow.')])"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_the_readme_documents_every_option_with_its_default():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    for option in config.OPTIONS:
        assert f"| `{option.key}` | `{option.default}` |" in readme
