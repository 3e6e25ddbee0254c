"""A stream ingest over a fresh SQLite store, for the listener tests (syslog, NetFlow)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from soc.events import EventNormaliser
from soc.inventory import Inventory
from soc.pipeline import Pipeline
from soc.store import Store, open_store
from soc.streaming import StreamIngest
from soc.timeutil import load_zone, parse_duration


@asynccontextmanager
async def stream_ingest(tmp_path: Path, max_queued: int) -> AsyncIterator[tuple[Store,
                                                                                StreamIngest]]:
    """A store and a StreamIngest over it (not started); on exit the ingest is started if a
    test held it back, drained, and the store closed."""
    store = open_store(f"sqlite:///{tmp_path / 'soc.db'}")
    pipeline = Pipeline(store, EventNormaliser(load_zone("UTC"), parse_duration("1d")),
                        Inventory.empty(), batch_size=500)
    ingest = StreamIngest(pipeline, max_queued=max_queued, flush_interval=0.05)
    try:
        yield store, ingest
    finally:
        ingest.start()
        await asyncio.to_thread(ingest.stop)
        store.close()
