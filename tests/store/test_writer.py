"""soc/store/writer.py: the writer process, its group commits, and failure handling."""

from __future__ import annotations

from pathlib import Path

import pytest

from soc.errors import StoreError, StoreFullError
from soc.store import Collection, Query, WriteResult, open_store
from soc.store.writer import StoreWriterProcess


def events(start: int, count: int, size: int = 100) -> list[dict]:
    return [{"event.id": f"{i:08d}", "@timestamp": "2026-11-20T00:00:00.000000Z",
             "source.ip": f"10.45.{i % 200}.{i % 250}", "message": f"m{i} " + "x" * size}
            for i in range(start, start + count)]


def test_each_job_gets_its_own_outcome_in_order(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'soc.db'}"
    with open_store(url) as store:
        writer = StoreWriterProcess(url, commit_size=1000)
        for job in range(20):
            docs = events(job * 10, 10) if job != 7 else events(0, 10)  # job 7 repeats job 0
            writer.submit([(Collection.EVENTS, store.encode(Collection.EVENTS, docs))], 10)
        outcomes = writer.close()
        assert [dict(o)[Collection.EVENTS] for o in outcomes] == (
            [WriteResult(10, 0)] * 7 + [WriteResult(0, 10)] + [WriteResult(10, 0)] * 12)
        assert store.count(Collection.EVENTS, Query()) == 190


def test_a_failed_group_refuses_what_follows(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'soc.db'}"
    with open_store(url) as store:
        encoded = [store.encode(Collection.EVENTS, events(job * 200, 200, size=2000))
                   for job in range(10)]
    capped = url + "?max_size=1MB"
    writer = StoreWriterProcess(capped, commit_size=200)  # one job per transaction
    for payload in encoded:
        writer.submit([(Collection.EVENTS, payload)], 200)
    outcomes = writer.close()
    failed = [i for i, o in enumerate(outcomes) if isinstance(o, BaseException)]
    assert failed and failed == list(range(failed[0], 10))
    assert isinstance(outcomes[failed[0]], StoreFullError)
    assert all("an earlier batch failed" in str(outcomes[i]) for i in failed[1:])
    with open_store(url) as store:
        assert store.count(Collection.EVENTS, Query()) == 200 * failed[0]


def test_writes_inside_a_transaction_land_together_or_not_at_all(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path / 'soc.db'}") as store:
        with pytest.raises(StoreError, match=r"lacks event\.id"), store.transaction():
            store.put(Collection.EVENTS, events(0, 5))
            store.put(Collection.EVENTS, [{"@timestamp": "2026-11-20T00:00:00Z"}])
        assert store.count(Collection.EVENTS, Query()) == 0
        with store.transaction():
            store.put(Collection.EVENTS, events(0, 5))
            store.put(Collection.EVENTS, events(5, 5))
        assert store.count(Collection.EVENTS, Query()) == 10
