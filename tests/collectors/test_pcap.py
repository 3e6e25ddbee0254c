"""collectors/pcap.py: captures written in the test (scapy, or struct for what scapy will not
write) → flows and application events through read_capture and the EventNormaliser; damaged
files; the flow table's timeouts and bounds; live capture inside a network namespace."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import random
import shutil
import struct
import subprocess
import sys
import textwrap
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from scapy.layers.dns import DNS, DNSQR, DNSRR
from scapy.layers.inet import ICMP, IP, TCP, UDP, fragment
from scapy.layers.inet6 import IPv6, IPv6ExtHdrFragment, IPv6ExtHdrHopByHop, fragment6
from scapy.layers.l2 import CookedLinux, CookedLinuxV2, Dot1AD, Dot1Q, Ether, Loopback
from scapy.layers.tls.extensions import ServerName, TLS_Ext_ServerName
from scapy.layers.tls.handshake import TLSClientHello
from scapy.layers.tls.record import TLS
from scapy.packet import Packet
from scapy.utils import PcapNgWriter, wrpcap

from collectors.pcap import CaptureFileError, CaptureStats, is_capture, read_capture
from soc.events import EventNormaliser, RawRecord, file_event_id
from soc.inventory import Inventory
from soc.pipeline import Pipeline
from soc.store import open_store
from soc.timeutil import load_zone, parse_duration, parse_timestamp

T0 = Decimal(1795161600)  # 2026-11-20T08:00:00Z
NORMALISER = EventNormaliser(load_zone("UTC"), parse_duration("1d"))
CLIENT, SERVER = "128.232.110.120", "66.35.250.204"  # the Community ID spec's TCP example


def ether() -> Packet:
    # Addresses given: scapy would otherwise look the destination up on this host's network.
    return Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")


def timed(packets: list[Packet], start: Decimal = T0, step: Decimal = Decimal("0.01")
          ) -> list[Packet]:
    for n, packet in enumerate(packets):
        packet.time = start + n * step
    return packets


def write(path: Path, packets: list[Packet], linktype: int | None = None) -> Path:
    wrpcap(str(path), packets, linktype=linktype)
    return path


def read(path: Path, **options: Any) -> tuple[list[dict[str, Any]], list[RawRecord],
                                               CaptureStats]:
    """(normalised events, dead letters, stats) of a capture."""
    stats = CaptureStats()
    records = list(read_capture(path, 1 << 16, observer="test", stats=stats, **options))
    events = [NORMALISER.normalise(r) for r in records if r.error is None]
    return events, [r for r in records if r.error is not None], stats


def flows(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e["event.dataset"] == "network.flow"]


def offsets(packets: list[Packet]) -> list[int]:
    """Where each packet's record starts in a pcap file of them."""
    places, offset = [], 24
    for packet in packets:
        places.append(offset)
        offset += 16 + len(bytes(packet))
    return places


def tcp_session(client: str, server: str, sport: int, dport: int, request: bytes,
                response: bytes) -> list[Packet]:
    """Handshake, one request and one response, FIN both ways, the last ACK."""
    def c(flags: str, data: bytes = b"") -> Packet:
        return ether() / IP(src=client, dst=server) / TCP(sport=sport, dport=dport,
                                                          flags=flags) / data

    def s(flags: str, data: bytes = b"") -> Packet:
        return ether() / IP(src=server, dst=client) / TCP(sport=dport, dport=sport,
                                                          flags=flags) / data

    return [c("S"), s("SA"), c("A"), c("PA", request), s("PA", response), c("FA"), s("FA"),
            c("A")]


# --- flows and application events from scapy captures -----------------------------------------

SQLI = (b"GET /dichvucong/tracuu.php?hoso=1%27%20OR%20%271%27=%271--%20 HTTP/1.1\r\n"
        b"Host: dichvucong.quangninh.gov.vn\r\nUser-Agent: sqlmap/1.8\r\n\r\n")
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"


