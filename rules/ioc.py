"""Indicator (IOC) matching: known-bad addresses, networks, domains, URLs, file hashes and e-mail
addresses, loaded from plain-text or CSV files, matched against every event, and the alert a hit
raises.

Matching costs a few dict lookups per indicator field the event has, whatever the number of
indicators: exact values by one lookup, networks by one lookup per prefix length in use, domains
by one lookup per label of the event's name. Expiry is judged by the event's time, not the clock,
so replaying a file raises the same alerts as streaming it did.
"""

from __future__ import annotations

import csv
import ipaddress
import re
import socket
import uuid
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from functools import lru_cache
from pathlib import Path
from typing import Any

from rules.alerts import LEVELS, RuleInfo, alert_id, build_alert
from soc.timeutil import parse_timestamp, utcnow

TYPES = ("ipv4", "ipv6", "cidr", "domain", "url", "md5", "sha1", "sha256", "email")

# The event fields each kind of indicator is looked for in (values may be lists).
IP_FIELDS = (
    "source.ip", "destination.ip", "client.ip", "server.ip", "related.ip", "dns.resolved_ip",
)
DOMAIN_FIELDS = (
    "dns.question.name", "url.domain", "destination.domain", "server.domain", "source.domain",
    "tls.client.server_name", "related.hosts",
)
URL_FIELDS = ("url.full", "url.original")
HASH_FIELDS = (
    "file.hash.md5", "file.hash.sha1", "file.hash.sha256",
    "process.hash.md5", "process.hash.sha1", "process.hash.sha256", "related.hash",
)
EMAIL_FIELDS = (
    "email.from.address", "email.to.address", "email.sender.address", "user.email",
    "source.user.email",
)

# Never change it: stored alerts carry rule ids derived from it, one per indicator type.
INDICATOR_NAMESPACE = uuid.UUID("dc2da834-8bf4-4e71-99e2-4b29ed126387")
RULE_IDS = {kind: str(uuid.uuid5(INDICATOR_NAMESPACE, kind)) for kind in TYPES}
RULE_TAGS = ("attack.command_and_control",)

# What feeds write in a CSV `type` column besides the product's own names.
TYPE_ALIASES = {
    "ip": "ip", "ip-src": "ip", "ip-dst": "ip", "ipv4-addr": "ipv4", "ipv6-addr": "ipv6",
    "network": "cidr", "hostname": "domain", "domain-name": "domain", "fqdn": "domain",
    "uri": "url", "sha-1": "sha1", "sha-256": "sha256", "email-addr": "email",
}

