"""Benchmark: ingest N generated ECS events (default 1,000,000) into a fresh SQLite store.

Runs `soc ingest --json` in a child process and prints one JSON line: events/s and the peak RSS
of the ingest process and its store writer together. Usage:
python bench/ingest.py [--events N] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent


def generate(path: Path, count: int, seed: int = 7) -> None:
    """Mixed, realistic ECS events: sshd, web access, firewall flows, Windows logons."""
    rng = random.Random(seed)
    start = datetime(2026, 11, 1, tzinfo=UTC)
    with path.open("wb") as out:
        for i in range(count):
            moment = (start + timedelta(milliseconds=i * 37)).isoformat()
            out.write(orjson.dumps(_event(rng, i, moment)) + b"\n")


def _event(rng: random.Random, i: int, moment: str) -> dict:
    inside = f"10.45.{rng.choice((1, 10, 11, 12, 41, 101, 105))}.{rng.randint(2, 250)}"
    outside = ".".join(str(rng.randint(1, 223)) for _ in range(4))
    kind = i % 4
    if kind == 0:
        user = rng.choice(("root", "admin", "oracle", "nguyenvana", "ubuntu"))
        ok = rng.random() < 0.2
        return {"@timestamp": moment, "host": {"name": rng.choice(("dvc-web-01", "mail-01"))},
                "event": {"dataset": "sshd", "category": ["authentication"],
                          "outcome": "success" if ok else "failure"},
                "source": {"ip": outside, "port": rng.randint(1024, 65535)}, "user": {"name": user},
                "message": f"{'Accepted' if ok else 'Failed'} password for {user} from {outside} "
                           f"port {rng.randint(1024, 65535)} ssh2"}
    if kind == 1:
        path = rng.choice(("/", "/dichvucong/hoso", "/api/v1/tthc?id=42", "/wp-login.php"))
        status = rng.choice((200, 200, 200, 302, 404, 500))
        return {"@timestamp": moment, "host": {"name": "dvc-web-01"},
                "event": {"dataset": "nginx.access", "category": ["web"]},
                "source": {"ip": outside}, "destination": {"ip": "10.45.1.10", "port": 443},
                "http": {"request": {"method": "GET"}, "response": {"status_code": status}},
                "url": {"path": path}, "user_agent": {"original": "Mozilla/5.0"},
                "message": f'{outside} - - "GET {path} HTTP/1.1" {status} {rng.randint(100, 9000)}'}
    if kind == 2:
        return {"@timestamp": moment, "observer": {"name": "dc-fw-01", "type": "firewall"},
                "event": {"dataset": "fortigate.traffic", "category": ["network"],
                          "action": rng.choice(("accept", "deny"))},
                "source": {"ip": inside, "port": rng.randint(1024, 65535)},
                "destination": {"ip": outside, "port": rng.choice((53, 80, 443, 445, 3389))},
                "network": {"transport": "tcp", "bytes": rng.randint(60, 90000)},
                "message": f"traffic from {inside} to {outside}"}
    return {"@timestamp": moment, "host": {"name": "qlvb-app-01"},
            "event": {"dataset": "windows.security", "code": rng.choice(("4624", "4625", "4672")),
                      "category": ["authentication"]},
            "winlog": {"channel": "Security", "event_data": {"LogonType": "3",
                                                              "TargetUserName": "vanthu"}},
            "source": {"ip": inside}, "user": {"name": "vanthu"},
            "message": "An account was successfully logged on."}


def _tree_rss(pid: int) -> int:
    """Resident bytes of a process and all its descendants (the ingest and its store writer)."""
    total = 0
    try:
        with open(f"/proc/{pid}/statm") as statm:
            total = int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as children:
                total += sum(_tree_rss(int(child)) for child in children.read().split())
    except (FileNotFoundError, ProcessLookupError):
        pass
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--keep", type=Path, help="work in this directory and keep it")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="soc-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    data = work / "events.jsonl"
    if not data.exists():
        generate(data, args.events)
    db = work / "soc.db"
    for leftover in work.glob("soc.db*"):
        leftover.unlink()
    env = {**os.environ, "SOC_STORE_URL": f"sqlite:///{db}",
           "SOC_INVENTORY": str(ROOT / "inventory.yaml"), "SOC_LOG_LEVEL": "error"}
    started = time.perf_counter()
    output_file = work / "summary.json"
    with output_file.open("wb") as out:
        child = subprocess.Popen([sys.executable, "-m", "soc.cli", "ingest", str(data),
                                  "--format", "jsonl", "--json"], env=env, stdout=out, cwd=work)
        peak = 0
        while child.poll() is None:
            peak = max(peak, _tree_rss(child.pid))
            time.sleep(0.25)
    status = child.returncode
    elapsed = time.perf_counter() - started
    output = output_file.read_bytes()
    if status != 0:
        sys.exit(f"soc ingest failed with status {status}")
    summary = orjson.loads(output.splitlines()[-1])
    print(orjson.dumps({
        "benchmark": "ingest", "events": summary["read"], "stored": summary["stored"],
        "seconds": round(elapsed, 2),
        "events_per_s": round(summary["read"] / summary["seconds"]),
        "events_per_s_with_startup": round(summary["read"] / elapsed),
        "peak_rss_mb": round(peak / 2**20, 1),
        "db_mb": round(sum(p.stat().st_size for p in work.glob("soc.db*")) / 2**20, 1),
        "cpus": os.cpu_count(), "python": platform.python_version(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
    }).decode())


if __name__ == "__main__":
    main()
