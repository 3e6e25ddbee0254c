"""collectors/files.py FileTailer: growing files, partial lines, rotation, restarts."""

from __future__ import annotations

import gzip
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from collectors import parsers
from collectors.files import FINISH_POLLS, FileTailer
from soc.events import EventNormaliser
from soc.inventory import Inventory
from soc.pipeline import Pipeline
from soc.sources import SourceRegistry
from soc.store import Collection, Query, Store, open_store
from soc.timeutil import load_zone, parse_duration
from tests.conftest import ROOT


def line(number: int, tag: str = "a") -> bytes:
    return b'{"@timestamp": "2026-11-20T10:00:00Z", "message": "%s %d"}\n' % (
        tag.encode(), number)


def tailer(store: Store, pattern: Path | str, **options: int) -> FileTailer:
    pipeline = Pipeline(store, EventNormaliser(load_zone("UTC"), parse_duration("1d")),
                        Inventory.empty(), batch_size=500)
    return FileTailer(str(pattern), parsers.get("jsonl"), pipeline, store,
                      SourceRegistry(store).source("file", "file"), 1 << 20, **options)


def messages(store: Store) -> list[str]:
    found: list[str] = []
    cursor = None
    while True:
        page = store.search(Collection.EVENTS, Query(limit=10_000, cursor=cursor))
        found.extend(event["message"] for event in page.items)
        if page.next_cursor is None:
            return sorted(found)
        cursor = page.next_cursor


def expected(tag: str, numbers: range) -> list[str]:
    return sorted(f"{tag} {n}" for n in numbers)


def test_new_lines_are_read_once_and_a_partial_line_waits(tmp_path: Path,
                                                          sqlite_store: Store) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(line(0) + line(1))
    tail = tailer(sqlite_store, log)
    assert tail.poll() == 2
    assert tail.poll() == 0
    with log.open("ab") as out:
        out.write(line(2) + line(3)[:20])
    assert tail.poll() == 1  # the half-written fourth line waits
    with log.open("ab") as out:
        out.write(line(3)[20:])
    assert tail.poll() == 1
    assert messages(sqlite_store) == expected("a", range(4))
    assert tail.counters.received == 4


def test_a_file_whose_first_line_is_unfinished_waits(tmp_path: Path, sqlite_store: Store) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(line(0)[:10])
    tail = tailer(sqlite_store, log)
    assert tail.poll() == 0
    log.write_bytes(line(0))
    assert tail.poll() == 1


def test_rename_rotation_finishes_the_old_file_then_reads_the_new(tmp_path: Path,
                                                                  sqlite_store: Store) -> None:
    log = tmp_path / "access.log"
    log.write_bytes(line(0) + line(1))
    tail = tailer(sqlite_store, log)
    assert tail.poll() == 2
    with log.open("ab") as out:
        out.write(line(2))  # written after the last poll, before rotation
    log.rename(tmp_path / "access.log.1")
    log.write_bytes(line(0, "b") + line(1, "b"))
    assert tail.poll() == 3
    assert messages(sqlite_store) == expected("a", range(3)) + expected("b", range(2))


def test_copytruncate_starts_the_file_again(tmp_path: Path, sqlite_store: Store) -> None:
    log = tmp_path / "access.log"
    log.write_bytes(line(0) + line(1) + line(2))
    tail = tailer(sqlite_store, tmp_path / "access.log*")
    assert tail.poll() == 3
    shutil.copy(log, tmp_path / "access.log.1")
    with log.open("r+b") as out:
        out.truncate(0)
    with log.open("ab") as out:
        out.write(line(0, "b"))
    # The new line, and the copy read once: its lines are stored already (same ids).
    assert tail.poll() == 4
    assert tail.poll() == 0
    assert messages(sqlite_store) == [*expected("a", range(3)), "b 0"]
    assert sqlite_store.count(Collection.EVENTS, Query()) == 4


def test_gzipped_rotated_files_are_read_once(tmp_path: Path, sqlite_store: Store) -> None:
    (tmp_path / "access.log.2.gz").write_bytes(gzip.compress(line(0, "old") + line(1, "old")))
    log = tmp_path / "access.log"
    log.write_bytes(line(0) + line(1))
    tail = tailer(sqlite_store, tmp_path / "access.log*")
    assert tail.poll() == 4
    (tmp_path / "access.log.1.gz").write_bytes(gzip.compress(log.read_bytes()))
    log.unlink()
    assert tail.poll() == 2  # the new copy, once: its lines are stored already
    assert tail.poll() == 0
    assert messages(sqlite_store) == expected("a", range(2)) + expected("old", range(2))
    assert sqlite_store.count(Collection.EVENTS, Query()) == 4
    checkpoints = sqlite_store.checkpoints("tail:")
    assert sorted(c["done"] for c in checkpoints.values()) == [False, True, True]


