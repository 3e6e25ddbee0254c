"""The "auto" format: picks a parser for each line by its content (`detect`), for a file or
stream that mixes formats or whose format nobody wrote down.

Detection looks at the first byte before trying any pattern, and every pattern is anchored or
cheap, so a line costs about a microsecond on top of its parser. The chosen parser's
fields stand as they are: auto adds nothing of its own.
"""

from __future__ import annotations

import re
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


def detect(raw: bytes) -> str:
    """The name of the format a line looks like: one of jsonl, syslog, kv, nginx, apache,
    iptables, text."""
    first = raw[:1]
    if first == b"{":
        return "jsonl"
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

    def parse(self, raw: bytes) -> dict[str, Any]:
        name = detect(raw)
        parser = self._parsers.get(name) or self._load(name)
        try:
            fields = parser.parse(raw)
        except ParseError as exc:
            raise ParseError(f"looks like {name}: {exc}") from None
        if parser.timestamp_required and not fields.get("@timestamp"):
            # The stream as a whole takes receive times, but a JSON line must say when it
            # happened, as it must under its own format.
            raise ParseError(f"looks like {name}: missing @timestamp")
        return fields

    def _load(self, name: str) -> Parser:
        # Looked up at first use, not import: syslog and iptables live in modules of their own
        # that this one must not depend on, and a missing one costs its lines, not the stream.
        try:
            parser = self._parsers[name] = registry.get(name)()
        except ConfigError:
            raise ParseError(f"looks like {name}, but no {name} parser is installed") from None
        return parser