def test_a_tcp_connection_with_an_http_request_becomes_a_flow_and_an_http_event(
        tmp_path: Path) -> None:
    packets = timed(tcp_session(CLIENT, SERVER, 34855, 80, SQLI, RESPONSE))
    path = write(tmp_path / "web.pcap", packets)
    events, dead, stats = read(path)
    assert dead == []
    http, flow = events
    source = next(read_capture(path, 1 << 16)).source
    assert flow == {
        "@timestamp": "2026-11-20T08:00:00.000000Z", "event.start": "2026-11-20T08:00:00.000000Z",
        "event.end": "2026-11-20T08:00:00.070000Z", "event.duration": 70_000_000,
        "event.kind": "event", "event.category": ["network"], "event.type": ["connection", "end"],
        "event.dataset": "network.flow", "flow.end_reason": "fin",
        "source.ip": CLIENT, "source.port": 34855, "destination.ip": SERVER,
        "destination.port": 80, "source.packets": 5, "source.bytes": 4 * 40 + 40 + len(SQLI),
        "destination.packets": 3, "destination.bytes": 3 * 40 + len(RESPONSE),
        "network.packets": 8, "network.bytes": 8 * 40 + len(SQLI) + len(RESPONSE),
        "network.transport": "tcp", "network.type": "ipv4", "network.iana_number": "6",
        "network.community_id": "1:LQU9qZlK+B5F3KDmev6m5PMibrg=",
        "flow.tcp_flags": ["FIN", "SYN", "PSH", "ACK"],
        "flow.source_tcp_flags": ["FIN", "SYN", "PSH", "ACK"],
        "flow.destination_tcp_flags": ["FIN", "SYN", "PSH", "ACK"],
        "log.offset": 24, "log.file.path": str(path.resolve()), "observer.name": "test",
        "observer.type": "file", "ecs.version": flow["ecs.version"],
        "event.id": file_event_id(source, 24, parse_timestamp(flow["@timestamp"], NORMALISER.zone)),
        "event.ingested": flow["event.ingested"]}
    request_offset = offsets(packets)[3]
    assert {k: v for k, v in http.items() if k not in ("event.ingested", "ecs.version")} == {
        "@timestamp": "2026-11-20T08:00:00.030000Z", "event.kind": "event",
        "event.category": ["network", "web"], "event.type": ["access"],
        "event.dataset": "network.http", "network.protocol": "http",
        "source.ip": CLIENT, "source.port": 34855, "destination.ip": SERVER,
        "destination.port": 80, "network.transport": "tcp", "network.type": "ipv4",
        "network.iana_number": "6", "network.community_id": "1:LQU9qZlK+B5F3KDmev6m5PMibrg=",
        "http.request.method": "GET", "http.version": "1.1",
        "url.original": "/dichvucong/tracuu.php?hoso=1%27%20OR%20%271%27=%271--%20",
        "url.path": "/dichvucong/tracuu.php", "url.query": "hoso=1%27%20OR%20%271%27=%271--%20",
        "url.domain": "dichvucong.quangninh.gov.vn", "user_agent.original": "sqlmap/1.8",
        "log.offset": request_offset, "log.file.path": str(path.resolve()),
        "observer.name": "test", "observer.type": "file",
        "event.id": file_event_id(source, request_offset + 1,
                                  parse_timestamp(http["@timestamp"], NORMALISER.zone))}
    assert (stats.packets, stats.flows, stats.app_events) == (8, 1, 1)


def test_a_syn_scan_of_1000_ports_makes_1000_flows_answered_by_rst(tmp_path: Path) -> None:
    packets = []
    for port in range(1, 1001):
        packets += [ether() / IP(src="198.51.100.7", dst="10.10.0.5") / TCP(sport=40000,
                                                                            dport=port,
                                                                            flags="S"),
                    ether() / IP(src="10.10.0.5", dst="198.51.100.7") / TCP(sport=port,
                                                                            dport=40000,
                                                                            flags="RA")]
    events, dead, _ = read(write(tmp_path / "scan.pcap", timed(packets, step=Decimal("0.0005"))))
    scan = flows(events)
    assert dead == [] and len(scan) == 1000
    assert sorted(f["destination.port"] for f in scan) == list(range(1, 1001))
    assert {(f["source.ip"], f["source.port"], f["destination.ip"], f["flow.end_reason"],
             f["source.packets"], f["destination.packets"], f["network.bytes"],
             tuple(f["flow.source_tcp_flags"]), tuple(f["flow.destination_tcp_flags"]))
            for f in scan} == {("198.51.100.7", 40000, "10.10.0.5", "rst", 1, 1, 80, ("SYN",),
                                ("RST", "ACK"))}
    assert len({f["network.community_id"] for f in scan}) == 1000
    assert len({f["event.id"] for f in scan}) == 1000


def test_an_ssh_brute_force_is_many_short_connections(tmp_path: Path) -> None:
    packets = []
    for n in range(40):
        session = tcp_session("203.0.113.66", "10.10.0.22", 50000 + n, 22,
                              b"SSH-2.0-libssh_0.9.6\r\n", b"SSH-2.0-OpenSSH_9.6\r\n")
        packets += timed(session, start=T0 + 2 * n, step=Decimal("0.02"))
    events, _, stats = read(write(tmp_path / "ssh.pcap", packets))
    attempts = flows(events)
    assert len(attempts) == 40 and stats.app_events == 0
    assert [f["source.port"] for f in attempts] == list(range(50000, 50040))
    assert Counter((f["source.ip"], f["destination.ip"], f["destination.port"],
                    f["flow.end_reason"], f["source.packets"], f["destination.packets"],
                    f["event.duration"]) for f in attempts) == {
        ("203.0.113.66", "10.10.0.22", 22, "fin", 5, 3, 140_000_000): 40}
    assert attempts[1]["@timestamp"] == "2026-11-20T08:00:02.000000Z"


