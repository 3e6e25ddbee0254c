"""soc/streaming.py: batches cut by size and age, backpressure, draining on stop."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from soc.events import EventNormaliser, RawRecord
from soc.inventory import Inventory
from soc.pipeline import Pipeline
from soc.store import Collection, Query, open_store
from soc.streaming import StreamIngest
from soc.timeutil import load_zone, parse_duration


def records(start: int, count: int) -> list[RawRecord]:
    return [RawRecord(source="test", raw=b"x", position=i, fields={
        "@timestamp": "2026-11-20T10:00:00Z", "message": f"event {i}"})
        for i in range(start, start + count)]


def stream(tmp_path: Path, batch_size: int = 100, **options: float) -> StreamIngest:
    store = open_store(f"sqlite:///{tmp_path / 'soc.db'}")
    pipeline = Pipeline(store, EventNormaliser(load_zone("UTC"), parse_duration("1d")),
                        Inventory.empty(), batch_size=batch_size)
    return StreamIngest(pipeline, **options)  # type: ignore[arg-type]


def test_a_lone_record_is_stored_after_the_flush_interval(tmp_path: Path) -> None:
    ingest = stream(tmp_path, flush_interval=0.2)
    batches: list[int] = []
    ingest.on_batch = lambda summary: batches.append(summary.read)
    ingest.start()
    started = time.monotonic()
    assert ingest.offer(records(0, 1))
    while not batches and time.monotonic() - started < 5:
        time.sleep(0.01)
    waited = time.monotonic() - started
    assert batches == [1]
    assert 0.15 <= waited < 2
    assert ingest.pipeline.store.count(Collection.EVENTS, Query()) == 1
    ingest.stop()


def test_batches_are_cut_at_batch_size_and_stop_drains_everything(tmp_path: Path) -> None:
    ingest = stream(tmp_path, batch_size=100, flush_interval=30)
    sizes: list[int] = []
    ingest.on_batch = lambda summary: sizes.append(summary.read)
    for start in range(0, 1050, 150):
        assert ingest.offer(records(start, 150))
    ingest.start()
    summary = ingest.stop()
    assert summary.read == 1050 and summary.stored == 1050
    assert len(sizes) == 11  # ten batches of 100, one of 50
    assert ingest.pipeline.store.count(Collection.EVENTS, Query()) == 1050


def test_a_full_queue_refuses_offers_and_makes_put_async_wait(tmp_path: Path) -> None:
    ingest = stream(tmp_path, max_queued=1000)
    assert ingest.offer(records(0, 1000))
    assert not ingest.offer(records(1000, 1))
    assert ingest.depth == 1000

    async def scenario() -> None:
        waiting = asyncio.create_task(ingest.put_async(records(1000, 10)))
        await asyncio.sleep(0.2)
        assert not waiting.done()  # nothing drains: it waits
        ingest.start()
        assert await asyncio.wait_for(waiting, 10)  # the pipeline made room

    asyncio.run(scenario())
    assert ingest.stop().stored == 1010
    assert not ingest.offer(records(2000, 1))  # stopped: refused


def test_a_pipeline_that_cannot_go_on_refuses_records_from_then_on(tmp_path: Path) -> None:
    ingest = stream(tmp_path, flush_interval=0.05)
    ingest.pipeline.store.close()  # every write now fails
    ingest.start()
    assert ingest.offer(records(0, 10))
    deadline = time.monotonic() + 5
    while ingest.error is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert "the store is closed" in str(ingest.error)
    assert ingest.depth == 0
    assert not ingest.offer(records(10, 1))
    assert not asyncio.run(ingest.put_async(records(10, 1)))
    ingest.stop()
