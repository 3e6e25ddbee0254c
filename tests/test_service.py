"""`soc serve` as a real process on a loopback port: it answers /health and stops on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.conftest import ROOT, ip_command


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_serve_answers_health_stores_syslog_and_stops_cleanly(tmp_path: Path) -> None:
    port, syslog_port, netflow_port = free_port(), free_port(), free_port()
    tailed = tmp_path / "app.log"
    tailed.write_text('{"@timestamp": "2026-11-20T10:00:00Z", "message": "tailed line"}\n')
    config = tmp_path / "soc.yaml"
    config.write_text(f"store: {{url: 'sqlite:///var/soc.db'}}\ninventory: "
                      f"{ROOT / 'inventory.yaml'}\napi: {{listen: '127.0.0.1:{port}'}}\n"
                      f"collectors:\n  syslog: {{udp: '127.0.0.1:{syslog_port}', "
                      f"tcp: '127.0.0.1:{syslog_port}'}}\n"
                      f"  netflow: {{udp: '127.0.0.1:{netflow_port}'}}\n"
                      f"  files: [{{path: '{tailed}', format: jsonl}}]\n"
                      f"pipeline: {{flush_interval: 50ms, poll_interval: 100ms}}\n"
                      f"log: {{format: json}}\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOC_")}
    server = subprocess.Popen([sys.executable, "-m", "soc.cli", "serve", "--config",
                               str(config)], stderr=subprocess.PIPE, env=env, text=True)
    try:
        body = None
        deadline = time.monotonic() + 30
        while body is None and time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                    body = json.loads(r.read())
            except OSError:
                time.sleep(0.2)
        assert body is not None, "soc serve did not answer within 30 s"
        assert body["status"] == "ok"
        assert body["store"]["backend"] == "sqlite"
        assert body["collectors"] == ["syslog-udp", "syslog-tcp", "netflow-udp",
                                      f"file:{tailed}"]
        assert body["queue"] == {"depth": 0, "capacity": 100_000}
        assert body["ingest"] == "ok"
        with socket.create_connection(("127.0.0.1", syslog_port)) as tcp:
            tcp.sendall(b"<38>Nov 20 17:00:00 dvc-web-01 sshd[812]: Failed password for root "
                        b"from 203.0.113.7 port 50122 ssh2\n")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.sendto(b"<86>1 2026-11-20T10:00:01Z mail-01 sudo - - - alice : TTY=pts/0 ; "
                       b"PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/id",
                       ("127.0.0.1", syslog_port))
            udp.sendto(netflow_v5(), ("127.0.0.1", netflow_port))
        stored = wait_for_events(tmp_path / "var" / "soc.db", 4)
    finally:
        server.send_signal(signal.SIGTERM)
        _, stderr = server.communicate(timeout=30)
    assert server.returncode == 0
    lines = [json.loads(line) for line in stderr.splitlines()]
    serving = next(line for line in lines if line["message"] == "serving")
    assert serving["agencies"] == 28
    assert serving["listen"] == f"127.0.0.1:{port}"
    assert serving["collectors"] == ["syslog-udp", "syslog-tcp", "netflow-udp",
                                     f"file:{tailed}"]
    assert stored == {
        ("tailed line", None, None),
        ("Failed password for root from 203.0.113.7 port 50122 ssh2", "dvc-web-01", "root"),
        ("alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/id", "mail-01",
         "alice"),
        (None, None, None)}  # the NetFlow record: no message, host or user
    with sqlite3.connect(tmp_path / "var" / "soc.db") as db:
        flow = db.execute("SELECT source_ip, destination_ip, json_extract(doc, "
                          "'$.\"network.bytes\"') FROM events WHERE event_dataset = "
                          "'netflow.flow'").fetchall()
    assert flow == [("10.45.1.10", "203.0.113.7", 4200)]


def netflow_v5() -> bytes:
    """One NetFlow v5 datagram with one record: 10.45.1.10:443 → 203.0.113.7:51000, TCP."""
    now = int(time.time())
    header = struct.pack("!HHIIIIBBH", 5, 1, 60_000, now, 0, 1, 0, 0, 0)
    record = struct.pack("!4s4s4sHHIIIIHHBBBBHHBBH", socket.inet_aton("10.45.1.10"),
                         socket.inet_aton("203.0.113.7"), bytes(4), 1, 2, 7, 4200, 50_000,
                         59_000, 443, 51_000, 0, 0x1b, 6, 0, 0, 0, 24, 0, 0)
    return header + record


def wait_for_events(path: Path, count: int) -> set[tuple[str, str | None, str | None]]:
    """(message, host.name, user.name) of the events once `count` are stored (30 s at most)."""
    deadline = time.monotonic() + 30
    rows: list[tuple[str, str | None, str | None]] = []
    while time.monotonic() < deadline:
        if path.exists():
            with sqlite3.connect(path) as db:
                rows = db.execute("SELECT text, host_name, user_name FROM events").fetchall()
            if len(rows) >= count:
                break
        time.sleep(0.1)
    return set(rows)


def test_serve_captures_live_traffic_on_a_mirror_interface(
        tmp_path: Path, namespaces: tuple[str, str]) -> None:
    """`soc serve` in namespace a captures on veth-a; a refused connection from b is a flow."""
    inside, outside = namespaces
    assert ip_command("-n", inside, "link", "set", "lo", "up").returncode == 0
    config = tmp_path / "soc.yaml"
    config.write_text(f"store: {{url: 'sqlite:///var/soc.db'}}\ninventory: "
                      f"{ROOT / 'inventory.yaml'}\napi: {{listen: '127.0.0.1:{free_port()}'}}\n"
                      f"collectors:\n  syslog: {{udp: null, tcp: null}}\n"
                      f"  netflow: {{udp: null}}\n  capture: [{{interface: veth-a}}]\n"
                      f"pipeline: {{flush_interval: 50ms}}\nlog: {{format: json}}\n",
                      encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOC_")}
    server = subprocess.Popen(["ip", "netns", "exec", inside, sys.executable, "-m", "soc.cli",
                               "serve", "--config", str(config)], stderr=subprocess.PIPE,
                              env=env, text=True)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (tmp_path / "var" / "soc.db").exists():
            time.sleep(0.1)
        time.sleep(1.5)  # the capture socket opens after the store
        knock = ("import socket\ns = socket.socket()\ns.settimeout(3)\n"
                 "s.bind(('10.99.0.2', 40404))\n"
                 "try:\n    s.connect(('10.99.0.1', 9))\nexcept OSError:\n    pass\n")
        sent = subprocess.run(["ip", "netns", "exec", outside, sys.executable, "-c", knock],
                              capture_output=True, text=True, timeout=30, check=False)
        assert sent.returncode == 0, sent.stderr
        time.sleep(2)  # closed flows are handed over every second
    finally:
        server.send_signal(signal.SIGTERM)
        _, stderr = server.communicate(timeout=30)
    assert server.returncode == 0, stderr
    with sqlite3.connect(tmp_path / "var" / "soc.db") as db:
        flows = db.execute("SELECT source_ip, destination_ip, json_extract(doc, "
                           "'$.\"destination.port\"'), json_extract(doc, "
                           "'$.\"flow.end_reason\"') FROM events WHERE event_dataset = "
                           "'network.flow' AND json_extract(doc, '$.\"network.transport\"') "
                           "= 'tcp'").fetchall()
    assert flows == [("10.99.0.2", "10.99.0.1", 9, "rst")]
