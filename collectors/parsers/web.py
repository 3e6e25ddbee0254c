"""Web server logs: the "nginx" and "apache" formats, each reading its server's access log
(Common/Combined Log Format and the vhost-prefixed variants) and its error log, line by line.

Access lines become ECS `web`/`access` events, error lines `web`/`error` events. Values that
ECS has no field for go under the server's name, as Filebeat's modules put them:
`nginx.access.request` (a request line that is not `METHOD target HTTP/x`, e.g. TLS bytes sent
to port 80; `nginx.error.request` likewise), `nginx.access.forwarded_for` (the
X-Forwarded-For of nginx's `main` format), `nginx.error.connection_id`, `apache.error.module`.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Any

from collectors.parsers import registry
from collectors.parsers.network_fields import set_url_target
from soc.errors import NormaliseError, ParseError
from soc.events import canonical_ip

MONTHS = {name: number for number, name in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}


def _quoted(name: str) -> str:
    # Unrolled `(?:[^"\\]|\\.)*`: one pass over the value instead of an alternation per byte.
    return rf'"(?P<{name}>[^"\\]*(?:\\.[^"\\]*)*)"'


# The access line in the order its fields come, each piece with what is wrong when the line
# stops matching there: the full pattern is their concatenation, and only a line that fails it
# pays for finding the piece at fault.
_ACCESS_PIECES = (
    (r"(?:(?P<vhost>[^\s:]+)(?::(?P<vport>\d{1,5}))? )?(?P<client>\S+) \S+ (?P<user>\S+) \[", ""),
    (r"(?P<time>[^\]]*)\] ", "the [time] is not closed"),
    ('"', 'no quoted "request" after the [time]'),
    (_quoted("request")[1:], "unterminated quoted request"),
    (r" (?P<status>\d{3})", "no 3-digit status after the request"),
    (r" (?P<size>\d{1,19}|-)(?= |$)", "no size (bytes or -) after the status"),
)
_ACCESS = re.compile("".join(piece for piece, _ in _ACCESS_PIECES)
                     + f"(?: {_quoted('referrer')} {_quoted('agent')}"
                     + f"(?: {_quoted('forwarded')})?)?(?P<rest>.*)")
_ACCESS_PREFIXES = tuple(
    (re.compile("".join(piece for piece, _ in _ACCESS_PIECES[:end + 1])), problem)
    for end, (_, problem) in enumerate(_ACCESS_PIECES))
_ACCESS_TIME = re.compile(
    r"(\d{2})/([A-Z][a-z]{2})/(\d{4}):(\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2})")
_ESCAPED = re.compile(r'\\(["\\])')
_ANY_ESCAPE = re.compile(r"\\.")
_METHOD = re.compile(r"[A-Z][A-Z_-]*")

_NGINX_ERROR = re.compile(
    r"(?P<time>\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}) \[(?P<level>[a-z]+)\] "
    r"(?P<pid>\d{1,19})#(?P<tid>\d{1,19}): (?:\*(?P<cid>\d{1,19}) )?(?P<message>.+)")
# nginx appends the request's context after the message, always in this order
# (ngx_http_log_error_handler), and quotes it without escaping: hence the lazy quoted values,
# which fullmatch then pins to the real closing quotes.
_NGINX_CONTEXT = re.compile(
    r', client: (?P<client>[^,\s]+), server: (?P<server>[^,\s]*)'
    r'(?:, request: "(?P<request>.*?)")?(?:, subrequest: ".*?")?(?:, upstream: ".*?")?'
    r'(?:, host: "(?P<host>.*?)")?(?:, referrer: "(?P<referrer>.*?)")?')
_HOST = re.compile(r"([A-Za-z0-9._-]+)(?::\d+)?")

_APACHE_ERROR = re.compile(
    r"\[[A-Z][a-z]{2} (?P<month>[A-Z][a-z]{2}) (?P<day>[ \d]\d) "
    r"(?P<clock>\d{2}:\d{2}:\d{2})(?P<fraction>\.\d{1,6})? (?P<year>\d{4})\] "
    r"\[(?:(?P<module>[^:\]\s]*):)?(?P<level>[a-z]+\d?)\] "
    r"(?:\[pid (?P<pid>\d{1,19})(?::tid (?P<tid>\d{1,19}))?\] )?"
    r"(?:(?P<file>[^\s()]+)\((?P<line>\d{1,9})\): )?"
    r"(?:(?P<oserror>\(-?\d+\)[^:\[]*): )?"
    r"(?:\[client (?P<client>[^\]\s]+)\] )?"
    r"(?P<message>(?:(?P<code>AH\d{5}): )?.*)")


class _WebLogParser(ABC):
    """One server's access and error lines; subclasses say how an error line is told apart."""

    name: str
    timestamp_required = True
    keep_original = True
    # What a line of this server's error log looks like, for ParseError messages.
    error_shape: str

    def __init__(self) -> None:
        self.access_dataset = f"{self.name}.access"

    def parse(self, raw: bytes) -> dict[str, Any]:
        # Both servers escape non-printable bytes as \xHH themselves; undecodable bytes (a log
        # written by something else) are shown the same way rather than losing the line.
        text = raw.decode("utf-8", "backslashreplace")
        if self.is_error_line(text):
            return self.parse_error(text)
        match = _ACCESS.match(text)
        if match is None:
            raise ParseError(self._diagnose(text))
        return _access_event(match, self.name, self.access_dataset)

    @abstractmethod
    def is_error_line(self, text: str) -> bool:
        """Whether a line is the server's error log rather than its access log."""

    @abstractmethod
    def parse_error(self, text: str) -> dict[str, Any]:
        """The ECS event of an error log line."""

    def _diagnose(self, text: str) -> str:
        problem = next((problem for prefix, problem in _ACCESS_PREFIXES
                        if prefix.match(text) is None), "")
        if problem:
            return f"{self.name} access line: {problem}"
        return (f'neither an {self.name} access line (client ident user [time] "request" '
                f"status size ...) nor an {self.name} error line ({self.error_shape})")


