"""The ingest pipeline: raw records → ECS events → inventory tags → detection → store, in batches.

A record that cannot become an event goes to the dead-letter collection with its reason and its
original bytes. Ids are deterministic, so replaying a source stores nothing twice, dead letters
included.
"""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from itertools import islice
from typing import Any

from soc.errors import NormaliseError
from soc.events import EventNormaliser, RawRecord, record_id
from soc.inventory import Inventory
from soc.store import Collection, Store
from soc.timeutil import format_timestamp, utcnow

log = logging.getLogger(__name__)

# The rules engine plugs in here: flat events in, alert documents out.
Detector = Callable[[list[dict[str, Any]]], list[dict[str, Any]]]


@dataclass
class IngestSummary:
    read: int = 0
    stored: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    seconds: float = 0.0
    reasons: dict[str, int] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        summary = asdict(self)
        summary.pop("reasons")
        summary["seconds"] = round(self.seconds, 3)
        return summary


class Pipeline:
    def __init__(self, store: Store, normaliser: EventNormaliser, inventory: Inventory,
                 batch_size: int = 2000, detector: Detector | None = None) -> None:
        self.store = store
        self.normaliser = normaliser
        self.inventory = inventory
        self.batch_size = batch_size
        self.detector = detector

    def run(self, records: Iterable[RawRecord],
            on_batch: Callable[[IngestSummary], None] | None = None) -> IngestSummary:
        """Process every record; store errors (disk full, store gone) propagate after the batches
        already written are safe."""
        summary = IngestSummary()
        started = time.perf_counter()
        for batch in _batches(records, self.batch_size):
            self.process(batch, summary)
            summary.seconds = time.perf_counter() - started
            if on_batch is not None:
                on_batch(summary)
        summary.seconds = time.perf_counter() - started
        return summary

    def process(self, batch: list[RawRecord], summary: IngestSummary) -> None:
        now = utcnow()
        events: list[dict[str, Any]] = []
        dead: list[dict[str, Any]] = []
        for record in batch:
            if record.error is not None:
                dead.append(dead_letter(record, record.error, "parse", now))
                continue
            try:
                event = self.normaliser.normalise(record, now)
            except NormaliseError as exc:
                dead.append(dead_letter(record, str(exc), "normalise", now))
                continue
            self.inventory.tag(event)
            events.append(event)
        if self.detector is not None and events:
            self.store.put(Collection.ALERTS, self.detector(events))
        written = self.store.put(Collection.EVENTS, events)
        if dead:
            self.store.put(Collection.DEAD_LETTERS, dead)
            for letter in dead:
                kind = letter["error.type"]
                summary.reasons[kind] = summary.reasons.get(kind, 0) + 1
            # One line per batch, not per record: a file of garbage must not flood the log.
            first = dead[0]
            log.warning("dead-lettered %d of %d records", len(dead), len(batch), extra={
                "source": first["dead_letter.source"], "offset": first.get("log.offset"),
                "reason": first["error.message"]})
        summary.read += len(batch)
        summary.stored += written.stored
        summary.duplicates += written.duplicates
        summary.dead_lettered += len(dead)


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
