"""collectors/parsers/zeek.py: Zeek TSV logs with their header blocks, and Zeek JSON logs."""

from __future__ import annotations

from contextlib import suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from collectors import parsers
from collectors.files import read_file
from collectors.parsers.zeek import HeaderLineError
from soc.errors import ParseError
from soc.events import EventNormaliser
from soc.timeutil import load_zone

NOW = datetime(2026, 11, 23, tzinfo=UTC)
HCM = load_zone("Asia/Ho_Chi_Minh")
# 2026-11-22 10:00:00 +07:00 is 1795316400 seconds since the epoch.
CONN_HEADER = (
    b"#separator \\x09\n"
    b"#set_separator\t,\n"
    b"#empty_field\t(empty)\n"
    b"#unset_field\t-\n"
    b"#path\tconn\n"
    b"#open\t2026-11-22-10-00-00\n"
    b"#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\t"
    b"orig_bytes\tresp_bytes\tconn_state\tlocal_orig\tlocal_resp\tmissed_bytes\thistory\t"
    b"orig_pkts\torig_ip_bytes\tresp_pkts\tresp_ip_bytes\ttunnel_parents\tcommunity_id\n"
    b"#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\t"
    b"string\tbool\tbool\tcount\tstring\tcount\tcount\tcount\tcount\tset[string]\tstring\n")
CONN_SF = (b"1795316400.123456\tCHhAvVGS1DHFjwGM9\t10.45.1.5\t51234\t203.0.113.80\t443\ttcp\t"
           b"ssl\t3.500000\t1850\t5230\tSF\tT\tF\t0\tShADadFf\t12\t2478\t10\t5762\t(empty)\t"
           b"1:LQU9qZlK+B5F3KDmev6m5PMibrg=")
CONN_S0 = (b"1795316401.000000\tCjKx3l1b2Yz7Qm4v8\t203.0.113.7\t60001\t10.45.2.10\t22\ttcp\t-\t-\t"
           b"-\t-\tS0\tF\tT\t0\tS\t1\t60\t0\t0\t(empty)\t-")
CONN_CLOSE = b"#close\t2026-11-22-11-00-00\n"


def block(path: str, fields: str, types: str) -> bytes:
    """A Zeek TSV header block as Zeek writes it (fields and types given space-separated)."""
    return (b"#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n"
            + f"#path\t{path}\n#open\t2026-11-22-10-00-00\n".encode()
            + ("#fields\t" + "\t".join(fields.split()) + "\n").encode()
            + ("#types\t" + "\t".join(types.split()) + "\n").encode())


DNS_HEADER = block(
    "dns", "ts uid id.orig_h id.orig_p id.resp_h id.resp_p proto trans_id rtt query qclass "
    "qclass_name qtype qtype_name rcode rcode_name AA TC RD RA Z answers TTLs rejected",
    "time string addr port addr port enum count interval string count string count string "
    "count string bool bool bool bool count vector[string] vector[interval] bool")
DNS = (b"1795316401.250000\tCpKkXv3bQd1rT2kYJ4\t10.45.1.5\t53211\t10.45.0.2\t53\tudp\t48213\t"
       b"0.012345\tportal.sonha.gov.vn\t1\tC_INTERNET\t1\tA\t0\tNOERROR\tF\tF\tT\tT\t0\t"
       b"portal-lb.sonha.gov.vn,10.45.2.10\t300.000000,60.000000\tF")
HTTP_HEADER = block(
    "http", "ts uid id.orig_h id.orig_p id.resp_h id.resp_p trans_depth method host uri referrer "
    "version user_agent origin request_body_len response_body_len status_code status_msg "
    "info_code info_msg tags username password proxied orig_fuids orig_filenames "
    "orig_mime_types resp_fuids resp_filenames resp_mime_types",
    "time string addr port addr port count string string string string string string string "
    "count count count string count string set[enum] string string set[string] vector[string] "
    "vector[string] vector[string] vector[string] vector[string] vector[string]")
HTTP = (b"1795316402.500000\tCwQ2hf4lE4sN3dVz0b\t203.0.113.7\t51234\t10.45.2.10\t8080\t1\tGET\t"
        b"portal.sonha.gov.vn:8080\t/wp-login.php?redirect_to=%2Fwp-admin\t-\t1.1\t"
        b"Mozilla/5.0 (compatible; Nmap Scripting Engine; https://nmap.org/book/nse.html)\t-\t0\t"
        b"153\t404\tNot Found\t-\t-\t(empty)\t-\t-\t-\t-\t-\t-\tFQ7zDl2Hq0Kx4gNbU3\t-\ttext/html")