@registry.register("nginx")
class NginxParser(_WebLogParser):
    name = "nginx"
    error_shape = "yyyy/mm/dd hh:mm:ss [level] pid#tid: message"

    def is_error_line(self, text: str) -> bool:
        # No access line has a '/' in its fifth character: it holds a client address or vhost.
        return text[4:5] == "/" and text[:4].isdigit()

    def parse_error(self, text: str) -> dict[str, Any]:
        match = _NGINX_ERROR.match(text)
        if match is None:
            raise ParseError(f"nginx error line: expected {self.error_shape}")
        time, level, pid, tid, connection, message = match.groups()
        event: dict[str, Any] = {
            "@timestamp": _nginx_time(time), "event.category": ["web"], "event.type": ["error"],
            "event.dataset": "nginx.error", "log.level": level, "message": message,
            "process.pid": int(pid), "process.thread.id": int(tid),
        }
        if connection:
            event["nginx.error.connection_id"] = int(connection)
        context = _nginx_context(message)
        if context is not None:
            client, server, request, host, referrer = context.group(
                "client", "server", "request", "host", "referrer")
            _set_source(event, client)
            # The server name is nginx's own configuration; the Host header is whatever the
            # client sent, so it only stands in when no name matched (`_`) or there was no
            # request yet (then `server` is the listening address).
            domain = server if server and server != "_" and ":" not in server else None
            if domain is None and host and (named := _HOST.fullmatch(host)):
                domain = named.group(1)
            if domain:
                event["url.domain"] = domain
            if request:
                _set_request(event, request, "nginx.error.request")
            if referrer and referrer != "-":
                event["http.request.referrer"] = referrer
        return event


@registry.register("apache")
class ApacheParser(_WebLogParser):
    name = "apache"
    error_shape = "[Www Mmm dd hh:mm:ss yyyy] [module:level] [pid N] message"

    def is_error_line(self, text: str) -> bool:
        return text[:1] == "["

    def parse_error(self, text: str) -> dict[str, Any]:
        match = _APACHE_ERROR.match(text)
        if match is None:
            raise ParseError(f"apache error line: expected {self.error_shape}")
        groups = match.groupdict()
        moment = _apache_time(groups["year"], groups["month"], groups["day"], groups["clock"])
        if groups["fraction"]:
            moment += groups["fraction"].ljust(7, "0")
        message = groups["message"]
        event: dict[str, Any] = {
            "@timestamp": moment, "event.category": ["web"], "event.type": ["error"],
            "event.dataset": "apache.error", "log.level": groups["level"], "message": message,
        }
        if groups["module"]:
            event["apache.error.module"] = groups["module"]
        if groups["pid"]:
            event["process.pid"] = int(groups["pid"])
        if groups["tid"]:
            event["process.thread.id"] = int(groups["tid"])
        if groups["file"]:
            event["log.origin.file.name"] = groups["file"]
            event["log.origin.file.line"] = int(groups["line"])
        if groups["oserror"]:
            event["error.message"] = groups["oserror"]
        if groups["code"]:
            event["error.code"] = groups["code"]
        if client := groups["client"]:
            # 2.4 (the one with [pid]) always appends the port, IPv6 included, with no
            # brackets: only the last colon can separate it. 2.2 logs the address alone.
            address, _, port = client.rpartition(":") if groups["pid"] else ("", "", "")
            if address and port.isdigit() and len(port) <= 5:
                _set_source(event, address)
                event["source.port"] = int(port)
            else:
                _set_source(event, client)
        referrer = message.rfind(", referer: ")
        if referrer >= 0:
            event["http.request.referrer"] = message[referrer + 11:]
        return event


