"""collectors/protocols.py: DNS, HTTP requests, TLS client hellos (JA3, JA4), Community ID."""

from __future__ import annotations

import hashlib
import random
import socket
import struct

import pytest
from scapy.layers.dns import DNS, DNSQR, DNSRR, DNSRROPT
from scapy.layers.tls.extensions import (
    ServerName,
    TLS_Ext_ServerName,
    TLS_Ext_SupportedGroups,
    TLS_Ext_SupportedVersion_CH,
)
from scapy.layers.tls.handshake import TLSClientHello
from scapy.layers.tls.record import TLS

from collectors.protocols import (
    community_id,
    icmp_ports,
    parse_dns,
    parse_http_request,
    parse_tls_client_hello,
)

# --- DNS -------------------------------------------------------------------------------------


def test_a_query_with_a_long_random_subdomain() -> None:
    label = "q7x0v2m9k4z1c8b6n5a3s0d2f7g9h1j4k6l8p0o2i5u7y9t3r1e6w8"
    query = bytes(DNS(id=4242, rd=1, qd=DNSQR(qname=f"{label}.exfil.example.com", qtype="TXT"),
                      ar=[DNSRROPT(rclass=1232, z=0x8000)]))
    assert parse_dns(query) == {
        "dns.id": "4242", "dns.type": "query", "dns.op_code": "QUERY",
        "dns.question.name": f"{label}.exfil.example.com", "dns.question.type": "TXT",
        "dns.question.class": "IN", "dns.header_flags": ["RD", "DO"]}


def test_an_answer_with_compressed_names_cname_a_aaaa_and_txt() -> None:
    answer = bytes(DNS(id=7, qr=1, aa=1, rd=1, ra=1, qd=DNSQR(qname="www.portal.gov.vn"), an=[
        DNSRR(rrname="www.portal.gov.vn", type="CNAME", ttl=300, rdata="web.portal.gov.vn"),
        DNSRR(rrname="web.portal.gov.vn", type="A", ttl=60, rdata="203.0.113.10"),
        DNSRR(rrname="web.portal.gov.vn", type="AAAA", ttl=60, rdata="2001:db8::10"),
        DNSRR(rrname="web.portal.gov.vn", type="TXT", ttl=5, rdata=[b"v=spf1", b"-all"])]))
    assert parse_dns(answer) == {
        "dns.id": "7", "dns.type": "answer", "dns.op_code": "QUERY",
        "dns.question.name": "www.portal.gov.vn", "dns.question.type": "A",
        "dns.question.class": "IN", "dns.response_code": "NOERROR",
        "dns.header_flags": ["AA", "RD", "RA"],
        "dns.answers": [
            {"name": "www.portal.gov.vn", "type": "CNAME", "class": "IN", "ttl": 300,
             "data": "web.portal.gov.vn"},
            {"name": "web.portal.gov.vn", "type": "A", "class": "IN", "ttl": 60,
             "data": "203.0.113.10"},
            {"name": "web.portal.gov.vn", "type": "AAAA", "class": "IN", "ttl": 60,
             "data": "2001:db8::10"},
            {"name": "web.portal.gov.vn", "type": "TXT", "class": "IN", "ttl": 5,
             "data": "v=spf1 -all"}],
        "dns.resolved_ip": ["203.0.113.10", "2001:db8::10"]}


def test_names_compressed_by_hand_mx_nxdomain_and_escaped_labels() -> None:
    header = struct.pack("!6H", 1, 0x8183, 1, 1, 0, 0)  # NXDOMAIN
    question = b"\x03a.b\x04t\x00\"x\x02vn\x00" + b"\x00\x0f\x00\x01"
    mx = b"\xc0\x0c\x00\x0f\x00\x01\x00\x00\x00\x0a\x00\x06\x00\x0a\x02mx\xc0\x0c"
    fields = parse_dns(header + question + mx)
    assert fields is not None
    assert fields["dns.question.name"] == 'a\\.b.t\\000\\"x.vn'
    assert fields["dns.response_code"] == "NXDOMAIN"
    assert fields["dns.answers"] == [{"name": 'a\\.b.t\\000\\"x.vn', "type": "MX",
                                      "class": "IN", "ttl": 10,
                                      "data": '10 mx.a\\.b.t\\000\\"x.vn'}]


