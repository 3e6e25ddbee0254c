"""The ingest pipeline: raw records → ECS events → inventory tags → detection → store, in batches.

A record that cannot become an event goes to the dead-letter collection with its reason and its
original bytes. Ids are deterministic, so replaying a source stores nothing twice, dead letters
included.

Normalising runs in the caller's process while a writer process stores earlier batches, so on
two cores the two halves overlap; the writer commits the batches that queue up in one go.
"""

from __future__ import annotations

import base64
import logging
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from itertools import islice
from typing import Any, Protocol

from soc.config import Settings
from soc.errors import NormaliseError
from soc.events import EventNormaliser, RawRecord, record_id
from soc.inventory import Inventory
from soc.store import Collection, Store, WriteResult
from soc.store.writer import Outcome, Results, StoreWriterProcess
from soc.timeutil import format_timestamp, utcnow

log = logging.getLogger(__name__)


class Detector(Protocol):
    """The rule engine as the pipeline sees it: flat events in, alert documents out."""

    def detect(self, events: list[dict[str, Any]]) -> list[dict[str, Any]]: ...

    def flush(self) -> list[dict[str, Any]]:
        """The alerts that the end of the stream raises (correlation windows closing)."""
        ...


@dataclass
class IngestSummary:
    read: int = 0
    stored: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    alerts: int = 0
    seconds: float = 0.0
    reasons: Counter[str] = field(default_factory=Counter)

    def as_json(self) -> dict[str, Any]:
        summary = asdict(self)
        summary.pop("reasons")
        summary["seconds"] = round(self.seconds, 3)
        return summary


@dataclass
class BatchTally:
    """What the summary needs of a batch once its documents have gone to the store."""

    records: int
    dead_kinds: Counter[str]
    first_dead: dict[str, Any]
    alerts: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Batch:
    """One batch made ready for the store."""

    tally: BatchTally
    events: list[dict[str, Any]]
    dead: list[dict[str, Any]]
    alerts: list[dict[str, Any]]

    def parts(self) -> list[tuple[Collection, list[dict[str, Any]]]]:
        # Alerts before the events they name: a crash in between leaves alerts whose events a
        # replay stores, never events whose alerts are lost.
        return [(c, docs) for c, docs in ((Collection.ALERTS, self.alerts),
                                          (Collection.EVENTS, self.events),
                                          (Collection.DEAD_LETTERS, self.dead)) if docs]


class Pipeline:
    def __init__(self, store: Store, normaliser: EventNormaliser, inventory: Inventory,
                 batch_size: int = 500, commit_size: int = 20_000,
                 detector: Detector | None = None, writer_process: bool = True,
                 flush_detector: bool = True,
                 on_alerts: Callable[[list[dict[str, Any]]], Any] | None = None) -> None:
        self.store = store
        self.normaliser = normaliser
        self.inventory = inventory
        self.batch_size = batch_size
        self.commit_size = commit_size
        self.detector = detector
        # Off for short, frequent runs (a tailed file's new lines each poll), where starting
        # a process would cost more than the overlap gains.
        self.writer_process = writer_process
        # Off where runs are pieces of one endless stream (`soc serve`): a window closes when
        # later events pass its end, not when a batch does.
        self.flush_detector = flush_detector
        # The incidents step: it sees alerts once they are stored, so what it writes about
        # them (an incident naming them) never refers to an alert a crash could lose.
        self.on_alerts = on_alerts

    def run(self, records: Iterable[RawRecord],
            on_batch: Callable[[IngestSummary], None] | None = None) -> IngestSummary:
        """Process every record. A store error (disk full, store gone) stops the run and is
        raised once the batches before it are safely written; the summary counts only those.
        """
        return self.run_batches(_batches(records, self.batch_size), on_batch)

    def run_batches(self, batches: Iterable[list[RawRecord]],
                    on_batch: Callable[[IngestSummary], None] | None = None) -> IngestSummary:
        """`run` for records already cut into batches (a stream cuts them by size and age).

        The first batch is written here; from the second on, a writer process stores batches
        while this one prepares the next. `on_batch` sees the running summary after each batch.
        """
        summary = IngestSummary()
        started = time.perf_counter()
        writer: StoreWriterProcess | None = None
        waiting: deque[BatchTally] = deque()
        failed = True
        try:
            for number, raw in enumerate(batches):
                batch = self.prepare(raw)
                if number == 0 or not self.writer_process or not self.store.shareable:
                    _count(batch.tally, self._write(batch), summary)
                    self._hand_over(batch.tally.alerts)
                else:
                    writer = writer or StoreWriterProcess(self.store.url, self.commit_size)
                    writer.submit(self._encode(batch), batch.tally.records)
                    waiting.append(batch.tally)
                    self._settle(writer.ready(), waiting, summary)
                summary.seconds = time.perf_counter() - started
                if on_batch is not None:
                    on_batch(summary)
            failed = False
        finally:
            if writer is not None:
                outcomes = writer.close()
                # After a failure, what follows it was refused; the first error is the one raised.
                if not failed:
                    self._settle(outcomes, waiting, summary)
            summary.seconds = time.perf_counter() - started
        self._flush_detector(summary)
        summary.seconds = time.perf_counter() - started
        return summary

    def _flush_detector(self, summary: IngestSummary) -> None:
        """A run ends its stream: store what the closing correlation windows raise."""
        if self.detector is None or not self.flush_detector:
            return
        alerts = self.detector.flush()
        if alerts:
            self.store.put(Collection.ALERTS, alerts)
            summary.alerts += len(alerts)
            self._hand_over(alerts)

    def _hand_over(self, alerts: list[dict[str, Any]]) -> None:
        if self.on_alerts is None or not alerts:
            return
        try:
            self.on_alerts(alerts)
        except Exception:
            # The alerts are stored whatever happens here; grouping them must not stop ingest.
            log.exception("grouping alerts into incidents failed", extra={"alerts": len(alerts)})

    def prepare(self, batch: list[RawRecord]) -> Batch:
        """Normalise, tag and run detection on a batch; nothing is written yet."""
        now = utcnow()
        ingested = format_timestamp(now)
        events: list[dict[str, Any]] = []
        dead: list[dict[str, Any]] = []
        normalise, tag, keep = self.normaliser.normalise, self.inventory.tag, events.append
        for record in batch:
            if record.error is not None:
                dead.append(dead_letter(record, record.error, "parse", now))
                continue
            try:
                event = normalise(record, now, ingested)
            except NormaliseError as exc:
                dead.append(dead_letter(record, str(exc), "normalise", now))
                continue
            tag(event)
            keep(event)
        alerts = self.detector.detect(events) if self.detector is not None and events else []
        first = ({"source": dead[0]["dead_letter.source"], "offset": dead[0].get("log.offset"),
                  "reason": dead[0]["error.message"]} if dead else {})
        tally = BatchTally(len(batch), Counter(d["error.type"] for d in dead), first, alerts)
        return Batch(tally, events, dead, alerts)

    def _write(self, batch: Batch) -> Results:
        return [(c, self.store.put(c, docs)) for c, docs in batch.parts()]

    def _encode(self, batch: Batch) -> list[tuple[Collection, bytes]]:
        return [(c, self.store.encode(c, docs)) for c, docs in batch.parts()]

    def _settle(self, outcomes: list[Outcome], waiting: deque[BatchTally],
                summary: IngestSummary) -> None:
        for outcome in outcomes:
            tally = waiting.popleft()
            if isinstance(outcome, BaseException):
                raise outcome
            _count(tally, outcome, summary)
            self._hand_over(tally.alerts)


