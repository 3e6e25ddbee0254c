"""Shared fixtures: temporary stores, settings and a runner for the real `soc` command."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from soc.config import Settings, load_settings
from soc.store import Store, open_store

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    store = open_store(f"sqlite:///{tmp_path / 'soc.db'}")
    yield store
    store.close()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings for a store in tmp_path and the example inventory, from a real soc.yaml."""
    config = tmp_path / "soc.yaml"
    config.write_text(f"store:\n  url: sqlite:///soc.db\ninventory: {ROOT / 'inventory.yaml'}\n"
                      f"log:\n  format: json\n", encoding="utf-8")
    return load_settings(config, env={})


def run_soc(*args: str, config: Path | None = None, stdin: str | None = None,
            env: dict[str, str] | None = None, cwd: Path | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the installed `soc` command line as a user would, in a clean SOC_* environment."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SOC_")}
    environment.update(env or {})
    if config is not None:
        environment["SOC_CONFIG"] = str(config)
    return subprocess.run([sys.executable, "-m", "soc.cli", *args], input=stdin,
                          capture_output=True, env=environment, cwd=cwd, timeout=timeout,
                          check=False, text=True)


def ip_command(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=False)


@pytest.fixture
def namespaces() -> Any:
    """Two network namespaces (a, b) joined by a veth pair: veth-a 10.99.0.1 in a, veth-b
    10.99.0.2 in b; or a skip where they cannot be made."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("live capture needs root and iproute2 to make its own network namespace")
    a, b = f"soc-cap-a-{os.getpid()}", f"soc-cap-b-{os.getpid()}"
    made = ip_command("netns", "add", a)
    if made.returncode:
        pytest.skip(f"cannot create a network namespace here: {made.stderr.strip()}")
    try:
        for step in (["netns", "add", b],
                     ["link", "add", "veth-a", "netns", a, "type", "veth", "peer", "name",
                      "veth-b", "netns", b],
                     ["-n", a, "addr", "add", "10.99.0.1/24", "dev", "veth-a"],
                     ["-n", b, "addr", "add", "10.99.0.2/24", "dev", "veth-b"],
                     ["-n", a, "link", "set", "veth-a", "up"],
                     ["-n", b, "link", "set", "veth-b", "up"]):
            done = ip_command(*step)
            if done.returncode:
                pytest.skip(f"cannot set up a veth pair here: {done.stderr.strip()}")
        yield a, b
    finally:
        ip_command("netns", "del", a)
        ip_command("netns", "del", b)
