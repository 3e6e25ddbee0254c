"""soc/config.py: defaults, YAML, environment overrides, and errors that name key, file and line."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from soc.config import Settings, load_settings, parse_address
from soc.errors import ConfigError
from tests.conftest import ROOT, run_soc


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_with_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings(env={})
    assert settings.config_file is None
    assert settings.store.url == "sqlite:///var/soc.db"
    assert settings.store_url() == f"sqlite:///{tmp_path / 'var/soc.db'}"
    assert settings.timezone == "Asia/Ho_Chi_Minh"
    assert settings.api.listen == "127.0.0.1:8000"
    assert settings.collectors.syslog.udp == "127.0.0.1:5514"
    assert settings.collectors.netflow.udp == "127.0.0.1:2055"
    assert settings.incidents.group_window == timedelta(hours=1)
    assert settings.regulation.profile == "vn-2026"
    assert settings.pipeline.batch_size == 500
    assert settings.pipeline.commit_size == 20_000


def test_example_config_is_the_defaults() -> None:
    example = load_settings(ROOT / "soc.example.yaml", env={})
    defaults = Settings(base_dir=example.base_dir)
    assert example.model_dump() == defaults.model_dump()


def test_yaml_values_and_relative_paths(tmp_path: Path) -> None:
    config = write(tmp_path / "soc.yaml", "store:\n  url: sqlite:///data/x.db\n"
                   "inventory: inv.yaml\nincidents:\n  group_window: 90m\n"
                   "pipeline:\n  max_record_bytes: 2MiB\n")
    settings = load_settings(config, env={})
    assert settings.store_url() == f"sqlite:///{tmp_path / 'data/x.db'}"
    assert settings.resolve(settings.inventory) == tmp_path / "inv.yaml"
    assert settings.incidents.group_window == timedelta(minutes=90)
    assert settings.pipeline.max_record_bytes == 2 * 1024 * 1024


def test_environment_overrides_yaml(tmp_path: Path) -> None:
    config = write(tmp_path / "soc.yaml", "store:\n  url: sqlite:///a.db\n")
    settings = load_settings(config, env={
        "SOC_STORE_URL": "sqlite:////srv/soc.db", "SOC_PIPELINE_BATCH_SIZE": "700",
        "SOC_INCIDENTS_GROUP_WINDOW": "2h", "SOC_TIMEZONE": "UTC",
        "SOC_COLLECTORS_SYSLOG_UDP": "127.0.0.1:1514", "SOC_UNRELATED": "x"})
    assert settings.store.url == "sqlite:////srv/soc.db"
    assert settings.pipeline.batch_size == 700
    assert settings.incidents.group_window == timedelta(hours=2)
    assert settings.timezone == "UTC"
    assert settings.collectors.syslog.udp == "127.0.0.1:1514"


def test_config_path_from_environment(tmp_path: Path) -> None:
    config = write(tmp_path / "other.yaml", "timezone: UTC\n")
    assert load_settings(env={"SOC_CONFIG": str(config)}).timezone == "UTC"


def test_unknown_key_names_key_file_and_line(tmp_path: Path) -> None:
    config = write(tmp_path / "soc.yaml", "store:\n  url: sqlite:///a.db\n  ur1: typo\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(config, env={})
    assert str(caught.value) == (f"{config}:3: store.ur1: unknown key 'ur1' (valid keys: url)")


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    config = write(tmp_path / "soc.yaml", "timezone: Mars/Olympus\npipeline:\n"
                   "  batch_size: 0\napi:\n  listen: nowhere\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(config, env={})
    lines = str(caught.value).splitlines()
    assert len(lines) == 3
    assert lines[0].startswith(f"{config}:1: timezone: unknown time zone 'Mars/Olympus'")
    assert lines[1] == (f"{config}:5: api.listen: expected host:port such as 127.0.0.1:8000, "
                        f"got 'nowhere'")
    assert lines[2] == (f"{config}:3: pipeline.batch_size: Input should be greater than or "
                        f"equal to 1")


def test_bad_environment_value_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path / "soc.yaml", ""), env={"SOC_PIPELINE_BATCH_SIZE": "lots"})
    assert str(caught.value).startswith(
        "environment variable SOC_PIPELINE_BATCH_SIZE: pipeline.batch_size: Input should be")


def test_invalid_yaml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"soc.yaml:2: invalid YAML"):
        load_settings(write(tmp_path / "soc.yaml", "store:\n\turl: x\n"), env={})
    with pytest.raises(ConfigError, match=r"nope\.yaml: config file not found"):
        load_settings(tmp_path / "nope.yaml", env={})
    with pytest.raises(ConfigError, match="expected a mapping of sections"):
        load_settings(write(tmp_path / "list.yaml", "- a\n- b\n"), env={})


def test_yaml_is_loaded_safely(tmp_path: Path) -> None:
    config = write(tmp_path / "soc.yaml", "timezone: !!python/object/apply:os.system ['true']\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_settings(config, env={})


def test_parse_address() -> None:
    assert parse_address("127.0.0.1:8000") == ("127.0.0.1", 8000)
    assert parse_address("[::1]:5514") == ("::1", 5514)
    for bad in ("8000", "host:", ":80", "host:99999"):
        with pytest.raises(ValueError):
            parse_address(bad)


def test_cli_config_errors_exit_2(tmp_path: Path) -> None:
    config = write(tmp_path / "soc.yaml", "stor:\n  url: x\n")
    result = run_soc("config", "check", config=config)
    assert result.returncode == 2
    assert result.stderr.splitlines()[0] == (
        f"soc: error: {config}:1: stor: unknown key 'stor' (valid keys: store, timezone, "
        f"inventory, api, collectors, rules, incidents, regulation, scans, feed, pipeline, log)")


def test_cli_config_check_reports_and_redacts(tmp_path: Path) -> None:
    config = write(tmp_path / "soc.yaml", f"inventory: {ROOT / 'inventory.yaml'}\n"
                   "store:\n  url: elasticsearch+https://soc:s3cret@es.example:9200\n")
    result = run_soc("config", "check", config=config)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"config: {config}", "store: elasticsearch+https://***@es.example:9200",
        "timezone: Asia/Ho_Chi_Minh", "inventory: 28 agencies", "ok"]
    assert "s3cret" not in result.stdout + result.stderr
