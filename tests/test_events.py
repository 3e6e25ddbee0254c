"""soc/events.py: flatten/unflatten, ids, timestamps, and normalisation to ECS."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from soc.errors import NormaliseError
from soc.events import (
    EventNormaliser,
    RawRecord,
    canonical_ip,
    file_event_id,
    flatten,
    stream_event_id,
    unflatten,
)
from soc.timeutil import load_zone, parse_duration, parse_timestamp

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
HCM = load_zone("Asia/Ho_Chi_Minh")


def normaliser() -> EventNormaliser:
    return EventNormaliser(HCM, timedelta(days=1))


def record(fields: dict | None, **extra: object) -> RawRecord:
    return RawRecord(source="file:/var/log/a.jsonl", raw=b'{"x":1}', fields=fields, position=120,
                     **extra)  # type: ignore[arg-type]


def test_flatten_and_unflatten_round_trip() -> None:
    nested = {"source": {"ip": "10.0.0.1", "geo": {"country_iso_code": "VN"}},
              "event": {"category": ["network"]}, "message": "m", "dns.answers": [{"data": "x"}],
              "empty": {}}
    flat = flatten(nested)
    assert flat == {"source.ip": "10.0.0.1", "source.geo.country_iso_code": "VN",
                    "event.category": ["network"], "message": "m",
                    "dns.answers": [{"data": "x"}]}
    assert unflatten(flat) == {"source": {"ip": "10.0.0.1", "geo": {"country_iso_code": "VN"}},
                               "event": {"category": ["network"]}, "message": "m",
                               "dns": {"answers": [{"data": "x"}]}}


def test_unflatten_keeps_a_leaf_that_is_also_a_parent() -> None:
    assert unflatten({"a": 1, "a.b": 2}) == {"a": 1, "a.b": 2}


def test_ids_are_deterministic_unique_and_time_ordered() -> None:
    early, late = NOW, NOW + timedelta(seconds=1)
    assert file_event_id("file:/a", 10, early) == file_event_id("file:/a", 10, early)
    assert file_event_id("file:/a", 10, early) != file_event_id("file:/a", 11, early)
    assert file_event_id("file:/a", 10, early) != file_event_id("file:/b", 10, early)
    assert file_event_id("file:/z", 0, early) < file_event_id("file:/a", 0, late)
    assert len(file_event_id("file:/a", 10, early)) == 32
    assert file_event_id("file:/a", 10, early)[:14] == f"{1795262400000000:014x}"
    assert file_event_id("file:/a", 10, early)[22:] == f"{10:010x}"  # the offset itself
    # Offsets past 2**40 and non-numeric positions are hashed into the same 32 characters.
    huge = [file_event_id("file:/a", p, early) for p in (2**40, 2**40 + 1, "rec-7", "rec-8")]
    assert len(set(huge)) == 4 and {len(i) for i in huge} == {32}
    assert all(i[:14] == f"{1795262400000000:014x}" for i in huge)
    first = stream_event_id("udp:1.2.3.4", NOW, b"same")
    second = stream_event_id("udp:1.2.3.4", NOW + timedelta(microseconds=1), b"same")
    assert first != second


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-11-20T10:00:00+07:00", datetime(2026, 11, 20, 3, tzinfo=UTC)),
    ("2026-11-20T10:00:00Z", datetime(2026, 11, 20, 10, tzinfo=UTC)),
    ("2026-11-20 10:00:00", datetime(2026, 11, 20, 3, tzinfo=UTC)),  # zone-less: Asia/HCM
    ("2026-11-20T10:00:00.123456789Z", datetime(2026, 11, 20, 10, 0, 0, 123456, tzinfo=UTC)),
    (1795262400, datetime(2026, 11, 21, 12, tzinfo=UTC)),
    (1795262400123, datetime(2026, 11, 21, 12, 0, 0, 123000, tzinfo=UTC)),
    ("1795262400.5", datetime(2026, 11, 21, 12, 0, 0, 500000, tzinfo=UTC)),
])
def test_parse_timestamp(text: object, expected: datetime) -> None:
    assert parse_timestamp(text, HCM) == expected


def test_parse_duration() -> None:
    assert parse_duration("1h30m") == timedelta(minutes=90)
    assert parse_duration(45) == timedelta(seconds=45)
    assert parse_duration("7d") == timedelta(days=7)
    with pytest.raises(ValueError, match="expected a duration"):
        parse_duration("soon")


def test_normalise_nested_ecs() -> None:
    event = normaliser().normalise(record(
        {"@timestamp": "2026-11-20T10:00:00+07:00", "message": "hi",
         "source": {"ip": "::ffff:10.45.1.10"}, "event": {"category": "authentication"}},
        extra={"observer.name": "file"}), NOW)
    assert event == {
        "@timestamp": "2026-11-20T03:00:00.000000Z",
        "event.id": file_event_id("file:/var/log/a.jsonl", 120,
                                  datetime(2026, 11, 20, 3, tzinfo=UTC)),
        "event.kind": "event", "event.category": ["authentication"],
        "event.ingested": "2026-11-21T12:00:00.000000Z", "ecs.version": "8.17.0",
        "observer.name": "file", "log.offset": 120, "log.original": '{"x":1}',
        "message": "hi", "source.ip": "10.45.1.10"}


def test_record_fields_win_over_collector_defaults() -> None:
    event = normaliser().normalise(record(
        {"@timestamp": "2026-11-20T10:00:00Z", "event.kind": "alert", "event.id": "given",
         "observer": {"name": "sensor-1"}}, extra={"observer.name": "file"},
        keep_original=False), NOW)
    assert (event["event.kind"], event["event.id"], event["observer.name"]) == (
        "alert", "given", "sensor-1")
    assert "log.original" not in event


@pytest.mark.parametrize(("fields", "reason"), [
    ({"message": "x"}, "missing @timestamp"),
    ({"@timestamp": "9999-12-31T23:59:59Z"},
     "@timestamp 9999-12-31T23:59:59.000000Z is more than 1 day, 0:00:00 in the future "
     "(pipeline.max_future)"),
    ({"@timestamp": "yesterday"}, "@timestamp: timestamp 'yesterday' is not ISO 8601 or epoch "
                                  "time"),
    ({"@timestamp": [1]}, "@timestamp: timestamp [1] is neither text nor a number"),
    ({"@timestamp": "2026-11-20T10:00:00Z", "source": {"ip": "10.0.0.300"}},
     "source.ip: '10.0.0.300' is not an IP address"),
    ({"@timestamp": "2026-11-20T10:00:00Z", "host": {"name": ["a", "b"]}},
     "host.name: expected one value, got list"),
])
def test_bad_records_are_explained(fields: dict, reason: str) -> None:
    with pytest.raises(NormaliseError) as caught:
        normaliser().normalise(record(fields), NOW)
    assert str(caught.value) == reason


def test_receive_time_stands_in_for_formats_without_time() -> None:
    received = datetime(2026, 11, 21, 11, 59, tzinfo=UTC)
    event = normaliser().normalise(record({"message": "plain"}, received=received,
                                          timestamp_required=False), NOW)
    assert event["@timestamp"] == "2026-11-21T11:59:00.000000Z"


def test_canonical_ip() -> None:
    assert canonical_ip("2001:DB8:0:0::1") == "2001:db8::1"
    assert canonical_ip("::ffff:192.0.2.1") == "192.0.2.1"
    assert canonical_ip(" 10.0.0.1 ") == "10.0.0.1"
    for bad in ("010.0.0.1", "10.0.0", "example.org"):
        with pytest.raises(NormaliseError):
            canonical_ip(bad)


def test_a_line_without_its_own_time_keeps_its_id_when_read_again() -> None:
    normaliser = EventNormaliser(UTC, timedelta(days=1))
    first = RawRecord("log:abc", b"plain line", {"message": "plain line"}, position=40,
                      received=NOW, timestamp_required=False)
    again = RawRecord("log:abc", b"plain line", {"message": "plain line"}, position=40,
                      received=NOW + timedelta(hours=3), timestamp_required=False)
    one, two = normaliser.normalise(first, NOW), normaliser.normalise(again, NOW)
    assert one["event.id"] == two["event.id"]
    assert one["@timestamp"] != two["@timestamp"]  # each keeps the time it was read
