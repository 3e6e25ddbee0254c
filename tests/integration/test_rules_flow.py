"""Rules through the real `soc` command: ingest raises alerts, the rules commands, and a file
replayed with `soc ingest` raising the same alerts as the same lines streamed live to
`soc serve` over syslog."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_soc
from tests.test_service import free_port

FAILED = "Failed password for {user} from {address} port {port} ssh2"
ACCEPTED = "Accepted password for {user} from {address} port {port} ssh2"
RULES = """
title: SSH failed login (test)
id: 9a1f0c52-7d4e-4c0b-8a8e-2f2a7c1b0001
name: test_ssh_failed
logsource: {product: linux, service: sshd}
detection:
  selection: {event.outcome: failure}
  condition: selection
level: low
---
title: SSH root login failed (test)
id: 9a1f0c52-7d4e-4c0b-8a8e-2f2a7c1b0002
logsource: {product: linux, service: sshd}
detection:
  selection: {event.outcome: failure, user.name: root}
  condition: selection
level: medium
tags: [attack.t1110.001]
---
title: SSH brute force (test)
id: 9a1f0c52-7d4e-4c0b-8a8e-2f2a7c1b0003
correlation:
  type: event_count
  rules: [test_ssh_failed]
  group-by: [source.ip]
  timespan: 1m
  condition: {gte: 4}
