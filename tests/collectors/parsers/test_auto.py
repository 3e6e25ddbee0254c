"""collectors/parsers/auto.py: per-line format detection and dispatch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from collectors import parsers
from collectors.files import read_file
from collectors.parsers import auto
from collectors.parsers.zeek import HeaderLineError
from soc.errors import ParseError
from soc.events import EventNormaliser
from soc.timeutil import format_timestamp, load_zone
from tests.collectors.parsers.test_suricata import ALERT
from tests.collectors.parsers.test_zeek import CONN_CLOSE, CONN_HEADER, CONN_S0, CONN_SF

NOW = datetime(2026, 11, 23, tzinfo=UTC)
HCM = load_zone("Asia/Ho_Chi_Minh")
ACCESS = (b'203.0.113.7 - - [22/Nov/2026:10:00:00 +0700] "GET /wp-login.php HTTP/1.1" 404 153 '
          b'"-" "Mozilla/5.0"')
FORTIGATE = (b'date=2026-11-22 time=10:00:00 devname="FGT-SONHA-DC" devid="FG100FTK19000001" '
             b'logid="0000000013" type="traffic" srcip=10.45.1.5 dstip=8.8.8.8 action="deny"')

OWN_LINES = [
    pytest.param(b'{"@timestamp": "2026-11-22T03:00:00Z", "message": "m"}', "jsonl", id="json"),
    pytest.param(ACCESS, "nginx", id="combined"),
    pytest.param(b'2001:db8::7 - - [22/Nov/2026:10:00:00 +0700] "GET / HTTP/1.1" 200 1',
                 "nginx", id="clf-ipv6"),
    pytest.param(b'portal.sonha.gov.vn:443 203.0.113.7 - - [22/Nov/2026:10:00:00 +0700] '
                 b'"GET / HTTP/1.1" 200 1 "-" "-"', "nginx", id="vhost-combined"),
    pytest.param(b"2026/11/22 10:00:00 [error] 1234#1234: *5 open() \"/x\" failed, client: "
                 b"203.0.113.7, server: portal.sonha.gov.vn", "nginx", id="nginx-error"),
    pytest.param(b"[Sun Nov 22 10:00:00.123456 2026] [core:error] [pid 1234:tid 140000] "
                 b"[client 203.0.113.7:51234] AH00126: Invalid URI in request GET /../ HTTP/1.1",
                 "apache", id="apache-error"),
    pytest.param(FORTIGATE, "kv", id="fortigate"),
    pytest.param(b"<189>" + FORTIGATE, "kv", id="fortigate-over-syslog"),
    pytest.param(b"<189>Nov 22 10:00:00 fgt-dc " + FORTIGATE, "kv", id="fortigate-relayed"),
    pytest.param(b"user=alice action=logout src=10.45.1.5", "kv", id="pairs"),
    pytest.param(b"backup finished: 12 files, status=ok", "text", id="one-pair-is-text"),
    pytest.param(b"Starting nightly backup", "text", id="text"),
    pytest.param(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", "text", id="binary"),
    pytest.param(b"[12:00] caf\xe9 ferm\xe9", "text", id="latin-1"),
    # EVE's engine statistics name no flow: nothing to map, plain JSON.
    pytest.param(b'{"timestamp":"2026-11-22T10:00:00.000000+0700","event_type":"stats",'
                 b'"stats":{"uptime":60}}', "jsonl", id="eve-stats"),
    pytest.param(b'{"@timestamp":"2026-11-22T03:00:00Z","uid":"u1","message":"m"}', "jsonl",
                 id="uid-alone"),
]
OTHER_LINES = [
    pytest.param(b"<34>1 2026-11-22T10:00:00.003+07:00 mail.sonha.gov.vn su - ID47 - 'su root' "
                 b"failed for lonvick on /dev/pts/8", "syslog", id="rfc5424"),
    pytest.param(b"<34>Nov 22 10:00:00 mymachine su: 'su root' failed", "syslog", id="rfc3164"),
    pytest.param(b"<13>hello from a device without a header", "syslog", id="pri-only"),
    pytest.param(b"Nov 22 10:00:00 web01 sshd[4321]: Failed password for root from "
                 b"203.0.113.7 port 51234 ssh2", "syslog", id="bsd-file"),
    pytest.param(b"Nov  2 10:00:00 web01 kernel: [UFW BLOCK] IN=eth0 OUT= SRC=203.0.113.7",
                 "syslog", id="bsd-file-netfilter"),
    pytest.param(b"2026-11-22T10:00:00.123456+07:00 web01 sshd[4321]: Accepted publickey",
                 "syslog", id="rsyslog-iso"),
    pytest.param(b"[123456.789012] [UFW BLOCK] IN=eth0 OUT= MAC=52:54:00:12:34:56:52:54:00:65:"
                 b"43:21:08:00 SRC=203.0.113.7 DST=10.45.2.10 LEN=60 TOS=0x00 PREC=0x00 TTL=50 "
                 b"ID=5 DF PROTO=TCP SPT=51234 DPT=22 WINDOW=64240 RES=0x00 SYN URGP=0",
                 "iptables", id="dmesg-netfilter"),
    pytest.param(b"DROP-INPUT:IN=eth0 OUT= SRC=203.0.113.7 DST=10.45.2.10 PROTO=UDP SPT=1 DPT=2",
                 "iptables", id="glued-prefix"),
    pytest.param(ALERT, "suricata", id="eve-alert"),
    pytest.param(b'{"timestamp":"2026-11-22T10:00:01.250000+0700","event_type":"dns",'
                 b'"src_ip":"10.45.1.5","dest_ip":"10.45.0.2","proto":"UDP","dns":{'
                 b'"type":"query","id":1,"rrname":"portal.sonha.gov.vn","rrtype":"A"}}',
                 "suricata", id="eve-without-flow-id"),
    pytest.param(b'{"ts":1795316400.123456,"uid":"CHhAvVGS1DHFjwGM9","id.orig_h":"10.45.1.5",'
                 b'"id.orig_p":51234,"id.resp_h":"203.0.113.80","id.resp_p":443,"proto":"tcp",'
                 b'"conn_state":"SF"}', "zeek", id="zeek-json"),
    pytest.param(b'{"_path":"notice","ts":1795316404.0,"note":"SSH::Password_Guessing",'
                 b'"src":"203.0.113.7"}', "zeek", id="zeek-json-with-path"),
    pytest.param(b"#fields\tts\tuid\tid.orig_h", "zeek", id="zeek-header"),
    pytest.param(b"#separator \\x09", "zeek", id="zeek-separator"),
    # A Zeek TSV line with no header before it: the zeek parser says why it cannot read it.
    pytest.param(CONN_SF, "zeek", id="zeek-tsv-without-header"),
    pytest.param(b'{"@timestamp":"2026-11-22T03:00:00.000Z","event":{"code":"4625"},'
                 b'"winlog":{"channel":"Security","event_id":4625,'
                 b'"computer_name":"dc01.sonha.gov.vn"}}', "winlog-json", id="winlogbeat"),
    pytest.param(b'{"EventTime":"2026-11-22 10:00:00","Hostname":"dc01.sonha.gov.vn",'
                 b'"EventID":4625,"Channel":"Security","TargetUserName":"admin"}',
                 "winlog-json", id="nxlog"),
]


@pytest.mark.parametrize(("raw", "name"), OWN_LINES + OTHER_LINES)
def test_detect_names_the_format(raw: bytes, name: str) -> None:
    assert auto.detect(raw) == name


@pytest.mark.parametrize(("raw", "name"), OWN_LINES)
def test_the_chosen_parsers_output_stands(raw: bytes, name: str) -> None:
    assert parsers.get("auto").parse(raw) == parsers.get(name).parse(raw)


@pytest.mark.parametrize(("raw", "name"), OTHER_LINES)
def test_formats_of_other_modules_go_to_their_parsers_or_say_none_is_there(
        raw: bytes, name: str) -> None:
    # syslog and iptables are other modules' parsers: whichever of them is registered parses
    # its lines, and a missing one costs its lines (with that reason), not the stream.
    automatic = outcome(parsers.get("auto"), raw)
    if name not in parsers.registry:
        assert automatic == f"looks like {name}, but no {name} parser is installed"
    elif isinstance(direct := outcome(parsers.get(name), raw), str):
        assert automatic == f"looks like {name}: {direct}"
    else:
        assert automatic == direct


def outcome(parser: parsers.Parser, raw: bytes) -> dict | str:
    """What a parser made of a line, or the reason it refused it."""
    try:
        return parser.parse(raw)
    except ParseError as exc:
        return str(exc)


def test_each_parser_is_made_once_and_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[str] = []
    real_get = parsers.registry.get

    def counting_get(name: str) -> type[parsers.Parser]:
        made.append(name)
        return real_get(name)

    monkeypatch.setattr(parsers.registry, "get", counting_get)
    parser = parsers.get("auto")
    for raw in (ACCESS, FORTIGATE, ACCESS, b"text", FORTIGATE, b"more text"):
        parser.parse(raw)
    assert made == ["auto", "nginx", "kv", "text"]


def test_a_format_with_no_parser_is_a_parse_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auto, "detect", lambda raw: "evtx")
    with pytest.raises(ParseError, match=r"^looks like evtx, but no evtx parser is installed$"):
        parsers.get("auto").parse(b"anything")


@pytest.mark.parametrize(("raw", "reason"), [
    (b'{"message": "cut', "looks like jsonl: invalid JSON: unexpected end of data at line 1 "
                         "column 17"),
    (b'{"message": "caf\xe9"}', "looks like jsonl: invalid UTF-8 at byte 16 (JSON text must "
                              "be UTF-8)"),
    (b'203.0.113.7 - - [22/Nov/2026:10:00:00 +0700] "GET /index.html HT',
     "looks like nginx: nginx access line: unterminated quoted request"),
    (FORTIGATE + b' msg="Administrator admin lo',
     "looks like kv: unterminated quote in the value of 'msg' (22 characters after the quote)"),
    (b"2026/11/22 10:00:00 [error] 12",
     "looks like nginx: nginx error line: expected yyyy/mm/dd hh:mm:ss [level] pid#tid: "
     "message"),
])
def test_bad_lines_say_what_they_looked_like_and_what_is_wrong(raw: bytes, reason: str) -> None:
    with pytest.raises(ParseError) as caught:
        parsers.get("auto").parse(raw)
    assert str(caught.value) == reason


def test_a_zeek_tsv_log_reads_through_its_header() -> None:
    # One zeek parser serves the stream: after its header, each line with the header's number
    # of fields is Zeek's, and lines of other formats in between still find their parsers.
    parser = parsers.get("auto")
    zeek = parsers.get("zeek")
    syslog = b"Nov 22 10:00:00 web01 sshd[4321]: Accepted publickey for admin from 10.45.1.5"
    for line in CONN_HEADER.splitlines():
        with pytest.raises(HeaderLineError, match=r"^looks like zeek: zeek header line #"):
            parser.parse(line)
        with pytest.raises(HeaderLineError):
            zeek.parse(line)
    assert parser.parse(CONN_SF) == zeek.parse(CONN_SF)
    assert parser.parse(syslog) == outcome(parsers.get("syslog"), syslog)
    assert parser.parse(CONN_S0) == zeek.parse(CONN_S0)
    with pytest.raises(HeaderLineError):
        parser.parse(CONN_CLOSE.rstrip())
    with pytest.raises(ParseError, match=r"^looks like zeek: zeek TSV line has 21 fields where "
                                         r"the #fields header names 22$"):
        parser.parse(CONN_SF.rpartition(b"\t")[0])


def test_a_10kb_user_agent_is_still_an_access_line() -> None:
    line = ACCESS.replace(b"Mozilla/5.0", b"A" * 10_240)
    assert auto.detect(line) == "nginx"
    assert parsers.get("auto").parse(line)["user_agent.original"] == "A" * 10_240


def test_end_to_end_through_the_file_reader_and_the_normaliser(tmp_path: Path) -> None:
    path = tmp_path / "mixed.log"
    path.write_bytes(ACCESS + b"\n<189>" + FORTIGATE + b"\n"
                     + b"2026/11/22 10:00:01 [warn] 1#1: *2 upstream timed out\n"
                     + b'{"@timestamp": "2026-11-22T10:00:02+07:00", "message": "json"}\n'
                     + b"Starting nightly backup\n" + b'{"broken\n')
    parser = parsers.get("auto")
    assert not parser.timestamp_required and parser.keep_original
    records = list(read_file(path, parser, 1 << 20))
    assert [r.error for r in records] == [None] * 5 + [
        "looks like jsonl: invalid JSON: unexpected end of data at line 1 column 9"]
    normaliser = EventNormaliser(HCM, timedelta(days=1))
    access, firewall, error, json, text = (normaliser.normalise(r, NOW) for r in records[:5])
    assert access["@timestamp"] == "2026-11-22T03:00:00.000000Z"
    assert error["@timestamp"] == "2026-11-22T03:00:01.000000Z"  # zone-less: Asia/HCM
    assert json["@timestamp"] == "2026-11-22T03:00:02.000000Z"
    # FortiGate's date and time (no tz, no eventtime) are read in the configured zone.
    assert firewall["@timestamp"] == "2026-11-22T03:00:00.000000Z"
    assert text["@timestamp"] == format_timestamp(records[4].received)  # type: ignore[arg-type]
    assert [e["event.dataset"] for e in (access, firewall, error)] == [
        "nginx.access", "fortinet.firewall", "nginx.error"]
    assert (text["message"], text["log.original"]) == ("Starting nightly backup",
                                                       "Starting nightly backup")
    assert firewall["event.type"] == ["connection", "denied"]