def _count(tally: BatchTally, results: Results, summary: IngestSummary) -> None:
    written = dict(results).get(Collection.EVENTS, WriteResult(0, 0))
    summary.read += tally.records
    summary.stored += written.stored
    summary.duplicates += written.duplicates
    dead = sum(tally.dead_kinds.values())
    summary.dead_lettered += dead
    summary.alerts += len(tally.alerts)
    summary.reasons.update(tally.dead_kinds)
    if dead:
        # One line per batch, not per record: a file of garbage must not flood the log.
        log.warning("dead-lettered %d of %d records", dead, tally.records,
                    extra=tally.first_dead)


def build_pipeline(settings: Settings, store: Store, inventory: Inventory,
                   writer_process: bool = True, detector: Detector | None = None,
                   flush_detector: bool = True,
                   on_alerts: Callable[[list[dict[str, Any]]], Any] | None = None) -> Pipeline:
    """The pipeline soc.yaml describes, over a store and an inventory, with the rule engine
    given (the composition root builds it: soc.cli, soc.service)."""
    normaliser = EventNormaliser(settings.zone(), settings.pipeline.max_future)
    return Pipeline(store, normaliser, inventory, batch_size=settings.pipeline.batch_size,
                    commit_size=settings.pipeline.commit_size, detector=detector,
                    writer_process=writer_process, flush_detector=flush_detector,
                    on_alerts=on_alerts)


def dead_letter(record: RawRecord, reason: str, kind: str, now: datetime) -> dict[str, Any]:
    """The dead-letter document of a record: why it failed, where it came from, its bytes."""
    letter: dict[str, Any] = {
        "event.id": record_id(record, now),
        "@timestamp": format_timestamp(record.received or now),
        "error.message": reason,
        "error.type": kind,
        "dead_letter.source": record.source,
        "dead_letter.size": len(record.raw),
        "log.original": record.raw.decode("utf-8", "backslashreplace"),
    }
    if isinstance(record.position, int):
        letter["log.offset"] = record.position
    if record.extra:
        letter.update(record.extra)
    try:
        record.raw.decode("utf-8")
    except UnicodeDecodeError:
        letter["dead_letter.raw_base64"] = base64.b64encode(record.raw).decode()
    return letter


def _batches(records: Iterable[RawRecord], size: int) -> Iterator[list[RawRecord]]:
    iterator = iter(records)
    while batch := list(islice(iterator, size)):
        yield batch
