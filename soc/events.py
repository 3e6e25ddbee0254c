"""The ECS event model: flatten/unflatten, deterministic event ids, and normalisation to ECS.

Inside the product an event is a flat dict keyed by dotted ECS names (`source.ip`), which makes
matching and storage cheap; on the wire (API, export, Elasticsearch) it is nested.
"""

from __future__ import annotations

import hashlib
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from functools import lru_cache
from typing import Any

from soc.errors import NormaliseError
from soc.timeutil import format_timestamp, parse_timestamp, to_micros, utcnow

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


_ARRAY, _SINGLE, _IP = 1, 2, 4
_FIELD_KIND = {
    name: (_ARRAY * (name in ARRAY_FIELDS) | _SINGLE * (name in SINGLE_VALUED_FIELDS)
           | _IP * (name in IP_FIELDS))
    for name in ARRAY_FIELDS | SINGLE_VALUED_FIELDS | IP_FIELDS
}


def flatten(document: Mapping[str, Any]) -> dict[str, Any]:
    """Nested (or already dotted) mapping → one level of dotted keys. Lists stay lists."""
    flat: dict[str, Any] = {}
    _flatten_into(flat, "", document)
    return flat


def _flatten_into(flat: dict[str, Any], prefix: str, document: Mapping[str, Any]) -> None:
    # `__class__ is dict` rather than isinstance, and the second level unrolled: this runs for
    # every key of every event, and most ECS fields sit two levels deep (`source.ip`).
    for key, value in document.items():
        if value.__class__ is not dict:
            flat[prefix + key] = value
            continue
        inner = prefix + key + "."
        for name, child in value.items():
            if child.__class__ is not dict:
                flat[inner + name] = child
            elif child:
                _flatten_into(flat, inner + name + ".", child)


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


def file_event_id(source: str, position: int | str, moment: datetime | None = None) -> str:
    """Deterministic id of a record at a position in a named source (file path and byte offset).

    A byte offset below 2**40 goes into the id as it is, after a 32-bit tag of the source: the
    pair is unique by construction and costs no hash per record. Other positions are hashed.
    """
    if position.__class__ is int and 0 <= position < _DIRECT_POSITIONS:  # type: ignore[operator]
        micros = max(0, to_micros(moment)) if moment is not None else 0
        return f"{micros:014x}{_source_tag(source)}{position:010x}"
    return _event_id(moment, f"{source}\x00{position}".encode())


_DIRECT_POSITIONS = 1 << 40


@lru_cache(maxsize=4096)
def _source_tag(source: str) -> str:
    return hashlib.blake2b(source.encode(), digest_size=4).hexdigest()


def stream_event_id(source: str, received: datetime, raw: bytes,
                    moment: datetime | None = None) -> str:
    """Id of a record from a stream with no positions: two identical live messages stay two."""
    return _event_id(moment, f"{source}\x00{received.isoformat()}\x00".encode() + raw)


def _event_id(moment: datetime | None, identity: bytes) -> str:
    """14 hex digits of the event's time in µs, then 18 of a hash of its identity.

    The hash makes the id unique and deterministic; the time in front makes ids sort by time,
    so the store's unique index grows at its end instead of at random places (random ids
    cost a third of SQLite's insert speed).
    """
    micros = max(0, to_micros(moment)) if moment is not None else 0
    return f"{micros:014x}{hashlib.blake2b(identity, digest_size=9).hexdigest()}"


_IPV4_MAPPED = bytes(10) + b"\xff\xff"


@lru_cache(maxsize=65536)
def canonical_ip(value: str) -> str:
    """The canonical text of an IP address (compressed IPv6, IPv4-mapped unwrapped).

    inet_pton/inet_ntop rather than the ipaddress module: this runs for every address of every
    event, and the C calls are ten times faster.
    """
    text = value.strip()
    try:
        return socket.inet_ntop(socket.AF_INET, socket.inet_pton(socket.AF_INET, text))
    except OSError:
        pass
    try:
        packed = socket.inet_pton(socket.AF_INET6, text.partition("%")[0])
    except OSError:
        raise NormaliseError(f"{value[:64]!r} is not an IP address") from None
    if packed.startswith(_IPV4_MAPPED):
        return socket.inet_ntop(socket.AF_INET, packed[12:])
    return socket.inet_ntop(socket.AF_INET6, packed)


