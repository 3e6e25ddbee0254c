"""collectors/parsers/syslog.py: RFC 5424 and RFC 3164 headers, file formats, program dispatch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from collectors import parsers
from collectors.files import read_file
from collectors.parsers.syslog import infer_year, programs
from soc.errors import ParseError
from soc.events import EventNormaliser
from soc.timeutil import load_zone, utcnow

# 10:00 in Asia/Ho_Chi_Minh.
NOW = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
PRI_34 = {"log.syslog.priority": 34, "log.syslog.facility.code": 4,
          "log.syslog.facility.name": "auth", "log.syslog.severity.code": 2,
          "log.syslog.severity.name": "Critical"}
PRI_13 = {"log.syslog.priority": 13, "log.syslog.facility.code": 1,
          "log.syslog.facility.name": "user", "log.syslog.severity.code": 5,
          "log.syslog.severity.name": "Notice"}
PRI_165 = {"log.syslog.priority": 165, "log.syslog.facility.code": 20,
           "log.syslog.facility.name": "local4", "log.syslog.severity.code": 5,
           "log.syslog.severity.name": "Notice"}


def parse(raw: bytes, name: str = "syslog") -> dict[str, Any]:
    parser = parsers.get(name)
    parser.clock = lambda: NOW  # type: ignore[attr-defined]
    return parser.parse(raw)


def ingest(path: Path, name: str) -> tuple[list[dict[str, Any]], list[str]]:
    """The normalised events and the parse errors of a file read as format `name` at NOW."""
    parser = parsers.get(name)
    parser.clock = lambda: NOW  # type: ignore[attr-defined]
    normaliser = EventNormaliser(load_zone("Asia/Ho_Chi_Minh"), timedelta(days=1))
    events, errors = [], []
    for record in read_file(path, parser, 1 << 20):
        if record.error is not None:
            errors.append(record.error)
        else:
            # Not NOW alone: a line with no time gets its real receive time, which must not
            # be "in the future" of the normaliser's now.
            events.append(normaliser.normalise(record, now=max(NOW, utcnow())))
    return events, errors


def test_rfc5424_with_structured_data_and_bom() -> None:
    raw = (b'<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 '
           b'[exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"]'
           b'[examplePriority@32473 class="high"] \xef\xbb\xbfAn application event')
    assert parse(raw) == PRI_165 | {
        "event.dataset": "syslog", "log.syslog.version": "1",
        "@timestamp": "2003-10-11T22:14:15.003Z", "host.name": "mymachine.example.com",
        "log.syslog.appname": "evntslog", "process.name": "evntslog",
        "log.syslog.msgid": "ID47",
        "log.syslog.structured_data": {
            "exampleSDID@32473": {"iut": "3", "eventSource": "Application", "eventID": "1011"},
            "examplePriority@32473": {"class": "high"}},
        "message": "An application event"}


def test_rfc5424_nilvalues_procid_and_offset_time() -> None:
    raw = (b"<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - "
           b"%% It's time to make the do-nuts.")
    assert parse(raw) == PRI_165 | {
        "event.dataset": "syslog", "log.syslog.version": "1",
        "@timestamp": "2003-08-24T05:14:15.000003-07:00", "host.name": "192.0.2.1",
        "log.syslog.appname": "myproc", "process.name": "myproc",
        "log.syslog.procid": "8710", "process.pid": 8710,
        "message": "%% It's time to make the do-nuts."}
    assert parse(b"<14>1 - - - - - - hello") == {
        "event.dataset": "syslog", "log.syslog.priority": 14, "log.syslog.facility.code": 1,
        "log.syslog.facility.name": "user", "log.syslog.severity.code": 6,
        "log.syslog.severity.name": "Informational", "log.syslog.version": "1",
        "message": "hello"}


def test_rfc5424_sd_escapes_and_no_message() -> None:
    raw = (rb'<165>1 2026-11-22T10:00:00+07:00 portal app - - [a@1 p="x\]y" q="say \"hi\"" '
           rb'r="back\\slash" s="keep \n as is" t=""][origin ip="10.45.1.5"]')
    fields = parse(raw)
    assert fields["log.syslog.structured_data"] == {
        "a@1": {"p": "x]y", "q": 'say "hi"', "r": "back\\slash", "s": "keep \\n as is",
                "t": ""},
        "origin": {"ip": "10.45.1.5"}}
    assert fields["message"] == ""
    assert "tags" not in fields


@pytest.mark.parametrize(("data", "message"), [
    (b"[] empty SD-ID", "[] empty SD-ID"),
    (b'[a@1 p="unterminated] msg', '[a@1 p="unterminated] msg'),
    (b"[a@1 p=unquoted] msg", "[a@1 p=unquoted] msg"),
    (b'[a@1 p="v"]msg glued to the SD', '[a@1 p="v"]msg glued to the SD'),
    (b"no structured data at all", "no structured data at all"),
])
def test_rfc5424_broken_structured_data_keeps_everything_as_message(data: bytes,
                                                                     message: str) -> None:
    fields = parse(b"<165>1 2026-11-22T10:00:00Z host app - - " + data)
    assert fields["message"] == message
    assert fields["tags"] == ["_syslog_header_nonstandard"]
    assert "log.syslog.structured_data" not in fields
    assert fields["@timestamp"] == "2026-11-22T10:00:00Z"


def test_rfc3164_with_pri() -> None:
    raw = b"<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8"
    assert parse(raw) == PRI_34 | {
        "@timestamp": "2026-10-11T22:14:15", "host.name": "mymachine",
        "log.syslog.appname": "su", "process.name": "su",
        "message": "'su root' failed for lonvick on /dev/pts/8",
        # The su program parser's fields, merged over the header's (dataset included).
        "event.dataset": "system.auth", "event.action": "su_switch",
        "event.category": ["authentication"], "event.type": ["info"],
        "event.outcome": "failure", "user.name": "lonvick", "user.effective.name": "root",
        "related.user": ["lonvick", "root"], "system.auth.su.tty": "/dev/pts/8"}
    assert parse(b"<13>Nov  2 03:04:05 host prog[123]: msg") == PRI_13 | {
        "event.dataset": "syslog", "@timestamp": "2026-11-02T03:04:05", "host.name": "host",
        "log.syslog.appname": "prog", "process.name": "prog", "log.syslog.procid": "123",
        "process.pid": 123, "message": "msg"}


@pytest.mark.parametrize(("raw", "expected"), [
    # /var/log/syslog and auth.log: no PRI.
    (b"Nov 22 09:59:58 web1 CRON[4242]: (root) CMD (run-parts /etc/cron.hourly)",
     {"@timestamp": "2026-11-22T09:59:58", "host.name": "web1", "log.syslog.appname": "CRON",
      "process.name": "CRON", "log.syslog.procid": "4242", "process.pid": 4242,
      "message": "(root) CMD (run-parts /etc/cron.hourly)"}),
    # RFC 3164 §5.4: a host given as an address and no TAG: all of it is the MSG.
    (b"Feb  5 17:32:18 10.0.0.99 Use the BFG!",
     {"@timestamp": "2026-02-05T17:32:18", "host.name": "10.0.0.99",
      "message": "Use the BFG!"}),
    # Logged locally through /dev/log: no HOSTNAME, the first word is the TAG.
    (b"Oct 11 22:14:15 su: pam_unix(su:auth): conversation failed",
     {"@timestamp": "2026-10-11T22:14:15", "log.syslog.appname": "su", "process.name": "su",
      "message": "pam_unix(su:auth): conversation failed", "event.dataset": "system.auth"}),
    # rsyslog's RSYSLOG_FileFormat (high precision), with a zone and without.
    (b"2026-11-22T10:00:00.123456+07:00 host sshd[1]: Server listening on 0.0.0.0 port 22.",
     {"@timestamp": "2026-11-22T10:00:00.123456+07:00", "host.name": "host",
      "log.syslog.appname": "sshd", "process.name": "sshd", "log.syslog.procid": "1",
      "process.pid": 1, "message": "Server listening on 0.0.0.0 port 22.",
      "event.dataset": "system.auth"}),
    (b"2026-11-22 10:00:00 host app: m",
     {"@timestamp": "2026-11-22 10:00:00", "host.name": "host", "log.syslog.appname": "app",
      "process.name": "app", "message": "m"}),
    # Devices that add the year or a fraction of a second.
    (b"Oct 11 2025 22:14:15 asa1 app: m",
     {"@timestamp": "2025-10-11T22:14:15", "host.name": "asa1", "log.syslog.appname": "app",
      "process.name": "app", "message": "m"}),
    (b"Oct 11 22:14:15.250 host app[x1]: m",
     {"@timestamp": "2026-10-11T22:14:15.250", "host.name": "host",
      "log.syslog.appname": "app", "process.name": "app", "log.syslog.procid": "x1",
      "message": "m"}),
    # Truncated after the host name: still a header.
    (b"Oct 11 22:14:15 host", {"@timestamp": "2026-10-11T22:14:15", "host.name": "host",
                               "message": ""}),
])
def test_rfc3164_and_file_formats_without_pri(raw: bytes, expected: dict[str, Any]) -> None:
    assert parse(raw) == {"event.dataset": "syslog"} | expected


def test_rsyslog_file_format_with_pri() -> None:
    assert parse(b"<13>2026-11-22T10:00:00.5Z host app: m") == PRI_13 | {
        "event.dataset": "syslog", "@timestamp": "2026-11-22T10:00:00.5Z", "host.name": "host",
        "log.syslog.appname": "app", "process.name": "app", "message": "m"}


@pytest.mark.parametrize(("month", "day", "clock", "now", "year"), [
    (11, 22, "09:00:00", datetime(2026, 11, 22, 3, tzinfo=UTC), 2026),
    # A day ahead in UTC+14 is the limit: later is last year's.
    (11, 23, "17:00:00", datetime(2026, 11, 22, 3, tzinfo=UTC), 2026),
    (11, 23, "17:00:01", datetime(2026, 11, 22, 3, tzinfo=UTC), 2025),
    (12, 31, "23:59:59", datetime(2027, 1, 1, 0, 5, tzinfo=UTC), 2026),
    # Read at 17:30 UTC on 31 Dec: in UTC+7 it is already New Year.
    (1, 1, "00:30:00", datetime(2026, 12, 31, 17, 30, tzinfo=UTC), 2027),
    (2, 29, "12:00:00", datetime(2027, 3, 1, tzinfo=UTC), 2024),
    (2, 29, "12:00:00", datetime(2028, 3, 1, tzinfo=UTC), 2028),
])
def test_a_time_without_year_is_at_most_a_day_ahead(month: int, day: int, clock: str,
                                                    now: datetime, year: int) -> None:
    assert infer_year(month, day, clock, now) == year


@pytest.mark.parametrize(("raw", "message"), [
    # RFC 3164 §5.4's own odd example: a year and a zone before the host.
    (b"<0>1990 Oct 22 10:52:01 TZ-6 scapegoat.dmz.example.org 10.1.2.3 sched[0]: That's All "
     b"Folks!", "1990 Oct 22 10:52:01 TZ-6 scapegoat.dmz.example.org 10.1.2.3 sched[0]: That's "
     "All Folks!"),
    # Cisco IOS: a sequence number and a starred time.
    (b"<189>1234: *Mar  1 00:00:12.345: %SYS-5-CONFIG_I: Configured from console by admin",
     "1234: *Mar  1 00:00:12.345: %SYS-5-CONFIG_I: Configured from console by admin"),
    # A truncated time.
    (b"<34>Oct 11 22:1", "Oct 11 22:1"),
    (b"<165>1 2026-13-99 host app - - - m", "1 2026-13-99 host app - - - m"),
])
def test_a_pri_with_an_odd_header_is_an_event_with_the_rest_as_message(raw: bytes,
                                                                       message: str) -> None:
    fields = parse(raw)
    assert fields["message"] == message
    assert fields["tags"] == ["_syslog_header_nonstandard"]
    assert "@timestamp" not in fields and "host.name" not in fields
    assert fields["log.syslog.priority"] == int(raw[1:raw.index(b">")])


@pytest.mark.parametrize(("raw", "reason"), [
    (b"", "empty syslog message"),
    (b"   ", "empty syslog message"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
     "no syslog header: expected <PRI>, a time such as 'Oct 11 22:14:15' or an ISO 8601 time "
     "at the start, got '\\\\x89PNG\\r\\n\\x1a\\n\\x00\\x00\\x00\\rIHDR'"),
    (b"Oct 11 22:1",
     "no syslog header: expected <PRI>, a time such as 'Oct 11 22:14:15' or an ISO 8601 time "
     "at the start, got 'Oct 11 22:1'"),
    (b"<999>Oct 11 22:14:15 host app: m",
     "PRI <999> is out of range: facility × 8 + severity is at most 191"),
    (b"<192>x", "PRI <192> is out of range: facility × 8 + severity is at most 191"),
    (b"<abc>Oct 11 22:14:15 host app: m", "malformed PRI '<abc>O': expected '<', 1 to 3 digits, "
     "'>'"),
    (b"<1234>m", "malformed PRI '<1234>': expected '<', 1 to 3 digits, '>'"),
    (b"<>m", "malformed PRI '<>m': expected '<', 1 to 3 digits, '>'"),
    (b"<13>", "nothing after PRI <13>: the message is empty"),
    (b"<13>\x00\x01\x02\x03binary",
     "binary data after PRI <13>: control byte 0x00 at character 0 and no syslog header"),
])
def test_garbage_is_a_parse_error_that_says_what_is_wrong(raw: bytes, reason: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse(raw)
    assert str(caught.value) == reason


def test_invalid_utf8_keeps_the_header_and_shows_the_bytes() -> None:
    # backslashreplace: the bytes stay visible as \xe9, exactly as in log.original.
    fields = parse(b"<34>Oct 11 22:14:15 host app: caf\xe9 \xff ok")
    assert fields["message"] == "caf\\xe9 \\xff ok"
    assert fields["host.name"] == "host" and fields["@timestamp"] == "2026-10-11T22:14:15"
    assert parse(b"<165>1 2026-11-22T10:00:00Z h\xff app - - - m")["host.name"] == "h\\xff"


def test_program_dispatch() -> None:
    assert {"sshd", "sshd-session", "sudo", "su", "kernel"} <= set(programs.names())
    with pytest.raises(ValueError, match="syslog program 'sshd' is registered twice"):
        programs.register("sshd")(lambda message: None)
    # Netfilter fields from an unregistered program (or none) go to the netfilter parser...
    fields = parse(b"<4>Nov 22 10:00:00 fw1 ulogd[77]: DROP IN=eth0 OUT= SRC=203.0.113.7 "
                   b"DST=10.45.1.10 LEN=40 PROTO=TCP SPT=1 DPT=23 SYN")
    assert fields["event.dataset"] == "iptables.log" and fields["process.name"] == "ulogd"
    assert fields["destination.port"] == 23
    assert parse(b"<4>IN=eth0 OUT= SRC=203.0.113.7 DST=10.45.1.10 LEN=40 PROTO=UDP")[
        "event.dataset"] == "iptables.log"
    # ...but a registered program's text is its own: a user name cannot forge a packet.
    fields = parse(b"Nov 22 10:00:00 web1 sshd[9]: Invalid user IN=x SRC=1.2.3.4 from "
                   b"203.0.113.7 port 4000")
    assert fields["event.action"] == "ssh_invalid_user"
    assert fields["user.name"] == "IN=x SRC=1.2.3.4"


def test_parser_attributes_and_names() -> None:
    for name in ("syslog", "sshd", "iptables"):
        parser = parsers.get(name)
        assert parser.name == name
        assert not parser.timestamp_required and parser.keep_original


def test_end_to_end_through_files_and_the_normaliser(tmp_path: Path) -> None:
    path = tmp_path / "syslog"
    path.write_bytes(
        b"<165>1 2026-11-22T02:59:00.003Z portal.example.vn app 12 ID1 - first\n"
        b"Nov 22 09:59:58 web1 CRON[4242]: (root) CMD (run-parts /etc/cron.hourly)\n"
        b"2026-11-22T09:59:59.250000+07:00 web1 app: third\n"
        b"<34>Oct 11 22:1\n"
        b"\x00\x01garbage\n")
    events, errors = ingest(path, "syslog")
    assert [e["@timestamp"] for e in events[:3]] == [
        "2026-11-22T02:59:00.003000Z", "2026-11-22T02:59:58.000000Z",
        "2026-11-22T02:59:59.250000Z"]
    assert events[0]["host.name"] == "portal.example.vn" and events[0]["process.pid"] == 12
    assert events[1]["log.original"] == ("Nov 22 09:59:58 web1 CRON[4242]: (root) CMD "
                                         "(run-parts /etc/cron.hourly)")
    assert events[1]["event.dataset"] == "syslog" and events[1]["log.offset"] == 69
    assert events[3]["tags"] == ["_syslog_header_nonstandard"]
    assert errors == ["no syslog header: expected <PRI>, a time such as 'Oct 11 22:14:15' or "
                      "an ISO 8601 time at the start, got '\\x00\\x01garbage'"]
