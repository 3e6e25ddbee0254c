"""NetFlow v5, v9 and IPFIX: a UDP listener and a capture-file reader, both turning export
records into ECS flow events (`event.dataset: netflow.flow`, one event per flow record).

Decoding (headers, templates, options, data sets waiting for their template) is in
collectors.netflow_decode; this module maps decoded records to ECS and hands them on.

ECS where it has a field; otherwise the IPFIX information element's name in snake_case under
`netflow.`, the names Filebeat's NetFlow input uses, so analysts and its dashboards know them:
`netflow.octet_delta_count` / `netflow.packet_delta_count` (or `octet_total_count`,
`post_octet_delta_count`, ...) hold the counters as exported, while `network.bytes|packets` and
`source.bytes|packets` hold them multiplied by the sampling interval; `netflow.tcp_control_bits`
is the flags field as exported and `netflow.tcp_flags` their names (Sigma rules cannot test
bits); `netflow.ip_class_of_service` (ToS), `netflow.ip_diff_serv_code_point` (DSCP),
`netflow.ip_next_hop_ipv4_address`, `netflow.icmp_type_ipv4`, `netflow.flow_direction`
(ingress/egress at the exporter; `network.direction` is left to the inventory, which sets it
from the province's networks), and so on. `netflow.exporter.*`
says who exported the record and how it was sampled (`sampling_interval`, `sampling_algorithm`,
and `sampling_source`: header, options, record or config).

Identity: the source of a record is `netflow:<exporter ip>:<source id>`. Live, its position is
the datagram's receive time in µs, the datagram's number since the listener started, then set
and record: NetFlow over UDP is never retransmitted, so a byte-identical datagram arriving later
is a new export and must stay a new event, while the exporter's own sequence number cannot be
trusted for identity (it restarts when the exporter does, and some never set it). From a capture
the position is the file's content identity, the packet's index and the record's, so
re-ingesting a capture stores nothing twice.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import logging
import os
import socket
import time
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from collectors.files import FINGERPRINT_BYTES
from collectors.netflow_decode import Decoded, FlowRecord, NetflowDecoder, Rejected, unreadable
from collectors.netflow_templates import IE
from collectors.pcap import CaptureFileError
from collectors.protocols import community_id, icmp_ports
from collectors.udp import KernelDrops, address_text, bound_udp_socket
from soc.config import NetflowSettings, parse_address
from soc.events import RawRecord, canonical_ip
from soc.sources import SourceCounters, SourceRegistry
from soc.streaming import StreamIngest
from soc.timeutil import EPOCH, format_timestamp

log = logging.getLogger(__name__)

MAX_DATAGRAM = 65535  # a UDP payload can be no larger, so the listener needs no record limit
DROP_LOG_INTERVAL = 60.0  # seconds between warnings about one exporter's dropped data sets
TRANSPORTS = {1: "icmp", 2: "igmp", 6: "tcp", 17: "udp", 41: "ipv6", 47: "gre", 50: "esp",
              51: "ah", 58: "ipv6-icmp", 89: "ospf", 103: "pim", 112: "vrrp", 132: "sctp"}
PORT_PROTOCOLS = frozenset({6, 17, 132})
ICMP_VERSIONS = {1: "ipv4", 58: "ipv6"}  # ICMP and ICMPv6, by protocol number
TCP_FLAG_NAMES = ((0x01, "FIN"), (0x02, "SYN"), (0x04, "RST"), (0x08, "PSH"), (0x10, "ACK"),
                  (0x20, "URG"), (0x40, "ECE"), (0x80, "CWR"), (0x100, "NS"))
DIRECTIONS = {0: "ingress", 1: "egress"}  # IPFIX flowDirection
COUNTERS = (
    ("bytes", ((IE.OCTETS, "octet_delta_count"), (IE.OCTETS_TOTAL, "octet_total_count"),
               (IE.POST_OCTETS, "post_octet_delta_count"))),
    ("packets", ((IE.PACKETS, "packet_delta_count"), (IE.PACKETS_TOTAL, "packet_total_count"),
                 (IE.POST_PACKETS, "post_packet_delta_count"))),
)
NEXT_HOPS = ((IE.NEXT_HOP_IPV4, "netflow.ip_next_hop_ipv4_address"),
             (IE.NEXT_HOP_IPV6, "netflow.ip_next_hop_ipv6_address"),
             (IE.BGP_NEXT_HOP_IPV4, "netflow.bgp_next_hop_ipv4_address"),
             (IE.BGP_NEXT_HOP_IPV6, "netflow.bgp_next_hop_ipv6_address"))
UNSPECIFIED = frozenset({"0.0.0.0", "::"})


class NetflowServer:
    """The NetFlow/IPFIX UDP listener of one configuration, feeding one StreamIngest."""

    def __init__(self, settings: NetflowSettings, ingest: StreamIngest, sources: SourceRegistry,
                 name: str = "netflow") -> None:
        self.settings = settings
        self.ingest = ingest
        self.sources = sources
        self.name = name
        self.decoder = NetflowDecoder(settings)
        self.addresses: dict[str, tuple[str, int]] = {}
        self._udp: asyncio.DatagramTransport | None = None
        self._receiver: _ExportReceiver | None = None

    async def start(self) -> None:
        """Bind the UDP listener (if configured); OSError (e.g. address in use) names it."""
        if not self.settings.udp:
            return
        loop = asyncio.get_running_loop()
        counters = self.sources.source(f"{self.name}-udp", "netflow-udp")
        sock = bound_udp_socket(parse_address(self.settings.udp),
                                 int(self.settings.udp_buffer))
        self._udp, self._receiver = await loop.create_datagram_endpoint(
            lambda: _ExportReceiver(self, counters, sock), sock=sock)
        self.addresses["udp"] = sock.getsockname()[:2]
        log.info("netflow listening", extra={"transport": "udp",
                                             "address": address_text(self.addresses["udp"])})

    async def stop(self) -> None:
        if self._udp is not None:
            self._udp.close()
        if self._receiver is not None:
            self._receiver.kernel_drops.check()
            self._receiver.account([], self.decoder.flush("the listener stopped"))


class _ExportReceiver(asyncio.DatagramProtocol):
    def __init__(self, server: NetflowServer, counters: SourceCounters,
                 sock: socket.socket) -> None:
        self.server = server
        self.counters = counters
        self.extra = {"observer.name": server.name, "observer.type": "netflow-udp"}
        self.sequence = 0
        self.kernel_drops = KernelDrops(sock, counters, "NetFlow datagrams")
        self.drops_logged: dict[str, float] = {}

    def datagram_received(self, data: bytes, address: tuple[str | Any, int]) -> None:
        self.sequence += 1
        micros = time.time_ns() // 1000
        decoded = decode_safely(self.server.decoder, data, canonical_ip(address[0]),
                                f"{micros}:{self.sequence}", micros / 1e6)
        records = export_records(decoded, self.extra, MAX_DATAGRAM)
        self.account(records, decoded.rejected)
        if records and not self.server.ingest.offer(records):
            self.counters.count(dropped=len(records))
        if self.sequence % 1024 == 0:
            self.kernel_drops.check()

    def account(self, records: list[RawRecord], rejected: list[Rejected]) -> None:
        """Count a datagram's records; data sets whose template never came count as dropped."""
        dropped = [item for item in rejected if item.dropped]
        bad = sum(record.error is not None for record in records)
        self.counters.count(received=len(records) + len(dropped), parsed=len(records) - bad,
                            dead_lettered=bad, dropped=len(dropped))
        log_dropped(dropped, self.drops_logged)