_HOSTNAME = re.compile(
    r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?")
_URL = re.compile(r"[a-z][a-z0-9+.-]*://[^/?#\s@]*@?[^/?#\s@]+(?:[/?#]\S*)?", re.IGNORECASE)
_URL_HEAD = re.compile(r"[a-z][a-z0-9+.-]*://[^/?#]*", re.IGNORECASE)
_HEX = re.compile(r"[0-9a-fA-F]+")
_DOTTED_NUMBER = re.compile(r"[0-9.]+")
_INLINE_COMMENT = re.compile(r"\s#")
_HASH_BY_LENGTH = {32: "md5", 40: "sha1", 64: "sha256"}
_SEQUENCES = (list, tuple)

_Bucket = dict[str, "Indicator"]  # by source: a feed listing a value again replaces its own entry
_Finder = Callable[[str], Collection["Indicator"]]


@dataclass(frozen=True)
class Indicator:
    """One known-bad value. `value` is normalised on creation (so equal indicators compare equal
    however the feed spelled them) and `expires` made UTC; ValueError when either is invalid."""

    type: str
    value: str
    source: str
    expires: datetime | None = None
    description: str = ""
    level: str = "high"

    def __post_init__(self) -> None:
        normalise = _NORMALISERS.get(self.type)
        if normalise is None:
            raise ValueError(f"unknown type {self.type!r} (expected one of {', '.join(TYPES)})")
        if self.level not in LEVELS:
            raise ValueError(f"unknown level {self.level!r} (expected one of {', '.join(LEVELS)})")
        object.__setattr__(self, "value", normalise(self.value.strip()))
        if self.expires is not None:
            object.__setattr__(self, "expires", _as_utc(self.expires))


@dataclass(frozen=True)
class IndicatorHit:
    """An indicator found in an event: in which field, and the value as the event spelled it."""

    indicator: Indicator
    field: str
    value: str


@dataclass
class LoadReport:
    """What `IndicatorSet.load_file` loaded, and each line it skipped as `file:line: reason`."""

    loaded: int = 0
    problems: list[str] = field(default_factory=list)


class IndicatorSet:
    """Indicators indexed for matching.

    Not safe to change while another thread matches: to reload, build a new set and swap it in.
    """

    def __init__(self, indicators: Iterable[Indicator] = ()) -> None:
        self._ips: dict[str, _Bucket] = {}
        self._domains: dict[str, _Bucket] = {}
        self._urls: dict[str, _Bucket] = {}
        self._hashes: dict[str, _Bucket] = {}
        self._emails: dict[str, _Bucket] = {}
        # IP version → prefix length → network address >> host bits → indicators.
        self._networks: dict[int, dict[int, dict[int, _Bucket]]] = {4: {}, 6: {}}
        # Per version, (host bits, table) for each prefix length present: what `match` walks.
        self._walks: dict[int, tuple[tuple[int, dict[int, _Bucket]], ...]] = {4: (), 6: ()}
        self._plan: tuple[tuple[str, _Finder], ...] | None = None
        self._count = 0
        for indicator in indicators:
            self.add(indicator)

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[Indicator]:
        for table in self._tables():
            for bucket in table.values():
                yield from bucket.values()

    def add(self, indicator: Indicator) -> None:
        """Add `indicator`, replacing one of the same type, value and source."""
        bucket = self._bucket(indicator)
        if indicator.source not in bucket:
            self._count += 1
        bucket[indicator.source] = indicator

    def load_file(self, path: str | Path, source: str | None = None) -> LoadReport:
        """Add the indicators of a file; `source` (default: the file's name) says where from.

        Plain text holds one value a line, its type told by its form. CSV has a header row with
        a `value` column and optionally `type`, `expires`, `description`, `level` and `source`.
        In both, lines starting with `#` are comments. Lines that make no indicator are skipped
        and reported; OSError when the file cannot be read.
        """
        path = Path(path)
        # Undecodable bytes become U+FFFD: that line is reported, the rest of the file loads.
        lines = path.read_text(encoding="utf-8-sig", errors="replace").splitlines()
        rows = _csv_rows(lines) if _is_csv(lines) else _text_rows(lines)
        report = LoadReport()
        for number, row in rows:
            try:
                self.add(_indicator_from_row(row, source or path.name))
            except ValueError as error:
                report.problems.append(f"{path}:{number}: {error}")
            else:
                report.loaded += 1
        return report

    def prune(self, now: datetime) -> int:
        """Drop the indicators that expired before `now`; how many went."""
        now = _as_utc(now)
        removed = sum(_prune_table(table, now) for table in self._tables())
        for by_length in self._networks.values():
            for length in [length for length, table in by_length.items() if not table]:
                del by_length[length]
        self._refresh_walks()
        self._count -= removed
        return removed

    def match(self, event: Mapping[str, Any]) -> list[IndicatorHit]:
        """The indicators in force at the event's time that one of its fields holds, each
        (indicator, field, value) once."""
        plan = self._plan if self._plan is not None else self._refresh_plan()
        found: list[tuple[Indicator, str, str]] = []
        get = event.get
        for name, find in plan:
            raw = get(name)
            if raw is None:
                continue
            for text in raw if isinstance(raw, _SEQUENCES) else (raw,):
                if text.__class__ is str:
                    for indicator in find(text):
                        found.append((indicator, name, text))
        return _live_hits(found, event) if found else []

    def _bucket(self, indicator: Indicator) -> _Bucket:
        if indicator.type == "cidr":
            return self._network_bucket(ipaddress.ip_network(indicator.value))
        table = {"ipv4": self._ips, "ipv6": self._ips, "domain": self._domains,
                 "url": self._urls, "email": self._emails}.get(indicator.type, self._hashes)
        if not table:
            self._plan = None
        return table.setdefault(indicator.value, {})

    def _network_bucket(self, network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> _Bucket:
        by_length = self._networks[network.version]
        table = by_length.get(network.prefixlen)
        if table is None:
            table = by_length[network.prefixlen] = {}
            self._refresh_walks()
        host_bits = network.max_prefixlen - network.prefixlen
        return table.setdefault(int(network.network_address) >> host_bits, {})

    def _tables(self) -> list[dict[Any, _Bucket]]:
        networks = [table for by_length in self._networks.values() for table in by_length.values()]
        return [self._ips, self._domains, self._urls, self._hashes, self._emails, *networks]

    def _refresh_walks(self) -> None:
        for version, by_length in self._networks.items():
            bits = 32 if version == 4 else 128
            self._walks[version] = tuple((bits - length, table)
                                         for length, table in sorted(by_length.items()))
        self._plan = None

    def _refresh_plan(self) -> tuple[tuple[str, _Finder], ...]:
        # Only the fields of kinds that have indicators: an event costs nothing for the others.
        kinds: list[tuple[bool, tuple[str, ...], _Finder]] = [
            (bool(self._ips or self._walks[4] or self._walks[6]), IP_FIELDS, self._find_ip),
            (bool(self._domains), DOMAIN_FIELDS, self._find_domain),
            (bool(self._urls), URL_FIELDS, self._find_url),
            (bool(self._hashes), HASH_FIELDS, self._find_lower(self._hashes)),
            (bool(self._emails), EMAIL_FIELDS, self._find_lower(self._emails)),
        ]
        self._plan = tuple((name, find) for present, names, find in kinds if present
                           for name in names)
        return self._plan

    def _find_ip(self, text: str) -> Collection[Indicator]:
        parsed = _event_address(text)
        if parsed is None:
            return ()
        canonical, version, number = parsed
        bucket = self._ips.get(canonical)
        found = list(bucket.values()) if bucket else []
        for host_bits, table in self._walks[version]:
            bucket = table.get(number >> host_bits)
            if bucket:
                found.extend(bucket.values())
        return found

    def _find_domain(self, text: str) -> Collection[Indicator]:
        name = text.lower()
        if name.endswith("."):
            name = name[:-1]
        found: list[Indicator] = []
        domains = self._domains
        while True:
            bucket = domains.get(name)
            if bucket:
                found.extend(bucket.values())
            dot = name.find(".")
            if dot < 0:
                return found
            name = name[dot + 1:]

    def _find_url(self, text: str) -> Collection[Indicator]:
        bucket = self._urls.get(_normalise_url(text))
        return bucket.values() if bucket else ()

    @staticmethod
    def _find_lower(table: dict[str, _Bucket]) -> _Finder:
        def find(text: str) -> Collection[Indicator]:
            bucket = table.get(text.lower())
            return bucket.values() if bucket else ()
        return find


def indicator_alert(hit: IndicatorHit, event: Mapping[str, Any]) -> dict[str, Any]:
    """The alert document for an indicator hit in `event`."""
    indicator = hit.indicator
    rule = RuleInfo(id=RULE_IDS[indicator.type], name=f"Known-bad {indicator.type} indicator",
                    level=indicator.level, type="indicator", tags=RULE_TAGS)
    extra = {"threat.indicator.type": indicator.type, "threat.indicator.value": indicator.value,
             "threat.indicator.provider": indicator.source}
    if indicator.description:
        extra["threat.indicator.description"] = indicator.description
    alert = build_alert(rule, [event], {hit.field: hit.value}, message=_message(hit), extra=extra)
    # The rule id is one per type; the value keeps apart two indicators hitting one event, while
    # one indicator seen in two fields (or listed by two feeds) stays one alert.
    alert["id"] = alert_id(f"{rule.id}:{indicator.value}", [str(event.get("event.id", ""))])
    return alert


def parse_indicator(value: str, type: str = "", *, source: str,
                    expires: datetime | None = None, description: str = "",
                    level: str = "high") -> Indicator:
    """An indicator from a feed's spelling: `type` may be empty (detected from the value) or a
    common alias (`ip`, `hostname`, `domain-name`, …). ValueError naming what is wrong."""
    value = value.strip()
    kind = type.strip().lower() or detect_type(value)
    kind = TYPE_ALIASES.get(kind, kind)
    if kind == "ip":
        kind = "ipv6" if ":" in value else "ipv4"
    return Indicator(kind, value, source, expires, description, level)


def detect_type(value: str) -> str:
    """The indicator type `value` looks like; the Indicator it makes then says if it is not one."""
    if "://" in value:
        return "url"
    if "@" in value:
        return "email"
    if len(value) in _HASH_BY_LENGTH and _HEX.fullmatch(value):
        return _HASH_BY_LENGTH[len(value)]
    if "/" in value:
        return "cidr"
    if ":" in value:
        return "ipv6"
    if _DOTTED_NUMBER.fullmatch(value):
        return "ipv4"
    return "domain"


def parse_expiry(text: str) -> datetime:
    """ISO 8601 to UTC: a date alone means the end of that day, a time without a zone is UTC."""
    text = text.strip()
    try:
        day = date.fromisoformat(text)
    except ValueError:
        pass
    else:
        return datetime.combine(day, time.max, tzinfo=UTC)
    try:
        return _as_utc(datetime.fromisoformat(text))
    except ValueError:
        raise ValueError(f"bad expiry date {text!r} (expected ISO 8601, e.g. 2026-12-31 or "
                         f"2026-12-31T18:00:00Z)") from None


def _message(hit: IndicatorHit) -> str:
    indicator = hit.indicator
    seen = "" if hit.value == indicator.value else f" ({hit.value})"
    return (f"Known-bad {indicator.type} {indicator.value} from {indicator.source} "
            f"in {hit.field}{seen}")


def _live_hits(found: Sequence[tuple[Indicator, str, str]],
               event: Mapping[str, Any]) -> list[IndicatorHit]:
    when: datetime | None = None
    seen: set[tuple[int, str, str]] = set()
    hits: list[IndicatorHit] = []
    for indicator, name, text in found:
        if indicator.expires is not None:
            when = when or _event_time(event)
            if indicator.expires < when:
                continue
        # By identity: hashing the dataclass hashes all its fields, and the set holds one of each.
        key = (id(indicator), name, text)
        if key not in seen:
            seen.add(key)
            hits.append(IndicatorHit(indicator, name, text))
    return hits


def _event_time(event: Mapping[str, Any]) -> datetime:
    try:
        return parse_timestamp(event.get("@timestamp"), UTC)
    except ValueError:
        # No usable event time: an indicator past its expiry by the clock is not in force.
        return utcnow()


@lru_cache(maxsize=1 << 16)  # the same few addresses recur event after event
def _event_address(text: str) -> tuple[str, int, int] | None:
    try:
        # inet_pton takes only canonical dotted quads, and is ten times quicker than ipaddress.
        return text, 4, int.from_bytes(socket.inet_pton(socket.AF_INET, text), "big")
    except (OSError, ValueError):
        pass
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if address.version == 6 and address.ipv4_mapped is not None:
        # Dual-stack sockets log IPv4 peers as ::ffff:a.b.c.d; the indicator is the IPv4 one.
        address = address.ipv4_mapped
    return str(address), address.version, int(address)


def _normalise_url(text: str) -> str | None:
    """Scheme and host lower-case, the rest as written (paths and queries are case-sensitive);
    None when it does not start with `scheme://`."""
    head = _URL_HEAD.match(text)
    if head is None:
        return None
    end = head.end()
    at = text.rfind("@", 0, end)
    if at < 0:
        return text[:end].lower() + text[end:]
    host = text.index("://") + 3
    # User info keeps its case: it is not part of the host.
    return text[:host].lower() + text[host:at + 1] + text[at + 1:end].lower() + text[end:]


def _ip_normaliser(version: int) -> Callable[[str], str]:
    def normalise(value: str) -> str:
        try:
            address = ipaddress.ip_address(value)
        except ValueError:
            raise ValueError(f"invalid IP address {value!r}") from None
        if address.version != version:
            raise ValueError(f"{value!r} is not an IPv{version} address")
        return str(address)
    return normalise


def _cidr(value: str) -> str:
    try:
        # Host bits set (10.1.2.3/8) mean the network around them, as feeds tend to write it.
        return str(ipaddress.ip_network(value, strict=False))
    except ValueError:
        raise ValueError(f"invalid CIDR network {value!r}") from None


def _domain(value: str) -> str:
    name = value.lower().removesuffix(".")
    if not name.isascii():
        try:
            name = name.encode("idna").decode("ascii")
        except UnicodeError:
            raise ValueError(f"invalid domain name {value!r}") from None
    if len(name) > 253 or not _HOSTNAME.fullmatch(name):
        raise ValueError(f"invalid domain name {value!r}")
    return name


def _url(value: str) -> str:
    normal = _normalise_url(value) if _URL.fullmatch(value) else None
    if normal is None:
        raise ValueError(f"invalid URL {value!r} (expected scheme://host/…)")
    return normal


def _hash_normaliser(kind: str, length: int) -> Callable[[str], str]:
    def normalise(value: str) -> str:
        if len(value) != length or not _HEX.fullmatch(value):
            raise ValueError(f"{value!r} is not a {kind} hash ({length} hex digits)")
        return value.lower()
    return normalise


def _email(value: str) -> str:
    local, at, domain = value.lower().rpartition("@")
    if not at or not local or "@" in local or any(c.isspace() for c in local):
        raise ValueError(f"invalid e-mail address {value!r}")
    try:
        return f"{local}@{_domain(domain)}"
    except ValueError:
        raise ValueError(f"invalid e-mail address {value!r}") from None


_NORMALISERS: dict[str, Callable[[str], str]] = {
    "ipv4": _ip_normaliser(4), "ipv6": _ip_normaliser(6), "cidr": _cidr, "domain": _domain,
    "url": _url, "md5": _hash_normaliser("md5", 32), "sha1": _hash_normaliser("sha1", 40),
    "sha256": _hash_normaliser("sha256", 64), "email": _email,
}


def _as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _prune_table(table: dict[Any, _Bucket], now: datetime) -> int:
    removed = 0
    for key, bucket in list(table.items()):
        for source, indicator in list(bucket.items()):
            if indicator.expires is not None and indicator.expires < now:
                del bucket[source]
                removed += 1
        if not bucket:
            del table[key]
    return removed


def _indicator_from_row(row: Mapping[str, str], source: str) -> Indicator:
    value = row.get("value") or ""
    if not value:
        raise ValueError("no value")
    expires = row.get("expires") or ""
    return parse_indicator(value, row.get("type") or "", source=row.get("source") or source,
                           expires=parse_expiry(expires) if expires else None,
                           description=row.get("description") or "",
                           level=(row.get("level") or "high").lower())


def _is_csv(lines: Sequence[str]) -> bool:
    first = next((line for line in lines if line.strip() and not _is_comment(line)), "")
    if "," not in first:
        return False
    header = next(csv.reader([first]))
    return "value" in (cell.strip().lower() for cell in header)


def _text_rows(lines: Sequence[str]) -> Iterator[tuple[int, dict[str, str]]]:
    for number, line in enumerate(lines, 1):
        if not _is_comment(line):
            value = _INLINE_COMMENT.split(line, maxsplit=1)[0].strip()
            if value:
                yield number, {"value": value}


def _csv_rows(lines: Sequence[str]) -> Iterator[tuple[int, dict[str, str]]]:
    # Comment lines read as blank ones, so the reader's line count stays the file's.
    reader = csv.reader("" if _is_comment(line) else line for line in lines)
    header: list[str] | None = None
    start = 1
    for row in reader:
        number, start = start, reader.line_num + 1
        if not any(cell.strip() for cell in row):
            continue
        if header is None:
            header = [cell.strip().lower() for cell in row]
        else:
            yield number, dict(zip(header, (cell.strip() for cell in row), strict=False))


def _is_comment(line: str) -> bool:
    return line.lstrip().startswith("#")
