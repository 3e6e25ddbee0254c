"""Benchmark: push N RFC 5424 messages (default 500,000) over TCP on loopback into `soc serve`.

Starts `soc serve` on a fresh SQLite store with only the TCP syslog listener, sends the messages
octet-counted on one connection, and waits until the store holds them all. Prints one JSON
line: messages sent, received by the listener, stored, and messages/s from the first byte sent
to the last message stored. Usage: python bench/syslog.py [--messages N] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
SSHD = ("Failed password for {user} from {ip} port {port} ssh2",
        "Accepted publickey for {user} from {ip} port {port} ssh2: ED25519 SHA256:q2a9x",
        "Invalid user {user} from {ip} port {port}")
USERS = ("root", "admin", "oracle", "nguyenvana", "ubuntu", "vanthu")


def messages(count: int, seed: int = 11) -> list[bytes]:
    """Octet-counted RFC 5424 frames: sshd, sudo and application messages from DC hosts."""
    rng = random.Random(seed)
    start = datetime(2026, 11, 20, tzinfo=UTC)
    frames = []
    for i in range(count):
        moment = (start + timedelta(milliseconds=i * 3)).isoformat().replace("+00:00", "Z")
        host = rng.choice(("dvc-web-01", "mail-01", "qlvb-app-01", "lgsp-01"))
        ip = f"203.0.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
        if i % 3:
            text = rng.choice(SSHD).format(user=rng.choice(USERS), ip=ip,
                                           port=rng.randint(1024, 65535))
            body = f"<38>1 {moment} {host} sshd {rng.randint(100, 9999)} - - {text}"
        else:
            body = (f"<134>1 {moment} {host} dichvucong 2211 ACCESS [req@32473 id=\"{i}\"] "
                    f"GET /dichvucong/hoso?id={i} from {ip} status 200")
        data = body.encode()
        frames.append(b"%d %s" % (len(data), data))
    return frames


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def stored(db: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            # max(rowid) reads one page; count(*) would scan the table on every poll.
            return conn.execute("SELECT coalesce(max(rowid), 0) FROM events").fetchone()[0]
    except sqlite3.Error:
        return 0


def wait_listening(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    sys.exit("soc serve did not start listening")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=500_000)
    parser.add_argument("--keep", type=Path, help="work in this directory and keep it")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="soc-bench-syslog-"))
    work.mkdir(parents=True, exist_ok=True)
    for leftover in work.glob("soc.db*"):
        leftover.unlink()
    syslog_port, api_port = free_port(), free_port()
    config = work / "soc.yaml"
    config.write_text(f"store: {{url: 'sqlite:///soc.db'}}\ninventory: {ROOT / 'inventory.yaml'}\n"
                      f"api: {{listen: '127.0.0.1:{api_port}'}}\n"
                      f"collectors: {{syslog: {{udp: null, tcp: '127.0.0.1:{syslog_port}'}}}}\n"
                      f"log: {{level: warning, format: json}}\n", encoding="utf-8")
    frames = messages(args.messages)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOC_")}
    server = subprocess.Popen([sys.executable, "-m", "soc.cli", "serve", "--config",
                               str(config)], env=env, cwd=work)
    try:
        wait_listening(syslog_port)
        db = work / "soc.db"
        started = time.perf_counter()
        with socket.create_connection(("127.0.0.1", syslog_port)) as sender:
            for first in range(0, len(frames), 1000):
                sender.sendall(b"".join(frames[first:first + 1000]))
        sent_seconds = time.perf_counter() - started
        count, last_change, last = 0, time.monotonic(), -1
        while count < len(frames) and time.monotonic() - last_change < 30:
            time.sleep(0.05)
            count = stored(db)
            if count != last:
                last, last_change = count, time.monotonic()
        elapsed = time.perf_counter() - started
    finally:
        server.terminate()
        server.wait(60)
    counters = {}
    with sqlite3.connect(work / "soc.db") as conn:
        total = conn.execute("SELECT count(*) FROM events").fetchone()[0]
        dead = conn.execute("SELECT count(*) FROM dead_letters").fetchone()[0]
        row = conn.execute("SELECT value FROM checkpoints WHERE key = 'source:syslog-tcp'"
                           ).fetchone()
        counters = orjson.loads(row[0]) if row else {}
    print(orjson.dumps({
        "benchmark": "syslog-tcp", "sent": len(frames), "received": counters.get("received"),
        "stored": total, "dead_lettered": dead, "lost": len(frames) - total - dead,
        "send_seconds": round(sent_seconds, 2), "seconds": round(elapsed, 2),
        "messages_per_s": round(total / elapsed), "cpus": os.cpu_count(),
        "python": platform.python_version(), "date": datetime.now(UTC).strftime("%Y-%m-%d"),
    }).decode())


if __name__ == "__main__":
    main()