def test_a_compression_loop_or_a_forward_pointer_is_not_followed() -> None:
    header = struct.pack("!6H", 1, 0x0100, 1, 0, 0, 0)
    assert parse_dns(header + b"\xc0\x0c\x00\x01\x00\x01") is None  # points at itself
    assert parse_dns(header + b"\x01a\xc0\x0e\x00\x01\x00\x01") is None  # points forward
    # The answer's name (offset 19) is the label b, then a pointer into that same label.
    looping_answer = (struct.pack("!6H", 1, 0x8180, 1, 1, 0, 0) + b"\x01a\x00\x00\x01\x00\x01"
                      + b"\x01b\xc0\x14" + struct.pack("!HHIH4B", 1, 1, 1, 4, 1, 2, 3, 4))
    fields = parse_dns(looping_answer)
    assert fields is not None and fields["dns.question.name"] == "a"
    assert "dns.answers" not in fields


def test_an_answer_cut_by_the_snap_length_keeps_its_whole_records() -> None:
    answer = bytes(DNS(id=9, qr=1, qd=DNSQR(qname="x.vn"), an=[
        DNSRR(rrname="x.vn", rdata="192.0.2.1"), DNSRR(rrname="x.vn", rdata="192.0.2.2")]))
    fields = parse_dns(answer[:-3])
    assert fields is not None and fields["dns.resolved_ip"] == ["192.0.2.1"]


def test_garbage_and_every_prefix_of_a_message_never_raise() -> None:
    message = bytes(DNS(id=1, qr=1, qd=DNSQR(qname="a.example.com"), an=[
        DNSRR(rrname="a.example.com", type="CNAME", rdata="b.example.com"),
        DNSRR(rrname="b.example.com", rdata="192.0.2.9")]))
    rng = random.Random(5)
    samples = [message[:n] for n in range(len(message))] + [
        bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 80))) for _ in range(3000)]
    for sample in samples:
        for parse in (parse_dns, parse_http_request, parse_tls_client_hello):
            result = parse(sample)
            assert result is None or isinstance(result, dict)
    assert parse_dns(b"HTTP/1.1 200 OK\r\n\r\n") is None


# --- HTTP ------------------------------------------------------------------------------------


def test_a_request_with_a_sql_injection_in_its_query_string() -> None:
    request = (b"GET /dichvucong/tracuu.php?hoso=1%27%20UNION%20SELECT%20user,password%20FROM"
               b"%20users--%20&x=1 HTTP/1.1\r\nHost: dichvucong.quangninh.gov.vn:8080\r\n"
               b"User-Agent: sqlmap/1.8#stable (https://sqlmap.org)\r\n"
               b"Referer: http://dichvucong.quangninh.gov.vn/\r\nAccept: */*\r\n\r\n")
    assert parse_http_request(request) == {
        "http.request.method": "GET", "http.version": "1.1",
        "url.original": "/dichvucong/tracuu.php?hoso=1%27%20UNION%20SELECT%20user,password%20"
                        "FROM%20users--%20&x=1",
        "url.path": "/dichvucong/tracuu.php",
        "url.query": "hoso=1%27%20UNION%20SELECT%20user,password%20FROM%20users--%20&x=1",
        "url.domain": "dichvucong.quangninh.gov.vn", "url.port": 8080,
        "user_agent.original": "sqlmap/1.8#stable (https://sqlmap.org)",
        "http.request.referrer": "http://dichvucong.quangninh.gov.vn/"}