SSL_HEADER = block(
    "ssl", "ts uid id.orig_h id.orig_p id.resp_h id.resp_p version cipher curve server_name "
    "resumed last_alert next_protocol established ssl_history cert_chain_fps "
    "client_cert_chain_fps sni_matches_cert ja3 ja3s",
    "time string addr port addr port string string string string bool string string bool "
    "string vector[string] vector[string] bool string string")
SSL = (b"1795316403.000000\tCHhAvVGS1DHFjwGM9\t10.45.1.5\t51234\t203.0.113.80\t443\tTLSv13\t"
       b"TLS_AES_128_GCM_SHA256\tx25519\tmail.sonha.gov.vn\tF\t-\th2\tT\tCsiI\t(empty)\t(empty)\t"
       b"-\te7d705a3286e19ea42f587b344ee6865\tf4febc55ea12b31ae17cfb7e614afda8")
NOTICE_HEADER = block(
    "notice", "ts uid id.orig_h id.orig_p id.resp_h id.resp_p fuid file_mime_type file_desc "
    "proto note msg sub src dst p n peer_descr actions email_dest suppress_for",
    "time string addr port addr port string string string enum enum string string addr addr "
    "port count string set[enum] set[string] interval")
NOTICE = (b"1795316404.000000\t-\t-\t-\t-\t-\t-\t-\t-\t-\tSSH::Password_Guessing\t"
          b"203.0.113.7 appears to be guessing SSH passwords (seen in 30 connections).\t"
          b"Sampled servers:  10.45.2.10, 10.45.2.10, 10.45.2.10\t203.0.113.7\t-\t-\t30\t-\t"
          b"Notice::ACTION_LOG\t(empty)\t3600.000000")


def read(parser: parsers.Parser, *lines: bytes) -> list[dict | str]:
    """What a parser made of each line of a log, header lines included (as their reason)."""
    out: list[dict | str] = []
    for line in b"".join(lines).splitlines():
        try:
            out.append(parser.parse(line))
        except HeaderLineError:
            out.append("header")
    return out


def test_conn_log_with_the_standard_header_block() -> None:
    parser = parsers.get("zeek")
    assert parser.timestamp_required and not parser.keep_original
    *header, established, attempt, close = read(
        parser, CONN_HEADER, CONN_SF + b"\n", CONN_S0 + b"\n", CONN_CLOSE)
    assert header == ["header"] * 8 and close == "header"
    assert established == {
        "@timestamp": "2026-11-22T03:00:00.123456Z", "event.dataset": "zeek.conn",
        "event.category": ["network"], "event.type": ["connection", "start", "end"],
        "zeek.session_id": "CHhAvVGS1DHFjwGM9",
        "source.ip": "10.45.1.5", "source.port": 51234,
        "destination.ip": "203.0.113.80", "destination.port": 443,
        "related.ip": ["10.45.1.5", "203.0.113.80"],
        "network.community_id": "1:LQU9qZlK+B5F3KDmev6m5PMibrg=",
        "network.transport": "tcp", "network.iana_number": "6", "network.protocol": "ssl",
        "event.duration": 3_500_000_000,
        "source.bytes": 1850, "destination.bytes": 5230, "network.bytes": 7080,
        "source.packets": 12, "destination.packets": 10, "network.packets": 22,
        "zeek.connection.proto": "tcp", "zeek.connection.service": "ssl",
        "zeek.connection.duration": 3.5, "zeek.connection.orig_bytes": 1850,
        "zeek.connection.resp_bytes": 5230, "zeek.connection.conn_state": "SF",
        "zeek.connection.local_orig": True, "zeek.connection.local_resp": False,
        "zeek.connection.missed_bytes": 0, "zeek.connection.history": "ShADadFf",
        "zeek.connection.orig_pkts": 12, "zeek.connection.orig_ip_bytes": 2478,
        "zeek.connection.resp_pkts": 10, "zeek.connection.resp_ip_bytes": 5762,
    }
    # Unset service, duration and byte counts are absent, not "-"; the packet counts stand.
    assert attempt == {
        "@timestamp": "2026-11-22T03:00:01.000000Z", "event.dataset": "zeek.conn",
        "event.category": ["network"], "event.type": ["connection", "start"],
        "zeek.session_id": "CjKx3l1b2Yz7Qm4v8",
        "source.ip": "203.0.113.7", "source.port": 60001,
        "destination.ip": "10.45.2.10", "destination.port": 22,
        "related.ip": ["203.0.113.7", "10.45.2.10"],
        "network.transport": "tcp", "network.iana_number": "6",
        "source.packets": 1, "destination.packets": 0, "network.packets": 1,
        "zeek.connection.proto": "tcp", "zeek.connection.conn_state": "S0",
        "zeek.connection.local_orig": False, "zeek.connection.local_resp": True,
        "zeek.connection.missed_bytes": 0, "zeek.connection.history": "S",
        "zeek.connection.orig_pkts": 1, "zeek.connection.orig_ip_bytes": 60,
        "zeek.connection.resp_pkts": 0, "zeek.connection.resp_ip_bytes": 0,
    }