def test_dns_queries_with_long_random_subdomains_and_their_answers(tmp_path: Path) -> None:
    rng = random.Random(11)
    packets, names = [], []
    for n in range(25):
        name = "".join(rng.choices("abcdefghijklmnopqrstuvwxyz0123456789", k=48)) + ".t.example.vn"
        names.append(name)
        sport = 30000 + n
        query = IP(src="10.10.0.50", dst="10.10.0.53") / UDP(sport=sport, dport=53) / DNS(
            id=n, rd=1, qd=DNSQR(qname=name, qtype="A"))
        answer = IP(src="10.10.0.53", dst="10.10.0.50") / UDP(sport=53, dport=sport) / DNS(
            id=n, qr=1, rd=1, ra=1, qd=DNSQR(qname=name, qtype="A"),
            an=[DNSRR(rrname=name, ttl=30, rdata=f"192.0.2.{n + 1}")])
        packets += timed([ether() / query, ether() / answer], start=T0 + n, step=Decimal("0.004"))
    events, _, stats = read(write(tmp_path / "dns.pcap", packets))
    dns = [e for e in events if e["event.dataset"] == "network.dns"]
    assert [(e["dns.type"], e["dns.question.name"], e["dns.id"]) for e in dns] == [
        (kind, name, str(n)) for n, name in enumerate(names) for kind in ("query", "answer")]
    assert [e["dns.resolved_ip"] for e in dns if e["dns.type"] == "answer"] == [
        [f"192.0.2.{n + 1}"] for n in range(25)]
    first = dns[1]
    assert (first["source.ip"], first["source.port"], first["destination.ip"],
            first["destination.port"], first["network.protocol"], first["event.type"]) == (
        "10.10.0.50", 30000, "10.10.0.53", 53, "dns", ["protocol"])  # the flow's initiator
    assert first["@timestamp"] == "2026-11-20T08:00:00.004000Z"
    assert Counter((f["flow.end_reason"], f["source.packets"], f["destination.packets"])
                   for f in flows(events)) == {("end-of-capture", 1, 1): 25}
    assert stats.app_events == 50
    assert len({e["event.id"] for e in events}) == len(events) == 75  # a query: flow and event


def test_periodic_beacons_are_closed_by_the_idle_timeout(tmp_path: Path) -> None:
    rng = random.Random(3)
    packets, moments = [], []
    for n in range(10):
        moment = T0 + 60 * n + Decimal(rng.randint(-5000, 5000)) / 1000
        moments.append(moment)
        beacon = ether() / IP(src="10.10.0.7", dst="198.51.100.20") / UDP(
            sport=51000, dport=8080) / b"beacon"
        beacon.time = moment
        packets.append(beacon)
    events, _, _ = read(write(tmp_path / "beacon.pcap", packets), idle_timeout=30)
    beacons = flows(events)
    assert [f["flow.end_reason"] for f in beacons] == ["idle"] * 9 + ["end-of-capture"]
    assert [parse_timestamp(f["@timestamp"], NORMALISER.zone).timestamp() for f in beacons] == [
        float(m) for m in moments]
    assert {(f["source.packets"], f["source.bytes"], f["destination.packets"]) for f in
            beacons} == {(1, 34, 0)}


def test_a_tls_client_hello_gives_the_server_name_and_fingerprints(tmp_path: Path) -> None:
    hello = bytes(TLS(msg=[TLSClientHello(ciphers=[0x1301, 0xC02F], ext=[
        TLS_Ext_ServerName(servernames=[ServerName(servername=b"mail.quangninh.gov.vn")])])]))
    session = tcp_session("10.10.0.9", "203.0.113.25", 41000, 443, hello, b"\x16\x03\x03\x00\x02"
                          b"\x02\x00")
    events, _, _ = read(write(tmp_path / "tls.pcap", timed(session)))
    (tls,) = [e for e in events if e["event.dataset"] == "network.tls"]
    # TLS 1.2, SNI, 2 ciphers, 1 extension, no ALPN; no extension but SNI left to hash.
    ja4 = f"t12d020100_{hashlib.sha256(b'1301,c02f').hexdigest()[:12]}_000000000000"
    assert {k: v for k, v in tls.items() if k.startswith(("tls.", "network.protocol"))} == {
        "tls.client.server_name": "mail.quangninh.gov.vn", "tls.version": "1.2",
        "tls.version_protocol": "tls", "network.protocol": "tls", "tls.client.ja4": ja4,
        "tls.client.ja3": hashlib.md5(b"771,4865-49199,0,,").hexdigest()}
    assert (tls["source.ip"], tls["destination.port"]) == ("10.10.0.9", 443)