def test_raw_spaces_absolute_and_authority_forms_and_a_cut_request_line() -> None:
    assert parse_http_request(b"GET /a?id=1' OR '1'='1 HTTP/1.0\r\n\r\n") == {
        "http.request.method": "GET", "url.original": "/a?id=1' OR '1'='1",
        "http.version": "1.0", "url.path": "/a", "url.query": "id=1' OR '1'='1"}
    assert parse_http_request(b"GET http://user@[2001:db8::1]:81/p?q#f HTTP/1.1\r\n") == {
        "http.request.method": "GET", "url.original": "http://user@[2001:db8::1]:81/p?q#f",
        "http.version": "1.1", "url.scheme": "http", "url.path": "/p", "url.query": "q",
        "url.domain": "[2001:db8::1]", "url.port": 81}
    assert parse_http_request(b"CONNECT mail.gov.vn:443 HTTP/1.1\r\nHost: x\r\n\r\n") == {
        "http.request.method": "CONNECT", "url.original": "mail.gov.vn:443",
        "http.version": "1.1", "url.domain": "mail.gov.vn", "url.port": 443}
    assert parse_http_request(b"GET /x HTTP/1.0\nHost: a.vn\nUser-Agent: nc\n\nHost: body") == {
        "http.request.method": "GET", "url.original": "/x", "http.version": "1.0",
        "url.path": "/x", "url.domain": "a.vn", "user_agent.original": "nc"}  # bare LFs
    assert parse_http_request(b"POST /upload.php?name=shell.ph") == {
        "http.request.method": "POST", "url.original": "/upload.php?name=shell.ph",
        "url.path": "/upload.php", "url.query": "name=shell.ph"}


def test_what_is_not_a_request() -> None:
    for payload in (b"HTTP/1.1 200 OK\r\n\r\n", b"GETTING /x HTTP/1.1\r\n", b"get / HTTP/1.1\r\n",
                    b"GET HTTP/1.1\r\n\r\n", b"GET /x FTP/1.0\r\n\r\n", b"SSH-2.0-OpenSSH_9.6\r\n"):
        assert parse_http_request(payload) is None, payload


# --- TLS -------------------------------------------------------------------------------------


def _hello(version: int, ciphers: list[int], extensions: list[tuple[int, bytes]]) -> bytes:
    def vector(body: bytes) -> bytes:
        return struct.pack("!H", len(body)) + body

    body = (struct.pack("!H", version) + bytes(32) + b"\x00"
            + vector(struct.pack(f"!{len(ciphers)}H", *ciphers)) + b"\x01\x00"
            + vector(b"".join(struct.pack("!HH", kind, len(data)) + data
                              for kind, data in extensions)))
    handshake = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + vector(handshake)


def _list16(*values: int) -> bytes:
    return struct.pack(f"!H{len(values)}H", 2 * len(values), *values)


def _spec_hello(alpn: bytes = b"h2", signatures: tuple[int, ...] = (
        0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601)) -> bytes:
    """The client hello of FoxIO's JA4 example (JA4.md), with GREASE added where Chrome adds it."""
    ciphers = [0x0A0A, 0x1301, 0x1302, 0x1303, 0xC02B, 0xC02F, 0xC02C, 0xC030, 0xCCA9, 0xCCA8,
               0xC013, 0xC014, 0x009C, 0x009D, 0x002F, 0x0035]
    names = struct.pack("!HBH", 20, 0, 17) + b"dichvucong.gov.vn"
    bodies = {0x0000: names, 0x0010: struct.pack("!H", len(alpn) + 10) + bytes([len(alpn)])
              + alpn + b"\x08http/1.1", 0x000D: _list16(*signatures),
              0x002B: b"\x06" + struct.pack("!3H", 0x3A3A, 0x0304, 0x0303),
              0x000A: _list16(0x4A4A, 29, 23, 24), 0x000B: b"\x01\x00"}
    order = [0x1A1A, 0x001B, 0x0000, 0x0033, 0x0010, 0x4469, 0x0017, 0x002D, 0x000D, 0x0005,
             0x0023, 0x0012, 0x002B, 0xFF01, 0x000B, 0x000A, 0x0015, 0x2A2A]
    return _hello(0x0303, ciphers, [(kind, bodies.get(kind, b"")) for kind in order])


def test_ja4_of_the_published_example() -> None:
    fields = parse_tls_client_hello(_spec_hello())
    assert fields is not None
    assert fields["tls.client.ja4"] == "t13d1516h2_8daaf6152771_e5627efa2ab1"
    assert fields["tls.client.server_name"] == "dichvucong.gov.vn"
    assert (fields["tls.version"], fields["tls.version_protocol"]) == ("1.3", "tls")
    ja3 = ("771,4865-4866-4867-49195-49199-49196-49200-52393-52392-49171-49172-156-157-47-53,"
           "27-0-51-16-17513-23-45-13-5-35-18-43-65281-11-10-21,29-23-24,0")
    assert fields["tls.client.ja3"] == hashlib.md5(ja3.encode()).hexdigest()