def read_netflow_capture(path: Path, max_record_bytes: int, observer: str = "file",
                         settings: NetflowSettings | None = None) -> Iterator[RawRecord]:
    """The flow records of the NetFlow/IPFIX export packets (UDP, any port) of a pcap or pcapng
    capture, in capture order; CaptureFileError when it is not a capture, OSError when it
    cannot be read. `settings` gives the template and sampling defaults of the listener."""
    real = os.path.realpath(path)
    extra = {"log.file.path": real, "observer.name": observer, "observer.type": "file"}
    with path.open("rb") as handle:
        # The capture's first bytes (its first packets, with their times), as collectors.pcap
        # names captures and collectors.files names logs.
        identity = hashlib.blake2b(handle.read(FINGERPRINT_BYTES), digest_size=8).hexdigest()
    decoder = NetflowDecoder(settings or NetflowSettings())
    logged: dict[str, float] = {}
    for index, exporter, data, moment in _udp_payloads(path):
        decoded = decode_safely(decoder, data, exporter, f"{identity}:{index}", moment)
        log_dropped([item for item in decoded.rejected if item.dropped], logged)
        yield from export_records(decoded, extra, max_record_bytes)
    log_dropped(decoder.flush("the capture ended"), {})


def _udp_payloads(path: Path) -> Iterator[tuple[int, str, bytes, float]]:
    """(packet index, sender address, UDP payload, capture time) of each UDP packet."""
    # scapy is imported here, not with the module: it costs half a second and 40 MB, which
    # every `soc` command would pay for a format few runs use.
    from scapy.error import Scapy_Exception
    from scapy.layers.inet import IP, UDP
    from scapy.layers.inet6 import IPv6
    from scapy.utils import PcapReader

    try:
        reader = PcapReader(str(path))
    except Scapy_Exception as exc:
        raise CaptureFileError(errno.EINVAL, f"not a pcap or pcapng capture ({exc})",
                               str(path)) from None
    with reader:
        index = -1
        try:
            for index, packet in enumerate(reader):
                udp = packet.getlayer(UDP)
                network = udp.underlayer if udp is not None else None
                if isinstance(network, IP | IPv6):
                    # bytes() of the payload holds the link layer's padding too: cut it off.
                    payload = bytes(udp.payload)[:max(udp.len - 8, 0)] if udp.len else b""
                    yield index, canonical_ip(network.src), payload, float(packet.time)
        except Scapy_Exception as exc:
            raise CaptureFileError(errno.EINVAL, f"capture damaged at packet {index + 1}: "
                                   f"{exc}", str(path)) from None


