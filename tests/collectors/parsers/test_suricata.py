"""collectors/parsers/suricata.py: Suricata EVE JSON records."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from collectors import parsers
from collectors.files import read_file
from soc.errors import ParseError
from soc.events import EventNormaliser, flatten
from soc.timeutil import load_zone

NOW = datetime(2026, 11, 23, tzinfo=UTC)
HCM = load_zone("Asia/Ho_Chi_Minh")
ALERT = (b'{"timestamp":"2026-11-22T10:00:00.123456+0700","flow_id":1618421427131328,'
         b'"in_iface":"eth1","event_type":"alert","src_ip":"203.0.113.7","src_port":51234,'
         b'"dest_ip":"10.45.2.10","dest_port":80,"proto":"TCP",'
         b'"community_id":"1:Ta7HM+Tm1gxGxX0dLn1xmk3xSxw=","tx_id":0,"alert":{"action":"allowed",'
         b'"gid":1,"signature_id":2024897,"rev":3,'
         b'"signature":"ET WEB_SERVER Possible SQL Injection Attempt UNION SELECT",'
         b'"category":"Web Application Attack","severity":1,"metadata":{'
         b'"attack_target":["Web_Server"],"created_at":["2017_10_25"],'
         b'"signature_severity":["Major"],"mitre_tactic_id":["TA0001"],'
         b'"mitre_tactic_name":["Initial_Access"],"mitre_technique_id":["T1190"]}},'
         b'"http":{"hostname":"portal.sonha.gov.vn",'
         b'"url":"/search?q=1%20UNION%20SELECT%20password","http_user_agent":"sqlmap/1.7",'
         b'"http_method":"GET","protocol":"HTTP/1.1","status":200,"length":512},'
         b'"app_proto":"http","direction":"to_server","flow":{"pkts_toserver":4,'
         b'"pkts_toclient":3,"bytes_toserver":620,"bytes_toclient":1200,'
         b'"start":"2026-11-22T10:00:00.100000+0700","src_ip":"203.0.113.7",'
         b'"dest_ip":"10.45.2.10","src_port":51234,"dest_port":80}}')
FLOW = (b'{"timestamp":"2026-11-22T10:05:00.000321+0700","flow_id":2053962187310241,'
        b'"in_iface":"eth1","event_type":"flow","src_ip":"10.45.1.5","src_port":51234,'
        b'"dest_ip":"203.0.113.80","dest_port":443,"proto":"TCP","app_proto":"tls",'
        b'"flow":{"pkts_toserver":12,"pkts_toclient":10,"bytes_toserver":1850,'
        b'"bytes_toclient":5230,"start":"2026-11-22T10:00:00.123456+0700",'
        b'"end":"2026-11-22T10:00:03.623456+0700","age":3,"state":"closed","reason":"timeout",'
        b'"alerted":false},"tcp":{"tcp_flags":"1b","tcp_flags_ts":"1b","tcp_flags_tc":"1b",'
        b'"syn":true,"fin":true,"psh":true,"ack":true,"state":"closed"},'
        b'"community_id":"1:LQU9qZlK+B5F3KDmev6m5PMibrg="}')
DNS_QUERY_V1 = (b'{"timestamp":"2026-11-22T10:00:01.250000+0700","flow_id":99,"event_type":"dns",'
                b'"src_ip":"10.45.1.5","src_port":53211,"dest_ip":"10.45.0.2","dest_port":53,'
                b'"proto":"UDP","dns":{"type":"query","id":48213,"rrname":"portal.sonha.gov.vn",'
                b'"rrtype":"A","tx_id":0}}')
DNS_ANSWER_V1 = (b'{"timestamp":"2026-11-22T10:00:01.262345+0700","flow_id":99,'
                 b'"event_type":"dns","src_ip":"10.45.0.2","src_port":53,"dest_ip":"10.45.1.5",'
                 b'"dest_port":53211,"proto":"UDP","dns":{"type":"answer","id":48213,'
                 b'"rcode":"NOERROR","rrname":"portal.sonha.gov.vn","rrtype":"A","ttl":60,'
                 b'"rdata":"10.45.2.10"}}')
DNS_ANSWER_V2 = (b'{"timestamp":"2026-11-22T10:00:01.262345+0700","flow_id":99,'
                 b'"event_type":"dns","src_ip":"10.45.0.2","src_port":53,"dest_ip":"10.45.1.5",'
                 b'"dest_port":53211,"proto":"UDP","dns":{"version":2,"type":"answer",'
                 b'"id":48213,"flags":"8180","qr":true,"rd":true,"ra":true,'
                 b'"rrname":"www.sonha.gov.vn","rrtype":"A","rcode":"NOERROR","answers":['
                 b'{"rrname":"www.sonha.gov.vn","rrtype":"CNAME","ttl":300,'
                 b'"rdata":"portal-lb.sonha.gov.vn"},{"rrname":"portal-lb.sonha.gov.vn",'
                 b'"rrtype":"A","ttl":60,"rdata":"10.45.2.10"}],"grouped":{'
                 b'"CNAME":["portal-lb.sonha.gov.vn"],"A":["10.45.2.10"]}}}')
HTTP = (b'{"timestamp":"2026-11-22T10:00:02.500000+0700","flow_id":77,"event_type":"http",'
        b'"src_ip":"203.0.113.7","src_port":51234,"dest_ip":"10.45.2.10","dest_port":80,'
        b'"proto":"TCP","tx_id":0,"http":{"hostname":"portal.sonha.gov.vn",'
        b'"url":"/wp-login.php?redirect_to=%2Fwp-admin","http_user_agent":"Mozilla/5.0",'
        b'"http_content_type":"text/html","http_method":"POST","protocol":"HTTP/1.1",'
        b'"status":403,"length":153}}')
TLS = (b'{"timestamp":"2026-11-22T10:00:03.000000+0700","flow_id":88,"event_type":"tls",'
       b'"src_ip":"10.45.1.5","src_port":51234,"dest_ip":"203.0.113.80","dest_port":443,'
       b'"proto":"TCP","tls":{"subject":"CN=mail.sonha.gov.vn",'
       b'"issuerdn":"C=US, O=Let\'s Encrypt, CN=R11","serial":"04:A1:7F",'
       b'"fingerprint":"b8:2a:94:6e:1f:22:5e:8d:7c:41:9a:2f:33:0b:5d:e1:77:c2:9a:10",'
       b'"sni":"mail.sonha.gov.vn","version":"TLS 1.2","notbefore":"2026-10-01T00:00:00",'
       b'"notafter":"2026-12-30T00:00:00","ja3":{"hash":"e7d705a3286e19ea42f587b344ee6865",'
       b'"string":"771,4865-4866-4867,0-23-65281,29-23-24,0"},'
       b'"ja3s":{"hash":"f4febc55ea12b31ae17cfb7e614afda8","string":"771,4865,43-51"}}}')


def parse(raw: bytes) -> dict:
    return flatten(parsers.get("suricata").parse(raw))


def test_an_alert_keeps_its_rule_and_all_its_metadata() -> None:
    parser = parsers.get("suricata")
    assert parser.timestamp_required and not parser.keep_original
    assert parse(ALERT) == {
        "@timestamp": "2026-11-22T10:00:00.123456+0700", "event.dataset": "suricata.eve",
        "event.kind": "alert", "event.category": ["network", "intrusion_detection"],
        "event.type": ["allowed"], "event.action": "allowed", "event.severity": 3,
        "rule.id": "2024897", "rule.version": "3",
        "rule.name": "ET WEB_SERVER Possible SQL Injection Attempt UNION SELECT",
        "rule.category": "Web Application Attack",
        "threat.framework": "MITRE ATT&CK", "threat.technique.id": ["T1190"],
        "threat.tactic.id": ["TA0001"],
        "source.ip": "203.0.113.7", "source.port": 51234,
        "destination.ip": "10.45.2.10", "destination.port": 80,
        "related.ip": ["203.0.113.7", "10.45.2.10"],
        "network.community_id": "1:Ta7HM+Tm1gxGxX0dLn1xmk3xSxw=",
        "network.transport": "tcp", "network.iana_number": "6", "network.protocol": "http",
        # The alert's HTTP metadata, mapped as an http record's is.
        "http.request.method": "GET", "url.domain": "portal.sonha.gov.vn",
        "url.original": "/search?q=1%20UNION%20SELECT%20password", "url.path": "/search",
        "url.query": "q=1%20UNION%20SELECT%20password", "http.version": "1.1",
        "http.response.status_code": 200, "event.outcome": "success",
        "user_agent.original": "sqlmap/1.7", "http.response.body.bytes": 512,
        "suricata.eve.flow_id": 1618421427131328, "suricata.eve.in_iface": "eth1",
        "suricata.eve.event_type": "alert", "suricata.eve.proto": "TCP", "suricata.eve.tx_id": 0,
        "suricata.eve.app_proto": "http", "suricata.eve.direction": "to_server",
        "suricata.eve.alert.action": "allowed", "suricata.eve.alert.gid": 1,
        "suricata.eve.alert.signature_id": 2024897, "suricata.eve.alert.rev": 3,
        "suricata.eve.alert.signature": "ET WEB_SERVER Possible SQL Injection Attempt UNION "
                                        "SELECT",
        "suricata.eve.alert.category": "Web Application Attack",
        "suricata.eve.alert.severity": 1,
        "suricata.eve.alert.metadata.attack_target": ["Web_Server"],
        "suricata.eve.alert.metadata.created_at": ["2017_10_25"],
        "suricata.eve.alert.metadata.signature_severity": ["Major"],
        "suricata.eve.alert.metadata.mitre_tactic_id": ["TA0001"],
        "suricata.eve.alert.metadata.mitre_tactic_name": ["Initial_Access"],
        "suricata.eve.alert.metadata.mitre_technique_id": ["T1190"],
        "suricata.eve.http.hostname": "portal.sonha.gov.vn",
        "suricata.eve.http.url": "/search?q=1%20UNION%20SELECT%20password",
        "suricata.eve.http.http_user_agent": "sqlmap/1.7", "suricata.eve.http.http_method": "GET",
        "suricata.eve.http.protocol": "HTTP/1.1", "suricata.eve.http.status": 200,
        "suricata.eve.http.length": 512,
        # An alert's flow counts stay EVE's: its src is the packet's sender, not the client.
        "suricata.eve.flow.pkts_toserver": 4, "suricata.eve.flow.pkts_toclient": 3,
        "suricata.eve.flow.bytes_toserver": 620, "suricata.eve.flow.bytes_toclient": 1200,
        "suricata.eve.flow.start": "2026-11-22T10:00:00.100000+0700",
        "suricata.eve.flow.src_ip": "203.0.113.7", "suricata.eve.flow.dest_ip": "10.45.2.10",
        "suricata.eve.flow.src_port": 51234, "suricata.eve.flow.dest_port": 80,
    }


@pytest.mark.parametrize(("severity", "mapped"), [(1, 3), (2, 2), (3, 1), (4, 0), (255, 0)])
def test_severity_follows_the_documented_scale(severity: int, mapped: int) -> None:
    raw = ALERT.replace(b'"severity":1', b'"severity":%d' % severity)
    assert parse(raw)["event.severity"] == mapped


def test_a_blocked_alert_is_denied() -> None:
    event = parse(ALERT.replace(b'"action":"allowed"', b'"action":"blocked"'))
    assert (event["event.action"], event["event.type"]) == ("blocked", ["denied"])


def test_a_flow_counts_each_way_and_lasts() -> None:
    event = parse(FLOW)
    assert {key: value for key, value in event.items() if not key.startswith("suricata.")} == {
        "@timestamp": "2026-11-22T10:05:00.000321+0700", "event.dataset": "suricata.eve",
        "event.category": ["network"], "event.type": ["connection", "end"],
        "source.ip": "10.45.1.5", "source.port": 51234,
        "destination.ip": "203.0.113.80", "destination.port": 443,
        "related.ip": ["10.45.1.5", "203.0.113.80"],
        "network.community_id": "1:LQU9qZlK+B5F3KDmev6m5PMibrg=",
        "network.transport": "tcp", "network.iana_number": "6", "network.protocol": "tls",
        "source.bytes": 1850, "destination.bytes": 5230, "network.bytes": 7080,
        "source.packets": 12, "destination.packets": 10, "network.packets": 22,
        "event.start": "2026-11-22T03:00:00.123456Z", "event.end": "2026-11-22T03:00:03.623456Z",
        "event.duration": 3_500_000_000,
    }
    assert (event["suricata.eve.flow.state"], event["suricata.eve.tcp.syn"]) == ("closed", True)


def test_dns_version_1_query_and_answer() -> None:
    query = parse(DNS_QUERY_V1)
    assert {key: value for key, value in query.items() if key.startswith("dns.")} == {
        "dns.type": "query", "dns.id": "48213", "dns.question.name": "portal.sonha.gov.vn",
        "dns.question.type": "A"}
    assert (query["event.category"], query["event.type"], query["network.transport"]) == (
        ["network"], ["protocol", "info"], "udp")
    answer = parse(DNS_ANSWER_V1)
    assert {key: value for key, value in answer.items() if key.startswith("dns.")} == {
        "dns.type": "answer", "dns.id": "48213", "dns.question.name": "portal.sonha.gov.vn",
        "dns.question.type": "A", "dns.response_code": "NOERROR",
        "dns.answers.data": ["10.45.2.10"], "dns.answers.ttl": [60],
        "dns.answers.name": ["portal.sonha.gov.vn"], "dns.answers.type": ["A"],
        "dns.resolved_ip": ["10.45.2.10"]}


def test_dns_version_2_answers_detailed_or_grouped() -> None:
    detailed = parse(DNS_ANSWER_V2)
    assert {key: value for key, value in detailed.items() if key.startswith("dns.")} == {
        "dns.type": "answer", "dns.id": "48213", "dns.question.name": "www.sonha.gov.vn",
        "dns.question.type": "A", "dns.response_code": "NOERROR",
        "dns.header_flags": ["RD", "RA"],
        "dns.answers.data": ["portal-lb.sonha.gov.vn", "10.45.2.10"],
        "dns.answers.ttl": [300, 60],
        "dns.answers.name": ["www.sonha.gov.vn", "portal-lb.sonha.gov.vn"],
        "dns.answers.type": ["CNAME", "A"], "dns.resolved_ip": ["10.45.2.10"]}
    grouped = parse(DNS_ANSWER_V2.replace(DNS_ANSWER_V2[DNS_ANSWER_V2.index(b'"answers"'):
                                                       DNS_ANSWER_V2.index(b'"grouped"')], b""))
    assert (grouped["dns.answers.data"], grouped["dns.resolved_ip"]) == (
        ["10.45.2.10"], ["10.45.2.10"])
    assert "dns.answers.ttl" not in grouped


def test_http_and_tls_records() -> None:
    http = parse(HTTP)
    assert {key: value for key, value in http.items()
            if key.split(".")[0] in ("http", "url", "user_agent", "event")} == {
        "event.dataset": "suricata.eve", "event.category": ["network", "web"],
        "event.type": ["protocol", "access"], "event.outcome": "failure",
        "http.request.method": "POST", "url.domain": "portal.sonha.gov.vn",
        "url.original": "/wp-login.php?redirect_to=%2Fwp-admin", "url.path": "/wp-login.php",
        "url.query": "redirect_to=%2Fwp-admin", "http.version": "1.1",
        "http.response.status_code": 403, "user_agent.original": "Mozilla/5.0",
        "http.response.body.bytes": 153}
    tls = parse(TLS)
    assert {key: value for key, value in tls.items() if key.startswith("tls.")} == {
        "tls.version_protocol": "tls", "tls.version": "1.2",
        "tls.client.server_name": "mail.sonha.gov.vn",
        "tls.server.subject": "CN=mail.sonha.gov.vn",
        "tls.server.issuer": "C=US, O=Let's Encrypt, CN=R11",
        "tls.client.ja3": "e7d705a3286e19ea42f587b344ee6865",
        "tls.server.ja3s": "f4febc55ea12b31ae17cfb7e614afda8",
        "tls.server.hash.sha1": "B82A946E1F225E8D7C419A2F330B5DE177C29A10"}
    assert tls["suricata.eve.tls.notafter"] == "2026-12-30T00:00:00"


def test_other_event_types_pass_through() -> None:
    event = parse(b'{"timestamp":"2026-11-22T10:00:04.000000+0700","flow_id":5,'
                  b'"event_type":"anomaly","src_ip":"203.0.113.7","src_port":0,'
                  b'"dest_ip":"10.45.2.10","dest_port":0,"proto":"ICMP","anomaly":{'
                  b'"type":"decode","event":"icmpv4.unknown_type"}}')
    assert event == {
        "@timestamp": "2026-11-22T10:00:04.000000+0700", "event.dataset": "suricata.eve",
        "source.ip": "203.0.113.7", "source.port": 0,
        "destination.ip": "10.45.2.10", "destination.port": 0,
        "related.ip": ["203.0.113.7", "10.45.2.10"],
        "network.transport": "icmp", "network.iana_number": "1",
        "suricata.eve.flow_id": 5, "suricata.eve.event_type": "anomaly",
        "suricata.eve.proto": "ICMP", "suricata.eve.anomaly.type": "decode",
        "suricata.eve.anomaly.event": "icmpv4.unknown_type"}


@pytest.mark.parametrize(("raw", "reason"), [
    pytest.param(ALERT.replace(b'"event_type":"alert",', b""), "EVE record without event_type",
                 id="no-event-type"),
    pytest.param(b'{"timestamp":"2026-11-22T10:00:00+0700","event_type":""}',
                 "EVE record without event_type", id="empty-event-type"),
    pytest.param(ALERT.replace(b'"timestamp":"2026-11-22T10:00:00.123456+0700",', b""),
                 "EVE alert record without timestamp", id="no-timestamp"),
    pytest.param(FLOW.replace(b'"end":"2026-11-22T10:00:03.623456+0700"', b'"end":"later"'),
                 "EVE flow.end: timestamp 'later' is not ISO 8601 or epoch time", id="bad-end"),
    pytest.param(b"Nov 22 10:00:00 ids01 suricata[812]: [1:2024897:3] ET WEB_SERVER",
                 "invalid JSON: unexpected character, expected a JSON value at line 1 column 1",
                 id="not-json"),
    pytest.param(b'["alert"]', "expected a JSON object, got list", id="not-an-object"),
])
def test_bad_records_are_refused_with_the_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(ParseError) as caught:
        parsers.get("suricata").parse(raw)
    assert str(caught.value) == reason


def test_end_to_end_through_the_file_reader_and_the_normaliser(tmp_path: Path) -> None:
    path = tmp_path / "eve.json"
    path.write_bytes(b"\n".join([ALERT, FLOW, DNS_ANSWER_V2, HTTP, TLS, b'{"broken']) + b"\n")
    records = list(read_file(path, parsers.get("suricata"), 1 << 20))
    assert [record.error for record in records] == [None] * 5 + [
        "invalid JSON: unexpected end of data at line 1 column 9"]
    normaliser = EventNormaliser(HCM, timedelta(days=1))
    alert, flow, dns, http, tls = (normaliser.normalise(record, NOW) for record in records[:5])
    # EVE's +0700 offset (no colon) read as such, stored as UTC.
    assert [e["@timestamp"] for e in (alert, flow, dns, http, tls)] == [
        "2026-11-22T03:00:00.123456Z", "2026-11-22T03:05:00.000321Z",
        "2026-11-22T03:00:01.262345Z", "2026-11-22T03:00:02.500000Z",
        "2026-11-22T03:00:03.000000Z"]
    assert (alert["event.kind"], alert["rule.id"], alert["suricata.eve.alert.gid"]) == (
        "alert", "2024897", 1)
    assert [e["event.kind"] for e in (flow, dns, http, tls)] == ["event"] * 4
    assert "log.original" not in alert
    assert alert["threat.technique.id"] == ["T1190"]
    assert flow["network.bytes"] == 7080