def test_ja4_without_signature_algorithms_and_odd_alpn_values() -> None:
    # JA4.md: with no signature algorithms the extension list is hashed with no underscore.
    fields = parse_tls_client_hello(_spec_hello(signatures=()))
    assert fields is not None and fields["tls.client.ja4"].endswith("_6d807ffa2a79")
    # JA4.md's examples of ALPN values whose first or last byte is not alphanumeric.
    for alpn, shown in ((b"\xab", "ab"), (b"\xab\xcd", "ad"), (b"0\xab", "3b"),
                        (b"01\xab\xcd", "3d"), (b"0\xab\xcd1", "01"), (b"h", "hh")):
        fields = parse_tls_client_hello(_spec_hello(alpn=alpn))
        assert fields is not None and fields["tls.client.ja4"][8:10] == shown, alpn


def test_ja3_of_the_published_example() -> None:
    # JA3's README: 769,47-53-5-10-49161-49162-49171-49172-50-56-19-4,0-10-11,23-24-25,0
    hello = _hello(0x0301, [47, 53, 5, 10, 49161, 49162, 49171, 49172, 50, 56, 19, 4], [
        (0, struct.pack("!HBH", 9, 0, 6) + b"gov.vn"), (10, _list16(23, 24, 25)),
        (11, b"\x01\x00")])
    fields = parse_tls_client_hello(hello)
    assert fields is not None
    assert fields["tls.client.ja3"] == "ada70206e40642a3e4461f35503241d5"
    assert (fields["tls.version"], fields["tls.client.ja4"][:10]) == ("1.0", "t10d120300")


def test_a_hello_built_by_scapy_and_one_cut_by_the_segment() -> None:
    hello = bytes(TLS(msg=[TLSClientHello(ciphers=[0x1301, 0xC02F], ext=[
        TLS_Ext_ServerName(servernames=[ServerName(servername=b"mail.quangninh.gov.vn")]),
        TLS_Ext_SupportedGroups(groups=[29]),
        TLS_Ext_SupportedVersion_CH(versions=[0x0304, 0x0303])])]))
    fields = parse_tls_client_hello(hello)
    ja4_b = hashlib.sha256(b"1301,c02f").hexdigest()[:12]
    ja4_c = hashlib.sha256(b"000a,002b").hexdigest()[:12]
    assert fields == {
        "tls.version": "1.3", "tls.version_protocol": "tls",
        "tls.client.server_name": "mail.quangninh.gov.vn",
        "tls.client.ja3": hashlib.md5(b"771,4865-49199,0-10-43,29,").hexdigest(),
        "tls.client.ja4": f"t13d020300_{ja4_b}_{ja4_c}"}
    cut = parse_tls_client_hello(hello[:90])
    assert cut == {"tls.version": "1.2", "tls.version_protocol": "tls"}  # no fingerprint
    assert parse_tls_client_hello(hello[:20]) is None
    assert parse_tls_client_hello(b"\x16\x03\x03\x00\x10\x02" + bytes(40)) is None  # server


# --- Community ID ----------------------------------------------------------------------------