def decode_safely(decoder: NetflowDecoder, data: bytes, exporter: str, origin: str,
                  now: float) -> Decoded:
    """`decoder.decode`; a defect in the decoder costs the one datagram (dead-lettered with
    the error), never the listener."""
    try:
        return decoder.decode(data, exporter, origin, now)
    except Exception as exc:
        log.exception("the NetFlow decoder failed on a datagram", extra={"exporter": exporter})
        return Decoded(rejected=[unreadable(exporter, origin, now, data,
                                            f"decoder error: {exc!r}")])


def export_records(decoded: Decoded, extra: Mapping[str, Any], limit: int) -> list[RawRecord]:
    """RawRecords of decoded flows, and of what was malformed (dead letters with the reason).
    Data sets dropped for want of a template are counted, not records: nothing can be read."""
    records = []
    packet, source, received = None, "", EPOCH
    for flow in decoded.flows:
        if flow.packet is not packet:  # most flows share their datagram's
            packet = flow.packet
            source = _source(packet.exporter, packet.domain)
            received = _datetime(int(packet.received * 1e6))
        position = f"{packet.origin}:{flow.position}"
        if len(flow.raw) > limit:
            records.append(RawRecord(
                source, flow.raw[:limit], None, f"flow record of {len(flow.raw)} bytes exceeds "
                f"pipeline.max_record_bytes ({limit}); first {limit} bytes kept", position,
                received, extra=extra, keep_original=False))
        else:
            records.append(RawRecord(source, flow.raw, flow_fields(flow), None, position,
                                     received, extra=extra, keep_original=False))
    for item in decoded.rejected:
        if not item.dropped:
            records.append(RawRecord(_source(item.exporter, item.domain), item.raw[:limit],
                                     None, item.reason, f"{item.origin}:{item.position}",
                                     _datetime(int(item.received * 1e6)), extra=extra,
                                     keep_original=False))
    return records


