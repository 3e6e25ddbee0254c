"""soc/store/sqlite.py: opening, migrations, size cap and a really full disk, URL errors."""

from __future__ import annotations

import os
import sqlite3
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import pytest

from soc.errors import ConfigError, StoreError, StoreFullError
from soc.store import Collection, Query, open_store
from soc.store.query import Filter
from soc.store.sqlite_query import SqlBuilder, address_token


def events(start: int, count: int, size: int = 200) -> list[dict]:
    return [{"event.id": f"{i:08d}", "@timestamp": "2026-11-20T00:00:00.000000Z",
             "message": f"m{i} " + "x" * size} for i in range(start, start + count)]


def test_schema_is_migrated_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    with open_store(url) as store:
        store.put(Collection.EVENTS, events(0, 3))
        assert store.check()["schema_version"] == 2
    with open_store(url) as store:
        assert store.count(Collection.EVENTS, Query()) == 3
    with sqlite3.connect(tmp_path / "a.db") as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_address_tokens_match_the_migration_view(tmp_path: Path) -> None:
    """The query side's tokens (address_token) and the SQL view's are built the same way."""
    addresses = ["10.45.1.10", "2001:db8::5", "::", "fe80::1", "203.0.113.255"]
    with open_store(f"sqlite:///{tmp_path / 'a.db'}") as store:
        store.put(Collection.EVENTS, [
            {"event.id": f"e{i}", "@timestamp": "2026-11-20T00:00:00.000000Z",
             "source.ip": address, "destination.ip": address}
            for i, address in enumerate(addresses)])
    with sqlite3.connect(tmp_path / "a.db") as raw:
        built = [row[0] for row in raw.execute(
            "SELECT terms FROM events_terms_source ORDER BY rowid")]
    assert built == [f"{address_token('s', a)} {address_token('d', a)}" for a in addresses]
    assert built[1] == "s2001ydb8yy5 d2001ydb8yy5"


def test_version_1_database_gets_its_address_index_filled(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    script = (resources.files("soc.store") / "migrations" / "0001_initial.sql").read_text()
    with sqlite3.connect(path) as raw:
        raw.executescript(script + "\nPRAGMA user_version=1;")
        raw.execute("INSERT INTO events (id, ts, doc, source_ip) VALUES ('old', 1, "
                    "'{\"event.id\": \"old\", \"@timestamp\": "
                    "\"1970-01-01T00:00:00.000001Z\", \"source.ip\": \"10.45.1.10\"}', "
                    "'10.45.1.10')")
    with open_store(f"sqlite:///{path}") as store:
        assert store.check()["schema_version"] == 2
        page = store.search(Collection.EVENTS, Query(
            filters=[Filter(field="source.ip", value="10.45.1.10")]))
        assert [d["event.id"] for d in page.items] == ["old"]


def test_retention_removes_address_tokens_too(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    with open_store(url) as store:
        store.put(Collection.EVENTS, [
            {"event.id": f"e{day}", "@timestamp": f"2026-11-{day:02d}T00:00:00.000000Z",
             "source.ip": "10.45.1.10"} for day in range(1, 11)])
        assert store.delete_before(Collection.EVENTS, datetime(2026, 11, 6, tzinfo=UTC)) == 5
        page = store.search(Collection.EVENTS, Query(
            filters=[Filter(field="source.ip", value="10.45.1.10")], order="asc"))
        assert [d["event.id"] for d in page.items] == ["e6", "e7", "e8", "e9", "e10"]
    with sqlite3.connect(tmp_path / "a.db") as raw:
        raw.execute("INSERT INTO events_terms (events_terms, rank) VALUES ('integrity-check', 1)")
        assert raw.execute("SELECT count(*) FROM events_terms WHERE events_terms MATCH "
                           "'s10x45x1x10'").fetchone()[0] == 5


def test_address_lookups_use_the_terms_index(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path / 'a.db'}") as store:
        builder = SqlBuilder(Collection.EVENTS)
        clauses, params = builder.where(Query(filters=[Filter(field="source.ip",
                                                              value="10.45.1.10")]))
        plan = store._writer.execute(f"EXPLAIN QUERY PLAN SELECT rowid FROM events WHERE "
                                     f"{' AND '.join(clauses)}", params).fetchall()
    assert any("VIRTUAL TABLE INDEX" in row[-1] and "events_terms" in row[-1] for row in plan)


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