def _access_event(match: re.Match[str], server: str, dataset: str) -> dict[str, Any]:
    (vhost, port, client, user, time, request, status, size, referrer, agent, forwarded,
     rest) = match.groups()
    if rest and _ANY_ESCAPE.sub("", rest).count('"') % 2:
        raise ParseError(f"{server} access line: unterminated quoted field after the size "
                         f"(referrer, user agent, ...)")
    code = int(status)
    event: dict[str, Any] = {
        "@timestamp": _access_time(time), "event.category": ["web"], "event.type": ["access"],
        "event.dataset": dataset, "event.outcome": "failure" if code >= 400 else "success",
        "http.response.status_code": code,
    }
    _set_source(event, client)
    if user != "-":
        event["user.name"] = _unescape(user)
    if size != "-":
        event["http.response.body.bytes"] = int(size)
    if vhost:
        event["url.domain"] = vhost
        if port:
            event["url.port"] = int(port)
    if request != "-":
        _set_request(event, _unescape(request), f"{server}.access.request")
    if referrer and referrer != "-":
        event["http.request.referrer"] = _unescape(referrer)
    if agent and agent != "-":
        event["user_agent.original"] = _unescape(agent)
    if forwarded and forwarded != "-":
        event[f"{server}.access.forwarded_for"] = forwarded
    return event


def _set_request(event: dict[str, Any], request: str, unparsed_field: str) -> None:
    """Method, URL and version of a request line; one that is not `METHOD target [HTTP/x]`
    (a scanner's binary, a TLS handshake on the plain port) is kept whole in `unparsed_field`."""
    method, _, target = request.partition(" ")
    if not target or _METHOD.fullmatch(method) is None:
        event[unparsed_field] = request
        return
    head, _, version = target.rpartition(" ")
    if head and version.startswith("HTTP/"):
        target = head
        event["http.version"] = version[5:]
    event["http.request.method"] = method
    set_url_target(event, target)


def _set_source(event: dict[str, Any], address: str) -> None:
    # ECS: the address as logged, then the IP or the name it turns out to be (Apache logs a
    # name with HostnameLookups on, nginx `unix:` for a local socket).
    event["source.address"] = address
    try:
        event["source.ip"] = canonical_ip(address)
    except NormaliseError:
        if address[:5] != "unix:":
            event["source.domain"] = address


def _nginx_context(message: str) -> re.Match[str] | None:
    # The real context ends the line; a path or request that contains ", client: " itself
    # (attacker-chosen text) sits to its left, so the rightmost start that parses wins.
    start = message.rfind(", client: ")
    while start >= 0:
        context = _NGINX_CONTEXT.fullmatch(message, start)
        if context is not None:
            return context
        start = message.rfind(", client: ", 0, start)
    return None


def _unescape(value: str) -> str:
    # Apache writes `"` and `\` inside quoted fields as \" and \\; \xHH stays as written.
    return _ESCAPED.sub(r"\1", value) if "\\" in value else value


@lru_cache(maxsize=4096)
def _access_time(text: str) -> str:
    """`22/Nov/2026:10:00:00 +0700` → `2026-11-22T10:00:00+07:00` (lines come in runs of the
    same second, hence the cache)."""
    match = _ACCESS_TIME.fullmatch(text)
    month = MONTHS.get(match.group(2)) if match else None
    if match is None or month is None:
        raise ParseError(f"access time {text[:40]!r} is not dd/Mmm/yyyy:hh:mm:ss +hhmm")
    day, _, year, hour, minute, second, sign, zone_hours, zone_minutes = match.groups()
    offset = timedelta(hours=int(zone_hours), minutes=int(zone_minutes))
    try:
        moment = datetime(int(year), month, int(day), int(hour), int(minute), int(second),
                          tzinfo=timezone(-offset if sign == "-" else offset))
    except ValueError as exc:
        raise ParseError(f"access time {text!r} is not a real time ({exc})") from None
    return moment.isoformat()


@lru_cache(maxsize=4096)
def _nginx_time(text: str) -> str:
    """`2026/11/22 10:00:00` → `2026-11-22T10:00:00`: nginx logs local time with no zone."""
    try:
        return datetime(int(text[:4]), int(text[5:7]), int(text[8:10]), int(text[11:13]),
                        int(text[14:16]), int(text[17:19])).isoformat()
    except ValueError as exc:
        raise ParseError(f"nginx error time {text!r} is not a real time ({exc})") from None


@lru_cache(maxsize=4096)
def _apache_time(year: str, month: str, day: str, clock: str) -> str:
    """Apache's ctime-style local time (no zone) as ISO text, without its fraction."""
    hour, minute, second = map(int, clock.split(":"))
    try:
        return datetime(int(year), MONTHS[month], int(day), hour, minute, second).isoformat()
    except (KeyError, ValueError) as exc:
        reason = f"no month {month!r}" if isinstance(exc, KeyError) else str(exc)
        raise ParseError(f"apache error time '{month} {day} {clock} {year}' is not a real "
                         f"time ({reason})") from None