def log_dropped(dropped: list[Rejected], logged: dict[str, float]) -> None:
    """Warn about dropped data sets, at most once a minute per exporter (`logged` remembers)."""
    now = time.monotonic()
    for item in dropped:
        last = logged.get(item.exporter)
        if last is None or now - last >= DROP_LOG_INTERVAL:
            logged[item.exporter] = now
            log.warning("NetFlow data dropped", extra={
                "exporter": item.exporter, "source_id": item.domain, "reason": item.reason,
                "sets": sum(other.exporter == item.exporter for other in dropped)})


def flow_fields(flow: FlowRecord) -> dict[str, Any]:
    """The ECS fields of one flow record."""
    packet, values = flow.packet, flow.values
    fields: dict[str, Any] = {
        "event.category": ["network"], "event.type": ["connection"],
        "event.dataset": "netflow.flow", "observer.ip": packet.exporter,
        "netflow.exporter.version": packet.version, "netflow.exporter.source_id": packet.domain,
    }
    _add_times(fields, flow)
    _add_endpoints(fields, values)
    _add_counters(fields, flow)
    _add_path(fields, values)
    return fields


def _add_times(fields: dict[str, Any], flow: FlowRecord) -> None:
    start, end = flow.start_micros, flow.end_micros
    started = _datetime(start) if start is not None else None
    ended = _datetime(end) if end is not None else None
    if started is not None:
        fields["event.start"] = format_timestamp(started)
    if ended is not None:
        fields["event.end"] = format_timestamp(ended)
    if start is not None and end is not None and end >= start:
        fields["event.duration"] = (end - start) * 1000  # ECS durations are nanoseconds
    # A flow is placed at its start; a record that states no time, at its export.
    fields["@timestamp"] = started or ended or _datetime(flow.packet.export_micros)


def _add_endpoints(fields: dict[str, Any], values: dict[int, Any]) -> None:
    source = values.get(IE.SRC_IPV4) or values.get(IE.SRC_IPV6)
    destination = values.get(IE.DST_IPV4) or values.get(IE.DST_IPV6)
    addresses = [address for address in (source, destination) if address]
    if source:
        fields["source.ip"] = source
    if destination:
        fields["destination.ip"] = destination
    if addresses:
        fields["related.ip"] = addresses
        fields["network.type"] = "ipv6" if ":" in addresses[0] else "ipv4"
    protocol = values.get(IE.PROTOCOL)
    if protocol is None or protocol > 255:
        _add_ports(fields, values)
        return
    fields["network.iana_number"] = str(protocol)
    if protocol in TRANSPORTS:
        fields["network.transport"] = TRANSPORTS[protocol]
    ports: tuple[int | None, int | None] | None = None  # None: hashed without ports
    if protocol in ICMP_VERSIONS:
        ports = _add_icmp(fields, values, protocol)
    elif protocol in PORT_PROTOCOLS:
        ports = _add_ports(fields, values)
    if source and destination and (ports is None or None not in ports):
        _add_community_id(fields, source, destination, protocol, ports)  # type: ignore[arg-type]


def _add_community_id(fields: dict[str, Any], source: str, destination: str, protocol: int,
                      ports: tuple[int, int] | None) -> None:
    """network.community_id, by collectors.protocols (the packet collector's helper); for ICMP
    the ports are the message type and code."""
    packed_source, packed_destination = _packed(source), _packed(destination)
    if len(packed_source) != len(packed_destination):
        return  # a record that mixes address families has no flow tuple
    if ports is None:
        fields["network.community_id"] = community_id(packed_source, packed_destination, protocol)
        return
    source_port, destination_port, one_way = (
        icmp_ports(*ports, protocol == 58) if protocol in ICMP_VERSIONS else (*ports, False))
    fields["network.community_id"] = community_id(packed_source, packed_destination, protocol,
                                                  source_port, destination_port, one_way)


def _add_ports(fields: dict[str, Any], values: dict[int, Any]) -> tuple[int | None, int | None]:
    ports = (_port(values.get(IE.SRC_PORT)), _port(values.get(IE.DST_PORT)))
    if ports[0] is not None:
        fields["source.port"] = ports[0]
    if ports[1] is not None:
        fields["destination.port"] = ports[1]
    return ports


