"""collectors/parsers/kv.py: FortiGate logs and other key=value lines."""

from __future__ import annotations

import shlex
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from collectors import parsers
from collectors.files import read_file
from soc.errors import ParseError
from soc.events import EventNormaliser
from soc.timeutil import format_timestamp, load_zone

NOW = datetime(2026, 11, 23, tzinfo=UTC)
HCM = load_zone("Asia/Ho_Chi_Minh")
# 2026-11-22 10:00:00.123456789 +07:00, in nanoseconds since the epoch.
EVENTTIME = "1795316400123456789"
HEAD = ('date=2026-11-22 time=10:00:00 devname="FGT-SONHA-DC" devid="FG100FTK19000001" '
        f'eventtime={EVENTTIME} tz="+0700"')
TRAFFIC = (f'{HEAD} logid="0000000013" type="traffic" subtype="forward" level="notice" '
           'vd="root" srcip=10.45.1.5 srcport=51234 srcintf="port1" srcintfrole="lan" '
           'dstip=8.8.8.8 dstport=53 dstintf="wan1" dstintfrole="wan" proto=17 action="accept" '
           'policyid=12 policytype="policy" service="DNS" duration=180 sentbyte=64 rcvdbyte=128 '
           'sentpkt=1 rcvdpkt=1 appcat="unscanned" srccountry="Reserved" '
           'dstcountry="United States"')
IPS = (f'{HEAD} logid="0419016384" type="utm" subtype="ips" eventtype="signature" '
       'level="alert" vd="root" severity="high" srcip=203.0.113.7 srccountry="Reserved" '
       'dstip=10.45.2.10 srcintf="wan1" dstintf="dmz" sessionid=99 action="dropped" proto=6 '
       'service="HTTPS" policyid=7 attack="Apache.Log4j.Error.Log.Remote.Code.Execution" '
       'srcport=44321 dstport=443 direction="outgoing" attackid=51006 '
       'ref="http://www.fortinet.com/ids/VID51006" '
       'msg="web_misc: Apache.Log4j.Error.Log.Remote.Code.Execution," crscore=50 craction=4096')
LOGIN = ('date=2026-11-22 time=10:00:00 devname="FGT-SONHA-DC" devid="FG100FTK19000001" '
         'logid="0100032002" type="event" subtype="system" level="alert" vd="root" '
         'eventtime=1795316400 tz="+0700" logdesc="Admin login failed" sn="0" user="admin" '
         'ui="https(203.0.113.7)" method="https" dstip=10.45.0.1 action="login" '
         'status="failed" reason="passwd_invalid" msg="Administrator admin login failed from '
         'https(203.0.113.7) because of invalid password"')
FORTIGATE = {"event.dataset": "fortinet.firewall", "observer.vendor": "Fortinet",
             "observer.product": "FortiGate", "observer.type": "firewall",
             "observer.name": "FGT-SONHA-DC", "observer.serial_number": "FG100FTK19000001",
             "event.timezone": "+07:00"}


def vendor(line: str) -> dict[str, str]:
    """Every pair of a line with no escapes in it, as FortiGate's vendor fields (shlex reads
    the shell's quoting, which such a line shares)."""
    return {f"fortinet.firewall.{key}": value
            for key, _, value in (word.partition("=") for word in shlex.split(line))}


def test_forward_traffic() -> None:
    parser = parsers.get("kv")
    assert parser.parse(TRAFFIC.encode()) == vendor(TRAFFIC) | FORTIGATE | {
        "@timestamp": "2026-11-22T03:00:00.123456+00:00", "event.code": "0000000013",
        "log.level": "notice", "source.ip": "10.45.1.5", "source.port": 51234,
        "observer.ingress.interface.name": "port1", "destination.ip": "8.8.8.8",
        "destination.port": 53, "observer.egress.interface.name": "wan1",
        "network.iana_number": "17", "network.transport": "udp", "event.action": "accept",
        "rule.id": "12", "event.duration": 180_000_000_000, "source.bytes": 64,
        "destination.bytes": 128, "network.bytes": 192, "source.packets": 1,
        "destination.packets": 1, "network.packets": 2, "event.category": ["network"],
        "event.type": ["connection", "allowed"], "event.outcome": "success"}
    assert not parser.timestamp_required and parser.keep_original
    assert len(vendor(TRAFFIC)) == 32