def test_ipv6_with_extension_headers_and_fragments(tmp_path: Path) -> None:
    client, server = "2001:db8:10::5", "2001:db8:20::80"
    syn = ether() / IPv6(src=client, dst=server) / IPv6ExtHdrHopByHop() / TCP(
        sport=43000, dport=443, flags="S")
    answer = ether() / IPv6(src=server, dst=client) / TCP(sport=443, dport=43000, flags="SA")
    datagram = IPv6(src=client, dst=server) / IPv6ExtHdrFragment(id=99) / UDP(
        sport=5000, dport=5001) / (b"v" * 2400)
    pieces = [ether() / piece for piece in fragment6(datagram, 1280)]
    events, dead, stats = read(write(tmp_path / "v6.pcap", timed([syn, answer, *pieces])))
    tcp, udp = flows(events)
    assert dead == []
    assert (tcp["source.ip"], tcp["source.port"], tcp["destination.port"], tcp["network.type"],
            tcp["source.bytes"], tcp["destination.bytes"]) == (
        client, 43000, 443, "ipv6", 40 + 8 + 20, 40 + 20)
    assert (udp["source.port"], udp["destination.port"], udp["source.packets"],
            udp["source.bytes"]) == (5000, 5001, len(pieces),
                                     sum(len(bytes(p[IPv6])) for p in pieces))
    assert stats.fragments == len(pieces) - 1 and stats.unmatched_fragments == 0


def test_vlan_and_qinq_tags_keep_flows_apart(tmp_path: Path) -> None:
    def datagram() -> Packet:
        return IP(src="10.20.0.1", dst="10.20.0.2") / UDP(sport=9000, dport=9001) / b"x"

    packets = timed([ether() / datagram(), ether() / Dot1Q(vlan=100) / datagram(),
                     ether() / Dot1AD(vlan=200) / Dot1Q(vlan=300) / datagram()])
    events, _, _ = read(write(tmp_path / "vlan.pcap", packets))
    assert [(f.get("network.vlan.id"), f.get("network.inner.vlan.id"), f["source.packets"])
            for f in flows(events)] == [(None, None, 1), ("100", None, 1), ("200", "300", 1)]


def test_ipv4_fragments_count_to_the_flow_of_their_first_fragment(tmp_path: Path) -> None:
    datagram = IP(src="10.30.0.1", dst="10.30.0.2", id=777) / UDP(sport=5000, dport=6000) / (
        b"f" * 3000)
    pieces = [ether() / piece for piece in fragment(datagram, fragsize=1000)]
    stray = ether() / IP(src="10.30.0.9", dst="10.30.0.2", id=5, frag=100, proto=17) / (b"s" * 8)
    events, dead, stats = read(write(tmp_path / "frag.pcap", timed([*pieces, stray])))
    (flow,) = flows(events)
    assert dead == []
    assert (flow["source.port"], flow["destination.port"], flow["source.packets"],
            flow["source.bytes"]) == (5000, 6000, 4, 3008 + 4 * 20)
    assert (stats.fragments, stats.unmatched_fragments) == (4, 1)


def test_linux_cooked_raw_ip_and_loopback_links(tmp_path: Path) -> None:
    def datagram() -> Packet:
        return IP(src="10.40.0.1", dst="10.40.0.2") / UDP(sport=1234, dport=53) / DNS(
            qd=DNSQR(qname="cooked.gov.vn"))

    for name, packet, linktype in (("sll", CookedLinux() / datagram(), None),
                                   ("sll2", CookedLinuxV2() / datagram(), None),
                                   ("raw", datagram(), 101), ("null", Loopback() / datagram(),
                                                              None)):
        events, dead, _ = read(write(tmp_path / f"{name}.pcap", timed([packet]), linktype))
        assert dead == [], name
        assert [e["event.dataset"] for e in events] == ["network.dns", "network.flow"], name
        assert events[0]["dns.question.name"] == "cooked.gov.vn", name


def test_a_snap_length_cut_packet_is_used_as_far_as_it_goes(tmp_path: Path) -> None:
    session = tcp_session("10.50.0.1", "10.50.0.2", 45000, 80, b"GET /report/2026/quarter-4/"
                          b"summary.pdf HTTP/1.1\r\nHost: x\r\n\r\n", b"B" * 1400)
    path = tmp_path / "snap.pcap"
    path.write_bytes(_pcap([(T0 + n, bytes(p)) for n, p in enumerate(timed(session))],
                           snaplen=80))
    events, dead, stats = read(path)
    http, flow = events
    assert dead == [] and stats.truncated == 2
    assert http["url.original"] == "/report/2026/quarter-4"  # what 80 bytes hold of the line
    assert "http.version" not in http
    assert flow["destination.bytes"] == 3 * 40 + 1400  # lengths from the IP header


# --- formats: pcap byte orders and resolutions, pcapng (scapy and by hand), gzip ----------------


def _pcap(packets: list[tuple[Decimal, bytes]], snaplen: int = 65535, order: str = "<",
          nano: bool = False, linktype: int = 1) -> bytes:
    """A pcap file written with struct: (time, frame) each cut to `snaplen`."""
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    out = [struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype)]
    for moment, frame in packets:
        fraction = int((moment % 1) * (10**9 if nano else 10**6))
        kept = frame[:snaplen]
        out.append(struct.pack(order + "IIII", int(moment), fraction, len(kept), len(frame)))
        out.append(kept)
    return b"".join(out)