def test_dns_answers_and_ttls_are_parallel_lists() -> None:
    [*_, dns] = read(parsers.get("zeek"), DNS_HEADER, DNS)
    assert isinstance(dns, dict)
    assert {key: value for key, value in dns.items() if not key.startswith("zeek.dns.")} == {
        "@timestamp": "2026-11-22T03:00:01.250000Z", "event.dataset": "zeek.dns",
        "event.category": ["network"], "event.type": ["protocol", "info"],
        "zeek.session_id": "CpKkXv3bQd1rT2kYJ4",
        "source.ip": "10.45.1.5", "source.port": 53211,
        "destination.ip": "10.45.0.2", "destination.port": 53,
        "related.ip": ["10.45.1.5", "10.45.0.2"],
        "network.transport": "udp", "network.iana_number": "17",
        "dns.id": "48213", "dns.question.name": "portal.sonha.gov.vn",
        "dns.question.type": "A", "dns.question.class": "C_INTERNET",
        "dns.response_code": "NOERROR", "dns.type": "answer", "dns.header_flags": ["RD", "RA"],
        "dns.answers.data": ["portal-lb.sonha.gov.vn", "10.45.2.10"],
        "dns.answers.ttl": [300, 60], "dns.resolved_ip": ["10.45.2.10"],
    }
    assert dns["zeek.dns.answers"] == ["portal-lb.sonha.gov.vn", "10.45.2.10"]
    assert dns["zeek.dns.TTLs"] == [300.0, 60.0]
    assert (dns["zeek.dns.rtt"], dns["zeek.dns.qtype"], dns["zeek.dns.AA"]) == (0.012345, 1, False)


def test_http_request_and_url() -> None:
    [*_, http] = read(parsers.get("zeek"), HTTP_HEADER, HTTP)
    assert isinstance(http, dict)
    assert {key: value for key, value in http.items() if not key.startswith("zeek.http.")} == {
        "@timestamp": "2026-11-22T03:00:02.500000Z", "event.dataset": "zeek.http",
        "event.category": ["network", "web"], "event.type": ["protocol", "access"],
        "zeek.session_id": "CwQ2hf4lE4sN3dVz0b",
        "source.ip": "203.0.113.7", "source.port": 51234,
        "destination.ip": "10.45.2.10", "destination.port": 8080,
        "related.ip": ["203.0.113.7", "10.45.2.10"],
        "http.request.method": "GET", "url.domain": "portal.sonha.gov.vn", "url.port": 8080,
        "url.original": "/wp-login.php?redirect_to=%2Fwp-admin", "url.path": "/wp-login.php",
        "url.query": "redirect_to=%2Fwp-admin", "http.version": "1.1",
        "http.response.status_code": 404, "event.outcome": "failure",
        "user_agent.original": "Mozilla/5.0 (compatible; Nmap Scripting Engine; "
                               "https://nmap.org/book/nse.html)",
        "http.request.body.bytes": 0, "http.response.body.bytes": 153,
    }
    assert http["zeek.http.resp_fuids"] == ["FQ7zDl2Hq0Kx4gNbU3"]
    assert http["zeek.http.resp_mime_types"] == ["text/html"]
    assert http["zeek.http.status_msg"] == "Not Found"
    assert "zeek.http.tags" not in http  # (empty)