def test_ips_drop() -> None:
    parsed = parsers.get("kv").parse(IPS.encode())
    assert parsed == vendor(IPS) | FORTIGATE | {
        "@timestamp": "2026-11-22T03:00:00.123456+00:00", "event.code": "0419016384",
        "log.level": "alert", "source.ip": "203.0.113.7", "source.port": 44321,
        "destination.ip": "10.45.2.10", "destination.port": 443,
        "observer.ingress.interface.name": "wan1", "observer.egress.interface.name": "dmz",
        "network.iana_number": "6", "network.transport": "tcp", "event.action": "dropped",
        "rule.id": "7", "message": "web_misc: Apache.Log4j.Error.Log.Remote.Code.Execution,",
        "event.category": ["intrusion_detection", "network"],
        "event.type": ["info", "denied"], "event.outcome": "failure"}


def test_admin_login_failure_is_an_authentication_event() -> None:
    parsed = parsers.get("kv").parse(LOGIN.encode())
    assert parsed == vendor(LOGIN) | FORTIGATE | {
        "@timestamp": "2026-11-22T03:00:00.000000+00:00", "event.code": "0100032002",
        "log.level": "alert", "user.name": "admin", "destination.ip": "10.45.0.1",
        "source.ip": "203.0.113.7", "event.action": "login",
        "message": "Administrator admin login failed from https(203.0.113.7) because of "
                   "invalid password",
        "event.category": ["authentication"], "event.type": ["start"],
        "event.outcome": "failure"}


def test_syslog_headers_are_read_and_stripped() -> None:
    line = 'devid="FG100FTK19000001" logid="0000000013" type="traffic" action="deny"'
    bare = parsers.get("kv").parse(line.encode())
    assert parsers.get("kv").parse(f"<189>{line}".encode()) == bare | {
        "log.syslog.priority": 189, "log.syslog.facility.code": 23,
        "log.syslog.severity.code": 5}
    relayed = parsers.get("kv").parse(f"<189>Nov 22 10:00:00 fgt-dc {line}".encode())
    assert relayed == bare | {"log.syslog.priority": 189, "log.syslog.facility.code": 23,
                              "log.syslog.severity.code": 5, "log.syslog.hostname": "fgt-dc"}
    assert (bare["event.type"], bare["event.outcome"]) == (["connection", "denied"], "failure")
    assert "@timestamp" not in bare


@pytest.mark.parametrize(("pairs", "timestamp"), [
    ("eventtime=1795316400", "2026-11-22T03:00:00.000000+00:00"),
    ("eventtime=1795316400123", "2026-11-22T03:00:00.123000+00:00"),
    ("eventtime=1795316400123456", "2026-11-22T03:00:00.123456+00:00"),
    ("eventtime=1795316400123456789", "2026-11-22T03:00:00.123456+00:00"),
    ('date=2026-11-22 time=10:00:00 tz="+0700"', "2026-11-22T10:00:00+07:00"),
    ('date=2026-11-22 time=10:00:00 tz="UTC+7:00"', "2026-11-22T10:00:00+07:00"),
    ("date=2026-11-22 time=10:00:00", "2026-11-22T10:00:00"),  # the configured zone applies
    ('date=2026-11-22 time=10:00:00 tz="Indochina"', "2026-11-22T10:00:00"),
    ("eventtime=soon date=2026-11-22 time=10:00:00", "2026-11-22T10:00:00"),
])
def test_time_from_eventtime_or_date_and_time(pairs: str, timestamp: str) -> None:
    parsed = parsers.get("kv").parse(f'devid="FG1" {pairs}'.encode())
    assert parsed["@timestamp"] == timestamp


def test_quoted_values_escapes_equals_and_repeated_keys() -> None:
    parsed = parsers.get("kv").parse(
        b'logid="0100044546" devid="FG1" cfgattr="password[*] comment[\\"tr\\u01b0\\u1edfng '
        b'ph\\u00f2ng\\" = x]" msg="User \\"admin\\" changed a=b  twice" note="" x=1 x=2 '
        b'path="C:\\\\Temp"')
    assert parsed["fortinet.firewall.cfgattr"] == (
        'password[*] comment["tr\\u01b0\\u1edfng ph\\u00f2ng" = x]')
    assert parsed["message"] == 'User "admin" changed a=b  twice'
    assert parsed["fortinet.firewall.note"] == ""
    assert parsed["fortinet.firewall.x"] == "2"  # the last of a repeated key wins
    assert parsed["fortinet.firewall.path"] == "C:\\Temp"


