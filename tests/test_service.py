"""`soc serve` as a real process on a loopback port: it answers /health and stops on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.conftest import ROOT


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_serve_answers_health_and_stops_cleanly(tmp_path: Path) -> None:
    port = free_port()
    config = tmp_path / "soc.yaml"
    config.write_text(f"store: {{url: 'sqlite:///var/soc.db'}}\ninventory: "
                      f"{ROOT / 'inventory.yaml'}\napi: {{listen: '127.0.0.1:{port}'}}\n"
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
        assert (tmp_path / "var" / "soc.db").exists()
    finally:
        server.send_signal(signal.SIGTERM)
        _, stderr = server.communicate(timeout=30)
    assert server.returncode == 0
    first = json.loads(stderr.splitlines()[0])
    assert first["message"] == "serving"
    assert first["agencies"] == 28
    assert first["listen"] == f"127.0.0.1:{port}"
