"""key=value lines: the "kv" format, with FortiGate's logs mapped to ECS (`fortinet.firewall`)
and any other key=value log kept under `kv.<key>`.

Values are kept as the text they were logged as (`"64"`, not 64) under the vendor names, so
nothing is lost or reinterpreted; the ECS copies have their ECS types. A key given twice keeps
its last value: FortiGate never repeats one, and in other logs the later value is the writer's
last word (an appended override, a retried field).
"""

from __future__ import annotations

import re
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from collectors.parsers import registry
from collectors.parsers.network_fields import set_transport
from soc.errors import NormaliseError, ParseError
from soc.events import canonical_ip

# One token per match: a pair with a closed quoted value, a pair whose quote never closes
# (the rest of the line), a pair with a bare (possibly empty) value, or a stray word. findall
# over this covers every non-blank character, so nothing is skipped unnoticed.
_TOKEN = re.compile(
    r'([A-Za-z_][A-Za-z0-9_.-]*)=(?:"([^"\\]*(?:\\.[^"\\]*)*)"|(".*)|([^\s"]\S*|))|(\S+)')
_ESCAPED = re.compile(r'\\(["\\])')
# `<PRI>` as FortiGate sends over syslog, then perhaps an RFC 3164 header (a relay's).
_PRIORITY = re.compile(r"<(\d{1,3})>")
_BSD_HEADER = re.compile(r"[A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2} ([^\s=]+) ")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TIME = re.compile(r"\d{2}:\d{2}:\d{2}")
# FortiGate writes "+0700"; some versions "UTC+7:00" or "GMT+07:00".
_ZONE = re.compile(r"(?:[A-Z]{1,4})?([+-])(\d{1,2}):?(\d{2})")
_INTERFACE_ADDRESS = re.compile(r"[\w-]+\((.+)\)")
_NAIVE_EPOCH = datetime(1970, 1, 1)



@dataclass(frozen=True, slots=True)
class _FieldMap:
    """Which keys become which ECS fields, by the type the ECS field has."""

    text: dict[str, str]
    integers: dict[str, str]
    addresses: dict[str, str]


_FORTIGATE_FIELDS = _FieldMap(
    text={"devname": "observer.name", "devid": "observer.serial_number",
          "srcintf": "observer.ingress.interface.name",
          "dstintf": "observer.egress.interface.name", "policyid": "rule.id",
          "policyname": "rule.name", "user": "user.name", "action": "event.action",
          "logid": "event.code", "level": "log.level", "msg": "message"},
    integers={"srcport": "source.port", "dstport": "destination.port",
              "transport": "source.nat.port", "tranport": "destination.nat.port",
              "sentbyte": "source.bytes", "rcvdbyte": "destination.bytes",
              "sentpkt": "source.packets", "rcvdpkt": "destination.packets"},
    addresses={"srcip": "source.ip", "dstip": "destination.ip", "transip": "source.nat.ip",
               "tranip": "destination.nat.ip"},
)
# A generic kv log's keys mean whatever its writer meant, so only the few names that mean the
# same thing across vendors become ECS, and only when the value has the right shape (an
# address that parses, a port of digits): a wrong guess would tag the event with the wrong
# agency or feed a rule a false match, while `kv.<key>` keeps every pair searchable anyway.
# Keys are compared in lower case (SRC= as iptables writes it); the later alias wins.
_GENERIC_FIELDS = _FieldMap(
    text={"user": "user.name", "action": "event.action"},
    integers={"sport": "source.port", "srcport": "source.port", "src_port": "source.port",
              "dport": "destination.port", "dstport": "destination.port",
              "dst_port": "destination.port"},
    addresses={"src": "source.ip", "srcip": "source.ip", "src_ip": "source.ip",
               "dst": "destination.ip", "dstip": "destination.ip",
               "dst_ip": "destination.ip"},
)

# FortiGate's (type or UTM subtype) → ECS categorisation; allowed/denied follows the action.
_KINDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "traffic": (("network",), ("connection",)),
    "ips": (("intrusion_detection", "network"), ("info",)),
    "anomaly": (("intrusion_detection", "network"), ("info",)),
    "virus": (("malware", "network"), ("info",)),
    "webfilter": (("web", "network"), ("access",)),
    "waf": (("web", "network"), ("access",)),
    "app-ctrl": (("network",), ("connection",)),
    "dns": (("network",), ("protocol",)),
}
_DENIED = frozenset({"deny", "denied", "block", "blocked", "drop", "dropped", "reset", "reject"})
_ALLOWED = frozenset({"accept", "allow", "allowed", "pass", "passthrough", "permit", "close",
                      "timeout", "client-rst", "server-rst", "start", "detected", "monitored"})
