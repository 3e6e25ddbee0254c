"""collectors/netflow.py and netflow_decode.py: NetFlow v5, v9 and IPFIX datagrams built here
from the record layouts (Cisco v5, RFC 3954, RFC 7011), sent over loopback UDP to a listener
with a real SQLite store; capture files written with scapy; malformed and fuzzed input."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import struct
import time
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

import pytest
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import Ether
from scapy.utils import wrpcap, wrpcapng

from collectors.netflow import (
    CaptureFileError,
    NetflowServer,
    decode_safely,
    export_records,
    read_netflow_capture,
)
from collectors.netflow_decode import NetflowDecoder
from soc.config import NetflowSettings
from soc.errors import NormaliseError
from soc.events import EventNormaliser
from soc.inventory import Inventory
from soc.pipeline import Pipeline
from soc.sources import SourceCounters, SourceRegistry
from soc.store import Collection, Query, Store, open_store
from soc.streaming import StreamIngest
from soc.timeutil import load_zone, parse_duration
from tests.collectors.streaming import stream_ingest

EXPORT = 1_763_000_000  # 2025-11-13T02:13:20Z, the export time of every datagram here
VOLATILE = {"event.id", "event.ingested"}


# --- datagrams, from the specifications' layouts ---------------------------------------------

def v5_record(src: str, dst: str, sport: int, dport: int, protocol: int, packets: int,
              octets: int, first: int, last: int, flags: int = 0, tos: int = 0,
              interfaces: tuple[int, int] = (3, 4), ases: tuple[int, int] = (0, 0),
              next_hop: str = "0.0.0.0") -> bytes:
    return struct.pack("!4s4s4sHHIIIIHHxBBBHHBBxx", socket.inet_aton(src), socket.inet_aton(dst),
                       socket.inet_aton(next_hop), *interfaces, packets, octets, first, last,
                       sport, dport, flags, protocol, tos, *ases, 24, 16)


def v5(*records: bytes, count: int | None = None, sampling: int = 0) -> bytes:
    # uptime 360 s at export, half a second past EXPORT; engine type 1, engine id 2
    return struct.pack("!HHIIIIBBH", 5, len(records) if count is None else count, 360_000,
                       EXPORT, 500_000_000, 1, 1, 2, sampling) + b"".join(records)


def flowset(set_id: int, content: bytes) -> bytes:
    padding = b"\0" * (-len(content) % 4)
    return struct.pack("!HH", set_id, 4 + len(content) + len(padding)) + content + padding


def template(template_id: int, *fields: tuple[int, ...]) -> bytes:
    """A v9 or IPFIX template record; a field is (IE, length) or (IE, length, enterprise)."""
    specifiers = b"".join(struct.pack("!HH", f[0] | 0x8000, f[1]) + struct.pack("!I", f[2])
                          if len(f) == 3 else struct.pack("!HH", *f) for f in fields)
    return struct.pack("!HH", template_id, len(fields)) + specifiers


def v9_options_template(template_id: int, scopes: list[tuple[int, int]],
                        options: list[tuple[int, int]]) -> bytes:
    return (struct.pack("!HHH", template_id, 4 * len(scopes), 4 * len(options))
            + b"".join(struct.pack("!HH", *f) for f in scopes + options))


def ipfix_options_template(template_id: int, scopes: list[tuple[int, int]],
                           options: list[tuple[int, int]]) -> bytes:
    return (struct.pack("!HHH", template_id, len(scopes) + len(options), len(scopes))
            + b"".join(struct.pack("!HH", *f) for f in scopes + options))


def v9(*flowsets: bytes, domain: int = 7) -> bytes:
    # uptime 1000 s at export
    return struct.pack("!HHIIII", 9, len(flowsets), 1_000_000, EXPORT, 1, domain) + b"".join(
        flowsets)


def ipfix(*sets: bytes, domain: int = 42, length: int | None = None) -> bytes:
    body = b"".join(sets)
    return struct.pack("!HHIII", 10, 16 + len(body) if length is None else length, EXPORT, 1,
                       domain) + body


def varlen(value: bytes) -> bytes:
    return (bytes([len(value)]) if len(value) < 255 else b"\xff" + struct.pack("!H", len(value))
            ) + value


def ip4(text: str) -> bytes:
    return socket.inet_aton(text)


def ip6(text: str) -> bytes:
    return socket.inet_pton(socket.AF_INET6, text)


# --- a listener with a real store ------------------------------------------------------------

class Harness:
    def __init__(self, store: Store, server: NetflowServer, ingest: StreamIngest) -> None:
        self.store, self.server, self.ingest = store, server, ingest

    @property
    def counters(self) -> SourceCounters:
        return self.server.sources.source("netflow-udp", "netflow-udp")

    def send(self, *datagrams: bytes, sender: str = "127.0.0.1") -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind((sender, 0))
            for datagram in datagrams:
                udp.sendto(datagram, self.server.addresses["udp"])

    def events(self) -> list[dict[str, Any]]:
        page = self.store.search(Collection.EVENTS, Query(limit=1000, sort="@timestamp",
                                                          order="asc"))
        return [{k: v for k, v in event.items() if k not in VOLATILE} for event in page.items]

    def reasons(self) -> list[str]:
        page = self.store.search(Collection.DEAD_LETTERS, Query(limit=1000))
        return sorted(letter["error.message"] for letter in page.items)

    async def settle(self, received: int, events: int, letters: int = 0,
                     timeout: float = 10) -> None:
        """Wait until the listener counted `received` records and the store holds them."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if (self.counters.received >= received
                    and self.store.count(Collection.EVENTS, Query()) >= events
                    and self.store.count(Collection.DEAD_LETTERS, Query()) >= letters):
                return
            await asyncio.sleep(0.02)
        raise AssertionError(f"not settled: {self.counters.as_json()}")