def test_other_kv_logs_keep_their_pairs_and_the_obvious_ecs_fields() -> None:
    parsed = parsers.get("kv").parse(
        b"<134>Nov 22 10:00:00 gw01 kernel: SRC=10.45.1.5 DST=8.8.8.8 dport=53 sport=5353 "
        b"proto=UDP user=nguyenvana action=allow src_host=pc01 dst=not-an-ip")
    assert parsed == {
        "log.syslog.priority": 134, "log.syslog.facility.code": 16,
        "log.syslog.severity.code": 6, "log.syslog.hostname": "gw01", "message": "kernel:",
        "kv.SRC": "10.45.1.5", "kv.DST": "8.8.8.8", "kv.dport": "53", "kv.sport": "5353",
        "kv.proto": "UDP", "kv.user": "nguyenvana", "kv.action": "allow",
        "kv.src_host": "pc01", "kv.dst": "not-an-ip", "source.ip": "10.45.1.5",
        "source.port": 5353, "destination.port": 53, "user.name": "nguyenvana",
        "event.action": "allow", "network.iana_number": "17", "network.transport": "udp"}
    dated = parsers.get("kv").parse(b"date=2026-11-22 time=10:00:00 a=1")
    assert dated == {"kv.date": "2026-11-22", "kv.time": "10:00:00", "kv.a": "1",
                     "@timestamp": "2026-11-22T10:00:00"}


def test_odd_values_stay_text_and_are_not_guessed_into_ecs() -> None:
    parsed = parsers.get("kv").parse(
        "devid=FG1 logid=1 srcip=N/A srcport=٥٣ dstport=99999999999999999999 user=N/A "
        f"sentbyte=12 proto=250 msg={'x' * 10_240}".encode() + b" name=Nguy\xe1\xbb\x85n\xff")
    assert "source.ip" not in parsed and "source.port" not in parsed
    assert "destination.port" not in parsed and "user.name" not in parsed
    assert (parsed["network.bytes"], parsed["network.iana_number"]) == (12, "250")
    assert "network.transport" not in parsed
    assert parsed["message"] == "x" * 10_240
    assert parsed["fortinet.firewall.name"] == "Nguyễn\\xff"  # invalid UTF-8 stays visible


@pytest.mark.parametrize(("raw", "reason"), [
    (b"hello world", "no key=value pairs in the line (expected key=value or "
                     "key=\"quoted value\" separated by spaces, got 'hello world')"),
    (b"\x16\x03\x01\x02\x00\x01\xfc", "no key=value pairs in the line (expected key=value or "
                                      "key=\"quoted value\" separated by spaces, got "
                                      "'\\x16\\x03\\x01\\x02\\x00\\x01\\\\xfc')"),
    (b"<189>", "no key=value pairs in the line (expected key=value or key=\"quoted value\" "
               "separated by spaces, got '')"),
    (f'{HEAD} logid="0000000013" msg="Administrator admin lo'.encode(),
     "unterminated quote in the value of 'msg' (22 characters after the quote)"),
    (b'a=1 b="x \\"', "unterminated quote in the value of 'b' (4 characters after the quote)"),
    (b"<999>a=1", "syslog priority <999> is out of range (0-191)"),
    (b"date=22/11/2026 time=10:00:00 a=1",
     "date='22/11/2026' time='10:00:00' is not yyyy-mm-dd hh:mm:ss"),
    (b"devid=FG1 date=2026-02-30 time=10:00:00",
     "date=2026-02-30 time=10:00:00 is not a real time (day is out of range for month)"),
])
def test_bad_lines_are_explained(raw: bytes, reason: str) -> None:
    with pytest.raises(ParseError) as caught:
        parsers.get("kv").parse(raw)
    assert str(caught.value) == reason


def test_end_to_end_through_the_file_reader_and_the_normaliser(tmp_path: Path) -> None:
    path = tmp_path / "fortigate.log"
    path.write_bytes(f"<189>{TRAFFIC}\n{LOGIN}\nsrc=10.45.1.9 action=block\nnot kv\n".encode())
    normaliser = EventNormaliser(HCM, timedelta(days=1))
    records = list(read_file(path, parsers.get("kv"), 1 << 20))
    assert [r.error is None for r in records] == [True, True, True, False]
    traffic, login, plain = (normaliser.normalise(r, NOW) for r in records[:3])
    assert traffic["@timestamp"] == "2026-11-22T03:00:00.123456Z"
    assert login["@timestamp"] == "2026-11-22T03:00:00.000000Z"
    # A line with no time of its own is timed when it was read.
    assert plain["@timestamp"] == format_timestamp(records[2].received)  # type: ignore[arg-type]
    assert plain["source.ip"] == "10.45.1.9" and plain["kv.action"] == "block"
    # The firewall is the observer of its own events; the file reader's stays on the others.
    assert (traffic["observer.name"], traffic["observer.type"]) == ("FGT-SONHA-DC", "firewall")
    assert (plain["observer.name"], plain["observer.type"]) == ("file", "file")
    assert traffic["log.original"] == f"<189>{TRAFFIC}"
    assert traffic["event.category"] == ["network"] and login["user.name"] == "admin"
