"""Netfilter packet logs (iptables and nftables `log` rules, ufw) to ECS, and the "iptables" line
format: kern.log lines (syslog header and kernel message) or bare kernel messages (dmesg).

Fields ECS lacks go under `iptables.*`, the names of Filebeat's iptables module, whose dataset
name (`iptables.log`) these events share: LEN is the length of this one packet, so it is
`iptables.length`, not `network.bytes` (a flow's total); TTL and HOPLIMIT are
`iptables.ttl`; the TCP flags seen (SYN, ACK, FIN, RST…) are the list `iptables.tcp.flags`
(ECS has no TCP-flags field); ICMP's type, code, id and sequence are `iptables.icmp.*`.
The log prefix names the rule that logged: `rule.name`, and as a slug, `event.action`.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from collectors.parsers import registry
from collectors.parsers.syslog import SyslogParser, add_endpoint, key_values, programs
from soc.errors import ParseError

DATASET = "iptables.log"

# PROTO as the kernel prints it → (ECS network.transport, IANA protocol number).
TRANSPORTS = {"TCP": ("tcp", "6"), "UDP": ("udp", "17"), "ICMP": ("icmp", "1"),
              "ICMPV6": ("ipv6-icmp", "58"), "UDPLITE": ("udplite", "136"),
              "SCTP": ("sctp", "132"), "GRE": ("gre", "47"), "ESP": ("esp", "50"),
              "AH": ("ah", "51")}
_BY_NUMBER = {number: name for name, number in TRANSPORTS.values()}
_DENIED = ("drop", "block", "reject", "deny")
_ALLOWED = ("accept", "allow")
_TCP_FLAGS = frozenset({"CWR", "ECE", "URG", "ACK", "PSH", "RST", "SYN", "FIN"})
_FRAGMENT_FLAGS = frozenset({"CE", "DF", "MF"})
# Numeric fields of the IP part and of the part after PROTO (TCP, UDP, ICMP).
_IP_NUMBERS = (("LEN", "iptables.length"), ("TTL", "iptables.ttl"),
               ("HOPLIMIT", "iptables.ttl"), ("ID", "iptables.id"), ("TOS", "iptables.tos"),
               ("TC", "iptables.tos"), ("PREC", "iptables.precedence_bits"),
               ("FLOWLBL", "iptables.flow_label"))
_L4_NUMBERS = (("WINDOW", "iptables.tcp.window"), ("RES", "iptables.tcp.reserved_bits"),
               ("LEN", "iptables.udp.length"), ("TYPE", "iptables.icmp.type"),
               ("CODE", "iptables.icmp.code"), ("ID", "iptables.icmp.id"),
               ("SEQ", "iptables.icmp.seq"))
_PRINTK_TIME = re.compile(r"\[ *\d+\.\d+\] *")  # seconds since boot: no use as a time
_NOT_SLUG = re.compile(r"[^a-z0-9]+")
_ETHERNET_HEADER = re.compile(r"(?:[0-9A-F]{2}:){13}[0-9A-F]{2}")


@programs.register("kernel")
def parse_netfilter(message: str) -> dict[str, Any] | None:
    """The ECS fields of a netfilter log line; None for other kernel messages."""
    start = message.find("IN=")
    if start < 0 or "SRC=" not in message:
        return None
    prefix = message[:start]
    uptime = _PRINTK_TIME.match(prefix)
    rule, action, types = _verdict(prefix if uptime is None else prefix[uptime.end():])
    fields: dict[str, Any] = {"event.dataset": DATASET, "event.category": ["network"],
                              "event.type": list(types)}
    if rule:
        fields["rule.name"] = rule
        fields["event.action"] = action
    # An ICMP error quotes the packet it answers in brackets ("[SRC=… DST=…]"): not this one.
    body = message[start:].partition(" [")[0]
    head, _, tail = body.partition(" PROTO=")
    protocol, _, transport_text = tail.partition(" ")
    ip = key_values(head)
    transport = key_values(transport_text)
    if ip.get("IN"):
        fields["observer.ingress.interface.name"] = ip["IN"]
    if ip.get("OUT"):
        fields["observer.egress.interface.name"] = ip["OUT"]
    # The kernel prints addresses only: anything else is a cut line, not a host name.
    source = ip.get("SRC", "")
    add_endpoint(fields, "source", source, transport.get("SPT"), names=False)
    add_endpoint(fields, "destination", ip.get("DST", ""), transport.get("DPT"), names=False)
    fields["network.type"] = "ipv6" if ":" in source else "ipv4"
    _add_protocol(fields, protocol)
    _add_macs(fields, ip.get("MAC", ""))
    _add_numbers(fields, ip, _IP_NUMBERS)
    _add_numbers(fields, transport, _L4_NUMBERS)
    fragment = [word for word in head.split() if word in _FRAGMENT_FLAGS]
    if fragment:
        fields["iptables.fragment_flags"] = fragment
    flags = [word for word in transport_text.split() if word in _TCP_FLAGS]
    if flags:
        fields["iptables.tcp.flags"] = flags
    return fields


@lru_cache(maxsize=1024)
def _verdict(prefix: str) -> tuple[str, str, tuple[str, ...]]:
    """The rule name, action and event types a log prefix says (a firewall logs few)."""
    rule = " ".join(prefix.replace("[", " ").replace("]", " ").split()).strip(":")
    lowered = rule.lower()
    if any(word in lowered for word in _DENIED):
        types: tuple[str, ...] = ("connection", "denied")
    elif any(word in lowered for word in _ALLOWED):
        types = ("connection", "allowed")
    else:
        types = ("connection",)
    return rule, _NOT_SLUG.sub("-", lowered).strip("-"), types


def _add_protocol(fields: dict[str, Any], protocol: str) -> None:
    known = TRANSPORTS.get(protocol.upper())
    if known is not None:
        fields["network.transport"], fields["network.iana_number"] = known
    elif protocol.isdigit():
        # The kernel prints a number for protocols it has no name for (IGMP is 2).
        fields["network.iana_number"] = protocol
        if protocol in _BY_NUMBER:
            fields["network.transport"] = _BY_NUMBER[protocol]


def _add_macs(fields: dict[str, Any], mac: str) -> None:
    link = _link_addresses(mac)
    if link is not None:
        fields["destination.mac"], fields["source.mac"], fields["iptables.ether_type"] = link


@lru_cache(maxsize=4096)
def _link_addresses(mac: str) -> tuple[str, str, int] | None:
    # MAC= is the link-layer header: destination (6 octets), source (6), EtherType (2). Other
    # link types print other lengths, which say nothing certain about addresses.
    mac = mac.upper()
    if not _ETHERNET_HEADER.fullmatch(mac):
        return None
    octets = mac.split(":")
    return "-".join(octets[:6]), "-".join(octets[6:12]), int(octets[12] + octets[13], 16)


def _add_numbers(fields: dict[str, Any], values: dict[str, str],
                 names: tuple[tuple[str, str], ...]) -> None:
    for key, name in names:
        text = values.get(key)
        if text is None or name in fields:
            continue
        if text.isdigit():
            fields[name] = int(text)
        elif text.startswith("0x"):
            try:
                fields[name] = int(text, 16)
            except ValueError:
                continue


@registry.register("iptables")
class IptablesLogParser(SyslogParser):
    """kern.log lines, or kernel messages with no syslog header (dmesg, journalctl -k -o cat):
    those get the receive time."""

    name = "iptables"

    def parse(self, raw: bytes) -> dict[str, Any]:
        try:
            return super().parse(raw)
        except ParseError as exc:
            # A line with a PRI is syslog, and a broken one: only headerless lines are bare.
            if raw.startswith(b"<"):
                raise
            fields = parse_netfilter(raw.decode("utf-8", "backslashreplace"))
            if fields is None:
                raise ParseError(f"{exc}; nor is it a bare netfilter message (IN=… SRC=…)"
                                 ) from None
            return fields
