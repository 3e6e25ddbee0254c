"""soc/pipeline.py: batches through the writer process, dead letters, and a store that fills up."""

from __future__ import annotations

import base64
from datetime import timedelta
from pathlib import Path

import pytest

from collectors import parsers
from collectors.files import read_file
from soc.errors import StoreFullError
from soc.events import EventNormaliser
from soc.inventory import load_inventory
from soc.pipeline import IngestSummary, Pipeline
from soc.store import Collection, Filter, Query, open_store
from soc.timeutil import load_zone
from tests.conftest import ROOT


def pipeline(url: str, batch_size: int) -> Pipeline:
    return Pipeline(open_store(url), EventNormaliser(load_zone("Asia/Ho_Chi_Minh"),
                                                     timedelta(days=1)),
                    load_inventory(ROOT / "inventory.yaml"), batch_size=batch_size)


def write_lines(path: Path, count: int, bad_every: int = 0) -> Path:
    with path.open("wb") as out:
        for i in range(count):
            if bad_every and i % bad_every == 0:
                out.write(b"{broken\n")
            else:
                out.write(b'{"@timestamp": "2026-11-20T10:00:%02d+07:00", "message": "n%d", '
                          b'"source": {"ip": "10.45.101.%d"}}\n' % (i % 60, i, i % 250))
    return path


def run(pipe: Pipeline, path: Path) -> IngestSummary:
    return pipe.run(read_file(path, parsers.get("jsonl"), 1 << 20))


def test_many_batches_through_the_writer_process_and_replay(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "a.jsonl", 1000, bad_every=100)
    pipe = pipeline(f"sqlite:///{tmp_path / 'soc.db'}", batch_size=64)
    first = run(pipe, path)
    assert first.as_json() | {"seconds": 0} == {"read": 1000, "stored": 990, "duplicates": 0,
                                               "dead_lettered": 10, "alerts": 0,
                                               "seconds": 0}
    again = run(pipe, path)
    assert (again.stored, again.duplicates, again.dead_lettered) == (0, 990, 10)
    store = pipe.store
    assert store.count(Collection.EVENTS, Query()) == 990
    assert store.count(Collection.DEAD_LETTERS, Query()) == 10
    tagged = store.count(Collection.EVENTS, Query(
        filters=[Filter(field="organization.name", value="Phường Sơn Hà")]))
    assert tagged == 990


def test_dead_letters_keep_reason_place_and_bytes(tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(b'{"@timestamp": "2026-11-20T10:00:00Z", "message": "good"}\n'
                     b'{"message": "caf\xe9"}\n'
                     b'{"message": "no time"}\n')
    pipe = pipeline(f"sqlite:///{tmp_path / 'soc.db'}", batch_size=10)
    summary = run(pipe, path)
    assert summary.reasons == {"parse": 1, "normalise": 1}
    letters = pipe.store.search(Collection.DEAD_LETTERS, Query(order="asc", sort="log.offset"))
    first, second = letters.items
    assert first["error.message"] == "invalid UTF-8 at byte 16 (JSON text must be UTF-8)"
    assert first["log.offset"] == 58
    assert base64.b64decode(first["dead_letter.raw_base64"]) == b'{"message": "caf\xe9"}'
    assert first["log.file.path"] == str(path.resolve())
    assert second["error.message"] == "missing @timestamp"
    assert second["log.original"] == '{"message": "no time"}'


def test_a_full_store_stops_the_run_and_loses_nothing_stored(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "a.jsonl", 6000)
    url = f"sqlite:///{tmp_path / 'soc.db'}"
    capped = pipeline(url + "?max_size=1MB", batch_size=500)
    with pytest.raises(StoreFullError):
        run(capped, path)
    stored = capped.store.count(Collection.EVENTS, Query())
    assert 0 < stored < 6000 and stored % 500 == 0
    capped.store.close()
    resumed = run(pipeline(url, batch_size=500), path)
    assert (resumed.stored, resumed.duplicates) == (6000 - stored, stored)
