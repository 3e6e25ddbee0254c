"""Syslog messages to ECS: RFC 5424, RFC 3164 (with or without PRI, as in /var/log files) and
rsyslog's high-precision file format; `programs`, the registry of parsers that read the MSG of
known programs (sshd, sudo, su, kernel netfilter); and the helpers those program parsers share.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from collectors.parsers import registry
from soc.errors import NormaliseError, ParseError
from soc.events import canonical_ip
from soc.plugins import Registry
from soc.timeutil import utcnow

ProgramParser = Callable[[str], dict[str, Any] | None]

# Program name (the 3164 TAG, the 5424 APP-NAME) → parser of its MSG. Each program module
# registers itself; what the parser returns (flat ECS keys) is merged over the header's fields.
programs: Registry[ProgramParser] = Registry("syslog program")

NONSTANDARD_TAG = "_syslog_header_nonstandard"

# RFC 5424 §6.2.1 names; ECS's example values are "local7" and "Error".
FACILITIES = ("kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron",
              "authpriv", "ftp", "ntp", "audit", "alert", "clock", "local0", "local1", "local2",
              "local3", "local4", "local5", "local6", "local7")
SEVERITIES = ("Emergency", "Alert", "Critical", "Error", "Warning", "Notice", "Informational",
              "Debug")
_PRI_FIELDS = tuple(
    {"log.syslog.priority": pri, "log.syslog.facility.code": pri >> 3,
     "log.syslog.facility.name": FACILITIES[pri >> 3], "log.syslog.severity.code": pri & 7,
     "log.syslog.severity.name": SEVERITIES[pri & 7]}
    for pri in range(192))

_MONTHS = {name: number for number, name in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}

_ISO_TIME = r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:?\d\d)?"
_RFC5424_VERSION = re.compile(r"[1-9]\d{0,2} ")
_RFC5424_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:\d\d)")
# The header of RFC 3164 and of the files syslog daemons write: a time ("Oct 11 22:14:15", with
# the year or fraction some devices add, or rsyslog's ISO 8601), HOSTNAME, TAG ("prog[pid]:").
# HOSTNAME may be missing (messages logged locally through /dev/log): a first word that ends
# in ':' or holds '[' is the TAG, as rsyslog decides. A line without a TAG keeps all as MSG.
_BSD_HEADER = re.compile(
    r"(?:(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) {1,2}(\d\d?) (?:(\d{4}) )?"
    r"(\d\d:\d\d:\d\d)(\.\d{1,9})?|(" + _ISO_TIME + r"))"
    r"(?: +|$)(?:([^\s\[]*[^\s:\[])(?: +|$))?"
    r"(?:([^\s\[:]+)(?:\[([^\]\s]*)\])?:(?: +|$))?")
_SD_ELEMENT = re.compile(r'\[([^\s=\]"]+)((?: +[^\s=\]"]+="(?:[^"\\]|\\.)*")*) *\]')
_SD_PARAM = re.compile(r'([^\s=\]"]+)="((?:[^"\\]|\\.)*)"')
_SD_ESCAPE = re.compile(r'\\([\\"\]])')
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
# A day, plus the widest zone offset (UTC+14): the parser compares a local time with UTC "now"
# and does not know the zone. The normaliser, which does, then refuses a time over a day ahead.
_YEAR_SLACK = timedelta(days=1, hours=14)


@registry.register("syslog")
class SyslogParser:
    """One syslog message (one line of a syslog file, or one datagram/frame) → ECS fields."""

    name = "syslog"
    timestamp_required = False
    keep_original = True
    # The "now" that a time without a year is placed before; tests set a fixed one.
    clock: Callable[[], datetime] = staticmethod(utcnow)

    def parse(self, raw: bytes) -> dict[str, Any]:
        # backslashreplace, not replace: a device that logs in a legacy code page (TCVN3,
        # Windows-1258) keeps its byte values readable, the header (ASCII) parses all the same,
        # and the text matches log.original, which the normaliser decodes the same way.
        text = raw.decode("utf-8", "backslashreplace")
        if not text.startswith("<"):
            fields: dict[str, Any] = {"event.dataset": "syslog"}
            if self._bsd(text, fields):
                return fields
            if not text.strip():
                raise ParseError("empty syslog message")
            raise ParseError(f"no syslog header: expected <PRI>, a time such as "
                             f"'Oct 11 22:14:15' or an ISO 8601 time at the start, got "
                             f"{text[:32]!r}")
        end = text.find(">", 1, 5)
        digits = text[1:end] if end > 0 else ""
        if not (digits.isascii() and digits.isdigit()):
            raise ParseError(f"malformed PRI {text[:6]!r}: expected '<', 1 to 3 digits, '>'")
        pri = int(digits)
        if pri > 191:
            raise ParseError(f"PRI <{digits}> is out of range: facility × 8 + severity is "
                             f"at most 191")
        fields = {"event.dataset": "syslog"}
        fields.update(_PRI_FIELDS[pri])
        rest = text[end + 1:]
        if _RFC5424_VERSION.match(rest):
            if self._rfc5424(rest, fields):
                return fields
        elif self._bsd(rest, fields):
            return fields
        return _nonstandard(rest, fields, digits)

    def _bsd(self, text: str, fields: dict[str, Any]) -> bool:
        match = _BSD_HEADER.match(text)
        if match is None:
            return False
        month, day, year, clock, fraction, iso, host, app, pid = match.groups()
        if iso is not None:
            fields["@timestamp"] = iso
        else:
            number, mday = _MONTHS[month], int(day)
            if year is None:
                year_number = infer_year(number, mday, clock, self.clock())
            else:
                year_number = int(year)
            fields["@timestamp"] = (f"{year_number:04d}-{number:02d}-{mday:02d}T{clock}"
                                    f"{fraction or ''}")
        if host is not None:
            fields["host.name"] = host
        message = text[match.end():]
        fields["message"] = message
        if app is not None:
            fields["log.syslog.appname"] = fields["process.name"] = app
            if pid:
                fields["log.syslog.procid"] = pid
                if pid.isdigit():
                    fields["process.pid"] = int(pid)
        _dispatch(fields, app, message)
        return True

    def _rfc5424(self, text: str, fields: dict[str, Any]) -> bool:
        parts = text.split(" ", 6)
        if len(parts) < 6 or "" in parts[:6]:
            return False
        version, moment, host, app, procid, msgid = parts[:6]
        if moment != "-" and not _RFC5424_TIME.fullmatch(moment):
            return False
        fields["log.syslog.version"] = version
        if moment != "-":
            fields["@timestamp"] = moment
        if host != "-":
            fields["host.name"] = host
        if app != "-":
            fields["log.syslog.appname"] = fields["process.name"] = app
        if procid != "-":
            fields["log.syslog.procid"] = procid
            if procid.isdigit():
                fields["process.pid"] = int(procid)
        if msgid != "-":
            fields["log.syslog.msgid"] = msgid
        data = parts[6] if len(parts) == 7 else "-"
        if data == "-" or data.startswith("- "):
            message: str | None = data[2:]
        else:
            structured, message = _structured_data(data) if data.startswith("[") else ({}, None)
            if structured:
                fields["log.syslog.structured_data"] = structured
            if message is None:
                # No STRUCTURED-DATA at all (some senders skip it) or a broken one (unbalanced
                # brackets, an unquoted value): all of it is the MSG, rather than a guess at
                # where the SD ends.
                message = data
                fields["tags"] = [NONSTANDARD_TAG]
        if message.startswith("\ufeff"):
            message = message[1:]
        fields["message"] = message
        _dispatch(fields, None if app == "-" else app, message)
        return True


def _structured_data(data: str) -> tuple[dict[str, dict[str, str]], str | None]:
    """SD-ID → params of the SD elements at the start of `data`, and the MSG after them
    (None when the elements are malformed)."""
    structured: dict[str, dict[str, str]] = {}
    position = 0
    while position < len(data) and data[position] == "[":
        element = _SD_ELEMENT.match(data, position)
        if element is None:
            return {}, None
        params = structured.setdefault(element.group(1), {})
        for name, value in _SD_PARAM.findall(element.group(2)):
            params[name] = _SD_ESCAPE.sub(r"\1", value) if "\\" in value else value
        position = element.end()
    if position == len(data):
        return structured, ""
    if data[position] != " ":
        return {}, None
    return structured, data[position + 1:]


def _nonstandard(rest: str, fields: dict[str, Any], pri: str) -> dict[str, Any]:
    # A valid PRI followed by a header of the device's own (Cisco's sequence numbers, RFC 3164's
    # "1990 Oct 22 ... TZ-6" examples, truncated lines): keep the event, with everything after
    # the PRI as its message and the receive time, tagged so operators can find such senders.
    # Control bytes mean the PRI was a coincidence in binary data: that is no event.
    if not rest.strip():
        raise ParseError(f"nothing after PRI <{pri}>: the message is empty")
    control = _CONTROL.search(rest)
    if control is not None:
        raise ParseError(f"binary data after PRI <{pri}>: control byte "
                         f"0x{ord(control.group()):02x} at character {control.start()} and no "
                         f"syslog header")
    fields["message"] = rest
    fields["tags"] = [NONSTANDARD_TAG]
    _dispatch(fields, None, rest)
    return fields


def _dispatch(fields: dict[str, Any], app: str | None, message: str) -> None:
    # Netfilter fields from an unregistered program go to the "kernel" (netfilter) parser:
    # packet logs also arrive under "ufw", "ulogd" or no TAG at all. A registered program's
    # text is its own: a user name in an sshd line must not make it a packet.
    if app is not None and app in programs:
        found = programs.get(app)(message)
    elif "IN=" in message and "SRC=" in message and "kernel" in programs:
        found = programs.get("kernel")(message)
    else:
        return
    if found:
        fields.update(found)


def infer_year(month: int, day: int, clock: str, now: datetime) -> int:
    """The year of a local time that has none (RFC 3164): the latest that is at most a day
    ahead of `now` (UTC) in any zone. Across New Year that is the next year when the sender's
    zone is already in it.
    """
    limit = now + _YEAR_SLACK
    year = limit.year
    if (month, day) > (limit.month, limit.day) or (
            (month, day) == (limit.month, limit.day)
            and clock > f"{limit.hour:02d}:{limit.minute:02d}:{limit.second:02d}"):
        year -= 1
    if month == 2 and day == 29:
        while not (year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)):
            year -= 1
    return year


# Helpers the program parsers share.

# Filebeat's dataset name for what auth.log holds (sshd, sudo, su, PAM): Kibana searches and
# Sigma pipelines written for it then find these events.
AUTH_DATASET = "system.auth"


def auth_event(action: str, category: str, kind: str,
               outcome: str | None = None) -> dict[str, Any]:
    """The event.* fields of an auth.log event."""
    fields: dict[str, Any] = {"event.dataset": AUTH_DATASET, "event.action": action,
                              "event.category": [category], "event.type": [kind]}
    if outcome is not None:
        fields["event.outcome"] = outcome
    return fields

def key_values(text: str, separator: str | None = None) -> dict[str, str]:
    """`k=v` items split by `separator` (whitespace by default); the first of a repeated key
    wins, and items without '=' are skipped."""
    values: dict[str, str] = {}
    # Backwards, so that the first of a repeated key is written last.
    for item in reversed(text.split(separator)):
        key, equals, value = item.partition("=")
        if equals:
            values[key] = value
    return values


def add_endpoint(fields: dict[str, Any], side: str, address: str, port: str | None = None,
                 names: bool = True) -> None:
    """`side.ip` (and `related.ip`) when `address` is an IP address, else `side.domain` if
    `names` (sshd logs host names when UseDNS is on); `side.port` as a number."""
    if address:
        try:
            ip = canonical_ip(address)
        except NormaliseError:
            if names:
                fields[side + ".domain"] = address
        else:
            fields[side + ".ip"] = ip
            fields.setdefault("related.ip", []).append(ip)
    if port and port.isdigit():
        fields[side + ".port"] = int(port)


def add_users(fields: dict[str, Any], acting: str | None, target: str | None = None) -> None:
    """`user.name` the one acting, `user.effective.name` the one it becomes (sudo, su): ECS's
    field for privilege escalation; `user.target` is for changes made to an account."""
    related = []
    if acting:
        fields["user.name"] = acting
        related.append(acting)
    if target:
        fields["user.effective.name"] = target
        if target != acting:
            related.append(target)
    if related:
        fields["related.user"] = related


_PAM = re.compile(r"pam_unix\(([^:)]+):(\w+)\): (.*)")
_PAM_SESSION = re.compile(
    r"session (opened|closed) for user ([^\s(]+)(?:\(uid=(\d+)\))?(?: by ([^\s(]*)"
    r"(?:\(uid=(\d+)\))?)?")


def parse_pam(message: str) -> dict[str, Any] | None:
    """pam_unix's session and authentication-failure lines, logged by any PAM service. The
    service (sshd, sudo, su-l…) tells `su` from `su -`: ECS has no field for it, so it goes to
    `system.auth.pam.service`, beside Filebeat's other `system.auth.*` fields."""
    pam = _PAM.match(message)
    if pam is None:
        return None
    service, _, text = pam.groups()
    session = _PAM_SESSION.match(text)
    if session is not None:
        state, user, uid, by, by_uid = session.groups()
        if state == "opened":
            fields = auth_event("pam_session_opened", "session", "start", "success")
        else:
            fields = auth_event("pam_session_closed", "session", "end")
        fields["system.auth.pam.service"] = service
        if by and by != user:
            add_users(fields, by, user)
            if by_uid:
                fields["user.id"] = by_uid
            if uid:
                fields["user.effective.id"] = uid
        else:
            add_users(fields, user)
            if uid:
                fields["user.id"] = uid
        return fields
    failure, _, values_text = text.partition(";")
    if failure == "authentication failure":
        values = key_values(values_text)
        fields = auth_event("pam_auth_failure", "authentication", "info", "failure")
        fields["system.auth.pam.service"] = service
        # `user` is the account whose password was asked (root's for su, one's own for sudo
        # and sshd); `ruser` the one asking.
        user, asking = values.get("user"), values.get("ruser") or values.get("logname")
        if asking and user and asking != user:
            add_users(fields, asking, user)
        else:
            add_users(fields, user or asking)
        add_endpoint(fields, "source", values.get("rhost", ""))
        return fields
    return None