@contextlib.asynccontextmanager
async def listening(tmp_path: Path, started: bool = True, max_queued: int = 100_000,
                    **settings: Any) -> AsyncIterator[Harness]:
    async with stream_ingest(tmp_path, max_queued) as (store, ingest):
        server = NetflowServer(NetflowSettings(udp="127.0.0.1:0", **settings), ingest,
                               SourceRegistry(store))
        await server.start()
        if started:
            ingest.start()
        try:
            yield Harness(store, server, ingest)
        finally:
            await server.stop()


def run(scenario: Any) -> None:
    asyncio.run(asyncio.wait_for(scenario, 20))


# What every flow event here holds besides its own fields; the empty inventory places every
# address outside the province, hence network.direction external.
COMMON = {"event.kind": "event", "ecs.version": "8.17.0", "event.category": ["network"],
          "event.type": ["connection"], "event.dataset": "netflow.flow",
          "observer.name": "netflow", "observer.type": "netflow-udp",
          "network.direction": "external"}


# --- NetFlow v5 ------------------------------------------------------------------------------

def test_v5_records_become_ecs_flow_events(tmp_path: Path) -> None:
    tcp = v5_record("128.232.110.120", "66.35.250.204", 34855, 80, 6, 10, 1500, 300_000,
                    350_000, flags=0x1B, tos=0xB8, ases=(64500, 15169), next_hop="10.0.0.254")
    echo = v5_record("192.168.0.89", "192.168.0.1", 0, 8 * 256, 1, 1, 84, 355_000, 355_000)

    async def scenario() -> None:
        async with listening(tmp_path) as harness:
            harness.send(v5(tcp, echo, sampling=0x4000 | 10))  # deterministic, 1 in 10
            await harness.settle(2, 2)
            exporter = {"observer.ip": "127.0.0.1", "netflow.exporter.version": 5,
                        "netflow.exporter.source_id": 258,
                        "netflow.exporter.sampling_interval": 10,
                        "netflow.exporter.sampling_algorithm": "deterministic",
                        "netflow.exporter.sampling_source": "header",
                        "observer.ingress.interface.id": "3",
                        "observer.egress.interface.id": "4", "network.type": "ipv4"}
            assert harness.events() == [{
                **COMMON, **exporter, "@timestamp": "2025-11-13T02:12:20.500000Z",
                "event.start": "2025-11-13T02:12:20.500000Z",
                "event.end": "2025-11-13T02:13:10.500000Z", "event.duration": 50_000_000_000,
                "source.ip": "128.232.110.120", "source.port": 34855,
                "destination.ip": "66.35.250.204", "destination.port": 80,
                "related.ip": ["128.232.110.120", "66.35.250.204"],
                "network.iana_number": "6", "network.transport": "tcp",
                "network.community_id": "1:LQU9qZlK+B5F3KDmev6m5PMibrg=",
                "network.bytes": 15000, "network.packets": 100, "source.bytes": 15000,
                "source.packets": 100, "netflow.octet_delta_count": 1500,
                "netflow.packet_delta_count": 10, "source.as.number": 64500,
                "destination.as.number": 15169, "netflow.ip_next_hop_ipv4_address": "10.0.0.254",
                "netflow.ip_class_of_service": 0xB8, "netflow.ip_diff_serv_code_point": 46,
                "netflow.tcp_control_bits": 0x1B, "netflow.tcp_flags": ["FIN", "SYN", "PSH", "ACK"],
            }, {
                **COMMON, **exporter, "@timestamp": "2025-11-13T02:13:15.500000Z",
                "event.start": "2025-11-13T02:13:15.500000Z",
                "event.end": "2025-11-13T02:13:15.500000Z", "event.duration": 0,
                "source.ip": "192.168.0.89", "destination.ip": "192.168.0.1",
                "related.ip": ["192.168.0.89", "192.168.0.1"], "network.iana_number": "1",
                "network.transport": "icmp", "netflow.icmp_type_ipv4": 8,
                "netflow.icmp_code_ipv4": 0,
                "network.community_id": "1:X0snYXpgwiv9TZtqg64sgzUn6Dk=",
                "network.bytes": 840, "network.packets": 10, "source.bytes": 840,
                "source.packets": 10, "netflow.octet_delta_count": 84,
                "netflow.packet_delta_count": 1, "netflow.ip_class_of_service": 0,
                "netflow.ip_diff_serv_code_point": 0,
            }]
            counters = harness.counters
            assert (counters.received, counters.parsed, counters.dead_lettered,
                    counters.dropped) == (2, 2, 0, 0)

    run(scenario())