@dataclass(slots=True)
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
    # False when the parsed fields are the record itself (JSON lines): then the event is its own
    # original and `log.original` would store every byte twice.
    keep_original: bool = True


class EventNormaliser:
    """Makes a parsed record a valid flat ECS event, or raises NormaliseError saying why not."""

    def __init__(self, zone: tzinfo, max_future: timedelta) -> None:
        self.zone = zone
        self.max_future = max_future

    def normalise(self, record: RawRecord, now: datetime | None = None,
                  ingested: str | None = None) -> dict[str, Any]:
        """The flat ECS event of a record; `now` and `ingested` (its text) are per batch."""
        now = now or utcnow()
        # Defaults first, then the record's own fields over them: one C-level update.
        event: dict[str, Any] = {"event.kind": "event", "ecs.version": ECS_VERSION}
        if record.extra:
            event.update(record.extra)
        if isinstance(record.position, int):
            event["log.offset"] = record.position
        if record.keep_original:
            event["log.original"] = record.raw.decode("utf-8", "backslashreplace")
        _flatten_into(event, "", record.fields or {})
        stated = event.get("@timestamp")
        moment = self._timestamp(stated, record, now)
        event["@timestamp"] = format_timestamp(moment)
        if not event.get("event.id"):
            # A time read off the clock (a line with none of its own) must stay out of the id
            # of a positioned record, or re-reading the file would store it again.
            timed = (stated is not None and stated != "") or record.position is None
            event["event.id"] = (record_id(record, now, moment) if timed
                                 else untimed_record_id(record))
        event["event.ingested"] = ingested or format_timestamp(now)
        _check_shapes(event)
        return event

    def _timestamp(self, value: Any, record: RawRecord, now: datetime) -> datetime:
        if value is None or value == "":
            if record.timestamp_required or record.received is None:
                raise NormaliseError("missing @timestamp")
            return record.received
        try:
            moment = parse_timestamp(value, self.zone)
        except (ValueError, OverflowError) as exc:
            raise NormaliseError(f"@timestamp: {exc}") from None
        if moment - now > self.max_future:
            raise NormaliseError(
                f"@timestamp {format_timestamp(moment)} is more than {self.max_future} in the "
                f"future (pipeline.max_future)")
        return moment


def record_id(record: RawRecord, now: datetime, moment: datetime | None = None) -> str:
    """The deterministic id of a record at time `moment`: by position when it has one, else by
    receive time."""
    if record.position is not None:
        return file_event_id(record.source, record.position, moment)
    received = record.received or now
    return stream_event_id(record.source, received, record.raw, moment or received)


def untimed_record_id(record: RawRecord) -> str:
    """The id of a positioned record with no time of its own: its source, position and bytes.

    With no time in front, two different files whose first lines agree (the same content
    identity) would give equal ids at equal offsets; the line's own bytes keep them apart,
    while a copy of the same file still gives the same ids.
    """
    return _event_id(None, f"{record.source}\x00{record.position}\x00".encode() + record.raw)


def _check_shapes(event: dict[str, Any]) -> None:
    # Only the event's keys that have a rule: the set intersection runs in C, and this runs for
    # every event.
    for name in event.keys() & _FIELD_KIND.keys():
        kind = _FIELD_KIND[name]
        value = event[name]
        if kind & _ARRAY and value.__class__ is not list:
            value = event[name] = [value]
        elif kind & _SINGLE and (value.__class__ is list or value.__class__ is dict):
            raise NormaliseError(f"{name}: expected one value, got {type(value).__name__}")
        if kind & _IP:
            try:
                event[name] = ([canonical_ip(str(v)) for v in value] if value.__class__ is list
                               else canonical_ip(value if value.__class__ is str
                                                 else str(value)))
            except NormaliseError as exc:
                raise NormaliseError(f"{name}: {exc}") from None
