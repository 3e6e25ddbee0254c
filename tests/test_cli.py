"""The `soc` command line end to end: ingest, events search/count, errors and exit codes."""

from __future__ import annotations

import json
import socket
import struct
from pathlib import Path

import pytest
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import Ether
from scapy.utils import wrpcap

from tests.conftest import ROOT, run_soc


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "soc.yaml"
    path.write_text(f"store:\n  url: sqlite:///soc.db\ninventory: {ROOT / 'inventory.yaml'}\n",
                    encoding="utf-8")
    return path


LINES = [
    {"@timestamp": "2026-11-20T10:00:00+07:00", "message": "Failed password for root from "
     "203.0.113.5", "source": {"ip": "203.0.113.5"}, "host": {"name": "dvc-web-01"},
     "event": {"dataset": "sshd", "outcome": "failure"}, "user": {"name": "root"}},
    {"@timestamp": "2026-11-20T10:05:00+07:00", "message": "Accepted publickey for admin",
     "source": {"ip": "10.45.10.7"}, "host": {"name": "mail-01"},
     "event": {"dataset": "sshd", "outcome": "success"}, "user": {"name": "admin"}},
    {"@timestamp": "2026-11-20T10:10:00+07:00", "message": "GET /dichvucong 200",
     "source": {"ip": "203.0.113.9"}, "event": {"dataset": "nginx.access"}},
]


def write_jsonl(path: Path, extra: bytes = b"") -> Path:
    path.write_bytes(b"".join(json.dumps(line).encode() + b"\n" for line in LINES) + extra)
    return path


def summary(stdout: str) -> dict:
    result = json.loads(stdout.strip().splitlines()[-1])
    assert isinstance(result.pop("seconds"), float)
    return result


def test_ingest_twice_stores_each_event_once(tmp_path: Path, config: Path) -> None:
    data = write_jsonl(tmp_path / "events.jsonl")
    first = run_soc("ingest", str(data), "--json", config=config)
    assert first.returncode == 0, first.stderr
    assert summary(first.stdout) == {"read": 3, "stored": 3, "duplicates": 0,
                                     "dead_lettered": 0, "alerts": 0}
    second = run_soc("ingest", str(data), "--json", config=config)
    assert summary(second.stdout) == {"read": 3, "stored": 0, "duplicates": 3,
                                      "dead_lettered": 0, "alerts": 0}
    assert run_soc("events", "count", config=config).stdout == "3\n"


def test_search_and_count_filters(tmp_path: Path, config: Path) -> None:
    run_soc("ingest", str(write_jsonl(tmp_path / "e.jsonl")), config=config)
    count = run_soc("events", "count", "--where", "event.dataset=sshd", "--where",
                    "source.ip=10.45.0.0/16", config=config)
    assert count.stdout == "1\n"
    assert run_soc("events", "count", "--where", "host.name=dvc*",
                   config=config).stdout == "1\n"
    assert run_soc("events", "count", "--text", "failed root", config=config).stdout == "1\n"
    assert run_soc("events", "count", "--since", "2026-11-20T10:04:00+07:00", "--until",
                   "2026-11-20T03:10:00Z", config=config).stdout == "1\n"
    by = run_soc("events", "count", "--by", "event.dataset", config=config)
    assert by.stdout == "sshd\t2\nnginx.access\t1\n"
    found = run_soc("events", "search", "--json", "--where", "user.name=admin", config=config)
    events = [json.loads(line) for line in found.stdout.splitlines()]
    assert len(events) == 1
    assert events[0]["@timestamp"] == "2026-11-20T03:05:00.000000Z"
    assert events[0]["organization"] == {"id": "000.00.02.H45",
                                         "name": "Sở Khoa học và Công nghệ (Trung tâm Chuyển "
                                                 "đổi số)"}
    assert events[0]["asset"]["role"] == "mail"
    assert events[0]["source"] == {"ip": "10.45.10.7"}
    table = run_soc("events", "search", "--limit", "2", config=config).stdout.splitlines()
    assert len(table) == 2 and table[0].startswith("2026-11-20T03:10:00.000000Z  nginx.access")


def test_bad_records_are_dead_lettered_and_the_rest_land(tmp_path: Path, config: Path) -> None:
    bad = (b'{"message": "no timestamp"}\n'
           b'{"@timestamp": "9999-01-01T00:00:00Z", "message": "far future"}\n'
           b'{"@timestamp": "2026-11-20T10:00:00Z", "bad": "\xff"}\n'
           b'{not json\n' + b'{"pad": "' + b"x" * (10 * 1024 * 1024) + b'"}\n')
    data = write_jsonl(tmp_path / "mixed.jsonl", bad)
    result = run_soc("ingest", str(data), "--json", config=config)
    assert result.returncode == 0, result.stderr
    assert summary(result.stdout) == {"read": 8, "stored": 3, "duplicates": 0,
                                      "dead_lettered": 5, "alerts": 0}
    assert "dead-lettered 5 of 8 records" in result.stderr
    assert run_soc("events", "count", config=config).stdout == "3\n"


