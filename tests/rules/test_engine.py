"""rules/engine.py and rules/sigma_rules.py: loading, the index, alerts, and what is refused."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

import rules
from rules.engine import RuleEngine, build_engine, load_rules
from rules.field_view import BASENAME, FieldView
from rules.index_keys import IndexKey
from rules.ioc import IndicatorSet
from rules.sigma_rules import load_rule_paths, load_rule_text
from soc.config import Settings

CLOUD_ID = "6a0c5d0e-1b1e-4c59-8f0e-3f7f0e6b2a11"
ORPHAN_ID = "7b1d6e1f-2c2f-4d6a-9f1f-4a8a1f7c3b22"
ADMIN_ID = "8c2e7f20-3d30-4e7b-8a20-5b9b2a8d4c33"
CERTUTIL = """
title: Certutil download
id: 5d1c2e64-3d8b-4c1e-9a53-0c5a2c1f6a01
logsource: {product: windows, category: process_creation}
detection:
  selection:
    Image|endswith: '\\certutil.exe'
    CommandLine|contains|all: ['-urlcache', 'http']
  condition: selection
level: high
tags: [attack.t1105, attack.command_and_control, attack.t1059.001]
"""
FAILED_SSH = """
title: SSH failed login
id: 0f4a77c6-51c3-4a9e-bb3a-0d3c9bd2a001
name: ssh_failed
logsource: {product: linux, service: sshd}
detection:
  selection: {event.outcome: failure}
  condition: selection
level: low
---
title: SSH brute force
id: 0f4a77c6-51c3-4a9e-bb3a-0d3c9bd2a002
correlation:
  type: event_count
  rules: [ssh_failed]
  group-by: [source.ip]
  timespan: 5m
  condition: {gte: 3}
