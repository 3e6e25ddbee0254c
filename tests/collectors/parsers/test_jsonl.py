"""collectors/parsers/jsonl.py and text.py."""

from __future__ import annotations

import pytest

from collectors import parsers
from soc.errors import ConfigError, ParseError


def test_ecs_and_other_json() -> None:
    parser = parsers.get("jsonl")
    assert parser.parse(b'{"@timestamp": "t", "source": {"ip": "1.2.3.4"}}') == {
        "@timestamp": "t", "source": {"ip": "1.2.3.4"}}
    assert parser.parse(b'{"time": 1700000000, "level": "warn"}') == {
        "time": 1700000000, "level": "warn", "@timestamp": 1700000000}
    assert parser.timestamp_required and not parser.keep_original


@pytest.mark.parametrize(("raw", "reason"), [
    (b'{"a": "\xff\xfe"}', "invalid UTF-8 at byte 7 (JSON text must be UTF-8)"),
    (b"not json", "invalid JSON: invalid literal, expected 'null' at line 1 column 1"),
    (b'"a string"', "expected a JSON object, got str"),
])
def test_bad_json_is_explained(raw: bytes, reason: str) -> None:
    with pytest.raises(ParseError) as caught:
        parsers.get("jsonl").parse(raw)
    assert str(caught.value) == reason


def test_text_lines_keep_bad_bytes_visible() -> None:
    parser = parsers.get("text")
    assert parser.parse(b"caf\xe9 ok") == {"message": "caf\\xe9 ok"}
    assert not parser.timestamp_required and parser.keep_original


def test_unknown_format_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown format 'xml' \(known: apache, auto, "
                       r"iptables, jsonl, kv, nginx, sshd, suricata, syslog, text, winlog-json, "
                       r"zeek\)"):
        parsers.get("xml")
