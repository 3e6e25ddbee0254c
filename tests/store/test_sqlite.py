"""soc/store/sqlite.py: opening, migrations, size cap and a really full disk, URL errors."""

from __future__ import annotations

import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from soc.errors import ConfigError, StoreError, StoreFullError
from soc.store import Collection, Query, open_store


def events(start: int, count: int, size: int = 200) -> list[dict]:
    return [{"event.id": f"{i:08d}", "@timestamp": "2026-11-20T00:00:00.000000Z",
             "message": f"m{i} " + "x" * size} for i in range(start, start + count)]


def test_schema_is_migrated_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    with open_store(url) as store:
        store.put(Collection.EVENTS, events(0, 3))
        assert store.check()["schema_version"] == 1
    with open_store(url) as store:
        assert store.count(Collection.EVENTS, Query()) == 3
    with sqlite3.connect(tmp_path / "a.db") as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_file_that_is_not_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_bytes(b"this is a text file, not a database\n" * 100)
    with pytest.raises(StoreError, match=r"notes.db: file is not a database"):
        open_store(f"sqlite:///{path}")
    assert path.read_bytes() == b"this is a text file, not a database\n" * 100


@pytest.mark.parametrize(("url", "message"), [
    ("sqlite://host/x.db", "three slashes"),
    ("sqlite:///", "names no database file"),
    ("sqlite:///x.db?max_size=lots", "max_size 'lots' is not a size"),
    ("sqlite:///x.db?colour=blue", "unknown or bad option colour"),
    ("nosuch:///x", "unknown store backend 'nosuch' \\(known: sqlite\\)"),
    ("no-scheme", "has no scheme"),
])
def test_bad_urls(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        open_store(url)


def test_size_cap_fails_a_batch_whole_and_keeps_what_was_stored(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'capped.db'}?max_size=1MB"
    with open_store(url) as store:
        store.put(Collection.EVENTS, events(0, 100))
        with pytest.raises(StoreFullError, match="database or disk is full"):
            store.put(Collection.EVENTS, events(100, 20000))
        assert store.count(Collection.EVENTS, Query()) == 100
        assert store.put(Collection.EVENTS, events(100, 10)).stored == 10


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a 2 MB tmpfs")
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)


@pytest.mark.root
def test_a_really_full_disk(tiny_disk: Path) -> None:
    with open_store(f"sqlite:///{tiny_disk / 'soc.db'}") as store:
        store.put(Collection.EVENTS, events(0, 50))
        with pytest.raises(StoreFullError):
            for start in range(50, 100_000, 500):
                store.put(Collection.EVENTS, events(start, 500))
        stored = store.count(Collection.EVENTS, Query())
        assert stored >= 50 and stored % 50 == 0
        assert store.get(Collection.EVENTS, "00000000").document["message"].startswith("m0 ")
