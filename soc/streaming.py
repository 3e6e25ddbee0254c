"""Long-running ingest: collectors hand records to a bounded queue; a thread cuts them into
batches by size or age and runs those through the pipeline.

The queue is the backpressure point. A collector that can wait (a TCP connection) waits for
room, so a sender that outpaces the store is slowed down instead of buffered without end; a
collector that cannot (UDP) is told the records did not fit, and counts them as dropped.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence

from soc.events import RawRecord
from soc.pipeline import IngestSummary, Pipeline

log = logging.getLogger(__name__)


class StreamIngest:
    """A bounded queue of records in front of a pipeline running in its own thread."""

    def __init__(self, pipeline: Pipeline, max_queued: int = 100_000,
                 flush_interval: float = 0.5,
                 on_batch: Callable[[IngestSummary], None] | None = None) -> None:
        self.pipeline = pipeline
        self.max_queued = max_queued
        self.flush_interval = flush_interval
        self.on_batch = on_batch
        self.summary = IngestSummary()
        self.error: BaseException | None = None
        self._chunks: deque[Sequence[RawRecord]] = deque()
        self._queued = 0
        self._closing = False
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="soc-stream-ingest", daemon=True)

    @property
    def depth(self) -> int:
        """Records waiting for the pipeline."""
        return self._queued

    def start(self) -> None:
        """Start the pipeline thread (once; later calls do nothing)."""
        if self._thread.ident is None:
            self._thread.start()

    def offer(self, records: Sequence[RawRecord]) -> bool:
        """Queue records if they fit now; False (nothing queued) when the queue is full."""
        with self._changed:
            # A chunk larger than the whole queue still goes in when the queue is empty, or it
            # would never fit.
            if self._closing or (self._queued and
                                 self._queued + len(records) > self.max_queued):
                return False
            self._append(records)
            return True

    async def put_async(self, records: Sequence[RawRecord]) -> bool:
        """Queue records, waiting for room without blocking the loop; False when the ingest
        has stopped (then nothing was queued)."""
        if self.offer(records):
            return True
        while not self._closing:
            await asyncio.sleep(0.005)
            if self.offer(records):
                return True
        return False

    def stop(self, timeout: float = 60.0) -> IngestSummary:
        """Refuse new records, store every queued one, and stop the thread."""
        with self._changed:
            self._closing = True
            self._changed.notify_all()
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.error("stream ingest did not drain in time", extra={"queued": self._queued})
        return self.summary

    def _append(self, records: Sequence[RawRecord]) -> None:
        if records:
            self._chunks.append(records)
            self._queued += len(records)
            self._changed.notify_all()

    def _run(self) -> None:
        try:
            self.summary = self.pipeline.run_batches(self._batches(), self._batch_done)
        except BaseException as exc:
            # The pipeline cannot go on (the store refused a batch, the writer died, a bug):
            # refuse records from now on, so collectors count them as dropped instead of
            # waiting for room that never comes.
            with self._changed:
                # Refused from the moment the error shows: a record offered in between would be
                # accepted, then discarded below without being counted as dropped.
                self._closing = True
                self.error = exc
            log.error("ingest stopped", extra={"reason": f"{type(exc).__name__}: {exc}",
                                               "discarded": self._queued})
        finally:
            with self._changed:
                self._closing = True
                self._chunks.clear()
                self._queued = 0
                self._changed.notify_all()

    def _batch_done(self, summary: IngestSummary) -> None:
        self.summary = summary
        if self.on_batch is not None:
            self.on_batch(summary)

    def _batches(self) -> Iterator[list[RawRecord]]:
        """Batches of up to batch_size records, each cut at the latest flush_interval after
        its first record arrived; ends when stopped and drained."""
        size = self.pipeline.batch_size
        while True:
            batch: list[RawRecord] = []
            deadline = 0.0
            with self._changed:
                while len(batch) < size:
                    if self._chunks:
                        batch.extend(self._take(size - len(batch)))
                        deadline = deadline or time.monotonic() + self.flush_interval
                        continue
                    if self._closing:
                        break
                    wait = None if not batch else deadline - time.monotonic()
                    if wait is not None and wait <= 0:
                        break
                    self._changed.wait(wait)
            if not batch:
                return
            yield batch

    def _take(self, wanted: int) -> Sequence[RawRecord]:
        chunk = self._chunks.popleft()
        if len(chunk) > wanted:
            self._chunks.appendleft(chunk[wanted:])
            chunk = chunk[:wanted]
        self._queued -= len(chunk)
        self._changed.notify_all()
        return chunk
