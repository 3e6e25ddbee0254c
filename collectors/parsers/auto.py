"""The "auto" format: picks a parser for each line by its content (`detect`), for a file or
stream that mixes formats or whose format nobody wrote down.

Detection looks at the first byte before trying any pattern, and every pattern is anchored or
cheap, so a line costs about a microsecond on top of its parser. The chosen parser's
fields stand as they are: auto adds nothing of its own.

A JSON line is told by its keys: Suricata EVE (`event_type` with `flow_id` or `src_ip`), Zeek
(`_path`, or `uid` with `id.orig_h`), a Windows event (`winlog…` or NXLog's `EventID`), else
plain JSON lines. A Zeek TSV line says nothing of what it is: only its log's header does. So
the header lines (`#separator`, `#fields`, …) go to one zeek parser kept for the stream, and
after them each line that the parser says continues its log (as many fields as the header
names); a line that looks like Zeek TSV (epoch time, then a tab) with no header before it goes
to that parser too, which refuses it with that reason. A line of another format that happens
to have exactly the header's number of tabs would be read as Zeek: a mixed stream should not
carry Zeek TSV.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from collectors.parsers import Parser, registry
from soc.errors import ConfigError, ParseError

_PRIORITY = re.compile(rb"<\d{1,3}>")
_APACHE_ERROR = re.compile(rb"\[[A-Z][a-z]{2} [A-Z][a-z]{2} ")
_NGINX_ERROR = re.compile(rb"\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2} \[")
_ISO_SYSLOG = re.compile(
    rb"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})? [^\s=]+ ")
_BSD_SYSLOG = re.compile(rb"[A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2} [^\s=]+ ")
_ACCESS = re.compile(
    rb'(?:\S++ )?\S++ \S++ \S++ \[\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}\] "')
# The kernel's netfilter LOG target: IN= and OUT= always come first (possibly glued to a log
# prefix that lacks its trailing space), SRC= a few fields later.
_NETFILTER = re.compile(rb"IN=\S* OUT=\S* (?:\S+ ){0,4}SRC=")
# IN= follows at most the kernel's [uptime] and the rule's log prefix (up to 127 characters
# in nftables), so a long line need not be searched to its end.
_NETFILTER_REACH = 160
# Two tokens that start with `key=`, whatever lies between them (possessive: no backtracking).
_TWO_PAIRS = re.compile(rb"(?:^|\s)[A-Za-z_][\w.-]*+=\S*+\s++(?:\S++\s++)*?[A-Za-z_][\w.-]*+=")
# Keys that tell JSON lines apart: EVE's event_type, Zeek's _path and id.orig_h, Winlogbeat's
# winlog (winlog.* flat) and NXLog's EventID.
_JSON_KEY = re.compile(rb'"(event_type|_path|id\.orig_h|winlog|EventID)')
_ZEEK_HEADERS = (b"#separator ", b"#set_separator", b"#empty_field", b"#unset_field", b"#path",
                 b"#open", b"#close", b"#fields", b"#types")
# Zeek's TSV `ts` (µs precision) and the tab after it.
_ZEEK_LINE = re.compile(rb"\d{10}\.\d{6}\t")


def detect(raw: bytes) -> str:
    """The name of the format a line looks like: one of jsonl, suricata, zeek, winlog-json,
    syslog, kv, nginx, apache, iptables, text."""
    first = raw[:1]
    if first == b"{":
        # One scan for the first of the telling keys, no parsing: plain JSON pays that alone.
        key = _JSON_KEY.search(raw)
        if key is None:
            return "jsonl"
        found = key.group(1)
        if found == b"event_type":
            return "suricata" if b'"flow_id"' in raw or b'"src_ip"' in raw else "jsonl"
        if found == b"_path" or (found == b"id.orig_h" and b'"uid"' in raw):
            return "zeek"
        return "winlog-json" if found in (b"winlog", b"EventID") else "jsonl"
    if first == b"#" and raw.startswith(_ZEEK_HEADERS):
        return "zeek"
    if first == b"<" and (priority := _PRIORITY.match(raw)):
        body = priority.end()
        if raw.startswith(b"1 ", body):
            return "syslog"  # RFC 5424
        # FortiGate over syslog: `<189>date=...`, with no header of its own.
        if raw.startswith(b"date=", body) or b"devid=" in raw:
            return "kv"
        return "syslog"
    if first == b"[":
        if _APACHE_ERROR.match(raw):
            return "apache"
    elif first.isdigit():
        if _NGINX_ERROR.match(raw):
            return "nginx"
        if _ISO_SYSLOG.match(raw):
            return "syslog"
        if _ZEEK_LINE.match(raw):
            return "zeek"
    elif _BSD_SYSLOG.match(raw):
        return "syslog"
    # An Apache access line is a Common/Combined Log Format line like nginx's, byte for byte:
    # nothing tells them apart, so both go to the nginx parser (and say `nginx.access`). A
    # source known to be Apache should be configured as `apache`.
    if _ACCESS.match(raw):
        return "nginx"
    if raw.find(b"IN=", 0, _NETFILTER_REACH) >= 0 and _NETFILTER.search(raw):
        return "iptables"
    # Several key=value pairs, not one: a sentence may hold one.
    if raw.count(b"=") > 1 and _TWO_PAIRS.search(raw):
        return "kv"
    return "text"


@registry.register("auto")
class AutoParser:
    name = "auto"
    # Per line the chosen parser decides; these hold for the stream as a whole, so a line of
    # a format with no time of its own (text, kv) gets its receive time.
    timestamp_required = False
    keep_original = True

    def __init__(self) -> None:
        self._parsers: dict[str, Parser] = {}
        # Parsers whose lines only an earlier line tells (Zeek TSV after its header), each with
        # its `continues(raw)`: asked before detect().
        self._continuing: list[tuple[str, Callable[[bytes], bool]]] = []

    def parse(self, raw: bytes) -> dict[str, Any]:
        name = self._continued(raw) or detect(raw)
        parser = self._parsers.get(name) or self._load(name)
        try:
            fields = parser.parse(raw)
        except ParseError as exc:
            # The class stays: a subclass says what kind of line it was (a header the parser
            # took in rather than a broken line).
            raise exc.__class__(f"looks like {name}: {exc}") from None
        if parser.timestamp_required and not fields.get("@timestamp"):
            # The stream as a whole takes receive times, but a JSON line must say when it
            # happened, as it must under its own format.
            raise ParseError(f"looks like {name}: missing @timestamp")
        return fields

    def _continued(self, raw: bytes) -> str | None:
        for name, continues in self._continuing:
            if continues(raw):
                return name
        return None

    def _load(self, name: str) -> Parser:
        # Looked up at first use, not import: syslog and iptables live in modules of their own
        # that this one must not depend on, and a missing one costs its lines, not the stream.
        try:
            parser = self._parsers[name] = registry.get(name)()
        except ConfigError:
            raise ParseError(f"looks like {name}, but no {name} parser is installed") from None
        continues = getattr(parser, "continues", None)
        if continues is not None:
            self._continuing.append((name, continues))
        return parser