def test_unreadable_and_missing_files_exit_1_after_the_good_ones(tmp_path: Path,
                                                                config: Path) -> None:
    good = write_jsonl(tmp_path / "good.jsonl")
    folder = tmp_path / "a-folder"
    folder.mkdir()
    result = run_soc("ingest", str(tmp_path / "missing.jsonl"), str(good), str(folder),
                     "--json", config=config)
    assert result.returncode == 1
    assert summary(result.stdout) == {"read": 3, "stored": 3, "duplicates": 0,
                                      "dead_lettered": 0, "alerts": 0}
    errors = [line for line in result.stderr.splitlines() if line.startswith("soc: error")]
    assert errors == [f"soc: error: {tmp_path / 'missing.jsonl'}: No such file or directory",
                      f"soc: error: {folder}: Is a directory"]


def test_store_that_is_not_a_database(tmp_path: Path) -> None:
    (tmp_path / "soc.db").write_text("hello\n" * 200)
    config = tmp_path / "soc.yaml"
    config.write_text("store: {url: 'sqlite:///soc.db'}\n")
    result = run_soc("ingest", str(write_jsonl(tmp_path / "e.jsonl")), config=config)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"soc: error: {tmp_path / 'soc.db'}: file is not a database (is it an SQLite "
        f"database?)")
    assert (tmp_path / "soc.db").read_text() == "hello\n" * 200


def test_stdin_and_text_format(tmp_path: Path, config: Path) -> None:
    result = run_soc("ingest", "-", "--format", "text", "--source", "ops", "--json",
                     config=config, stdin="first line\nsecond line\n")
    assert summary(result.stdout) == {"read": 2, "stored": 2, "duplicates": 0,
                                      "dead_lettered": 0, "alerts": 0}
    found = run_soc("events", "search", "--json", "--where", "observer.name=ops",
                    config=config)
    messages = sorted(json.loads(line)["message"] for line in found.stdout.splitlines())
    assert messages == ["first line", "second line"]


def test_usage_errors(config: Path) -> None:
    assert run_soc("events", "count", "--where", "nonsense", config=config).returncode == 2
    bad_time = run_soc("events", "count", "--since", "last tuesday", config=config)
    assert bad_time.returncode == 2
    assert "'last tuesday' is neither a timestamp nor a duration" in bad_time.stderr
    assert run_soc("ingest", "x", "--format", "xml", config=config).returncode == 2
    assert run_soc(config=config).returncode == 2


def test_version_and_help() -> None:
    assert run_soc("version").stdout.startswith("soc ")
    for command in (["--help"], ["ingest", "--help"], ["events", "search", "--help"],
                    ["config", "check", "--help"], ["serve", "--help"]):
        result = run_soc(*command)
        assert result.returncode == 0 and result.stdout.startswith("usage: soc")


