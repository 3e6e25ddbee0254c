"""Indicators (IOCs) and reading them: the indicator value type, its types and how each is
normalised, the spellings feeds use for them, expiry dates, and the plain-text and CSV files
they come in.
"""

from __future__ import annotations

import csv
import ipaddress
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from pathlib import Path

from rules.alerts import LEVELS

TYPES = ("ipv4", "ipv6", "cidr", "domain", "url", "md5", "sha1", "sha256", "email")

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
            object.__setattr__(self, "expires", as_utc(self.expires))


@dataclass
class LoadReport:
    """What `read_indicator_file` loaded, and each line it skipped as `file:line: reason`."""

    loaded: int = 0
    problems: list[str] = field(default_factory=list)


def read_indicator_file(path: str | Path, source: str) -> tuple[list[Indicator], LoadReport]:
    """The indicators of a file, with `source` where a row does not name its own.

    Plain text holds one value a line, its type told by its form. CSV has a header row with
    a `value` column and optionally `type`, `expires`, `description`, `level` and `source`.
    In both, lines starting with `#` are comments. Lines that make no indicator are skipped
    and reported; OSError when the file cannot be read.
    """
    path = Path(path)
    # Undecodable bytes become U+FFFD: that line is reported, the rest of the file loads.
    lines = path.read_text(encoding="utf-8-sig", errors="replace").splitlines()
    rows = _csv_rows(lines) if _is_csv(lines) else _text_rows(lines)
    indicators: list[Indicator] = []
    report = LoadReport()
    for number, row in rows:
        try:
            indicators.append(_indicator_from_row(row, source))
        except ValueError as error:
            report.problems.append(f"{path}:{number}: {error}")
        else:
            report.loaded += 1
    return indicators, report


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
        return as_utc(datetime.fromisoformat(text))
    except ValueError:
        raise ValueError(f"bad expiry date {text!r} (expected ISO 8601, e.g. 2026-12-31 or "
                         f"2026-12-31T18:00:00Z)") from None


def as_utc(moment: datetime) -> datetime:
    """`moment` in UTC; without a zone it is taken to be UTC already."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def normalise_url(text: str) -> str | None:
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
    normal = normalise_url(value) if _URL.fullmatch(value) else None
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
