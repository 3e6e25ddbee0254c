"""ECS network fields that several parsers (Zeek, Suricata, key=value firewalls, web servers) set
the same way: connection ends and traffic counts, transport protocol, HTTP requests and their
URL targets, TLS versions and DNS answers.

Not a parser: it registers nothing (every module of collectors.parsers is imported, and may
register parsers, but need not).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from collectors.parsers.syslog import add_endpoint
from soc.errors import NormaliseError
from soc.events import canonical_ip

_PORT = re.compile(r"[0-9]{1,5}")

TRANSPORTS = {"1": "icmp", "6": "tcp", "17": "udp", "58": "ipv6-icmp", "47": "gre",
              "50": "esp", "51": "ah", "132": "sctp"}
_IANA_NUMBERS = {name: number for number, name in TRANSPORTS.items()}
_IANA_NUMBERS = {name: number for number, name in TRANSPORTS.items()}

# SSL/TLS versions as Zeek (`TLSv12`) and Suricata (`TLS 1.2`, `TLSv1`) write them →
# (tls.version_protocol, tls.version).
TLS_VERSIONS = {
    "SSLv2": ("ssl", "2.0"), "SSLv3": ("ssl", "3.0"),
    "TLSv10": ("tls", "1.0"), "TLSv11": ("tls", "1.1"), "TLSv12": ("tls", "1.2"),
    "TLSv13": ("tls", "1.3"), "DTLSv10": ("dtls", "1.0"), "DTLSv12": ("dtls", "1.2"),
    "DTLSv13": ("dtls", "1.3"),
    "TLSv1": ("tls", "1.0"), "TLS 1.1": ("tls", "1.1"), "TLS 1.2": ("tls", "1.2"),
    "TLS 1.3": ("tls", "1.3"),
}


def set_transport(proto: str | None, event: dict[str, Any]) -> None:
    """`network.iana_number` and `network.transport` of a protocol logged by number or name."""
    if not proto:
        return
    if proto.isascii() and proto.isdigit():
        event["network.iana_number"] = proto
        if proto in TRANSPORTS:
            event["network.transport"] = TRANSPORTS[proto]
    elif (number := _IANA_NUMBERS.get(proto.lower())) is not None:
        event["network.iana_number"] = number
        event["network.transport"] = proto.lower()


def set_endpoint(event: dict[str, Any], side: str, address: Any, port: Any) -> None:
    """`side.ip` (and `related.ip`) and `side.port` of a connection's end, as logged."""
    if isinstance(address, str):
        add_endpoint(event, side, address, names=False)
    if isinstance(port, int):
        event[side + ".port"] = port


def set_traffic(event: dict[str, Any], source_bytes: Any, destination_bytes: Any,
                source_packets: Any, destination_packets: Any) -> None:
    """`source|destination.bytes|packets` of a connection for the counts it has, and
    `network.bytes|packets` as their sums (ECS)."""
    for unit, counts in (("bytes", (source_bytes, destination_bytes)),
                         ("packets", (source_packets, destination_packets))):
        known = [(side, count) for side, count in zip(("source", "destination"), counts,
                                                      strict=True) if isinstance(count, int)]
        for side, count in known:
            event[f"{side}.{unit}"] = count
        if known:
            event["network." + unit] = sum(count for _, count in known)


def set_http(event: dict[str, Any], *, method: Any, target: Any, host: Any, status: Any,
             user_agent: Any, referrer: Any, version: Any) -> None:
    """The ECS fields of an HTTP request and its response, as Zeek and Suricata log them."""
    if isinstance(method, str) and method:
        event["http.request.method"] = method
    if isinstance(host, str) and host:
        _set_host(event, host)
    if isinstance(target, str) and target:
        set_url_target(event, target)
    if isinstance(status, str) and status.isascii() and status.isdigit():
        status = int(status)
    if isinstance(status, int) and not isinstance(status, bool):
        event["http.response.status_code"] = status
        # As the web server parsers do: a rule counting a client's failures sees them all.
        event["event.outcome"] = "failure" if status >= 400 else "success"
    if isinstance(user_agent, str) and user_agent:
        event["user_agent.original"] = user_agent
    if isinstance(referrer, str) and referrer:
        event["http.request.referrer"] = referrer
    if isinstance(version, str) and version:
        event["http.version"] = version.removeprefix("HTTP/")


def _set_host(event: dict[str, Any], host: str) -> None:
    # The Host header: a name or address, then perhaps `:port` ([...] around IPv6).
    name, port = host, ""
    if host[:1] == "[":
        name, _, rest = host[1:].partition("]")
        port = rest[1:] if rest[:1] == ":" else ""
    elif host.count(":") == 1:
        name, _, port = host.partition(":")
    event["url.domain"] = name
    if _PORT.fullmatch(port):
        event["url.port"] = int(port)


def set_url_target(event: dict[str, Any], target: str) -> None:
    """url.* of a request target: origin form (`/path?query`) or absolute form (as sent to a
    proxy, or by someone probing for an open one); CONNECT's `host:port` is kept as url.original
    alone."""
    event["url.original"] = target
    if target[:1] == "/":
        path, question, query = target.partition("?")
        event["url.path"] = path
        if question:
            event["url.query"] = query
    elif "://" in target:
        try:
            parts = urlsplit(target)
        except ValueError:
            return
        if parts.scheme:
            event["url.scheme"] = parts.scheme
        if parts.hostname and "url.domain" not in event:
            event["url.domain"] = parts.hostname
        event["url.path"] = parts.path
        if "?" in target:
            event["url.query"] = parts.query


def set_tls_version(event: dict[str, Any], version: Any) -> None:
    """`tls.version_protocol` and `tls.version` of Zeek's or Suricata's version text."""
    known = TLS_VERSIONS.get(version) if isinstance(version, str) else None
    if known is not None:
        event["tls.version_protocol"], event["tls.version"] = known


def set_dns_answers(event: dict[str, Any], data: list[Any], ttls: list[Any] | None) -> None:
    """`dns.answers.data|ttl` (parallel lists: the flat form of ECS's answer objects, which
    rules can match) and `dns.resolved_ip`, the answers that are addresses."""
    event["dns.answers.data"] = list(data)
    if ttls:
        event["dns.answers.ttl"] = [
            round(ttl) if isinstance(ttl, int | float) and not isinstance(ttl, bool) else None
            for ttl in ttls]
    resolved = []
    for item in data:
        if isinstance(item, str):
            try:
                resolved.append(canonical_ip(item))
            except NormaliseError:
                continue  # a CNAME, MX, TXT … answer
    if resolved:
        event["dns.resolved_ip"] = resolved