# --- NetFlow v9 ------------------------------------------------------------------------------

V9_FLOW = template(256, (8, 4), (12, 4), (7, 2), (11, 2), (4, 1), (1, 8), (2, 4), (22, 4),
                   (21, 4), (10, 2), (14, 2), (6, 1), (61, 1), (48, 1))
V9_SAMPLER = v9_options_template(257, [(1, 4)], [(48, 1), (49, 1), (50, 4)])


def v9_flow(src: str, dst: str, sport: int, dport: int, protocol: int, octets: int,
            packets: int, sampler: int, flags: int = 0) -> bytes:
    return (ip4(src) + ip4(dst) + struct.pack("!HHBQIIIHHBBB", sport, dport, protocol, octets,
                                              packets, 940_000, 990_000, 5, 6, flags, 0,
                                              sampler))


def test_v9_templates_options_and_sampling(tmp_path: Path) -> None:
    sampler = struct.pack("!IBBI", 0, 3, 2, 100)  # scope: system 0; sampler 3, random, 1:100
    data = flowset(256, v9_flow("192.168.1.52", "8.8.8.8", 54585, 53, 17, 300, 3, 3)
                   + v9_flow("10.0.0.1", "10.0.0.2", 10, 11569, 6, 4000, 5, 0, flags=0x02))

    async def scenario() -> None:
        async with listening(tmp_path) as harness:
            harness.send(v9(flowset(0, V9_FLOW), flowset(1, V9_SAMPLER), flowset(257, sampler),
                            data))
            await harness.settle(2, 2)
            common = {**COMMON, "@timestamp": "2025-11-13T02:12:20.000000Z",
                      "event.start": "2025-11-13T02:12:20.000000Z",
                      "event.end": "2025-11-13T02:13:10.000000Z",
                      "event.duration": 50_000_000_000, "observer.ip": "127.0.0.1",
                      "netflow.exporter.version": 9, "netflow.exporter.source_id": 7,
                      "observer.ingress.interface.id": "5", "observer.egress.interface.id": "6",
                      "network.type": "ipv4", "netflow.flow_direction": "ingress"}
            assert sorted(harness.events(), key=lambda e: e["source.ip"]) == [{
                **common, "source.ip": "10.0.0.1", "source.port": 10,
                "destination.ip": "10.0.0.2", "destination.port": 11569,
                "related.ip": ["10.0.0.1", "10.0.0.2"], "network.iana_number": "6",
                "network.transport": "tcp",
                "network.community_id": "1:SXBGMX1lBOwhhoDrZynfROxnhnM=",
                "network.bytes": 4000, "network.packets": 5, "source.bytes": 4000,
                "source.packets": 5, "netflow.octet_delta_count": 4000,
                "netflow.packet_delta_count": 5, "netflow.tcp_control_bits": 2,
                "netflow.tcp_flags": ["SYN"],
            }, {
                **common, "source.ip": "192.168.1.52", "source.port": 54585,
                "destination.ip": "8.8.8.8", "destination.port": 53,
                "related.ip": ["192.168.1.52", "8.8.8.8"], "network.iana_number": "17",
                "network.transport": "udp",
                "network.community_id": "1:d/FP5EW3wiY1vCndhwleRRKHowQ=",
                "network.bytes": 30000, "network.packets": 300, "source.bytes": 30000,
                "source.packets": 300, "netflow.octet_delta_count": 300,
                "netflow.packet_delta_count": 3, "netflow.exporter.sampling_interval": 100,
                "netflow.exporter.sampling_algorithm": "random",
                "netflow.exporter.sampling_source": "options",
            }]

    run(scenario())