def test_auto_format_reads_mixed_logs_and_evtx(tmp_path: Path, config: Path) -> None:
    mixed = tmp_path / "mixed.log"
    mixed.write_bytes(
        b"Nov 20 17:00:00 dvc-web-01 sshd[812]: Failed password for invalid user oracle from "
        b"203.0.113.7 port 50122 ssh2\n"
        b'203.0.113.9 - - [20/Nov/2026:17:00:01 +0700] "GET /wp-login.php HTTP/1.1" 404 153 '
        b'"-" "Mozilla/5.0"\n'
        b'{"@timestamp": "2026-11-20T10:00:02Z", "message": "json line"}\n')
    evtx = ROOT / "tests" / "data" / "evtx" / "TestLogX.evtx"
    first = run_soc("ingest", str(mixed), str(evtx), "--json", config=config, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert summary(first.stdout) == {"read": 8, "stored": 8, "duplicates": 0,
                                     "dead_lettered": 0, "alerts": 0}
    again = run_soc("ingest", str(evtx), "--format", "evtx", "--json", config=config,
                    cwd=tmp_path)
    assert summary(again.stdout) == {"read": 5, "stored": 0, "duplicates": 5,
                                     "dead_lettered": 0, "alerts": 0}
    counts = run_soc("events", "count", "--by", "event.dataset", config=config, cwd=tmp_path)
    assert counts.stdout.splitlines() == ["windows.testlogx\t5", "nginx.access\t1",
                                          "system.auth\t1"]
    failed = run_soc("events", "search", "--where", "event.outcome=failure", "--where",
                     "source.ip=203.0.113.0/24", "--json", config=config, cwd=tmp_path)
    events = [json.loads(line) for line in failed.stdout.splitlines()]
    assert sorted((e["event"]["dataset"], e["source"]["ip"]) for e in events) == [
        ("nginx.access", "203.0.113.9"), ("system.auth", "203.0.113.7")]


def test_evtx_from_stdin_is_refused(tmp_path: Path, config: Path) -> None:
    result = run_soc("ingest", "-", "--format", "evtx", config=config, cwd=tmp_path, stdin="")
    assert result.returncode == 1
    assert "evtx cannot be read from standard input" in result.stderr


def test_network_telemetry_through_soc_ingest(tmp_path: Path, config: Path) -> None:
    client, server = "203.0.113.7", "10.45.1.10"
    handshake = [Ether() / IP(src=client, dst=server) / TCP(sport=40000, dport=443, flags="S"),
                 Ether() / IP(src=server, dst=client) / TCP(sport=443, dport=40000, flags="SA"),
                 Ether() / IP(src=client, dst=server) / TCP(sport=40000, dport=443, flags="A"),
                 Ether() / IP(src=client, dst=server) / TCP(sport=40000, dport=443, flags="FA"),
                 Ether() / IP(src=server, dst=client) / TCP(sport=443, dport=40000, flags="FA")]
    for number, packet in enumerate(handshake):
        packet.time = 1795316400 + number / 10
    capture = tmp_path / "mirror.pcap"
    wrpcap(str(capture), handshake)
    header = struct.pack("!HHIIIIBBH", 5, 1, 60_000, 1795316400, 0, 1, 0, 0, 0)
    record = struct.pack("!4s4s4sHHIIIIHHBBBBHHBBH", socket.inet_aton("10.45.105.20"),
                         socket.inet_aton("8.8.8.8"), bytes(4), 1, 2, 3, 180, 50_000, 59_000,
                         51_000, 53, 0, 0, 17, 0, 0, 0, 24, 0, 0)
    exports = tmp_path / "exports.pcap"
    packet = Ether() / IP(src="10.45.0.1", dst="10.45.1.5") / UDP(sport=9996, dport=2055)
    wrpcap(str(exports), [packet / (header + record)])
    zeek = tmp_path / "conn.log"
    zeek.write_bytes(b"#separator \\x09\n#path\tconn\n#fields\tts\tuid\tid.orig_h\tid.orig_p\t"
                     b"id.resp_h\tid.resp_p\tproto\n#types\ttime\tstring\taddr\tport\taddr\t"
                     b"port\tenum\n1795316400.5\tCx1\t10.45.1.5\t51234\t203.0.113.80\t443\ttcp\n")
    eve = tmp_path / "eve.json"
    eve.write_text(json.dumps({
        "timestamp": "2026-11-22T10:00:00.000000+0700", "flow_id": 1, "event_type": "alert",
        "src_ip": "203.0.113.7", "src_port": 40000, "dest_ip": "10.45.1.10", "dest_port": 80,
        "proto": "TCP", "alert": {"action": "allowed", "gid": 1, "signature_id": 2013028,
                                  "rev": 7, "signature": "ET POLICY curl User-Agent",
                                  "category": "Attempted Information Leak", "severity": 2}})
                   + "\n")
    for args in ([str(capture), str(zeek), str(eve)], [str(exports), "--format", "netflow"]):
        result = run_soc("ingest", *args, "--json", config=config, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert summary(result.stdout)["dead_lettered"] == 0
    counts = run_soc("events", "count", "--by", "event.dataset", config=config, cwd=tmp_path)
    assert sorted(counts.stdout.splitlines()) == ["netflow.flow\t1", "network.flow\t1",
                                                  "suricata.eve\t1", "zeek.conn\t1"]
    found = run_soc("events", "search", "--json", "--where", "network.direction=inbound",
                    "--where", "event.dataset=network.flow", config=config, cwd=tmp_path)
    flow = json.loads(found.stdout)
    assert (flow["source"]["ip"], flow["destination"]["port"], flow["network"]["packets"],
            flow["destination"]["organization"]["id"]) == (client, 443, 5, "000.00.02.H45")
    alert = run_soc("events", "search", "--json", "--where", "event.kind=alert", config=config,
                    cwd=tmp_path)
    assert json.loads(alert.stdout)["rule"]["id"] == "2013028"