_TOTALS = (("network.bytes", "source.bytes", "destination.bytes"),
           ("network.packets", "source.packets", "destination.packets"))
_SUCCEEDED = frozenset({"success", "succeeded", "successful"})
_FAILED = frozenset({"failed", "failure", "fail"})


@registry.register("kv")
class KeyValueParser:
    name = "kv"
    timestamp_required = False
    keep_original = True

    def parse(self, raw: bytes) -> dict[str, Any]:
        text = raw.decode("utf-8", "backslashreplace")
        event: dict[str, Any] = {}
        start = 0
        if text[:1] == "<" and (priority := _PRIORITY.match(text)):
            _set_priority(event, int(priority.group(1)))
            start = priority.end()
        if header := _BSD_HEADER.match(text, start):
            event["log.syslog.hostname"] = header.group(1)
            start = header.end()
        pairs, strays = _split(text, start)
        if strays:
            event["message"] = " ".join(strays)
        if "devid" in pairs or "logid" in pairs:
            _fortigate(pairs, event)
        else:
            _generic(pairs, event)
        return event


def _split(text: str, start: int) -> tuple[dict[str, str], list[str]]:
    """The pairs (the last value of a repeated key wins) and the words that are not pairs."""
    pairs: dict[str, str] = {}
    strays: list[str] = []
    for key, quoted, unclosed, bare, stray in _TOKEN.findall(text, start):
        if stray:
            strays.append(stray)
        elif unclosed:
            raise ParseError(f"unterminated quote in the value of {key!r} "
                             f"({len(unclosed) - 1} characters after the quote)")
        elif quoted:
            pairs[key] = _ESCAPED.sub(r"\1", quoted) if "\\" in quoted else quoted
        else:
            pairs[key] = bare
    if not pairs:
        raise ParseError(f"no key=value pairs in the line (expected key=value or "
                         f'key="quoted value" separated by spaces, got {text[start:start + 60]!r})')
    return pairs, strays


def _fortigate(pairs: dict[str, str], event: dict[str, Any]) -> None:
    event["event.dataset"] = "fortinet.firewall"
    event["observer.vendor"] = "Fortinet"
    event["observer.product"] = "FortiGate"
    # The record's own observer replaces the file collector's: the firewall saw the traffic.
    event["observer.type"] = "firewall"
    event.update({"fortinet.firewall." + key: value for key, value in pairs.items()})
    _map(pairs, _FORTIGATE_FIELDS, event)
    set_transport(pairs.get("proto"), event)
    _set_totals(event)
    get = pairs.get
    if (duration := _integer(get("duration"))) is not None:
        event["event.duration"] = duration * 1_000_000_000
    if "source.ip" not in event and (where := _INTERFACE_ADDRESS.fullmatch(get("ui", ""))):
        # Admin logins name the client only in `ui`, as `https(203.0.113.7)`.
        _set_ip(event, "source.ip", where.group(1))
    zone = _zone(get("tz"))
    if zone:
        event["event.timezone"] = zone
    timestamp = _epoch_text(get("eventtime")) or _local_text(get("date"), get("time"), zone)
    if timestamp:
        event["@timestamp"] = timestamp
    _categorise(pairs, event)


def _generic(pairs: dict[str, str], event: dict[str, Any]) -> None:
    event.update({"kv." + key: value for key, value in pairs.items()})
    _map({key.lower(): value for key, value in pairs.items()}, _GENERIC_FIELDS, event)
    set_transport(pairs.get("proto"), event)
    timestamp = _local_text(pairs.get("date"), pairs.get("time"), None)
    if timestamp:
        event["@timestamp"] = timestamp


def _map(pairs: dict[str, str], fields: _FieldMap, event: dict[str, Any]) -> None:
    # Three plain loops rather than one with a type switch: this runs for every firewall line.
    get = pairs.get
    for key, name in fields.text.items():
        value = get(key)
        if value and value != "N/A":
            event[name] = value
    for key, name in fields.integers.items():
        if (number := _integer(get(key))) is not None:
            event[name] = number
    for key, name in fields.addresses.items():
        value = get(key)
        if value:
            _set_ip(event, name, value)