def test_v9_template_refresh_with_a_changed_layout(tmp_path: Path) -> None:
    first = template(260, (8, 4), (12, 4), (1, 4))
    second = template(260, (12, 4), (8, 4), (7, 2), (11, 2), (4, 1), (1, 8))

    async def scenario() -> None:
        async with listening(tmp_path) as harness:
            harness.send(v9(flowset(0, first), flowset(260, ip4("10.1.1.1") + ip4("10.2.2.2")
                                                       + struct.pack("!I", 111))))
            await harness.settle(1, 1)
            harness.send(v9(flowset(0, second), flowset(
                260, ip4("10.4.4.4") + ip4("10.3.3.3") + struct.pack("!HHBQ", 1000, 22, 6,
                                                                     2**40))))
            await harness.settle(2, 2)
            seen = sorted((e["source.ip"], e["destination.ip"], e.get("source.port"),
                           e.get("destination.port"), e["network.bytes"])
                          for e in harness.events())
            assert seen == [("10.1.1.1", "10.2.2.2", None, None, 111),
                            ("10.3.3.3", "10.4.4.4", 1000, 22, 2**40)]

    run(scenario())


# --- IPFIX -----------------------------------------------------------------------------------

IPFIX_V6 = template(400, (27, 16), (28, 16), (7, 2), (11, 2), (4, 1), (1, 8), (2, 4),
                    (152, 8), (153, 8), (82, 65535), (100, 4, 9), (6, 2), (195, 1), (61, 1))
IPFIX_V4 = template(401, (8, 4), (12, 4), (4, 1), (1, 3), (2, 1), (150, 4), (151, 4),
                    (16, 4), (15, 4), (302, 4))
IPFIX_SELECTOR = ipfix_options_template(402, [(302, 4)], [(304, 1), (305, 4), (306, 4)])


def ipfix_v6_flow(src: str, dst: str, sport: int, dport: int, protocol: int, octets: int,
                  packets: int, name: bytes, flags: int) -> bytes:
    return (ip6(src) + ip6(dst) + struct.pack("!HHBQIQQ", sport, dport, protocol, octets,
                                              packets, EXPORT * 1000 - 30_000,
                                              EXPORT * 1000 - 1_000)
            + varlen(name) + b"\xde\xad\xbe\xef" + struct.pack("!HBB", flags, 10, 1))


