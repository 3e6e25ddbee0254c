"""soc/sources.py: per-source counters, saved to the store and resumed from it."""

from __future__ import annotations

from soc.sources import SourceRegistry, saved_sources
from soc.store import Store


def test_counters_are_saved_read_back_and_resumed(sqlite_store: Store) -> None:
    registry = SourceRegistry(sqlite_store)
    udp = registry.source("syslog-udp", "syslog-udp")
    udp.count(received=10, parsed=9, dead_lettered=1)
    udp.count(dropped=2)
    registry.source("file:/var/log/auth.log", "file").count(received=3, parsed=3)
    registry.save()
    saved = {c["name"]: c for c in saved_sources(sqlite_store)}
    assert {n: (c["kind"], c["received"], c["parsed"], c["dead_lettered"], c["dropped"])
            for n, c in saved.items()} == {
        "syslog-udp": ("syslog-udp", 10, 9, 1, 2),
        "file:/var/log/auth.log": ("file", 3, 3, 0, 0)}
    assert saved["syslog-udp"]["last_seen"] is not None
    resumed = SourceRegistry(sqlite_store).source("syslog-udp", "syslog-udp")
    resumed.count(received=1, parsed=1)
    assert (resumed.received, resumed.parsed, resumed.dropped) == (11, 10, 2)