def test_both_byte_orders_and_nanosecond_pcaps_read_alike(tmp_path: Path) -> None:
    session = tcp_session("10.60.0.1", "10.60.0.2", 40001, 80, b"x", b"y")
    frames = [(T0 + Decimal("0.000000123") * n, bytes(p)) for n, p in enumerate(session)]
    results = []
    for order in ("<", ">"):
        for nano in (False, True):
            path = tmp_path / f"{order == '<'}-{nano}.pcap"
            path.write_bytes(_pcap(frames, order=order, nano=nano))
            (flow,) = flows(read(path)[0])
            results.append((flow["event.duration"], flow["network.packets"]))
    assert results == [(0, 8), (861, 8), (0, 8), (861, 8)]  # µs files cannot hold 123 ns steps


def test_a_pcapng_written_by_scapy(tmp_path: Path) -> None:
    path = tmp_path / "web.pcapng"
    writer = PcapNgWriter(str(path))
    for packet in timed(tcp_session(CLIENT, SERVER, 34855, 80, SQLI, RESPONSE)):
        writer.write(packet)
    writer.close()
    events, dead, _ = read(path)
    assert dead == [] and [e["event.dataset"] for e in events] == ["network.http",
                                                                   "network.flow"]
    assert events[1]["network.community_id"] == "1:LQU9qZlK+B5F3KDmev6m5PMibrg="
    assert events[1]["event.duration"] == 70_000_000 and is_capture(path)


def _block(order: str, kind: int, body: bytes) -> bytes:
    body += b"\x00" * (-len(body) % 4)
    return struct.pack(order + "II", kind, 12 + len(body)) + body + struct.pack(
        order + "I", 12 + len(body))


def _section(order: str, interfaces: list[tuple[int, bytes]],
             packets: list[tuple[int, int, bytes]]) -> bytes:
    """A pcapng section: interfaces (link type, options), then (interface, time units, frame)
    enhanced packet blocks; interface -1 makes a simple packet block."""
    blocks = [_block(order, 0x0A0D0D0A, struct.pack(order + "IHHq", 0x1A2B3C4D, 1, 0, -1))]
    for linktype, options in interfaces:
        blocks.append(_block(order, 1, struct.pack(order + "HHI", linktype, 0, 0) + options))
    for interface, units, frame in packets:
        if interface < 0:
            blocks.append(_block(order, 3, struct.pack(order + "I", len(frame)) + frame))
        else:
            blocks.append(_block(order, 6, struct.pack(order + "IIIII", interface, units >> 32,
                                                       units & 0xFFFFFFFF, len(frame),
                                                       len(frame)) + frame))
    return b"".join(blocks)


def _option(order: str, code: int, value: bytes) -> bytes:
    return struct.pack(order + "HH", code, len(value)) + value + b"\x00" * (-len(value) % 4)


def test_pcapng_sections_of_both_byte_orders_interfaces_and_resolutions(tmp_path: Path) -> None:
    def frame(source: str, raw: bool) -> bytes:
        datagram = IP(src=source, dst="10.70.0.1") / UDP(sport=7, dport=7) / b"ng"
        return bytes(datagram if raw else ether() / datagram)

    seconds = int(T0)
    little = _section("<", [(1, b""), (101, _option("<", 9, b"\x09") + _option("<", 0, b""))], [
        (0, seconds * 10**6 + 5, frame("10.70.0.2", False)),
        (1, seconds * 10**9 + 7, frame("10.70.0.3", True)),
        (-1, 0, frame("10.70.0.4", False))])
    big = _section(">", [(105, b""), (1, _option(">", 9, b"\x83") + _option(">", 14, struct.pack(
        ">q", 3600)))], [(0, 0, b"\x08" * 30), (1, (seconds - 3600) * 8 + 1, frame("10.70.0.5",
                                                                                     False))])
    path = tmp_path / "two.pcapng"
    path.write_bytes(little + big)
    events, dead, stats = read(path)
    assert [(f["source.ip"], f["@timestamp"]) for f in flows(events)] == [
        ("10.70.0.2", "2026-11-20T08:00:00.000005Z"), ("10.70.0.3", "2026-11-20T08:00:00.000000Z"),
        ("10.70.0.4", "2026-11-20T08:00:00.000005Z"),  # a simple block: the latest time seen
        ("10.70.0.5", "2026-11-20T08:00:00.125000Z")]
    assert stats.packets == 5 and stats.unsupported_link == 1
    assert [d.error for d in dead] == [
        f"interface at offset {len(little) + 28} has link type 105, which is not decoded: its 1 "
        f"packets are counted, not read"]