def test_ipfix_variable_length_enterprise_fields_ipv6_and_psamp_sampling(tmp_path: Path) -> None:
    v6 = flowset(400, ipfix_v6_flow("2001:db8::10", "2001:db8::20", 51000, 443, 6, 4096, 8,
                                    b"eth0", 0x12)
                 + ipfix_v6_flow("2001:db8::30", "ff02::fb", 5353, 5353, 17, 200, 2,
                                 b"x" * 300, 0))
    selector = flowset(402, struct.pack("!IBII", 5, 1, 1, 99))  # 1 packet, then skip 99
    v4 = flowset(401, ip4("172.16.0.5") + ip4("172.16.0.9") + b"\x2f" + (70_000).to_bytes(3)
                 + b"\x07" + struct.pack("!IIII", EXPORT - 20, EXPORT - 5, 64512, 0xAC100001)
                 + struct.pack("!I", 5))

    async def scenario() -> None:
        async with listening(tmp_path) as harness:
            harness.send(ipfix(flowset(2, IPFIX_V6 + IPFIX_V4), flowset(3, IPFIX_SELECTOR),
                               selector, v6, v4))
            await harness.settle(3, 3)
            exporter = {"observer.ip": "127.0.0.1", "netflow.exporter.version": 10,
                        "netflow.exporter.source_id": 42}
            v6_common = {**COMMON, **exporter, "@timestamp": "2025-11-13T02:12:50.000000Z",
                         "event.start": "2025-11-13T02:12:50.000000Z",
                         "event.end": "2025-11-13T02:13:19.000000Z",
                         "event.duration": 29_000_000_000, "network.type": "ipv6",
                         "netflow.flow_direction": "egress", "netflow.ip_diff_serv_code_point": 10}
            assert sorted(harness.events(), key=lambda e: e["source.ip"]) == [{
                **COMMON, **exporter, "@timestamp": "2025-11-13T02:13:00.000000Z",
                "event.start": "2025-11-13T02:13:00.000000Z",
                "event.end": "2025-11-13T02:13:15.000000Z", "event.duration": 15_000_000_000,
                "source.ip": "172.16.0.5", "destination.ip": "172.16.0.9",
                "related.ip": ["172.16.0.5", "172.16.0.9"], "network.type": "ipv4",
                "network.iana_number": "47", "network.transport": "gre",
                "network.community_id": "1:ekQKOfXf6/kIjH4qqOYuejT0pg0=",
                "network.bytes": 7_000_000, "network.packets": 700, "source.bytes": 7_000_000,
                "source.packets": 700, "netflow.octet_delta_count": 70_000,
                "netflow.packet_delta_count": 7, "source.as.number": 64512,
                "netflow.ip_next_hop_ipv4_address": "172.16.0.1",
                "netflow.exporter.sampling_interval": 100,
                "netflow.exporter.sampling_algorithm": "systematic count-based",
                "netflow.exporter.sampling_source": "options",
            }, {
                **v6_common, "source.ip": "2001:db8::10", "source.port": 51000,
                "destination.ip": "2001:db8::20", "destination.port": 443,
                "related.ip": ["2001:db8::10", "2001:db8::20"], "network.iana_number": "6",
                "network.transport": "tcp",
                "network.community_id": "1:OPklUnuY4yPXcxXkwlT4otcfwKc=",
                "network.bytes": 4096, "network.packets": 8, "source.bytes": 4096,
                "source.packets": 8, "netflow.octet_delta_count": 4096,
                "netflow.packet_delta_count": 8, "netflow.tcp_control_bits": 0x12,
                "netflow.tcp_flags": ["SYN", "ACK"],
            }, {
                **v6_common, "source.ip": "2001:db8::30", "source.port": 5353,
                "destination.ip": "ff02::fb", "destination.port": 5353,
                "related.ip": ["2001:db8::30", "ff02::fb"], "network.iana_number": "17",
                "network.transport": "udp",
                "network.community_id": "1:gsJb4w3OG5BBjfBFxWk2qb21ucA=",
                "network.bytes": 200, "network.packets": 2, "source.bytes": 200,
                "source.packets": 2, "netflow.octet_delta_count": 200,
                "netflow.packet_delta_count": 2,
            }]

    run(scenario())


