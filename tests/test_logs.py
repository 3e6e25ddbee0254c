"""soc/logs.py: JSON lines, and no secrets in them."""

from __future__ import annotations

import json
import logging

from soc.logs import JsonFormatter, TextFormatter, redact_url


def record(message: str, **extra: object) -> logging.LogRecord:
    entry = logging.makeLogRecord({"name": "soc.test", "levelname": "WARNING",
                                   "levelno": logging.WARNING, "msg": message})
    for key, value in extra.items():
        setattr(entry, key, value)
    return entry


def test_json_lines_with_extras_and_no_secrets() -> None:
    line = JsonFormatter().format(record(
        "connecting to https://soc:hunter2@es.local:9200", api_key="abc123", password="pw",
        source="file:/var/log/a", offset=12))
    entry = json.loads(line)
    assert entry["level"] == "warning"
    assert entry["logger"] == "soc.test"
    assert entry["message"] == "connecting to https://***@es.local:9200"
    assert (entry["api_key"], entry["password"]) == ("***", "***")
    assert (entry["source"], entry["offset"]) == ("file:/var/log/a", 12)
    assert entry["time"].endswith("Z")
    assert "hunter2" not in line and "abc123" not in line


def test_text_form_is_redacted_too() -> None:
    line = TextFormatter().format(record("login", token="t0ps3cret"))
    assert line == "warning soc.test: login token=***"


def test_redact_url() -> None:
    assert redact_url("elasticsearch+https://u:p@h:9200/x") == "elasticsearch+https://***@h:9200/x"
    assert redact_url("sqlite:///var/soc.db") == "sqlite:///var/soc.db"