def test_a_gzipd_capture_reads_like_the_capture(tmp_path: Path) -> None:
    plain = write(tmp_path / "a.pcap", timed(tcp_session(CLIENT, SERVER, 34855, 80, SQLI,
                                                         RESPONSE)))
    packed = tmp_path / "a.pcap.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    assert is_capture(packed)
    assert [r.fields for r in read_capture(packed, 1 << 16)] == [
        r.fields for r in read_capture(plain, 1 << 16)]


# --- damaged input ------------------------------------------------------------------------------


def _frames(count: int) -> list[tuple[Decimal, bytes]]:
    return [(T0 + n, bytes(ether() / IP(src="10.80.0.1", dst="10.80.0.2") / UDP(
        sport=1000 + n, dport=2000))) for n in range(count)]


def test_not_a_capture_or_a_header_cut_short(tmp_path: Path) -> None:
    text = tmp_path / "notes.pcap"
    text.write_bytes(b"these are not packets\n")
    assert not is_capture(text) and not is_capture(tmp_path / "missing.pcap")
    with pytest.raises(CaptureFileError, match="no magic number"):
        list(read_capture(text, 1 << 16))
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(_pcap([])[:20])
    with pytest.raises(CaptureFileError, match="cut off inside its header"):
        list(read_capture(cut, 1 << 16))


def test_a_truncated_pcap_keeps_the_flows_before_the_cut(tmp_path: Path) -> None:
    data = _pcap(_frames(3))
    path = tmp_path / "cut.pcap"
    path.write_bytes(data[:-10])
    events, dead, stats = read(path)
    assert [f["source.port"] for f in flows(events)] == [1000, 1001]
    last = 24 + 2 * (16 + 42)
    assert [(d.position, d.error) for d in dead] == [
        (last + 2, f"the file ends 48 bytes into the packet record at offset {last} "
                   f"(truncated capture)")]
    assert stats.malformed == 1


def test_caplen_beyond_origlen_and_a_corrupt_ip_header_length(tmp_path: Path) -> None:
    frames = _frames(4)
    data = bytearray(_pcap(frames))
    second, third = 24 + 58, 24 + 2 * 58
    struct.pack_into("<I", data, second + 12, 30)  # origlen 30 < caplen 42
    data[third + 16 + 14] = 0x43  # IHL 3: a 12-byte IPv4 header
    path = tmp_path / "bad.pcap"
    path.write_bytes(bytes(data))
    events, dead, _ = read(path)
    assert [f["source.port"] for f in flows(events)] == [1000, 1003]
    assert [(d.position, d.error) for d in dead] == [
        (second + 2, f"packet at offset {second}: captured length 42 exceeds its original "
                     f"length 30"),
        (third + 2, f"packet at offset {third}: IPv4 header length 12 (IHL 3, version 4) is "
                    f"impossible")]
    assert all(len(d.raw) <= 64 for d in dead)


def test_a_damaged_record_header_stops_the_read_with_a_reason(tmp_path: Path) -> None:
    data = bytearray(_pcap(_frames(3)))
    struct.pack_into("<I", data, 24 + 58 + 8, 0x7FFFFFFF)
    path = tmp_path / "damaged.pcap"
    path.write_bytes(bytes(data))
    events, dead, _ = read(path)
    assert [f["source.port"] for f in flows(events)] == [1000]
    assert dead[0].error.startswith("packet record at offset 82 claims 2147483647 captured "
                                    "bytes (more than 262144): the file is damaged from here")


def test_a_pcapng_block_with_a_bad_length(tmp_path: Path) -> None:
    good = _section("<", [(1, b"")], [(0, int(T0) * 10**6, frame) for _, frame in _frames(2)])
    bad = bytearray(good)
    epb = len(good) - (32 + 44)  # the second packet block
    struct.pack_into("<I", bad, epb + 4, 70)  # not a multiple of 4
    path = tmp_path / "bad.pcapng"
    path.write_bytes(bytes(bad))
    events, dead, _ = read(path)
    assert [f["source.port"] for f in flows(events)] == [1000]
    assert [(d.position, d.error) for d in dead] == [
        (epb + 2, f"pcapng block at offset {epb}: impossible block length 70; the rest of the "
                  f"file is unread")]


# --- the flow table -----------------------------------------------------------------------------


def test_the_active_timeout_cuts_a_long_flow_and_keeps_its_initiator(tmp_path: Path) -> None:
    packets = []
    for n in range(11):
        a, b = ("10.90.0.1", "10.90.0.2") if n % 2 == 0 else ("10.90.0.2", "10.90.0.1")
        ports = (7000, 8000) if n % 2 == 0 else (8000, 7000)
        packets.append(ether() / IP(src=a, dst=b) / UDP(sport=ports[0], dport=ports[1]))
    events, _, _ = read(write(tmp_path / "long.pcap", timed(packets, step=Decimal(10))),
                        active_timeout=30)
    assert [(f["flow.end_reason"], f["source.ip"], f["network.packets"], f["event.duration"])
            for f in flows(events)] == [
        ("active", "10.90.0.1", 4, 30 * 10**9), ("active", "10.90.0.1", 4, 30 * 10**9),
        ("end-of-capture", "10.90.0.1", 3, 20 * 10**9)]


