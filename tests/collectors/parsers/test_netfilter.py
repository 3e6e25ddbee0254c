"""collectors/parsers/netfilter.py: iptables/nftables/ufw packet logs and the "iptables" format."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from collectors.parsers.netfilter import parse_netfilter
from soc.errors import ParseError
from tests.collectors.parsers.test_syslog import ingest, parse

MAC = "MAC=00:11:22:33:44:55:66:77:88:99:aa:bb:08:00"
ETHERNET = {"destination.mac": "00-11-22-33-44-55", "source.mac": "66-77-88-99-AA-BB",
            "iptables.ether_type": 2048}
UFW_BLOCK = (f"[12345.678901] [UFW BLOCK] IN=eth0 OUT= {MAC} SRC=203.0.113.7 DST=10.45.1.10 "
             "LEN=60 TOS=0x00 PREC=0x00 TTL=51 ID=54321 DF PROTO=TCP SPT=51515 DPT=22 "
             "WINDOW=29200 RES=0x00 SYN URGP=0")


def packet(source: str, destination: str, **more: Any) -> dict[str, Any]:
    return {"event.dataset": "iptables.log", "event.category": ["network"],
            "source.ip": source, "destination.ip": destination,
            "related.ip": [source, destination]} | more


@pytest.mark.parametrize(("message", "expected"), [
    (UFW_BLOCK, packet(
        "203.0.113.7", "10.45.1.10", **ETHERNET, **{
            "event.type": ["connection", "denied"], "event.action": "ufw-block",
            "rule.name": "UFW BLOCK", "observer.ingress.interface.name": "eth0",
            "source.port": 51515, "destination.port": 22, "network.type": "ipv4",
            "network.transport": "tcp", "network.iana_number": "6", "iptables.length": 60,
            "iptables.ttl": 51, "iptables.id": 54321, "iptables.tos": 0,
            "iptables.precedence_bits": 0, "iptables.fragment_flags": ["DF"],
            "iptables.tcp.window": 29200, "iptables.tcp.reserved_bits": 0,
            "iptables.tcp.flags": ["SYN"]})),
    # ICMP echo: the second ID is ICMP's, not the IP header's.
    (f"[UFW BLOCK] IN=eth0 OUT= {MAC} SRC=198.51.100.23 DST=10.45.1.10 LEN=84 TOS=0x00 "
     "PREC=0x00 TTL=56 ID=0 DF PROTO=ICMP TYPE=8 CODE=0 ID=1 SEQ=2", packet(
        "198.51.100.23", "10.45.1.10", **ETHERNET, **{
            "event.type": ["connection", "denied"], "event.action": "ufw-block",
            "rule.name": "UFW BLOCK", "observer.ingress.interface.name": "eth0",
            "network.type": "ipv4", "network.transport": "icmp", "network.iana_number": "1",
            "iptables.length": 84, "iptables.ttl": 56, "iptables.id": 0, "iptables.tos": 0,
            "iptables.precedence_bits": 0, "iptables.fragment_flags": ["DF"],
            "iptables.icmp.type": 8, "iptables.icmp.code": 0, "iptables.icmp.id": 1,
            "iptables.icmp.seq": 2})),
    # UDP: the second LEN is UDP's.
    (f"DROP-IN: IN=eth1 OUT= {MAC} SRC=10.45.2.30 DST=10.45.1.53 LEN=72 TOS=0x00 PREC=0x00 "
     "TTL=63 ID=4242 PROTO=UDP SPT=53122 DPT=53 LEN=52", packet(
        "10.45.2.30", "10.45.1.53", **ETHERNET, **{
            "event.type": ["connection", "denied"], "event.action": "drop-in",
            "rule.name": "DROP-IN", "observer.ingress.interface.name": "eth1",
            "source.port": 53122, "destination.port": 53, "network.type": "ipv4",
            "network.transport": "udp", "network.iana_number": "17", "iptables.length": 72,
            "iptables.ttl": 63, "iptables.id": 4242, "iptables.tos": 0,
            "iptables.precedence_bits": 0, "iptables.udp.length": 52})),
    ("nft-drop IN=eth0 OUT= MAC=33:33:00:00:00:fb:52:54:00:12:34:56:86:dd SRC=2001:db8::1 "
     "DST=ff02::fb LEN=88 TC=0 HOPLIMIT=255 FLOWLBL=147601 PROTO=UDP SPT=5353 DPT=5353 LEN=48",
     packet("2001:db8::1", "ff02::fb", **{
         "event.type": ["connection", "denied"], "event.action": "nft-drop",
         "rule.name": "nft-drop", "observer.ingress.interface.name": "eth0",
         "destination.mac": "33-33-00-00-00-FB", "source.mac": "52-54-00-12-34-56",
         "iptables.ether_type": 0x86DD, "source.port": 5353, "destination.port": 5353,
         "network.type": "ipv6", "network.transport": "udp", "network.iana_number": "17",
         "iptables.length": 88, "iptables.ttl": 255, "iptables.tos": 0,
         "iptables.flow_label": 147601, "iptables.udp.length": 48})),
    # Forwarded: in on one interface, out on another.
    (f"FWD ACCEPT: IN=eth1 OUT=eth0 {MAC} SRC=10.45.3.12 DST=198.51.100.80 LEN=52 TOS=0x00 "
     "PREC=0x00 TTL=127 ID=1234 DF PROTO=TCP SPT=50000 DPT=443 WINDOW=64240 RES=0x00 ACK FIN "
     "URGP=0", packet(
        "10.45.3.12", "198.51.100.80", **ETHERNET, **{
            "event.type": ["connection", "allowed"], "event.action": "fwd-accept",
            "rule.name": "FWD ACCEPT", "observer.ingress.interface.name": "eth1",
            "observer.egress.interface.name": "eth0", "source.port": 50000,
            "destination.port": 443, "network.type": "ipv4", "network.transport": "tcp",
            "network.iana_number": "6", "iptables.length": 52, "iptables.ttl": 127,
            "iptables.id": 1234, "iptables.tos": 0, "iptables.precedence_bits": 0,
            "iptables.fragment_flags": ["DF"], "iptables.tcp.window": 64240,
            "iptables.tcp.reserved_bits": 0, "iptables.tcp.flags": ["ACK", "FIN"]})),
    # No prefix, OUTPUT chain (no MAC, no IN), --log-uid.
    ("IN= OUT=eth0 SRC=10.45.1.10 DST=8.8.8.8 LEN=40 TOS=0x10 PREC=0x00 TTL=64 ID=9 PROTO=TCP "
     "SPT=40000 DPT=443 WINDOW=0 RES=0x00 RST URGP=0 UID=0 GID=0", packet(
        "10.45.1.10", "8.8.8.8", **{
            "event.type": ["connection"], "observer.egress.interface.name": "eth0",
            "source.port": 40000, "destination.port": 443, "network.type": "ipv4",
            "network.transport": "tcp", "network.iana_number": "6", "iptables.length": 40,
            "iptables.ttl": 64, "iptables.id": 9, "iptables.tos": 16,
            "iptables.precedence_bits": 0, "iptables.tcp.window": 0,
            "iptables.tcp.reserved_bits": 0, "iptables.tcp.flags": ["RST"]})),
])
def test_packets(message: str, expected: dict[str, Any]) -> None:
    assert parse_netfilter(message) == expected


def test_an_icmp_error_keeps_the_quoted_packet_out() -> None:
    fields = parse_netfilter(
        "[UFW REJECT] IN=eth0 OUT= SRC=10.45.1.1 DST=10.45.2.30 LEN=96 TOS=0x00 PREC=0xC0 TTL=64 "
        "ID=100 PROTO=ICMP TYPE=3 CODE=3 [SRC=10.45.2.30 DST=10.45.1.1 LEN=68 TOS=0x00 "
        "PREC=0x00 TTL=63 ID=4242 PROTO=UDP SPT=53122 DPT=33434 LEN=48 ]")
    assert fields is not None
    assert (fields["source.ip"], fields["destination.ip"]) == ("10.45.1.1", "10.45.2.30")
    assert (fields["iptables.icmp.type"], fields["iptables.icmp.code"]) == (3, 3)
    assert (fields["iptables.length"], fields["iptables.precedence_bits"]) == (96, 0xC0)
    assert "source.port" not in fields and "iptables.udp.length" not in fields
    assert fields["event.type"] == ["connection", "denied"]


@pytest.mark.parametrize(("protocol", "transport", "number"), [
    ("ICMPv6 TYPE=128 CODE=0 ID=7 SEQ=1", "ipv6-icmp", "58"),
    ("47", "gre", "47"),
    ("2", None, "2"),
    ("SCTP SPT=2905 DPT=2905", "sctp", "132"),
])
def test_protocols(protocol: str, transport: str | None, number: str) -> None:
    fields = parse_netfilter(f"DROP:IN=eth0 OUT= SRC=10.45.0.1 DST=10.45.0.2 LEN=32 "
                             f"PROTO={protocol}")
    assert fields is not None and fields["rule.name"] == "DROP"
    assert fields.get("network.transport") == transport
    assert fields["network.iana_number"] == number


@pytest.mark.parametrize("message", [
    "[    5.123456] EXT4-fs (sda1): mounted filesystem with ordered data mode",
    "device eth0 entered promiscuous mode",
    "OUT=eth0 DST=10.0.0.1",
    "",
])
def test_other_kernel_messages_are_not_packets(message: str) -> None:
    assert parse_netfilter(message) is None


def test_a_truncated_line_keeps_what_it_has() -> None:
    fields = parse_netfilter("[UFW BLOCK] IN=eth0 OUT= MAC=00:11:22 SRC=203.0.113.7 DST=10.45.")
    assert fields == {
        "event.dataset": "iptables.log", "event.category": ["network"],
        "event.type": ["connection", "denied"], "event.action": "ufw-block",
        "rule.name": "UFW BLOCK", "observer.ingress.interface.name": "eth0",
        "source.ip": "203.0.113.7", "related.ip": ["203.0.113.7"], "network.type": "ipv4"}


def test_kern_log_lines_and_bare_kernel_messages() -> None:
    fields = parse(b"<4>Nov 22 10:00:00 fw1 kernel: " + UFW_BLOCK.encode(), "iptables")
    assert fields["@timestamp"] == "2026-11-22T10:00:00" and fields["host.name"] == "fw1"
    assert fields["log.syslog.severity.name"] == "Warning"
    assert fields["event.dataset"] == "iptables.log" and fields["source.port"] == 51515
    bare = parse(UFW_BLOCK.encode(), "iptables")
    assert bare == parse_netfilter(UFW_BLOCK)
    with pytest.raises(ParseError) as caught:
        parse(b"[12345.678901] usb 1-1: new high-speed USB device", "iptables")
    assert str(caught.value) == (
        "no syslog header: expected <PRI>, a time such as 'Oct 11 22:14:15' or an ISO 8601 "
        "time at the start, got '[12345.678901] usb 1-1: new high'; nor is it a bare netfilter "
        "message (IN=… SRC=…)")
    with pytest.raises(ParseError, match=r"^PRI <999> is out of range"):
        parse(b"<999>Nov 22 10:00:00 fw1 kernel: " + UFW_BLOCK.encode(), "iptables")


def test_kern_log_end_to_end(tmp_path: Path) -> None:
    path = tmp_path / "kern.log"
    path.write_bytes(
        b"Nov 22 09:58:00 fw1 kernel: " + UFW_BLOCK.encode() + b"\n"
        b"Nov 22 09:58:01 fw1 kernel: [12346.000001] e1000e: eth0 NIC Link is Up\n"
        b"2026-11-22T09:58:02.125+07:00 fw1 kernel: DROP-IN: IN=eth0 OUT= SRC=2001:db8::7 "
        b"DST=2001:db8::1 LEN=80 TC=0 HOPLIMIT=64 FLOWLBL=0 PROTO=TCP SPT=40000 DPT=23 "
        b"WINDOW=64800 RES=0x00 SYN URGP=0\n"
        b"[12347.5] nft-accept IN=eth0 OUT= SRC=10.45.1.5 DST=10.45.1.10 LEN=60 PROTO=TCP "
        b"SPT=50000 DPT=443 SYN\n"
        b"\x1f\x00\xff garbage\n")
    events, errors = ingest(path, "iptables")
    assert [(e["event.dataset"], e.get("source.ip"), e.get("destination.port"))
            for e in events] == [
        ("iptables.log", "203.0.113.7", 22),
        ("syslog", None, None),
        ("iptables.log", "2001:db8::7", 23),
        ("iptables.log", "10.45.1.5", 443),
    ]
    assert [e["@timestamp"] for e in events[:3]] == [
        "2026-11-22T02:58:00.000000Z", "2026-11-22T02:58:01.000000Z",
        "2026-11-22T02:58:02.125000Z"]
    assert events[3]["event.type"] == ["connection", "allowed"]  # timed when read
    assert events[0]["source.mac"] == "66-77-88-99-AA-BB"
    assert events[2]["network.type"] == "ipv6" and events[2]["iptables.tcp.flags"] == ["SYN"]
    assert errors == [
        "no syslog header: expected <PRI>, a time such as 'Oct 11 22:14:15' or an ISO 8601 "
        "time at the start, got '\\x1f\\x00\\\\xff garbage'; nor is it a bare netfilter message "
        "(IN=… SRC=…)"]