def test_ssl_maps_to_tls() -> None:
    [*_, ssl] = read(parsers.get("zeek"), SSL_HEADER, SSL)
    assert isinstance(ssl, dict)
    assert {key: value for key, value in ssl.items() if key.startswith("tls.")} == {
        "tls.version_protocol": "tls", "tls.version": "1.3",
        "tls.client.server_name": "mail.sonha.gov.vn", "tls.established": True,
        "tls.resumed": False, "tls.cipher": "TLS_AES_128_GCM_SHA256", "tls.curve": "x25519",
        "tls.next_protocol": "h2", "tls.client.ja3": "e7d705a3286e19ea42f587b344ee6865",
        "tls.server.ja3s": "f4febc55ea12b31ae17cfb7e614afda8",
    }
    assert (ssl["event.dataset"], ssl["event.category"], ssl["event.type"]) == (
        "zeek.ssl", ["network"], ["protocol", "connection"])
    assert ssl["zeek.ssl.version"] == "TLSv13"
    assert "zeek.ssl.cert_chain_fps" not in ssl and "zeek.ssl.sni_matches_cert" not in ssl


def test_a_notice_is_an_alert_about_its_src() -> None:
    [*_, notice] = read(parsers.get("zeek"), NOTICE_HEADER, NOTICE)
    assert notice == {
        "@timestamp": "2026-11-22T03:00:04.000000Z", "event.dataset": "zeek.notice",
        "event.kind": "alert", "event.category": ["intrusion_detection"], "event.type": ["info"],
        "rule.name": "SSH::Password_Guessing",
        "message": "203.0.113.7 appears to be guessing SSH passwords (seen in 30 connections).",
        "source.ip": "203.0.113.7", "related.ip": ["203.0.113.7"],
        "zeek.notice.note": "SSH::Password_Guessing",
        "zeek.notice.msg": "203.0.113.7 appears to be guessing SSH passwords (seen in 30 "
                           "connections).",
        "zeek.notice.sub": "Sampled servers:  10.45.2.10, 10.45.2.10, 10.45.2.10",
        "zeek.notice.src": "203.0.113.7", "zeek.notice.n": 30,
        "zeek.notice.actions": ["Notice::ACTION_LOG"], "zeek.notice.suppress_for": 3600.0,
    }


def test_other_logs_pass_through_under_their_path() -> None:
    weird = block("weird", "ts uid id.orig_h id.orig_p id.resp_h id.resp_p name addl notice "
                  "peer source", "time string addr port addr port string string bool string "
                  "string")
    [*_, event] = read(parsers.get("zeek"), weird,
                       b"1795316405.000000\tCwQ2hf4lE4sN3dVz0b\t203.0.113.7\t51234\t10.45.2.10\t"
                       b"80\tbad_HTTP_request\t\\x2d\tF\tzeek\tHTTP")
    assert event == {
        "@timestamp": "2026-11-22T03:00:05.000000Z", "event.dataset": "zeek.weird",
        "zeek.session_id": "CwQ2hf4lE4sN3dVz0b",
        "source.ip": "203.0.113.7", "source.port": 51234,
        "destination.ip": "10.45.2.10", "destination.port": 80,
        "related.ip": ["203.0.113.7", "10.45.2.10"],
        # \x2d is a string that is "-", which Zeek escapes so that it does not read as unset.
        "zeek.weird.name": "bad_HTTP_request", "zeek.weird.addl": "-",
        "zeek.weird.notice": False, "zeek.weird.peer": "zeek", "zeek.weird.source": "HTTP",
    }


def test_escapes_separators_and_a_second_header_block() -> None:
    # A log concatenated after another (rotation): the second block's separators apply.
    odd = (b"#separator \\x7c\n#set_separator|;\n#empty_field|EMPTY\n#unset_field|NONE\n"
           b"#path|files\n#fields|ts|fuid|mime_type|filename|tx_hosts|analyzers\n"
           b"#types|time|string|string|string|set[addr]|set[string]\n")
    lines = read(parsers.get("zeek"), CONN_HEADER, CONN_SF + b"\n", odd,
                 b"1795316406.5|FQ7zDl2Hq0Kx4gNbU3|NONE|b\\xc3\\xa1o c\\xc3\\xa1o\\x7cq4.pdf|"
                 b"10.45.2.10;10.45.2.11|EMPTY\n")
    assert lines[8]["event.dataset"] == "zeek.conn"  # type: ignore[index]
    assert lines[9:16] == ["header"] * 7
    assert lines[16] == {
        "@timestamp": "2026-11-22T03:00:06.500000Z", "event.dataset": "zeek.files",
        "zeek.files.fuid": "FQ7zDl2Hq0Kx4gNbU3", "zeek.files.filename": "báo cáo|q4.pdf",
        "zeek.files.tx_hosts": ["10.45.2.10", "10.45.2.11"],
    }


