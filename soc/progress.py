"""A one-line progress display for `soc ingest` on a terminal (silent otherwise)."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from soc.events import RawRecord

if TYPE_CHECKING:
    from soc.pipeline import IngestSummary


class Progress:
    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.name = ""
        self.size = 0
        self.position = 0
        self.started = time.monotonic()
        self.shown = 0.0

    def start_file(self, name: str) -> None:
        self.name = name
        self.position = 0
        try:
            self.size = os.path.getsize(name) if name != "-" else 0
        except OSError:
            self.size = 0

    def track(self, records: Iterable[RawRecord]) -> Iterable[RawRecord]:
        # Off a terminal nothing is shown: hand the records through without a generator layer.
        return self._tracked(records) if self.enabled else records

    def _tracked(self, records: Iterable[RawRecord]) -> Iterator[RawRecord]:
        for record in records:
            if isinstance(record.position, int):
                self.position = record.position
            yield record

    def update(self, summary: IngestSummary) -> None:
        now = time.monotonic()
        if not self.enabled or now - self.shown < 0.2:
            return
        self.shown = now
        rate = summary.read / max(now - self.started, 1e-9)
        # A gzip'd file's positions count uncompressed bytes, so cap the share shown.
        share = f" {min(99, 100 * self.position // self.size)}%" if self.size else ""
        sys.stderr.write(f"\r{self.name}{share}  read {summary.read:,}  stored "
                         f"{summary.stored:,}  dead-lettered {summary.dead_lettered:,}  "
                         f"{rate:,.0f}/s \x1b[K")
        sys.stderr.flush()

    def finish(self) -> None:
        if self.enabled and self.shown:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()