def test_data_before_its_template_waits_and_is_decoded_when_it_comes(tmp_path: Path) -> None:
    layout = template(500, (8, 4), (12, 4), (2, 4))

    async def scenario() -> None:
        async with listening(tmp_path) as harness:
            early = ipfix(flowset(500, ip4("10.0.0.5") + ip4("10.0.0.6") + struct.pack("!I", 9)))
            harness.send(early, sender="127.0.0.2")
            # The same template id from another exporter does not release it.
            harness.send(ipfix(flowset(2, template(500, (12, 4), (8, 4), (2, 4)))),
                         sender="127.0.0.3")
            await asyncio.sleep(0.2)
            assert harness.store.count(Collection.EVENTS, Query()) == 0
            harness.send(ipfix(flowset(2, layout)), sender="127.0.0.2")
            await harness.settle(1, 1)
            [event] = harness.events()
            assert (event["source.ip"], event["destination.ip"], event["network.packets"],
                    event["observer.ip"]) == ("10.0.0.5", "10.0.0.6", 9, "127.0.0.2")
            assert (harness.counters.received, harness.counters.dropped) == (1, 0)

    run(scenario())


def test_data_whose_template_never_comes_is_dropped_and_counted(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "collectors.netflow")
    orphan = ipfix(flowset(600, b"\x01" * 12))
    flows = template(601, (8, 4), (12, 4))
    flow = flowset(601, ip4("10.9.0.1") + ip4("10.9.0.2"))

    async def scenario() -> Harness:
        async with listening(tmp_path, pending_sets=2, pending_timeout="0.3s") as harness:
            harness.send(orphan, orphan, orphan)  # the third pushes the first out
            await asyncio.sleep(0.4)
            harness.send(ipfix(flowset(2, flows), flow))  # expires the other two
            await harness.settle(4, 1)
            assert (harness.counters.received, harness.counters.dropped) == (4, 3)
            # IPFIX withdrawal (field count 0): later data for it waits, then is dropped.
            harness.send(ipfix(flowset(2, struct.pack("!HH", 601, 0))), ipfix(flow))
            await asyncio.sleep(0.1)
        return harness

    harness = asyncio.run(scenario())
    assert (harness.counters.received, harness.counters.parsed,
            harness.counters.dropped) == (5, 1, 4)
    decoder = NetflowDecoder(NetflowSettings(pending_timeout="1s"))  # type: ignore[arg-type]
    assert decoder.decode(v9(flowset(300, bytes(8))), "10.0.0.1", "1", 0.0).rejected == []
    [late] = decoder.decode(v5(), "10.0.0.1", "2", 2.0).rejected
    assert (late.dropped, late.domain, late.reason) == (
        True, 7, "data set 0 (template 300) dropped: its template did not come within 1s")
    reasons = [r.reason for r in caplog.records if r.getMessage() == "NetFlow data dropped"]
    assert reasons == ["data set 0 (template 600) dropped: 2 data sets of this exporter were "
                       "already waiting for their templates"]


# --- malformed input -------------------------------------------------------------------------