def test_json_lines_with_epoch_or_iso_time_and_with_or_without_path() -> None:
    parser = parsers.get("zeek")
    conn = parser.parse(
        b'{"ts":1795316400.123456,"uid":"CHhAvVGS1DHFjwGM9","id.orig_h":"10.45.1.5",'
        b'"id.orig_p":51234,"id.resp_h":"203.0.113.80","id.resp_p":443,"proto":"tcp",'
        b'"service":"ssl","duration":3.5,"orig_bytes":1850,"resp_bytes":5230,"conn_state":"SF",'
        b'"local_orig":true,"local_resp":false,"missed_bytes":0,"history":"ShADadFf",'
        b'"orig_pkts":12,"orig_ip_bytes":2478,"resp_pkts":10,"resp_ip_bytes":5762,'
        b'"community_id":"1:LQU9qZlK+B5F3KDmev6m5PMibrg="}')
    tsv = read(parsers.get("zeek"), CONN_HEADER, CONN_SF)[-1]
    assert conn == tsv  # the same record, whichever way Zeek wrote it
    dns = parser.parse(
        b'{"_path":"dns","_write_ts":"2026-11-22T03:00:02.000000Z",'
        b'"ts":"2026-11-22T03:00:01.250000Z","uid":"CpKkXv3bQd1rT2kYJ4",'
        b'"id.orig_h":"10.45.1.5","id.orig_p":53211,"id.resp_h":"10.45.0.2","id.resp_p":53,'
        b'"proto":"udp","trans_id":48213,"query":"portal.sonha.gov.vn","qtype_name":"A",'
        b'"rcode_name":"NOERROR","AA":false,"TC":false,"RD":true,"RA":true,"Z":0,'
        b'"answers":["10.45.2.10"],"TTLs":[60.0],"rejected":false,"qclass_name":null}')
    assert dns["@timestamp"] == "2026-11-22T03:00:01.250000Z"
    assert (dns["event.dataset"], dns["dns.resolved_ip"], dns["dns.answers.ttl"]) == (
        "zeek.dns", ["10.45.2.10"], [60])
    assert dns["zeek.dns._write_ts"] == "2026-11-22T03:00:02.000000Z"
    assert "zeek.dns.qclass_name" not in dns and "dns.question.class" not in dns
    unknown = parser.parse(b'{"ts":1795316407.0,"uid":"C1","id.orig_h":"10.45.1.5",'
                           b'"id.orig_p":5353,"id.resp_h":"224.0.0.251","id.resp_p":5353,'
                           b'"note_to_self":"x","tags":[]}')
    assert unknown == {
        "@timestamp": "2026-11-22T03:00:07.000000Z", "event.dataset": "zeek.unknown",
        "zeek.session_id": "C1", "source.ip": "10.45.1.5", "source.port": 5353,
        "destination.ip": "224.0.0.251", "destination.port": 5353,
        "related.ip": ["10.45.1.5", "224.0.0.251"], "zeek.unknown.note_to_self": "x",
    }