def test_a_full_table_evicts_the_longest_idle_flow(tmp_path: Path) -> None:
    packets = [ether() / IP(src="10.91.0.1", dst="10.91.0.2") / UDP(sport=port, dport=53)
               for port in range(20000, 20030)]
    events, _, stats = read(write(tmp_path / "many.pcap", timed(packets)), max_flows=10)
    reasons = [(f["source.port"], f["flow.end_reason"]) for f in flows(events)]
    assert reasons == ([(port, "evicted") for port in range(20000, 20020)]
                       + [(port, "end-of-capture") for port in range(20020, 20030)])
    assert stats.evicted == 20


def test_a_syn_after_a_closed_connection_starts_a_new_flow(tmp_path: Path) -> None:
    first = tcp_session("10.92.0.1", "10.92.0.2", 40000, 80, b"a", b"b")
    again = tcp_session("10.92.0.1", "10.92.0.2", 40000, 80, b"c", b"d")
    events, _, _ = read(write(tmp_path / "reuse.pcap", timed(first + again)))
    assert [(f["flow.end_reason"], f["network.packets"]) for f in flows(events)] == [
        ("fin", 8), ("fin", 8)]


def test_a_syn_ack_seen_first_makes_its_receiver_the_source(tmp_path: Path) -> None:
    packets = timed(tcp_session("10.93.0.1", "10.93.0.2", 40000, 443, b"a", b"b")[1:])
    (flow,) = flows(read(write(tmp_path / "late.pcap", packets))[0])
    assert (flow["source.ip"], flow["source.port"], flow["source.packets"]) == (
        "10.93.0.1", 40000, 4)


def test_icmp_echo_request_and_reply_make_one_flow(tmp_path: Path) -> None:
    packets = timed([ether() / IP(src="192.168.0.89", dst="192.168.0.1") / ICMP(type=8),
                     ether() / IP(src="192.168.0.1", dst="192.168.0.89") / ICMP(type=0),
                     ether() / IP(src="192.168.0.1", dst="192.168.0.89") / ICMP(type=3, code=3)])
    echo, unreachable = flows(read(write(tmp_path / "icmp.pcap", packets))[0])
    assert (echo["network.packets"], echo["icmp.type"], echo["icmp.code"],
            echo["network.transport"], echo["network.community_id"]) == (
        2, 8, 0, "icmp", "1:X0snYXpgwiv9TZtqg64sgzUn6Dk=")
    assert "source.port" not in echo
    assert (unreachable["icmp.type"], unreachable["icmp.code"]) == (3, 3)


def test_ids_are_stable_so_a_second_ingest_stores_nothing(tmp_path: Path) -> None:
    packets = timed(tcp_session(CLIENT, SERVER, 34855, 80, SQLI, RESPONSE))
    path = write(tmp_path / "again.pcap", packets)
    store = open_store(f"sqlite:///{tmp_path / 'soc.db'}")
    pipeline = Pipeline(store, NORMALISER, Inventory.empty())
    first = pipeline.run(read_capture(path, 1 << 16))
    second = pipeline.run(read_capture(path, 1 << 16))
    store.close()
    assert (first.stored, first.dead_lettered) == (2, 0)
    assert (second.stored, second.duplicates) == (0, 2)


# --- live capture -------------------------------------------------------------------------------

LIVE = textwrap.dedent("""
    import json, socket, sys, time
    from collectors.pcap import LiveCapture
    from soc.events import EventNormaliser, flatten
    from soc.inventory import Inventory
    from soc.pipeline import Pipeline
    from soc.sources import SourceCounters
    from soc.store import Collection, Query, open_store
    from soc.streaming import StreamIngest
    from soc.timeutil import load_zone, parse_duration

    QUERY = bytes.fromhex("abcd0100000100000000000004" "6c697665" "03" "676f76" "02" "766e00"
                          "00010001")  # live.gov.vn A


    def main():
        store = open_store(f"sqlite:///{sys.argv[1]}")
        normaliser = EventNormaliser(load_zone("UTC"), parse_duration("1d"))
        ingest = StreamIngest(Pipeline(store, normaliser, Inventory.empty()), flush_interval=0.1)
        ingest.start()
        counters = SourceCounters("capture-veth", "capture")
        capture = LiveCapture(sys.argv[2], "host 10.99.0.2", ingest, counters,
                              flush_interval=0.2)
        capture.start()
        time.sleep(0.3)
        try:
            socket.create_connection(("10.99.0.2", 9), timeout=2)  # nothing listens: RST
        except OSError:
            pass
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("10.99.0.1", 35353))
            udp.sendto(QUERY, ("10.99.0.2", 53))  # nothing listens: ICMP port unreachable
        time.sleep(0.5)
        capture.stop()
        ingest.stop()
        events = [flatten(e) for e in store.search(Collection.EVENTS, Query(limit=100)).items]
        print(json.dumps({"events": events, "counters": counters.as_json()}))


    if __name__ == "__main__":  # the store's writer process imports this file again
        main()
""")