def test_malformed_datagrams_are_dead_lettered_and_good_records_still_land(
        tmp_path: Path) -> None:
    noise = random.Random(7).randbytes(300)
    good = template(700, (8, 4), (12, 4), (2, 4))
    record = ip4("10.7.0.1") + ip4("10.7.0.2") + struct.pack("!I", 1)
    past_end = struct.pack("!HH", 700, 400) + record
    datagrams = [
        noise, b"\x05", struct.pack("!HH", 7, 0) + bytes(20),
        v5(v5_record("10.5.0.1", "10.5.0.2", 1, 2, 17, 1, 100, 1, 2),
           v5_record("10.5.0.3", "10.5.0.4", 1, 2, 17, 1, 100, 1, 2), count=5),
        ipfix(flowset(2, good), flowset(700, record), past_end),
        ipfix(flowset(2, good), flowset(700, record), length=2000),
        v9(flowset(5, b"abcd"), flowset(0, struct.pack("!HH", 256, 50) + bytes(8)),
           flowset(0, template(256, (8, 4), (12, 4))), flowset(256, record[:8])),
    ]

    async def scenario() -> None:
        async with listening(tmp_path) as harness:
            harness.send(*datagrams)
            await harness.settle(13, 5, 8)
            assert harness.reasons() == sorted([
                f"version {int.from_bytes(noise[:2])} is not NetFlow v5, v9 or IPFIX (10)",
                "a 1-byte datagram is not NetFlow",
                "version 7 is not NetFlow v5, v9 or IPFIX (10)",
                "the v5 header announces 5 records; the datagram holds 2",
                "set 2 (id 700) says it is 400 bytes; 16 remain in the message",
                "the IPFIX header says the message is 2000 bytes; the datagram holds 52",
                "set 0 has the reserved id 5",
                "set 1: template 256 announces 50 fields; the set ends after 2",
            ])
            assert sorted(e["source.ip"] for e in harness.events()) == [
                "10.5.0.1", "10.5.0.3", "10.7.0.1", "10.7.0.1", "10.7.0.1"]
            counters = harness.counters
            assert (counters.received, counters.parsed, counters.dead_lettered) == (13, 5, 8)

    run(scenario())


def fuzzed(rng: random.Random, seeds: list[bytes]) -> Iterable[bytes]:
    for _ in range(3000):
        data = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 6)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        if rng.random() < 0.3:
            data = data[:rng.randrange(len(data))]
        yield bytes(data)
    for size in range(0, 64):
        yield rng.randbytes(size)


def test_fuzzed_datagrams_never_raise_or_hang() -> None:
    seeds = [v5(v5_record("10.0.0.1", "10.0.0.2", 1, 2, 6, 1, 1, 1, 1)),
             v9(flowset(0, V9_FLOW), flowset(1, V9_SAMPLER),
                flowset(256, v9_flow("10.0.0.1", "10.0.0.2", 1, 2, 6, 1, 1, 0))),
             ipfix(flowset(2, IPFIX_V6 + IPFIX_V4), flowset(3, IPFIX_SELECTOR),
                   flowset(400, ipfix_v6_flow("::1", "::2", 1, 2, 6, 1, 1, b"n", 0)))]
    decoder = NetflowDecoder(NetflowSettings(pending_sets=50))
    normaliser = EventNormaliser(load_zone("UTC"), parse_duration("1d"))
    started = time.monotonic()
    outcomes = {"flows": 0, "rejected": 0}
    for number, data in enumerate(fuzzed(random.Random(11), seeds)):
        decoded = decoder.decode(data, f"10.0.{number % 4}.1", str(number), float(number))
        outcomes["flows"] += len(decoded.flows)
        outcomes["rejected"] += len(decoded.rejected)
        for record in export_records(decoded, {}, 1 << 16):
            with contextlib.suppress(NormaliseError):  # the pipeline dead-letters those
                normaliser.normalise(record)
    decoder.flush("the end of the test")
    assert outcomes["flows"] > 1000 and outcomes["rejected"] > 1000
    assert time.monotonic() - started < 10


def test_a_decoder_defect_costs_one_datagram_not_the_listener(
        monkeypatch: pytest.MonkeyPatch) -> None:
    decoder = NetflowDecoder(NetflowSettings())
    monkeypatch.setattr(decoder, "_v5", lambda *args: 1 / 0)
    decoded = decode_safely(decoder, v5(), "10.0.0.1", "1:1", 0.0)
    assert [r.reason for r in decoded.rejected] == [
        "decoder error: ZeroDivisionError('division by zero')"]