def _add_icmp(fields: dict[str, Any], values: dict[int, Any],
              protocol: int) -> tuple[int | None, int | None]:
    """ICMP type and code: from their own fields, or from the destination port, where v5 and
    many v9 exporters put type × 256 + code. ICMP has no ports, so none are set."""
    v4 = protocol == 1
    combined = values.get(IE.ICMP_TYPE_CODE_IPV4 if v4 else IE.ICMP_TYPE_CODE_IPV6)
    kind = values.get(IE.ICMP_TYPE_IPV4 if v4 else IE.ICMP_TYPE_IPV6)
    if combined is None and kind is None:
        combined = values.get(IE.DST_PORT)
    if combined is not None:
        kind, code = divmod(combined & 0xFFFF, 256)
    elif kind is not None:
        code = values.get(IE.ICMP_CODE_IPV4 if v4 else IE.ICMP_CODE_IPV6, 0)
    else:
        return None, None
    fields[f"netflow.icmp_type_{ICMP_VERSIONS[protocol]}"] = kind
    fields[f"netflow.icmp_code_{ICMP_VERSIONS[protocol]}"] = code
    return _port(kind), _port(code)


def _add_counters(fields: dict[str, Any], flow: FlowRecord) -> None:
    sampling = flow.sampling
    rate = sampling.interval if sampling is not None else 1
    for unit, candidates in COUNTERS:
        for ie, name in candidates:
            if ie in flow.values:
                fields[f"netflow.{name}"] = flow.values[ie]
                # A NetFlow record is one direction of a flow: the source sent all of it.
                fields[f"network.{unit}"] = fields[f"source.{unit}"] = flow.values[ie] * rate
                break
    if sampling is not None:
        fields["netflow.exporter.sampling_interval"] = sampling.interval
        fields["netflow.exporter.sampling_source"] = sampling.origin
        if sampling.algorithm:
            fields["netflow.exporter.sampling_algorithm"] = sampling.algorithm


def _add_path(fields: dict[str, Any], values: dict[int, Any]) -> None:
    """Interfaces, AS numbers, next hops, ToS/DSCP, direction and TCP flags."""
    if IE.INPUT in values:
        fields["observer.ingress.interface.id"] = str(values[IE.INPUT])
    if IE.OUTPUT in values:
        fields["observer.egress.interface.id"] = str(values[IE.OUTPUT])
    if values.get(IE.SRC_AS):  # AS 0 means "not known"
        fields["source.as.number"] = values[IE.SRC_AS]
    if values.get(IE.DST_AS):
        fields["destination.as.number"] = values[IE.DST_AS]
    for ie, name in NEXT_HOPS:
        if values.get(ie) and values[ie] not in UNSPECIFIED:
            fields[name] = values[ie]
    if IE.TOS in values:
        fields["netflow.ip_class_of_service"] = values[IE.TOS]
    if IE.DSCP in values or IE.TOS in values:
        fields["netflow.ip_diff_serv_code_point"] = values.get(IE.DSCP, values.get(IE.TOS, 0) >> 2)
    if values.get(IE.DIRECTION) in DIRECTIONS:
        # Not network.direction: the inventory sets that from the province's networks.
        fields["netflow.flow_direction"] = DIRECTIONS[values[IE.DIRECTION]]
    if values.get(IE.PROTOCOL) == 6 and IE.TCP_FLAGS in values:
        flags = values[IE.TCP_FLAGS]
        fields["netflow.tcp_control_bits"] = flags
        fields["netflow.tcp_flags"] = [name for bit, name in TCP_FLAG_NAMES if flags & bit]


def _packed(address: str) -> bytes:
    return socket.inet_pton(socket.AF_INET6 if ":" in address else socket.AF_INET, address)


def _port(value: int | None) -> int | None:
    return value if value is not None and 0 <= value <= 65535 else None


def _source(exporter: str, domain: int | None) -> str:
    return f"netflow:{exporter}:{'unknown' if domain is None else domain}"


def _datetime(micros: int) -> datetime:
    return EPOCH + timedelta(microseconds=micros)