# The spec's baseline (community-id-spec/baseline/baseline_deflt.json, seed 0). For ICMP rows the
# two numbers are the message's type and code.
BASELINE = [
    (58, "fe80::200:86ff:fe05:80da", "fe80::260:97ff:fe07:69ea", 135, 0,
     "1:dGHyGvjMfljg6Bppwm3bg0LO8TY="),
    (58, "fe80::260:97ff:fe07:69ea", "fe80::200:86ff:fe05:80da", 136, 0,
     "1:dGHyGvjMfljg6Bppwm3bg0LO8TY="),
    (58, "fe80::260:97ff:fe07:69ea", "fe80::200:86ff:fe05:80da", 135, 0,
     "1:zavyT/cezQr1fmImYCwYnMXbgck="),
    (58, "fe80::200:86ff:fe05:80da", "fe80::260:97ff:fe07:69ea", 136, 0,
     "1:zavyT/cezQr1fmImYCwYnMXbgck="),
    (58, "3ffe:501:1800:2345::2", "3ffe:507:0:1:200:86ff:fe05:80da", 3, 0,
     "1:2ObVBgIn28oZvibYZhZMBgh7WdQ="),
    (58, "3ffe:501:410:0:2c0:dfff:fe47:33e", "3ffe:507:0:1:200:86ff:fe05:80da", 1, 4,
     "1:hLZd0XGWojozrvxqE0dWB1iM6R0="),
    (58, "3ffe:507:0:1:200:86ff:fe05:80da", "3ffe:501:0:1001::2", 128, 0,
     "1:+TW+HtLHvV1xnGhV1lv7XoJrqQg="),
    (58, "3ffe:501:0:1001::2", "3ffe:507:0:1:200:86ff:fe05:80da", 129, 0,
     "1:+TW+HtLHvV1xnGhV1lv7XoJrqQg="),
    (58, "fe80::200:86ff:fe05:80da", "ff02::2", 133, 0, "1:hO+sN4H+MG5MY/8hIrXPqc4ZQz0="),
    (58, "fe80::260:97ff:fe07:69ea", "ff02::1", 134, 0, "1:pkvHqCL88/tg1k4cPigmZXUtL00="),
    (1, "192.168.0.89", "192.168.0.1", 8, 0, "1:X0snYXpgwiv9TZtqg64sgzUn6Dk="),
    (1, "192.168.0.1", "192.168.0.89", 0, 0, "1:X0snYXpgwiv9TZtqg64sgzUn6Dk="),
    (1, "10.0.0.1", "10.0.0.2", 11, 0, "1:YHxtAirCG//0OzkcVAukqKQN9xM="),
    (6, "2001:470:e5bf:dead:4957:2174:e82c:4887", "2607:f8b0:400c:c03::1a", 63943, 25,
     "1:/qFaeAR+gFe1KYjMzVDsMv+wgU4="),
    (6, "2607:f8b0:400c:c03::1a", "2001:470:e5bf:dead:4957:2174:e82c:4887", 25, 63943,
     "1:/qFaeAR+gFe1KYjMzVDsMv+wgU4="),
    (132, "192.168.170.8", "192.168.170.56", 7, 7, "1:MP2EtRCAUIZvTw6MxJHLV7N7JDs="),
    (132, "192.168.170.56", "192.168.170.8", 7, 7, "1:MP2EtRCAUIZvTw6MxJHLV7N7JDs="),
    (6, "128.232.110.120", "66.35.250.204", 34855, 80, "1:LQU9qZlK+B5F3KDmev6m5PMibrg="),
    (6, "66.35.250.204", "128.232.110.120", 80, 34855, "1:LQU9qZlK+B5F3KDmev6m5PMibrg="),
    (17, "192.168.1.52", "8.8.8.8", 54585, 53, "1:d/FP5EW3wiY1vCndhwleRRKHowQ="),
    (17, "8.8.8.8", "192.168.1.52", 53, 54585, "1:d/FP5EW3wiY1vCndhwleRRKHowQ="),
    (46, "10.1.12.1", "10.1.12.2", 0, 0, "1:KHlLkgoJW7ifUTyTSgyVfkFHzKw="),
    (46, "10.1.12.2", "10.1.12.1", 0, 0, "1:KHlLkgoJW7ifUTyTSgyVfkFHzKw="),
]


@pytest.mark.parametrize(("proto", "source", "destination", "first", "second", "expected"),
                         BASELINE)
def test_community_id_baseline(proto: int, source: str, destination: str, first: int,
                               second: int, expected: str) -> None:
    family = socket.AF_INET6 if ":" in source else socket.AF_INET
    one_way = False
    if proto in (1, 58):
        first, second, one_way = icmp_ports(first, second, proto == 58)
    assert community_id(socket.inet_pton(family, source), socket.inet_pton(family, destination),
                        proto, first, second, one_way) == expected