def test_uptime_wrap_and_queue_full(tmp_path: Path) -> None:
    decoder = NetflowDecoder(NetflowSettings())
    wrapped = struct.pack("!HHIIIIBBH", 5, 1, 1_000, EXPORT, 0, 1, 0, 0, 0) + v5_record(
        "10.0.0.1", "10.0.0.2", 1, 2, 17, 1, 1, 2**32 - 1_000, 500)
    [flow] = decoder.decode(wrapped, "10.0.0.1", "1", 0.0).flows
    assert (flow.start_micros, flow.end_micros) == ((EXPORT - 2) * 10**6, (EXPORT - 0.5) * 10**6)

    async def scenario() -> None:
        async with listening(tmp_path, started=False, max_queued=1) as harness:
            one = v5(v5_record("10.0.0.1", "10.0.0.2", 1, 2, 17, 1, 1, 1, 1))
            harness.send(one, one, one)
            await harness.settle(3, 0)
            assert (harness.counters.received, harness.counters.dropped) == (3, 2)

    run(scenario())


# --- capture files ---------------------------------------------------------------------------

def export_packets() -> list[Any]:
    layout = template(800, (8, 4), (12, 4), (7, 2), (11, 2), (4, 1), (1, 4), (2, 4),
                      (150, 4), (151, 4))
    flow = ip4("10.8.0.1") + ip4("10.8.0.2") + struct.pack("!HHBIIII", 40000, 443, 6, 5000, 9,
                                                           EXPORT - 60, EXPORT - 30)
    exporter = Ether() / IP(src="192.0.2.10", dst="192.0.2.1")
    packets = [exporter / UDP(sport=50000, dport=4739) / ipfix(flowset(800, flow)),
               exporter / TCP(sport=22, dport=50022) / b"not netflow",
               exporter / UDP(sport=50000, dport=4739) / ipfix(flowset(2, layout)),
               exporter / UDP(sport=50001, dport=2055) / v5(v5_record(
                   "10.8.0.3", "10.8.0.4", 1, 53, 17, 1, 60, 300_000, 300_000))]
    for number, packet in enumerate(packets):
        packet.time = EXPORT + number
    return packets


@pytest.mark.parametrize("write", [wrpcap, wrpcapng])
def test_a_capture_of_export_packets_is_ingested_once(tmp_path: Path, write: Any) -> None:
    capture = tmp_path / "export.cap"
    write(str(capture), export_packets())
    records = list(read_netflow_capture(capture, 1 << 20, "analyst"))
    assert [(r.source, r.error) for r in records] == [("netflow:192.0.2.10:42", None),
                                                       ("netflow:192.0.2.10:258", None)]
    fields = records[0].fields or {}
    assert (fields["source.ip"], fields["destination.port"], fields["network.bytes"],
            fields["event.start"]) == ("10.8.0.1", 443, 5000, "2025-11-13T02:12:20.000000Z")
    assert records[0].extra == {"log.file.path": str(capture.resolve()),
                                "observer.name": "analyst", "observer.type": "file"}
    store = open_store(f"sqlite:///{tmp_path / 'soc.db'}")
    try:
        for _ in range(2):
            pipeline = Pipeline(store, EventNormaliser(load_zone("UTC"), parse_duration("1d")),
                                Inventory.empty())
            pipeline.run(read_netflow_capture(capture, 1 << 20))
            assert store.count(Collection.EVENTS, Query()) == 2
    finally:
        store.close()


def test_capture_records_over_the_limit_and_files_that_are_not_captures(tmp_path: Path) -> None:
    capture = tmp_path / "export.pcap"
    wrpcap(str(capture), export_packets())
    [_, v5_record_] = read_netflow_capture(capture, 40)
    assert v5_record_.error == ("flow record of 48 bytes exceeds pipeline.max_record_bytes "
                                "(40); first 40 bytes kept")
    text = tmp_path / "notes.txt"
    text.write_text("not a capture\n" * 10)
    with pytest.raises(CaptureFileError, match="not a pcap or pcapng capture"):
        list(read_netflow_capture(text, 1 << 20))