level: high
"""


def process_event(executable: str, command: str, event_id: str = "e1") -> dict[str, Any]:
    return {"@timestamp": "2026-11-21T03:00:00.000000Z", "event.id": event_id,
            "winlog.channel": "Microsoft-Windows-Sysmon/Operational", "event.code": "1",
            "event.category": ["process"], "event.type": ["start"],
            "process.executable": executable, "process.command_line": command,
            "host.name": "ws-01", "organization.id": "000.00.12.H45"}


def ssh_failure(second: int, address: str = "203.0.113.7") -> dict[str, Any]:
    return {"@timestamp": f"2026-11-21T03:00:{second:02d}.000000Z", "event.id": f"s{second}",
            "event.dataset": "system.auth", "process.name": "sshd", "event.outcome": "failure",
            "source.ip": address, "user.name": "root"}


def test_a_detection_alert_names_its_rule_fields_and_event() -> None:
    ruleset = load_rule_text(CERTUTIL)
    assert [str(p) for p in ruleset.problems] == []
    engine = RuleEngine(ruleset)
    event = process_event("C:\\Windows\\System32\\CertUtil.EXE",
                          "certutil -URLcache -f http://203.0.113.9/a.exe")
    alerts = engine.detect([event, process_event("C:\\x\\certutil.exe", "certutil -dump", "e2")])
    assert len(alerts) == 1
    alert = alerts[0]
    assert {k: alert[k] for k in ("rule.id", "rule.name", "rule.level", "rule.type",
                                  "threat.technique.id", "event.ids", "alert.matches",
                                  "alert.group_key", "organization.id", "host.name",
                                  "@timestamp", "event.kind")} == {
        "rule.id": "5d1c2e64-3d8b-4c1e-9a53-0c5a2c1f6a01", "rule.name": "Certutil download",
        "rule.level": "high", "rule.type": "detection",
        "threat.technique.id": ["T1105", "T1059.001"], "event.ids": ["e1"],
        "alert.matches": {"winlog.channel": "Microsoft-Windows-Sysmon/Operational",
                          "event.category": "process", "event.type": "start",
                          "process.executable": "C:\\Windows\\System32\\CertUtil.EXE",
                          "process.command_line": "certutil -URLcache -f http://203.0.113.9/a.exe"},
        "alert.group_key": "host.name=ws-01|organization.id=000.00.12.H45",
        "organization.id": "000.00.12.H45", "host.name": "ws-01",
        "@timestamp": "2026-11-21T03:00:00.000000Z", "event.kind": "alert"}
    # The same event again raises the same alert id: a replay stores nothing twice.
    assert engine.detect([event])[0]["id"] == alert["id"]


def test_rules_are_indexed_by_what_they_cannot_match_without() -> None:
    ruleset = load_rule_text(CERTUTIL + "---\n" + FAILED_SSH)
    certutil, failed = ruleset.detections
    assert certutil.keys == (IndexKey(BASENAME + "process.executable",
                                      frozenset({"certutil.exe"})),)
    assert failed.keys == (IndexKey("process.name", frozenset({"sshd", "sshd-session"})),)
    engine = RuleEngine(ruleset)
    assert engine.index.candidates(FieldView(ssh_failure(1))) == [failed]
    assert engine.index.candidates(FieldView(process_event("C:\\a\\cmd.exe", "x"))) == []


def test_rules_a_correlation_uses_are_silent_unless_it_says_generate() -> None:
    engine = RuleEngine(load_rule_text(FAILED_SSH))
    alerts = engine.detect([ssh_failure(s) for s in (1, 2, 3)])
    assert [(a["rule.name"], a["event.ids"]) for a in alerts] == [
        ("SSH brute force", ["s1", "s2", "s3"])]
    loud = FAILED_SSH.replace("  condition: {gte: 3}", "  condition: {gte: 3}\n  generate: true")
    alerts = RuleEngine(load_rule_text(loud)).detect([ssh_failure(s) for s in (1, 2, 3)])
    assert [a["rule.name"] for a in alerts] == ["SSH failed login"] * 3 + ["SSH brute force"]


def test_indicator_hits_are_alerts(tmp_path: Path) -> None:
    indicators = IndicatorSet()
    listing = tmp_path / "bad.txt"
    listing.write_text("203.0.113.7\n", encoding="utf-8")
    assert indicators.load_file(listing).loaded == 1
    engine = RuleEngine(load_rule_text(CERTUTIL), indicators)
    alerts = engine.detect([ssh_failure(1), ssh_failure(2, "198.51.100.1")])
    assert [(a["rule.type"], a["event.ids"], a["alert.matches"]) for a in alerts] == [
        ("indicator", ["s1"], {"source.ip": "203.0.113.7"})]


def test_logsources_nothing_collects_are_refused_by_name() -> None:
    ruleset = load_rule_text(f"title: cloud\nid: {CLOUD_ID}\n"
                             "logsource: {product: aws, service: cloudtrail}\n"
                             "detection:\n  s: {eventName: x}\n  condition: s\n",
                             source="aws.yml")
    assert [str(p) for p in ruleset.problems] == [
        f"aws.yml:1: rule {CLOUD_ID} error: logsource (product: aws, service: cloudtrail) "
        "names a log this product does not collect (rules/logsources.yaml)"]
    assert ruleset.detections == []


def test_many_rules_with_one_id_load_once_and_fast() -> None:
    text = "\n---\n".join([CERTUTIL.strip()] * 10_000)
    started = time.perf_counter()
    ruleset = load_rule_text(text, source="dup.yml")
    assert time.perf_counter() - started < 10
    assert len(ruleset.detections) == 1
    assert len(ruleset.problems) == 9_999
    assert str(ruleset.problems[0]) == (
        "dup.yml:12: rule 5d1c2e64-3d8b-4c1e-9a53-0c5a2c1f6a01 error: duplicate rule id "
        "(first at dup.yml:1)")


def test_a_bad_rule_does_not_stop_the_others(tmp_path: Path) -> None:
    (tmp_path / "good.yml").write_text(CERTUTIL, encoding="utf-8")
    (tmp_path / "broken.yaml").write_text("title: [unclosed\n", encoding="utf-8")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "orphan.yml").write_text(
        f"title: orphan\nid: {ORPHAN_ID}\ncorrelation:\n  type: event_count\n"
        "  rules: [nothing_here]\n"
        "  group-by: [source.ip]\n  timespan: 1m\n  condition: {gte: 2}\n", encoding="utf-8")
    ruleset = load_rule_paths([tmp_path])
    assert [r.info.name for r in ruleset.detections] == ["Certutil download"]
    assert [(Path(p.source).name, p.line) for p in ruleset.problems] == [
        ("broken.yaml", 2), ("orphan.yml", 1)]
    assert "nothing_here" in ruleset.problems[1].reason


def test_settings_add_directories_disable_rules_and_fill_placeholders(tmp_path: Path) -> None:
    extra = tmp_path / "mine"
    extra.mkdir()
    (extra / "admins.yml").write_text(
        f"title: Admin login\nid: {ADMIN_ID}\n"
        "logsource: {product: linux, service: sshd}\n"
        "detection:\n  s: {user.name|expand: '%admins%', event.outcome: success}\n"
        "  condition: s\n", encoding="utf-8")
    settings = Settings(base_dir=tmp_path, rules={
        "paths": ["mine"], "disabled": [ADMIN_ID], "placeholders": {"admins": ["root", "admin"]}})
    ruleset = load_rules(settings)
    mine = [r for r in ruleset.detections if r.id == ADMIN_ID]
    assert [r.enabled for r in mine] == [False]
    event = ssh_failure(1) | {"event.outcome": "success", "user.name": "Admin"}
    assert mine[0].matches(event)
    assert build_engine(settings).detect([event]) == []


def test_keys_are_any_of_the_branches_and_substrings_of_wildcards() -> None:
    ruleset = load_rule_text(CERTUTIL.replace(
        "    Image|endswith: '\\certutil.exe'\n",
        "    - Image|endswith: '\\certutil.exe'\n    - OriginalFileName: CertUtil.exe\n"
        "  second:\n").replace("condition: selection", "condition: selection and second"))
    assert [str(p) for p in ruleset.errors] == []
    assert ruleset.detections[0].keys == (
        IndexKey(BASENAME + "process.executable", frozenset({"certutil.exe"})),
        IndexKey("process.pe.original_file_name", frozenset({"certutil.exe"})))
    # On the auth log (a broad dataset key), keywords are the better keys: substrings of both
    # fields that hold the whole record.
    text = FAILED_SSH.split("---")[0].replace("service: sshd", "service: auth").replace(
        "selection: {event.outcome: failure}", "keywords: ['*Failed password*', 'invalid user']"
    ).replace("condition: selection", "condition: keywords")
    words = frozenset({"failed password", "invalid user"})
    assert load_rule_text(text).detections[0].keys == (
        IndexKey("message", words, substring=True), IndexKey("log.original", words,
                                                             substring=True))
    engine = RuleEngine(load_rule_text(text))
    hit = ssh_failure(1) | {"message": "Failed password for root"}
    assert [r.info.name for r in engine.index.candidates(FieldView(hit))] == ["SSH failed login"]
    assert engine.index.candidates(FieldView(ssh_failure(1) | {"message": "Accepted"})) == []


def test_rules_as_elasticsearch_queries() -> None:
    certutil = load_rule_text(CERTUTIL).detections[0]
    assert rules.to_elasticsearch(certutil) == (
        "((winlog.channel:(Microsoft\\-Windows\\-Sysmon\\/Operational OR Security)) AND "
        "event.category:process AND event.type:start) AND "
        "(process.executable.caseless:*\\\\certutil.exe AND "
        "(process.command_line:*\\-urlcache* AND process.command_line:*http*))")


@pytest.mark.parametrize("text", ["not yaml: [", "- a list\n- of things\n"])
def test_texts_that_are_not_rules(text: str) -> None:
    ruleset = load_rule_text(text, source="x.yml")
    assert ruleset.detections == [] and len(ruleset.errors) >= 1


def test_a_field_no_collector_writes_is_a_warning_and_the_rule_loads() -> None:
    ruleset = load_rule_text(CERTUTIL.replace("CommandLine|contains|all",
                                              "procces.command_line|contains|all"),
                             source="typo.yml")
    assert [str(p) for p in ruleset.problems] == [
        "typo.yml:2: rule 5d1c2e64-3d8b-4c1e-9a53-0c5a2c1f6a01 warning: field "
        "'procces.command_line' is written by no collector; the rule matches "
        "only events that carry it"]
    assert len(ruleset.detections) == 1 and ruleset.errors == []


def test_one_of_selections_sharing_a_literal_still_test_each_whole_selection() -> None:
    # SigmaHQ "Pass the Hash Activity 2": both selections need EventID 4624 — the OR of them is
    # not "EventID is 4624".
    rule = load_rule_text(
        "title: pth\nid: 8eef149c-bd26-49f2-9e5a-9b00e3af499b\n"
        "logsource: {product: windows, service: security}\n"
        "detection:\n  sel_a: {EventID: 4624, LogonType: 3}\n"
        "  sel_b: {EventID: 4624, LogonType: 9}\n  condition: 1 of sel_*\n").detections[0]
    logon = {"winlog.channel": "Security", "event.code": "4624"}
    assert rule.matches(logon | {"winlog.event_data.LogonType": "9"})
    assert not rule.matches(logon | {"winlog.event_data.LogonType": "2"})


WEB_RULE = ("title: web\nid: 0b5a3c1e-6f0d-4d1e-9c55-2a1e5f6b7c01\n"
            "logsource: {category: webserver}\ndetection:\n  sel: {url.original|%s: '%s'}\n"
            "  condition: sel\n")


def web_engine(modifier: str, value: str) -> RuleEngine:
    ruleset = load_rule_text(WEB_RULE % (modifier, value))
    assert ruleset.errors == []
    return RuleEngine(ruleset)


@pytest.mark.parametrize(("modifier", "value", "url", "fires"), [
    # Nested lists are flattened: looked up and tested like any list, never a crash.
    ("contains", "abcdef", [["xabcdefx"]], True),
    # A mapping has no text: neither the index nor a raw test sees one.
    ("re", "abcdef", {"k": "abcdef"}, False),
    ("cased|contains", "abcdef", [{"k": "abcdef"}], False),
    # Case folding as `re` ignores case (ſ is s), and context-free (Σ at the end of a word).
    ("re", "(?i)password", "paſſword", True),
    ("re", "(?i)abcı", "ABCI", True),
    ("re", "ΛΟΓΟΣ", "ΛΟΓΟΣΤ", True),
    ("cased|contains", "ΛΟΓΟΣ", "ΛΟΓΟΣΤ", True),
])
def test_the_index_lets_through_every_event_a_rule_matches(modifier: str, value: str, url: Any,
                                                           fires: bool) -> None:
    engine = web_engine(modifier, value)
    event = {"event.dataset": "nginx.access", "event.id": "w1", "url.original": url}
    assert engine.rules[0].matches(event) is fires
    assert len(engine.detect([event])) == int(fires)


def test_an_event_a_rule_cannot_evaluate_costs_only_its_own_detection() -> None:
    engine = web_engine("contains", "abcdef")
    broken = {"event.dataset": "nginx.access", "event.id": "b", "url.original": "abcdef"}
    engine._matchers[0] = lambda event, view: 1 / 0 if event is broken else True
    good = {"event.dataset": "nginx.access", "event.id": "g", "url.original": "abcdef"}
    assert [a["event.ids"] for a in engine.detect([broken, good])] == [["g"]]
