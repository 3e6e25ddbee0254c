"""Time handling: everything inside is timezone-aware UTC; local time only at the edges."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)", re.IGNORECASE)
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NAIVE_EPOCH = datetime(1970, 1, 1)


def parse_duration(value: str | int | float | timedelta) -> timedelta:
    """`90s`, `5m`, `1h30m`, `7d`, or a number of seconds."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    if not isinstance(value, str):
        raise ValueError(f"expected a duration such as 90s, 5m, 1h or 7d, got {value!r}")
    text = value.strip().replace(" ", "")
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts).lower() != text.lower():
        raise ValueError(f"expected a duration such as 90s, 5m, 1h or 7d, got {value!r}")
    return timedelta(seconds=sum(float(n) * _UNIT_SECONDS[u.lower()] for n, u in parts))


def load_zone(name: str) -> tzinfo:
    """A zone from the IANA database by name (e.g. Asia/Ho_Chi_Minh); ValueError when unknown."""
    if name.upper() == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (expected an IANA name such as "
                         f"Asia/Ho_Chi_Minh)") from None


def parse_timestamp(value: object, zone: tzinfo) -> datetime:
    """An aware UTC datetime from ISO 8601 text or epoch seconds/milliseconds/microseconds.

    Text without a zone is read in `zone` (syslog and many appliances log local time).
    """
    if value.__class__ is str:  # the usual case first: this runs once per event
        moment = _from_text(value.strip())  # type: ignore[attr-defined]
    elif isinstance(value, datetime):
        moment = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        moment = _from_epoch(float(value))
    elif isinstance(value, str):
        moment = _from_text(value.strip())
    else:
        raise ValueError(f"timestamp {value!r} is neither text nor a number")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment if moment.tzinfo is UTC else moment.astimezone(UTC)


def _from_epoch(seconds: float) -> datetime:
    # Exporters write epoch time in s, ms or µs; the magnitude tells which (s until year 5138).
    if abs(seconds) >= 1e14:
        seconds /= 1e6
    elif abs(seconds) >= 1e11:
        seconds /= 1e3
    try:
        return EPOCH + timedelta(seconds=seconds)
    except OverflowError:
        raise ValueError(f"epoch timestamp {seconds!r} is out of range") from None


def _from_text(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        pass
    try:
        return _from_epoch(float(text))
    except ValueError:
        raise ValueError(f"timestamp {text[:64]!r} is not ISO 8601 or epoch time") from None


def format_timestamp(moment: datetime) -> str:
    """ISO 8601 UTC with microseconds and a Z: fixed width, so text order is time order."""
    # The seconds' text is cached and the fraction appended: half the cost of isoformat, and
    # this runs once per event (events come in runs within the same seconds).
    seconds, fraction = divmod(to_micros(moment), 1_000_000)
    return f"{_second_text(seconds)}.{fraction:06d}Z"


@lru_cache(maxsize=4096)
def _second_text(seconds: int) -> str:
    return (_NAIVE_EPOCH + timedelta(seconds=seconds)).isoformat()


def micros_of_formatted(text: str) -> int:
    """to_micros of a `format_timestamp` text, with no zone arithmetic (the store's hot path)."""
    delta = datetime.fromisoformat(text[:-1]) - _NAIVE_EPOCH
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def to_micros(moment: datetime) -> int:
    """Microseconds since the epoch (the store's sortable time key)."""
    delta = moment - EPOCH
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def utcnow() -> datetime:
    return datetime.now(UTC)


def parse_time_bound(value: str, zone: tzinfo, now: datetime | None = None) -> datetime:
    """A query bound: an absolute timestamp, or a duration meaning that long ago (`15m`, `7d`)."""
    try:
        return (now or utcnow()) - parse_duration(value)
    except ValueError:
        pass
    try:
        return parse_timestamp(value, zone)
    except ValueError:
        raise ValueError(
            f"{value!r} is neither a timestamp nor a duration such as 15m or 7d") from None