level: high
"""
BRUTE, ROOT_FAILED = "9a1f0c52-7d4e-4c0b-8a8e-2f2a7c1b0003", "9a1f0c52-7d4e-4c0b-8a8e-2f2a7c1b0002"


def auth_lines() -> list[str]:
    """RFC 5424 sshd lines: 5 failures from one address in 20 s (one brute force window, the
    5th starts the next), 2 from another, then a success; two of the failures are for root."""
    lines = []
    for second, (template, user, address) in enumerate([
            (FAILED, "root", "203.0.113.7"), (FAILED, "admin", "203.0.113.7"),
            (FAILED, "oracle", "198.51.100.4"), (FAILED, "test", "203.0.113.7"),
            (FAILED, "root", "203.0.113.7"), (FAILED, "guest", "198.51.100.4"),
            (FAILED, "ubuntu", "203.0.113.7"), (ACCEPTED, "alice", "10.45.1.20")]):
        message = template.format(user=user, address=address, port=40000 + second)
        lines.append(f"<38>1 2026-11-21T03:00:{second * 3:02d}Z dvc-web-01 sshd 812 - - "
                     f"{message}")
    return lines


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, Path]:
    """A config whose only rules are the three above (every shipped rule disabled, as an
    operator would), and the auth lines as a file."""
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "ssh.yml").write_text(RULES, encoding="utf-8")
    config = tmp_path / "soc.yaml"
    base = (f"inventory: {ROOT / 'inventory.yaml'}\nlog: {{format: json}}\n"
            f"store: {{url: 'sqlite:///soc.db'}}\n")
    config.write_text(base, encoding="utf-8")
    shipped = run_soc("rules", "list", "--json", config=config)
    assert shipped.returncode == 0, shipped.stderr
    ids = [json.loads(line)["id"] for line in shipped.stdout.splitlines()]
    config.write_text(base + f"rules: {{paths: [rules], disabled: {json.dumps(ids)}}}\n",
                      encoding="utf-8")
    data = tmp_path / "auth.log"
    data.write_text("\n".join(auth_lines()) + "\n", encoding="utf-8")
    return config, data


def alert_rows(database: Path) -> set[tuple[str, str, int, str, str]]:
    with sqlite3.connect(database) as db:
        rows = db.execute("SELECT doc FROM alerts").fetchall()
    alerts = [json.loads(doc) for (doc,) in rows]
    return {(a["rule.id"], a["alert.group_key"], a["alert.event_count"], a["alert.first_seen"],
             a["@timestamp"]) for a in alerts}


KEY = "source.ip=203.0.113.7|organization.id=000.00.02.H45"
def incident_rows(database: Path) -> set[tuple[str, str, int, str, str]]:
    with sqlite3.connect(database) as db:
        rows = db.execute("SELECT doc FROM incidents").fetchall()
    incidents = [json.loads(doc) for (doc,) in rows]
    return {(i["rule_ids"][0], i["group_key"], i["alert_count"], i["severity"], i["status"])
            for i in incidents}


EXPECTED = {
    (ROOT_FAILED, KEY, 1, "2026-11-21T03:00:00.000000Z",
     "2026-11-21T03:00:00.000000Z"),
    (ROOT_FAILED, KEY, 1, "2026-11-21T03:00:12.000000Z",
     "2026-11-21T03:00:12.000000Z"),
    (BRUTE, KEY, 4, "2026-11-21T03:00:00.000000Z",
     "2026-11-21T03:00:12.000000Z"),
}


def test_ingest_raises_alerts_once_and_the_cli_counts_them(setup: tuple[Path, Path]) -> None:
    config, data = setup
    first = run_soc("ingest", str(data), "--format", "syslog", "--json", config=config)
    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout.splitlines()[-1])
    assert (summary["stored"], summary["alerts"]) == (8, 3)
    assert alert_rows(config.parent / "soc.db") == EXPECTED
    again = run_soc("ingest", str(data), "--format", "syslog", "--json", config=config)
    assert json.loads(again.stdout.splitlines()[-1])["alerts"] == 3
    assert run_soc("alerts", "count", config=config).stdout == "3\n"
    # The alerts grouped into incidents once, replay or not: by rule and grouping key.
    assert incident_rows(config.parent / "soc.db") == {
        (ROOT_FAILED, KEY, 2, "medium", "new"), (BRUTE, KEY, 1, "high", "new")}
    assert run_soc("alerts", "count", "--where", f"rule.id={BRUTE}",
                   config=config).stdout == "1\n"
    listed = run_soc("alerts", "search", "--json", "--where", f"rule.id={BRUTE}", config=config)
    alert = json.loads(listed.stdout)
    assert alert["rule"]["name"] == "SSH brute force (test)"
    assert alert["alert"]["matches"] == {"source.ip": "203.0.113.7", "count": 4}


def test_streaming_live_raises_what_replaying_the_file_raises(
        tmp_path: Path, setup: tuple[Path, Path]) -> None:
    config, data = setup
    port, syslog_port = free_port(), free_port()
    text = config.read_text(encoding="utf-8").replace("sqlite:///soc.db", "sqlite:///live.db")
    live = tmp_path / "live.yaml"
    live.write_text(text + f"api: {{listen: '127.0.0.1:{port}'}}\ncollectors:\n"
                    f"  syslog: {{udp: null, tcp: '127.0.0.1:{syslog_port}'}}\n"
                    f"  netflow: {{udp: null}}\npipeline: {{flush_interval: 50ms}}\n",
                    encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOC_")}
    server = subprocess.Popen([sys.executable, "-m", "soc.cli", "serve", "--config", str(live)],
                              stderr=subprocess.PIPE, env=env, text=True)
    try:
        connection = _connect(syslog_port)
        with connection:
            for line in auth_lines():
                connection.sendall(line.encode() + b"\n")
                time.sleep(0.06)  # several batches: windows must carry across them
        _wait_for_alerts(tmp_path / "live.db", 3)
    finally:
        server.send_signal(signal.SIGTERM)
        server.communicate(timeout=30)
    replay = run_soc("ingest", str(data), "--format", "syslog", "--json", config=config)
    assert replay.returncode == 0, replay.stderr
    assert alert_rows(tmp_path / "live.db") == alert_rows(tmp_path / "soc.db") == EXPECTED


def test_rules_validate_and_test_commands(setup: tuple[Path, Path], tmp_path: Path) -> None:
    config, data = setup
    good = run_soc("rules", "validate", str(tmp_path / "rules"), config=config)
    assert (good.returncode, good.stdout) == (0, "")
    assert good.stderr.strip() == "3 rules loaded, 0 skipped"
    bad = tmp_path / "bad.yml"
    bad.write_text(RULES.replace("event.outcome: failure, user.name", "event.outcome|nope: "
                                 "failure, user.name"), encoding="utf-8")
    refused = run_soc("rules", "validate", str(bad), config=config)
    assert refused.returncode == 1
    assert refused.stdout == (f"{bad}:11: rule {ROOT_FAILED} error: Unknown modifier 'nope'\n")
    tried = run_soc("rules", "test", ROOT_FAILED, "--events", str(data), "--format", "syslog",
                    config=config)
    assert tried.returncode == 0, tried.stderr
    matches = tried.stdout.splitlines()
    assert [line.split("  ")[0] for line in matches] == [
        "2026-11-21T03:00:00.000000Z", "2026-11-21T03:00:12.000000Z"]
    assert matches[0].endswith("SSH root login failed (test): event.outcome='failure', "
                               "user.name='root', event.dataset='system.auth', "
                               "process.name='sshd'")
    assert tried.stderr.strip().splitlines()[-1] == "2 events matched"
    listed = run_soc("rules", "list", config=config)
    assert f"{BRUTE}  high          event_count      SSH brute force (test)" in listed.stdout


def _connect(port: int) -> socket.socket:
    deadline = time.monotonic() + 30
    while True:
        try:
            return socket.create_connection(("127.0.0.1", port), timeout=5)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _wait_for_alerts(database: Path, count: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if database.exists():
            with sqlite3.connect(database) as db:
                if db.execute("SELECT count(*) FROM alerts").fetchone()[0] >= count:
                    return
        time.sleep(0.1)
    raise AssertionError(f"fewer than {count} alerts in {database} after 30 s")
