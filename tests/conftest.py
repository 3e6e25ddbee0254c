"""Shared fixtures: temporary stores, settings and a runner for the real `soc` command."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

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