def test_a_killed_tailer_resumes_without_loss_or_duplicates(tmp_path: Path) -> None:
    log = tmp_path / "big.log"
    with log.open("wb") as out:
        for number in range(60_000):
            out.write(line(number))
    url = f"sqlite:///{tmp_path / 'soc.db'}"
    script = (f"import sys; sys.path.insert(0, {str(ROOT)!r})\n"
              f"from tests.collectors.test_tail import tailer\n"
              f"from soc.store import open_store\n"
              f"tail = tailer(open_store({url!r}), {str(log)!r}, max_read_bytes=200_000)\n"
              f"while tail.poll(): pass\n")
    child = subprocess.Popen([sys.executable, "-c", script], cwd=tmp_path)
    try:
        deadline = time.monotonic() + 60
        with open_store(url) as watcher:
            while time.monotonic() < deadline:
                stored = watcher.count(Collection.EVENTS, Query())
                if stored >= 6_000 or child.poll() is not None:
                    break
                time.sleep(0.05)
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    assert 0 < stored < 60_000, "the tailer should have been killed mid-way"
    with open_store(url) as store:
        tail = tailer(store, log)
        while tail.poll():
            pass
        assert store.count(Collection.EVENTS, Query()) == 60_000
        assert messages(store) == expected("a", range(60_000))


def test_a_large_gzipped_file_is_read_in_one_pass(tmp_path: Path, sqlite_store: Store) -> None:
    content = b"".join(line(n) for n in range(25_000))  # 1.5 MB: two chunks of at most 1 MiB
    assert len(content) > 1 << 20
    (tmp_path / "big.log.1.gz").write_bytes(gzip.compress(content))
    tail = tailer(sqlite_store, tmp_path / "big.log*")
    assert tail.poll() == 25_000  # both chunks in one pass of one decompression
    assert tail.poll() == 0
    assert len(messages(sqlite_store)) == 25_000
    (done,) = sqlite_store.checkpoints("tail:").values()
    assert (done["offset"], done["done"]) == (len(content), True)


def test_a_renamed_file_is_read_on_until_its_writer_lets_go(tmp_path: Path,
                                                            sqlite_store: Store) -> None:
    log = tmp_path / "access.log"
    log.write_bytes(line(0))
    tail = tailer(sqlite_store, log)
    assert tail.poll() == 1
    rotated = tmp_path / "access.log.1"
    log.rename(rotated)
    log.write_bytes(line(0, "b"))
    assert tail.poll() == 1  # the new file; the renamed one has nothing new yet
    with rotated.open("ab") as late:  # the program has not reopened its log yet
        late.write(line(1) + line(2))
    assert tail.poll() == 2
    for _ in range(FINISH_POLLS):
        tail.poll()
    with rotated.open("ab") as much_later:
        much_later.write(line(3))
    assert tail.poll() == 0  # quiet for FINISH_POLLS polls: let go
    assert messages(sqlite_store) == [*expected("a", range(3)), "b 0"]


def test_files_whose_first_lines_agree_are_kept_apart(tmp_path: Path,
                                                      sqlite_store: Store) -> None:
    banner = b"service starting\n"  # no time of its own, the same in both files
    (tmp_path / "one.log").write_bytes(banner + b"one: disk full\n")
    (tmp_path / "two.log").write_bytes(banner + b"two: login refused\n")
    pipeline = Pipeline(sqlite_store, EventNormaliser(load_zone("UTC"), parse_duration("1d")),
                        Inventory.empty(), batch_size=500)
    tail = FileTailer(str(tmp_path / "*.log"), parsers.get("text"), pipeline, sqlite_store,
                      SourceRegistry(sqlite_store).source("file", "file"), 1 << 20)
    assert tail.poll() == 4
    # The identical first lines are one event: by content they cannot be told from a copy of
    # the same file. Every line after them is kept, in both files.
    assert messages(sqlite_store) == ["one: disk full", "service starting",
                                      "two: login refused"]
    with (tmp_path / "two.log").open("ab") as more:
        more.write(b"two: login accepted\n")
    assert tail.poll() == 1
    assert sqlite_store.count(Collection.EVENTS, Query()) == 4
