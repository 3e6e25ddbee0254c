"""Indicator (IOC) matching: known-bad addresses, networks, domains, URLs, file hashes and e-mail
addresses (rules.indicators reads them) indexed for matching against every event, and the alert a
hit raises.

Matching costs a few dict lookups per indicator field the event has, whatever the number of
indicators: exact values by one lookup, networks by one lookup per prefix length in use, domains
by one lookup per label of the event's name. Expiry is judged by the event's time, not the clock,
so replaying a file raises the same alerts as streaming it did.
"""

from __future__ import annotations

import ipaddress
import socket
import uuid
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from rules.alerts import RuleInfo, alert_id, build_alert
from rules.indicators import (
    TYPES,
    Indicator,
    LoadReport,
    as_utc,
    normalise_url,
    read_indicator_file,
)
from soc.timeutil import parse_timestamp, utcnow

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

_SEQUENCES = (list, tuple)

_Bucket = dict[str, Indicator]  # by source: a feed listing a value again replaces its own entry
_Finder = Callable[[str], Collection[Indicator]]


@dataclass(frozen=True)
class IndicatorHit:
    """An indicator found in an event: in which field, and the value as the event spelled it."""

    indicator: Indicator
    field: str
    value: str


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
        """Add the indicators of a file (formats: `read_indicator_file`); `source` (default: the
        file's name) says where from. Lines that make no indicator are skipped and reported;
        OSError when the file cannot be read."""
        indicators, report = read_indicator_file(path, source or Path(path).name)
        for indicator in indicators:
            self.add(indicator)
        return report

    def prune(self, now: datetime) -> int:
        """Drop the indicators that expired before `now`; how many went."""
        now = as_utc(now)
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
        bucket = self._urls.get(normalise_url(text))
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
