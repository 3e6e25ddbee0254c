"""Suricata's EVE JSON: the "suricata" format, one EVE record a line, mapped to ECS.

Every record: `@timestamp` from `timestamp` (the sensor's local time with its offset, written
`+0700`), `src_ip|port` → `source.ip|port`, `dest_ip|port` → `destination.ip|port`,
`community_id` → `network.community_id`, `proto` → `network.transport`, `app_proto` →
`network.protocol`, `event.dataset` "suricata.eve". Everything but the moved time, addresses,
ports and community id stays under `suricata.eve.*` as EVE names it (the whole `alert`
object among it: gid, rev, metadata, source/target), so the record needs no `log.original`.

- alert: `event.kind` "alert", which the rule engine can promote to an incident; `rule.id`
  (signature_id), `rule.name` (signature), `rule.category`, `rule.version` (rev),
  `event.action` (allowed or blocked, and `event.type` allowed or denied), MITRE ATT&CK ids
  from the rule's metadata (`mitre_technique_id`, `mitre_tactic_id`, as ET rules write them)
  as `threat.technique.id|tactic.id`. `event.severity`: EVE's severity is the rule's
  classification priority, 1 the most urgent; it becomes the product's incident severity as
  a number, higher being worse: 1 → 3 (high), 2 → 2 (medium), 3 → 1 (low), anything else
  (custom classifications go on from 4) → 0 (informational). Critical (4) is left to
  correlation: one signature alone does not make a critical incident.
- flow: bytes and packets to server as `source.*`, to client as `destination.*`,
  `network.bytes|packets`, `event.start|end` (UTC) and `event.duration`.
- dns (version 1: one record per query or answer; version 2: answers in one record, as a list
  or `grouped` by type; version 3's `queries`), http and tls: as Zeek's logs map them. Alerts
  that carry these objects (`metadata: yes` in suricata.yaml) get the same fields.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

from collectors.parsers import registry
from collectors.parsers.jsonl import JsonLinesParser
from collectors.parsers.network_fields import (
    set_dns_answers,
    set_endpoint,
    set_http,
    set_tls_version,
    set_traffic,
    set_transport,
)
from soc.errors import ParseError
from soc.timeutil import format_timestamp, parse_timestamp, to_micros

SEVERITIES = {1: 3, 2: 2, 3: 1}
_ACTION_TYPES = {"allowed": "allowed", "blocked": "denied"}
_KINDS = {
    "flow": (("network",), ("connection", "end")),
    "dns": (("network",), ("protocol", "info")),
    "http": (("network", "web"), ("protocol", "access")),
    "tls": (("network",), ("protocol", "connection")),
}
# What app_proto says when no application protocol was recognised.
_NO_PROTOCOL = frozenset({"failed", "unknown"})
_DNS_TYPES = {"query": "query", "answer": "answer", "request": "query", "response": "answer"}
_DNS_FLAGS = (("aa", "AA"), ("tc", "TC"), ("rd", "RD"), ("ra", "RA"))
_ADDRESS_TYPES = ("A", "AAAA")


@registry.register("suricata")
class SuricataParser:
    name = "suricata"
    timestamp_required = True
    keep_original = False

    def __init__(self) -> None:
        self._json = JsonLinesParser()

    def parse(self, raw: bytes) -> dict[str, Any]:
        eve = self._json.parse(raw)
        eve.pop("@timestamp", None)  # JsonLinesParser's copy of `timestamp`
        event_type = eve.get("event_type")
        if not isinstance(event_type, str) or not event_type:
            raise ParseError("EVE record without event_type")
        timestamp = eve.pop("timestamp", None)
        if not timestamp:
            raise ParseError(f"EVE {event_type} record without timestamp")
        event: dict[str, Any] = {"@timestamp": timestamp, "event.dataset": "suricata.eve"}
        set_endpoint(event, "source", eve.pop("src_ip", None), eve.pop("src_port", None))
        set_endpoint(event, "destination", eve.pop("dest_ip", None), eve.pop("dest_port", None))
        community = eve.pop("community_id", None)
        if community:
            event["network.community_id"] = community
        proto = eve.get("proto")
        if isinstance(proto, str):
            set_transport(proto, event)
        protocol = eve.get("app_proto")
        if isinstance(protocol, str) and protocol not in _NO_PROTOCOL:
            event["network.protocol"] = protocol
        if event_type in _KINDS:
            categories, types = _KINDS[event_type]
            event["event.category"], event["event.type"] = list(categories), list(types)
        if isinstance(alert := eve.get("alert"), dict):
            _alert(alert, event)
        if event_type == "flow" and isinstance(flow := eve.get("flow"), dict):
            # Only a flow record's src is the client: an alert's is the packet's sender.
            _flow(flow, event)
        if isinstance(dns := eve.get("dns"), dict):
            _dns(dns, event)
        if isinstance(http := eve.get("http"), dict):
            set_http(event, method=http.get("http_method"), target=http.get("url"),
                     host=http.get("hostname"), status=http.get("status"),
                     user_agent=http.get("http_user_agent"), referrer=http.get("http_refer"),
                     version=http.get("protocol"))
            if isinstance(length := http.get("length"), int):
                event["http.response.body.bytes"] = length
        if isinstance(tls := eve.get("tls"), dict):
            _tls(tls, event)
        event["suricata.eve"] = eve
        return event


def _alert(alert: dict[str, Any], event: dict[str, Any]) -> None:
    event["event.kind"] = "alert"
    event["event.category"] = ["network", "intrusion_detection"]
    action = alert.get("action")
    if isinstance(action, str):
        event["event.action"] = action
        event["event.type"] = [_ACTION_TYPES.get(action, "info")]
    else:
        event["event.type"] = ["info"]
    for key, name in (("signature_id", "rule.id"), ("signature", "rule.name"),
                      ("category", "rule.category"), ("rev", "rule.version")):
        if (value := alert.get(key)) is not None and value != "":
            event[name] = str(value)
    severity = alert.get("severity")
    if isinstance(severity, int):
        event["event.severity"] = SEVERITIES.get(severity, 0)
    metadata = alert.get("metadata")
    if isinstance(metadata, dict):
        techniques = metadata.get("mitre_technique_id")
        tactics = metadata.get("mitre_tactic_id")
        if techniques or tactics:
            event["threat.framework"] = "MITRE ATT&CK"
        if isinstance(techniques, list) and techniques:
            event["threat.technique.id"] = techniques
        if isinstance(tactics, list) and tactics:
            event["threat.tactic.id"] = tactics


def _flow(flow: dict[str, Any], event: dict[str, Any]) -> None:
    set_traffic(event, flow.get("bytes_toserver"), flow.get("bytes_toclient"),
                flow.get("pkts_toserver"), flow.get("pkts_toclient"))
    moments = []
    for key, name in (("start", "event.start"), ("end", "event.end")):
        text = flow.get(key)
        if not isinstance(text, str):
            continue
        try:
            moment = parse_timestamp(text, UTC)
        except ValueError as exc:
            raise ParseError(f"EVE flow.{key}: {exc}") from None
        event[name] = format_timestamp(moment)
        moments.append(moment)
    if len(moments) == 2:
        event["event.duration"] = (to_micros(moments[1]) - to_micros(moments[0])) * 1000


def _dns(dns: dict[str, Any], event: dict[str, Any]) -> None:
    if isinstance(kind := dns.get("type"), str) and kind in _DNS_TYPES:
        event["dns.type"] = _DNS_TYPES[kind]
    if (transaction := dns.get("id")) is not None:
        event["dns.id"] = str(transaction)
    question = dns
    if isinstance(queries := dns.get("queries"), list) and queries and isinstance(
            queries[0], dict):
        question = queries[0]  # version 3
    if isinstance(name := question.get("rrname"), str):
        event["dns.question.name"] = name
    if isinstance(rrtype := question.get("rrtype"), str):
        event["dns.question.type"] = rrtype
    if isinstance(rcode := dns.get("rcode"), str):
        event["dns.response_code"] = rcode
    flags = [flag for key, flag in _DNS_FLAGS if dns.get(key) is True]
    if flags:
        event["dns.header_flags"] = flags
    answers = dns.get("answers")
    if isinstance(answers, list):
        records = [answer for answer in answers if isinstance(answer, dict)]
        set_dns_answers(event, [answer.get("rdata") for answer in records],
                        [answer.get("ttl") for answer in records])
        event["dns.answers.name"] = [answer.get("rrname") for answer in records]
        event["dns.answers.type"] = [answer.get("rrtype") for answer in records]
    elif "rdata" in dns:
        # Version 1 writes each answer as a record of its own.
        set_dns_answers(event, [dns["rdata"]], [dns["ttl"]] if "ttl" in dns else None)
        for key, field in (("rrname", "dns.answers.name"), ("rrtype", "dns.answers.type")):
            if isinstance(value := dns.get(key), str):
                event[field] = [value]
    elif isinstance(grouped := dns.get("grouped"), dict):
        # Version 2 with `formats: [grouped]`: the data by type, no names or TTLs.
        addresses = [data for kind in _ADDRESS_TYPES
                     if isinstance(values := grouped.get(kind), list) for data in values]
        if addresses:
            set_dns_answers(event, addresses, None)


def _tls(tls: dict[str, Any], event: dict[str, Any]) -> None:
    set_tls_version(event, tls.get("version"))
    for key, name in (("sni", "tls.client.server_name"), ("subject", "tls.server.subject"),
                      ("issuerdn", "tls.server.issuer")):
        if isinstance(value := tls.get(key), str) and value:
            event[name] = value
    for key, name in (("ja3", "tls.client.ja3"), ("ja3s", "tls.server.ja3s")):
        if isinstance(fingerprint := tls.get(key), dict) and fingerprint.get("hash"):
            event[name] = fingerprint["hash"]
    if isinstance(sha1 := tls.get("fingerprint"), str) and sha1:
        # EVE writes the certificate's SHA-1 as aa:bb:…; ECS hashes are bare hex (upper case in
        # its examples, as Filebeat writes them).
        event["tls.server.hash.sha1"] = sha1.replace(":", "").upper()