@pytest.mark.parametrize(("lines", "reason"), [
    pytest.param([CONN_SF], "zeek TSV line with no #fields and #types header before it: its "
                 "fields cannot be named", id="body-before-header"),
    pytest.param([CONN_HEADER, CONN_SF.rsplit(b"\t", 2)[0]],
                 "zeek TSV line has 20 fields where the #fields header names 22",
                 id="wrong-field-count"),
    pytest.param([CONN_HEADER, b"yesterday" + CONN_SF[17:]],
                 "zeek field ts: 'yesterday' is not a Zeek time", id="bad-epoch"),
    pytest.param([CONN_HEADER, CONN_SF.replace(b"\t51234\t", b"\thttps\t")],
                 "zeek field id.orig_p: 'https' is not a Zeek port", id="bad-port"),
    pytest.param([CONN_HEADER, CONN_SF.replace(b"\tT\tF\t", b"\tyes\tF\t")],
                 "zeek field local_orig: 'yes' is not a Zeek bool", id="bad-bool"),
    pytest.param([CONN_HEADER.replace(b"\tset[string]\tstring\n", b"\n"), CONN_SF],
                 "zeek TSV line with no #fields and #types header before it: its fields cannot "
                 "be named", id="types-short-of-fields"),
    pytest.param([b'{"uid":"C1","id.orig_h":"10.45.1.5"}'], "zeek unknown record without ts",
                 id="json-without-ts"),
    pytest.param([b'{"ts":[1795316400],"_path":"conn"}'],
                 "zeek ts [1795316400] is neither epoch seconds nor ISO 8601 text",
                 id="json-bad-ts"),
    pytest.param([b'{"ts":1795316400,'], "invalid JSON: unexpected end of data at line 1 "
                 "column 18", id="json-cut"),
])
def test_bad_lines_are_refused_with_the_reason(lines: list[bytes], reason: str) -> None:
    parser = parsers.get("zeek")
    *header, bad = b"".join(line if line.endswith(b"\n") else line + b"\n"
                            for line in lines).splitlines()
    for line in header:
        with suppress(ParseError):  # header lines, and the broken #types line
            parser.parse(line)
    with pytest.raises(ParseError) as caught:
        parser.parse(bad)
    assert type(caught.value) is ParseError
    assert str(caught.value) == reason


def test_a_types_line_that_does_not_match_the_fields_says_so() -> None:
    parser = parsers.get("zeek")
    for line in (b"#separator \\x09", b"#fields\tts\tuid"):
        with pytest.raises(HeaderLineError):
            parser.parse(line)
    with pytest.raises(ParseError, match=r"^zeek #types line gives 1 types for 2 #fields: the "
                                         r"log's lines cannot be read$"):
        parser.parse(b"#types\ttime")


def test_continues_says_which_lines_belong_to_the_log_read() -> None:
    parser = parsers.get("zeek")
    assert not parser.continues(CONN_SF)  # no header yet
    read(parser, CONN_HEADER)
    assert parser.continues(CONN_SF) and parser.continues(CONN_S0)
    assert not parser.continues(b"#close\t2026-11-22-11-00-00")
    assert not parser.continues(b"Nov 22 10:00:00 web01 sshd[1]: hello")


def test_end_to_end_through_the_file_reader_and_the_normaliser(tmp_path: Path) -> None:
    path = tmp_path / "conn.log"
    path.write_bytes(CONN_HEADER + CONN_SF + b"\n" + CONN_S0 + b"\n" + CONN_CLOSE + DNS_HEADER
                     + DNS + b"\n" + DNS[:40] + b"\n" + CONN_CLOSE)
    records = list(read_file(path, parsers.get("zeek"), 1 << 20))
    body = [record for record in records if not record.raw.startswith(b"#")]
    assert [record.error for record in body] == [
        None, None, None, "zeek TSV line has 3 fields where the #fields header names 24"]
    normaliser = EventNormaliser(HCM, timedelta(days=1))
    established, attempt, dns = (normaliser.normalise(record, NOW) for record in body[:3])
    assert [e["@timestamp"] for e in (established, attempt, dns)] == [
        "2026-11-22T03:00:00.123456Z", "2026-11-22T03:00:01.000000Z",
        "2026-11-22T03:00:01.250000Z"]
    assert [e["event.dataset"] for e in (established, attempt, dns)] == [
        "zeek.conn", "zeek.conn", "zeek.dns"]
    assert established["log.offset"] == len(CONN_HEADER)
    assert "log.original" not in established  # every field is under zeek.connection.*
    assert (established["source.ip"], established["destination.port"],
            established["network.bytes"]) == ("10.45.1.5", 443, 7080)
    assert dns["dns.resolved_ip"] == ["10.45.2.10"]
    assert len({e["event.id"] for e in (established, attempt, dns)}) == 3


def test_header_lines_leave_no_record(tmp_path: Path) -> None:
    path = tmp_path / "conn.log"
    path.write_bytes(CONN_HEADER + CONN_SF + b"\n" + CONN_CLOSE)
    records = list(read_file(path, parsers.get("zeek"), 1 << 20))
    assert [(record.raw, record.error) for record in records] == [(CONN_SF, None)]
