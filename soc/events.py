"""The ECS event model: flatten/unflatten, deterministic event ids, and normalisation to ECS.

Inside the product an event is a flat dict keyed by dotted ECS names (`source.ip`), which makes
matching and storage cheap; on the wire (API, export, Elasticsearch) it is nested.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from functools import lru_cache
from typing import Any

from soc.errors import NormaliseError
from soc.timeutil import format_timestamp, parse_timestamp, utcnow

ECS_VERSION = "8.17.0"

# ECS fields whose values are arrays by definition: always stored as lists.
ARRAY_FIELDS = frozenset({
    "event.category", "event.type", "tags", "related.ip", "related.user", "related.hosts",
    "related.hash", "host.ip", "host.mac", "threat.technique.id", "threat.technique.name",
    "threat.tactic.id", "threat.tactic.name", "event.ids",
})

# Single-valued ECS fields the store indexes; a list here is a malformed event.
SINGLE_VALUED_FIELDS = frozenset({
    "event.dataset", "event.kind", "event.code", "event.action", "event.outcome", "host.name",
    "user.name", "source.ip", "destination.ip", "organization.id",
})

IP_FIELDS = frozenset({
    "source.ip", "destination.ip", "client.ip", "server.ip", "observer.ip", "host.ip",
    "related.ip", "source.nat.ip", "destination.nat.ip",
})


def flatten(document: Mapping[str, Any]) -> dict[str, Any]:
    """Nested (or already dotted) mapping → one level of dotted keys. Lists stay lists."""
    flat: dict[str, Any] = {}
    _flatten_into(flat, "", document)
    return flat


def _flatten_into(flat: dict[str, Any], prefix: str, document: Mapping[str, Any]) -> None:
    for key, value in document.items():
        name = prefix + key if prefix else key
        if isinstance(value, dict):
            if value:
                _flatten_into(flat, name + ".", value)
        else:
            flat[name] = value


def unflatten(flat: Mapping[str, Any]) -> dict[str, Any]:
    """Dotted keys → nested dicts. A key that is both a leaf and a parent keeps its dotted tail."""
    nested: dict[str, Any] = {}
    for key in sorted(flat, key=len):
        parts = key.split(".")
        node = nested
        for depth, part in enumerate(parts[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            elif not isinstance(child, dict):
                node[".".join(parts[depth:])] = flat[key]
                break
            node = child
        else:
            node[parts[-1]] = flat[key]
    return nested


def file_event_id(source: str, position: int | str) -> str:
    """Deterministic id of a record at a position in a named source (file path and byte offset)."""
    return _digest(f"{source}\x00{position}".encode())


def stream_event_id(source: str, received: datetime, raw: bytes) -> str:
    """Id of a record from a stream with no positions: two identical live messages stay two."""
    return _digest(f"{source}\x00{received.isoformat()}\x00".encode() + raw)


def _digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


@lru_cache(maxsize=65536)
def canonical_ip(value: str) -> str:
    """The canonical text of an IP address (compressed IPv6, IPv4-mapped unwrapped)."""
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        raise NormaliseError(f"{value[:64]!r} is not an IP address") from None
    mapped = getattr(address, "ipv4_mapped", None)
    return str(mapped or address)


@dataclass(frozen=True, slots=True)
class RawRecord:
    """One record as a collector read it, before normalisation.

    `fields` is what the parser made of `raw` (nested or dotted ECS), or None when it failed with
    `error`. `position` is where the record stands in `source` (a byte offset), or None for a
    stream; then `received` makes the id.
    """

    source: str
    raw: bytes
    fields: dict[str, Any] | None = None
    error: str | None = None
    position: int | str | None = None
    received: datetime | None = None
    # For formats that carry no time of their own (plain text), the receive time stands in.
    timestamp_required: bool = True
    # Fields the collector knows for every record of the source (log.file.path, observer.name).
    extra: Mapping[str, Any] | None = None


class EventNormaliser:
    """Makes a parsed record a valid flat ECS event, or raises NormaliseError saying why not."""

    def __init__(self, zone: tzinfo, max_future: timedelta) -> None:
        self.zone = zone
        self.max_future = max_future

    def normalise(self, record: RawRecord, now: datetime | None = None) -> dict[str, Any]:
        now = now or utcnow()
        event = flatten(record.fields or {})
        event["@timestamp"] = self._timestamp(event.get("@timestamp"), record, now)
        if not event.get("event.id"):
            event["event.id"] = record_id(record, now)
        if record.extra:
            for name, value in record.extra.items():
                event.setdefault(name, value)
        if isinstance(record.position, int):
            event.setdefault("log.offset", record.position)
        event.setdefault("event.kind", "event")
        event.setdefault("log.original", record.raw.decode("utf-8", "backslashreplace"))
        event["event.ingested"] = format_timestamp(now)
        event.setdefault("ecs.version", ECS_VERSION)
        _check_shapes(event)
        return event

    def _timestamp(self, value: Any, record: RawRecord, now: datetime) -> str:
        if value is None or value == "":
            if record.timestamp_required or record.received is None:
                raise NormaliseError("missing @timestamp")
            return format_timestamp(record.received)
        try:
            moment = parse_timestamp(value, self.zone)
        except (ValueError, OverflowError) as exc:
            raise NormaliseError(f"@timestamp: {exc}") from None
        if moment - now > self.max_future:
            raise NormaliseError(
                f"@timestamp {format_timestamp(moment)} is more than {self.max_future} in the "
                f"future (pipeline.max_future)")
        return format_timestamp(moment)


def record_id(record: RawRecord, now: datetime) -> str:
    """The deterministic id of a record: by position when it has one, else by receive time."""
    if record.position is not None:
        return file_event_id(record.source, record.position)
    return stream_event_id(record.source, record.received or now, record.raw)


def _check_shapes(event: dict[str, Any]) -> None:
    for name in ARRAY_FIELDS.intersection(event):
        value = event[name]
        if not isinstance(value, list):
            event[name] = [value]
    for name in SINGLE_VALUED_FIELDS.intersection(event):
        if isinstance(event[name], list | dict):
            raise NormaliseError(f"{name}: expected one value, got {type(event[name]).__name__}")
    for name in IP_FIELDS.intersection(event):
        value = event[name]
        try:
            event[name] = ([canonical_ip(str(v)) for v in value] if isinstance(value, list)
                           else canonical_ip(str(value)))
        except NormaliseError as exc:
            raise NormaliseError(f"{name}: {exc}") from None


def nested_events(events: Iterable[Mapping[str, Any]]) -> Iterable[dict[str, Any]]:
    """The wire form of flat events."""
    return (unflatten(event) for event in events)
