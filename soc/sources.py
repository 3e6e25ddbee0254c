"""Per-source counters (received, parsed, dead-lettered, dropped, last seen), kept in the store.

Collectors count as records arrive; `SourceRegistry.save` writes every source's counters to the
store's checkpoints (`source:<name>`), where the API reads them. Counters survive a restart:
a source starts from what the store last held for it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from soc.store import Store
from soc.timeutil import format_timestamp, utcnow

KEY_PREFIX = "source:"


@dataclass
class SourceCounters:
    """What one source (a listener, a tailed file, an SFTP server) has done so far."""

    name: str
    kind: str
    received: int = 0
    parsed: int = 0
    dead_lettered: int = 0
    dropped: int = 0
    last_seen: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def count(self, received: int = 0, parsed: int = 0, dead_lettered: int = 0,
              dropped: int = 0) -> None:
        with self._lock:
            self.received += received
            self.parsed += parsed
            self.dead_lettered += dead_lettered
            self.dropped += dropped
            if received:
                self.last_seen = format_timestamp(utcnow())

    def as_json(self) -> dict[str, Any]:
        with self._lock:
            return {"name": self.name, "kind": self.kind, "received": self.received,
                    "parsed": self.parsed, "dead_lettered": self.dead_lettered,
                    "dropped": self.dropped, "last_seen": self.last_seen}


class SourceRegistry:
    """Every source of this process, by name."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._sources: dict[str, SourceCounters] = {}
        self._saved: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def source(self, name: str, kind: str) -> SourceCounters:
        """The counters of a source, resumed from the store the first time it is asked for."""
        with self._lock:
            counters = self._sources.get(name)
            if counters is None:
                saved = self.store.get_checkpoint(KEY_PREFIX + name) or {}
                known = {k: saved[k] for k in ("received", "parsed", "dead_lettered",
                                               "dropped", "last_seen") if k in saved}
                counters = self._sources[name] = SourceCounters(name, kind, **known)
            return counters

    def save(self) -> None:
        """Write the counters that changed since the last save, in one transaction."""
        with self._lock:
            sources = list(self._sources.values())
        changed = [(counters.name, state) for counters in sources
                   if self._saved.get(counters.name) != (state := counters.as_json())]
        if not changed:
            return
        with self.store.transaction():
            for name, state in changed:
                self.store.set_checkpoint(KEY_PREFIX + name, state)
        self._saved.update(changed)


def saved_sources(store: Store) -> list[dict[str, Any]]:
    """The counters the store holds for every source, by name (the API's view)."""
    return list(store.checkpoints(KEY_PREFIX).values())