def test_live_capture_on_a_veth_in_a_namespace(tmp_path: Path,
                                               namespaces: tuple[str, str]) -> None:
    script = tmp_path / "live.py"
    script.write_text(LIVE, encoding="utf-8")
    done = subprocess.run(["ip", "netns", "exec", namespaces[0], sys.executable, str(script),
                           str(tmp_path / "soc.db"), "veth-a"], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    found = {(e["event.dataset"], e.get("network.transport")): e for e in result["events"]}
    refused = found[("network.flow", "tcp")]
    assert (refused["source.ip"], refused["destination.port"], refused["flow.end_reason"],
            refused["flow.source_tcp_flags"], refused["flow.destination_tcp_flags"]) == (
        "10.99.0.1", 9, "rst", ["SYN"], ["RST", "ACK"])
    query = found[("network.dns", "udp")]
    assert (query["dns.question.name"], query["source.port"]) == ("live.gov.vn", 35353)
    unreachable = found[("network.flow", "icmp")]
    assert (unreachable["icmp.type"], unreachable["icmp.code"]) == (3, 3)
    assert (refused["observer.name"], refused["observer.type"],
            refused["observer.ingress.interface.name"]) == ("capture", "sensor", "veth-a")
    assert "log.offset" not in refused
    assert len(result["events"]) == 4  # the TCP, UDP and ICMP flows and the DNS query
    assert result["counters"]["received"] == 4
    assert result["counters"]["dropped"] == 0


def test_live_capture_refuses_a_bad_filter_or_a_missing_interface(
        namespaces: tuple[str, str]) -> None:
    script = ("from collectors.pcap import LiveCapture\n"
              "from soc.sources import SourceCounters\n"
              "for interface, bpf in (('veth-a', 'port ((('), ('nowhere0', None)):\n"
              "    try:\n"
              "        LiveCapture(interface, bpf, None, SourceCounters('c', 'capture')).start()\n"
              "    except Exception as exc:\n"
              "        print(type(exc).__name__, exc)\n")
    done = subprocess.run(["ip", "netns", "exec", namespaces[0], sys.executable, "-c", script],
                          capture_output=True, text=True, timeout=60, check=False)
    refused = done.stdout.splitlines()
    assert refused[0] == ("ConfigError collectors.capture: BPF filter 'port (((' on veth-a: "
                          "Cannot set filter: Failed to compile filter expression 'port (((' "
                          "(can't parse filter expression: syntax error)")
    assert refused[1] == "OSError [Errno 19] cannot capture on nowhere0: no such interface"


def test_live_capture_without_cap_net_raw_says_so() -> None:
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to drop the capability")
    script = ("from collectors.pcap import LiveCapture\n"
              "from soc.sources import SourceCounters\n"
              "LiveCapture('lo', None, None, SourceCounters('c', 'capture')).start()\n")
    # Still root (so it can read the checkout, wherever it is), without CAP_NET_RAW.
    done = subprocess.run(["setpriv", "--inh-caps=-net_raw", "--bounding-set=-net_raw",
                           sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, check=False, cwd=Path(__file__).resolve().parents[2])
    assert done.returncode != 0
    assert ("PermissionError: [Errno 1] live capture on lo needs root or the CAP_NET_RAW "
            "capability") in done.stderr



def test_random_damage_never_crashes_the_reader(tmp_path: Path) -> None:
    session = tcp_session(CLIENT, SERVER, 34855, 80, SQLI, RESPONSE)
    dns = ether() / IP(src="10.1.0.1", dst="10.1.0.53") / UDP(sport=3333, dport=53) / DNS(
        qd=DNSQR(qname="a.gov.vn"))
    v6 = ether() / IPv6(src="2001:db8::1", dst="2001:db8::2") / IPv6ExtHdrHopByHop() / TCP()
    clean = {"pcap": _pcap([(T0 + n, bytes(p)) for n, p in enumerate([*session, dns, v6])]),
             "pcapng": _section("<", [(1, b"")], [(0, n, bytes(p)) for n, p in
                                                  enumerate([*session, dns, v6])])}
    rng = random.Random(17)
    path = tmp_path / "damaged"
    for name, data in clean.items():
        for _ in range(150):
            damaged = bytearray(data)
            for _ in range(rng.randint(1, 8)):
                damaged[rng.randrange(28, len(damaged))] = rng.getrandbits(8)
            path.write_bytes(bytes(damaged[:rng.randint(28, len(damaged))]))
            for record in read_capture(path, 1 << 16):
                assert record.error is not None or record.fields is not None, name