def _set_ip(event: dict[str, Any], name: str, value: str) -> None:
    # Not an address after all (`N/A`, a name): the vendor field keeps the text.
    with suppress(NormaliseError):
        event[name] = canonical_ip(value)


def _integer(value: str | None) -> int | None:
    # isdigit alone accepts '²' and other digits int() refuses; more than 19 digits is no
    # counter or time a device writes (and int() refuses past 4300).
    if value and len(value) < 20 and value.isascii() and value.isdigit():
        return int(value)
    return None


def _set_totals(event: dict[str, Any]) -> None:
    for total, sent, received in _TOTALS:
        if sent in event or received in event:
            event[total] = event.get(sent, 0) + event.get(received, 0)


def _set_priority(event: dict[str, Any], priority: int) -> None:
    if priority > 191:
        raise ParseError(f"syslog priority <{priority}> is out of range (0-191)")
    event["log.syslog.priority"] = priority
    event["log.syslog.facility.code"] = priority >> 3
    event["log.syslog.severity.code"] = priority & 7


def _categorise(pairs: dict[str, str], event: dict[str, Any]) -> None:
    kind = pairs.get("type", "")
    if kind == "utm":
        kind = pairs.get("subtype", "")
    action = pairs.get("action", "").lower()
    status = pairs.get("status", "").lower()
    if kind == "event":
        description = pairs.get("logdesc", "").lower()
        if "logout" in action or "logout" in description:
            event["event.category"], event["event.type"] = ["authentication"], ["end"]
        elif "login" in action or "login" in description:
            event["event.category"], event["event.type"] = ["authentication"], ["start"]
    elif kind in _KINDS:
        categories, types = _KINDS[kind]
        verdict = ("denied",) if action in _DENIED else ("allowed",) if action in _ALLOWED else ()
        event["event.category"], event["event.type"] = list(categories), [*types, *verdict]
    # A refused connection or attack counts as a failure, as a refused HTTP request does in
    # the web parsers: a rule counting one source's failures then sees both. An explicit
    # status (admin and VPN logins) says it outright.
    if status in _SUCCEEDED or (not status and action in _ALLOWED):
        event["event.outcome"] = "success"
    elif status in _FAILED or (not status and action in _DENIED):
        event["event.outcome"] = "failure"


@lru_cache(maxsize=64)
def _zone(text: str | None) -> str | None:
    """FortiGate's `tz` as an ISO offset (`+07:00`), or None when absent or unreadable."""
    match = _ZONE.fullmatch(text) if text else None
    if match is None:
        return None
    sign, hours, minutes = match.groups()
    return f"{sign}{int(hours):02d}:{minutes}"


def _epoch_text(value: str | None) -> str | None:
    """`eventtime` (UTC epoch in s, ms, µs or ns, told apart by magnitude) as ISO text."""
    number = _integer(value)
    if number is None:
        return None
    # Integer arithmetic: a float would lose the nanoseconds' last digits, and microseconds.
    for scale, limit in ((1_000_000_000, 10**17), (1_000_000, 10**14), (1_000, 10**11)):
        if number >= limit:
            seconds, rest = divmod(number, scale)
            micros = rest * 1_000_000 // scale
            break
    else:
        seconds, micros = number, 0
    return f"{_utc_second(seconds)}.{micros:06d}+00:00"


@lru_cache(maxsize=4096)
def _utc_second(seconds: int) -> str:
    # Cached: a firewall logs thousands of lines within the same second. `_integer` keeps
    # eventtime below 10**19, which is within datetime's range in every unit.
    return (_NAIVE_EPOCH + timedelta(seconds=seconds)).isoformat()


def _local_text(date: str | None, time: str | None, zone: str | None) -> str | None:
    """`date` and `time` (and the zone, when known) as ISO text; None without both."""
    if not date or not time:
        return None
    if _DATE.fullmatch(date) is None or _TIME.fullmatch(time) is None:
        raise ParseError(f"date={date!r} time={time!r} is not yyyy-mm-dd hh:mm:ss")
    text = f"{date}T{time}"
    try:
        datetime.fromisoformat(text)
    except ValueError as exc:
        raise ParseError(f"date={date} time={time} is not a real time ({exc})") from None
    return text + zone if zone else text
