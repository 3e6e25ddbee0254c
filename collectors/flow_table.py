"""The flow table behind packet captures: bidirectional flows keyed by addresses, ports,
protocol and VLAN tags, their application events, and the ECS fields of both.

`source.*` is the initiator (the SYN sender, else the first packet's sender). A flow ends on FIN
from both sides or a RST (after a short linger that gathers the last ACKs), after `idle_timeout`
without packets, after `active_timeout` of life (the rest continues as a new flow), at the end of
the capture, or when the table is full (the longest idle flow is evicted, counted). All times are
packet times in ns, so a capture reads the same whatever the wall clock. Bytes are IP bytes as
the IP header counts them (not frames, nor what the snap length kept). Memory is bounded by
`max_flows`.

Application events beside flows: each DNS message on port 53 (network.dns), and the first
payload segment of each direction of a TCP connection read as an HTTP request (network.http),
a TLS client hello (network.tls) or DNS over TCP. Streams are not reassembled: a request or
hello that spans two segments gives what its first segment holds (a cut hello has no JA3/JA4).

Fields ECS has none for, under `flow.` (Packetbeat's namespace for flow records):
`flow.end_reason` (fin, rst, idle, active, end-of-capture, evicted, as IPFIX's
flowEndReason), `flow.tcp_flags` (flags seen either way) and `flow.source_tcp_flags` /
`flow.destination_tcp_flags` (each way: a SYN scan is [SYN] one way and [RST, ACK] the other).
ICMP flows carry `icmp.type` and `icmp.code` of their first packet (Packetbeat's names).
"""

from __future__ import annotations

import socket
import struct
from collections import deque
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from typing import Any

from collectors.protocols import community_id, parse_dns, parse_http_request, parse_tls_client_hello
from soc.timeutil import EPOCH, format_timestamp

SECOND = 1_000_000_000
# How long a flow closed by FIN or RST waits for its last ACKs and retransmissions.
CLOSE_LINGER = 2 * SECOND
SWEEP_INTERVAL = SECOND
MAX_FRAGMENTED = 4096  # first fragments remembered for their later fragments
TRANSPORTS = {1: "icmp", 2: "igmp", 6: "tcp", 17: "udp", 47: "gre", 50: "esp", 51: "ah",
              58: "ipv6-icmp", 132: "sctp"}
_PORTED = frozenset({6, 17, 132})
_FIN, _SYN, _RST, _ACK = 0x01, 0x02, 0x04, 0x10
TCP_FLAG_NAMES = ("FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR")
_FLAG_LISTS = tuple(tuple(n for bit, n in enumerate(TCP_FLAG_NAMES) if value >> bit & 1)
                    for value in range(256))
_DNS_PORT = 53

PORT_PAIR = struct.Struct("!HH")

Output = tuple[int, dict[str, Any] | None, bytes, str | None]  # position, fields, raw, error


@dataclass
class CaptureStats:
    """What reading a capture found, besides its records."""

    packets: int = 0
    flows: int = 0
    app_events: int = 0
    not_ip: int = 0            # ARP, LLDP, STP…: not flows
    truncated: int = 0         # cut by the snap length, used as far as they go
    unusable: int = 0          # cut before the headers a flow needs
    fragments: int = 0         # IP fragments after the first
    unmatched_fragments: int = 0
    unsupported_link: int = 0
    malformed: int = 0         # dead-lettered
    evicted: int = 0           # flows closed early because the table was full


class _Side:
    """One direction of a flow: what it sent, and whether its first payload was looked at."""

    __slots__ = ("bytes", "flags", "flow", "packets", "pending")

    def __init__(self, flow: _Flow) -> None:
        self.flow = flow
        self.packets = 0
        self.bytes = 0
        self.flags = 0
        self.pending = True


class _Flow:
    """A bidirectional flow; `key` is the initiator's (addresses, ports, protocol suffix)."""

    __slots__ = ("closing", "done", "endpoints", "icmp", "initiator", "key", "keys", "label",
                 "last", "offset", "proto", "reason", "responder", "start", "vlan")

    def __init__(self, ts: int, key: bytes, proto: int, vlan: Any, offset: int) -> None:
        self.key = key
        self.keys: tuple[Any, ...] = ()
        self.proto = proto
        self.vlan = vlan
        self.start = self.last = ts
        self.offset = offset
        self.initiator = _Side(self)
        self.responder = _Side(self)
        self.closing = False
        self.done = False
        self.reason = ""
        self.icmp: tuple[int, int] | None = None
        self.endpoints: dict[str, Any] | None = None
        self.label = ""  # addresses and ports as text, for the records' short `raw`


class FlowTable:
    """A bounded table of bidirectional flows, counted packet by packet (`count`); closed flows,
    application events and dead letters collect in `take()`'s list. Times are ns since the
    epoch."""

    def __init__(self, idle_timeout: float = 60.0, active_timeout: float = 1800.0,
                 max_flows: int = 100_000, stats: CaptureStats | None = None) -> None:
        self.idle = int(idle_timeout * SECOND)
        self.active = int(active_timeout * SECOND)
        self.max_flows = max(1, max_flows)
        self.stats = stats if stats is not None else CaptureStats()
        self.clock = 0
        self._out: list[Output] = []
        self._flows: dict[Any, _Side] = {}
        self._open = 0
        self._by_age: deque[tuple[int, _Flow]] = deque()    # (last seen when queued, flow)
        self._closing: deque[tuple[int, _Flow]] = deque()   # (when to emit, flow)
        self._stale = 0  # entries in _by_age of flows already closed
        self._fragments: dict[tuple[bytes, int, int], _Side] = {}
        self.next_sweep = 0

    def take(self) -> list[Output]:
        """What closed since the last call."""
        out, self._out = self._out, []
        return out

    def finish(self) -> list[Output]:
        """Close every open flow (the capture ended) and return what is left."""
        for _, flow in self._closing:
            if not flow.done:
                self._close(flow, flow.reason)
        for side in list(self._flows.values()):
            if not side.flow.done:
                self._close(side.flow, "end-of-capture")
        return self.take()

    def problem(self, position: int, raw: bytes, reason: str) -> None:
        """Dead-letter something the capture holds that cannot be read."""
        self.stats.malformed += 1
        self._out.append((position + 2, None, raw, reason))

    def count(self, ts: int, data: bytes, l4: int, end: int, length: int, key: bytes,
              proto: int, size: int, vlan: Any, offset: int, flags: int,
              one_way: bool) -> _Side:
        """Count a packet to its flow (opening or re-opening it) and read the application
        payload it may carry; returns its side of the flow."""
        side = self._flows.get(key if vlan is None else (vlan, key))
        if side is None:
            side = self._new(ts, key, proto, vlan, offset, flags, one_way, None)
        else:
            flow = side.flow
            if ts > flow.last:
                if ts - flow.last > self.idle or ts - flow.start > self.active:
                    side = self._reopen(ts, side, key, offset, flags, one_way)
                else:
                    flow.last = ts
            elif ts < flow.start:
                flow.start = ts  # packets of several interfaces can arrive out of order
            if flags & _SYN and not flags & _ACK and side.flow.closing:
                self._close(side.flow, side.flow.reason)  # the ports are reused: a new connection
                side = self._new(ts, key, proto, vlan, offset, flags, one_way, None)
        side.packets += 1
        side.bytes += size
        if proto == 6:
            if flags:
                side.flags |= flags
                if flags & (_FIN | _RST):
                    self._tcp_end(ts, side.flow, flags)
            if side.pending:
                header = (data[l4 + 12] >> 4) << 2
                if length > header:
                    side.pending = False
                    self._first_payload(ts, side.flow, data[l4 + header:end], offset)
        elif proto == 17 and ((data[l4 + 1] == _DNS_PORT and not data[l4])
                              or (data[l4 + 3] == _DNS_PORT and not data[l4 + 2])):
            self._app(ts, side.flow, "dns", parse_dns(data[l4 + 8:end]), offset)
        return side

    def _reopen(self, ts: int, side: _Side, key: bytes, offset: int, flags: int,
                one_way: bool) -> _Side:
        """Close a flow that went idle or lived too long, and start its successor."""
        flow = side.flow
        if ts - flow.last > self.idle:
            self._close(flow, flow.reason or "idle")
            return self._new(ts, key, flow.proto, flow.vlan, offset, flags, one_way, None)
        self._close(flow, "active")
        # The rest of a long connection keeps its initiator as `source`.
        return self._new(ts, key, flow.proto, flow.vlan, offset, flags, one_way,
                         side is flow.initiator)

    def _new(self, ts: int, key: bytes, proto: int, vlan: Any, offset: int, flags: int,
             one_way: bool, initiates: bool | None) -> _Side:
        if self._open >= self.max_flows:
            self._evict()
        half = len(key) // 2 - 2  # address length: the key is two addresses, ports, a suffix
        reverse = None
        if not one_way:
            ports = key[2 * half:2 * half + 4]
            reverse = (key[half:2 * half] + key[:half] + ports[2:] + ports[:2]
                       + key[2 * half + 4:])
            if reverse == key:
                reverse = None
        if initiates is None:  # a SYN-ACK seen first was sent by the responder
            initiates = proto != 6 or flags & (_SYN | _ACK) != _SYN | _ACK or reverse is None
        flow = _Flow(ts, key if initiates or reverse is None else reverse, proto, vlan, offset)
        keys = [key] if reverse is None else [key, reverse]
        flow.keys = tuple(keys if vlan is None else [(vlan, k) for k in keys])
        flows = self._flows
        this, other = (flow.initiator, flow.responder) if initiates else (flow.responder,
                                                                           flow.initiator)
        flows[flow.keys[0]] = this
        if reverse is not None:
            flows[flow.keys[1]] = other
        self._open += 1
        self._by_age.append((ts, flow))
        return this

    def _close(self, flow: _Flow, reason: str, queued: bool = True) -> None:
        """Emit a flow and drop it from the table; `queued`: its age entry is still queued."""
        flow.done = True
        for key in flow.keys:
            self._flows.pop(key, None)
        self._open -= 1
        if queued:
            # The age queue drops closed flows lazily; when they are half of it, at once (each
            # pass at least halves it, so it costs O(1) a flow).
            self._stale += 1
            if self._stale > 1024 and self._stale * 2 > len(self._by_age):
                self._by_age = deque(entry for entry in self._by_age if not entry[1].done)
                self._stale = 0
        self._out.append(self._flow_output(flow, reason))
        flow.endpoints = None  # the output has its own copy; a queued closed flow stays small
        self.stats.flows += 1

    def _tcp_end(self, ts: int, flow: _Flow, flags: int) -> None:
        if flow.closing:
            return
        if flags & _RST:
            flow.reason = "rst"
        elif flow.initiator.flags & _FIN and flow.responder.flags & _FIN:
            flow.reason = "fin"
        else:
            return
        flow.closing = True
        self._closing.append((ts + CLOSE_LINGER, flow))

    def sweep(self, now: int) -> None:
        """Emit the flows whose linger or idle time has passed by `now` (packet time)."""
        self.clock = now = max(self.clock, now)
        closing = self._closing
        while closing and closing[0][0] <= now:
            flow = closing.popleft()[1]
            if not flow.done:
                self._close(flow, flow.reason)
        by_age = self._by_age
        horizon = now - self.idle
        while by_age and by_age[0][0] < horizon:
            flow = by_age.popleft()[1]
            if flow.done:
                self._stale -= 1
            elif flow.last < horizon:
                self._close(flow, flow.reason or "idle", queued=False)
            else:
                by_age.append((flow.last, flow))
        self.next_sweep = now + SWEEP_INTERVAL

    def _evict(self) -> None:
        """Make room: a flow that is only lingering goes first, else the longest idle one."""
        while self._closing:
            flow = self._closing.popleft()[1]
            if not flow.done:
                self._close(flow, flow.reason)
                return
        by_age = self._by_age
        while by_age:
            seen, flow = by_age.popleft()
            if flow.done:
                self._stale -= 1
            elif flow.last > seen:
                by_age.append((flow.last, flow))
            else:
                self.stats.evicted += 1
                self._close(flow, "evicted", queued=False)
                return

    def remember_fragment(self, fragmented: tuple[bytes, int, int], side: _Side) -> None:
        fragments = self._fragments
        if len(fragments) >= MAX_FRAGMENTED:
            del fragments[next(iter(fragments))]
        fragments[fragmented] = side

    def count_fragment(self, ts: int, fragmented: tuple[bytes, int, int], size: int,
                       last: bool) -> None:
        """A fragment after the first carries no ports: it counts to its first one's flow."""
        self.stats.fragments += 1
        side = self._fragments.pop(fragmented, None) if last else self._fragments.get(fragmented)
        if side is None or side.flow.done:
            self.stats.unmatched_fragments += 1
            return
        side.packets += 1
        side.bytes += size
        side.flow.last = max(side.flow.last, ts)

    # -- application payloads ------------------------------------------------------------------

    def _first_payload(self, ts: int, flow: _Flow, payload: bytes, offset: int) -> None:
        if not payload:
            return  # the snap length cut it off
        first = payload[0]
        if first == 0x16:
            self._app(ts, flow, "tls", parse_tls_client_hello(payload), offset)
        elif 0x41 <= first <= 0x5A:
            self._app(ts, flow, "http", parse_http_request(payload), offset)
        else:
            ends = self._endpoints(flow)
            if _DNS_PORT in (ends["source.port"], ends["destination.port"]):
                self._app(ts, flow, "dns", parse_dns(payload[2:]), offset)  # after its length

    def _app(self, ts: int, flow: _Flow, protocol: str, parsed: dict[str, Any] | None,
             offset: int) -> None:
        if parsed is None:
            return
        web = protocol == "http"
        fields = {
            **self._endpoints(flow), "@timestamp": _iso(ts), "event.kind": "event",
            "event.dataset": f"network.{protocol}",
            "event.category": ["network", "web"] if web else ["network"],
            "event.type": ["access"] if web else ["protocol"], "network.protocol": protocol,
            "log.offset": offset, **parsed}
        self.stats.app_events += 1
        self._out.append((offset + 1, fields, f"network.{protocol} {flow.label}".encode(), None))

    # -- output --------------------------------------------------------------------------------

    def _endpoints(self, flow: _Flow) -> dict[str, Any]:
        """The fields a flow and its application events share (computed once per flow)."""
        if flow.endpoints is not None:
            return flow.endpoints
        key, proto = flow.key, flow.proto
        half = len(key) // 2 - 2
        family = socket.AF_INET if half == 4 else socket.AF_INET6
        source, destination = key[:half], key[half:2 * half]
        sport, dport = PORT_PAIR.unpack_from(key, 2 * half)
        source_ip = socket.inet_ntop(family, source)
        destination_ip = socket.inet_ntop(family, destination)
        fields: dict[str, Any] = {
            "source.ip": source_ip, "destination.ip": destination_ip,
            "network.type": "ipv4" if half == 4 else "ipv6", "network.iana_number": str(proto),
            # A flow with one key is one-way ICMP (or has the same ends both ways, where
            # ordering changes nothing).
            "network.community_id": community_id(source, destination, proto, sport, dport,
                                                 one_way=len(flow.keys) == 1),
        }
        transport = TRANSPORTS.get(proto, str(proto))
        if proto in TRANSPORTS:
            fields["network.transport"] = transport
        if proto in _PORTED:
            fields["source.port"], fields["destination.port"] = sport, dport
            flow.label = (f"{transport} {_address(source_ip, sport)} -> "
                          f"{_address(destination_ip, dport)}")
        else:
            flow.label = f"{transport} {source_ip} -> {destination_ip}"
        if flow.icmp is not None:
            fields["icmp.type"], fields["icmp.code"] = flow.icmp
        if flow.vlan is not None:
            outer, inner = flow.vlan
            fields["network.vlan.id"] = str(outer)
            if inner is not None:
                fields["network.inner.vlan.id"] = str(inner)
        flow.endpoints = fields
        return fields

    def _flow_output(self, flow: _Flow, reason: str) -> Output:
        source, target = flow.initiator, flow.responder
        start = _iso(flow.start)
        fields = {
            **self._endpoints(flow), "@timestamp": start, "event.start": start,
            "event.end": _iso(flow.last),
            "event.duration": flow.last - flow.start, "event.kind": "event",
            "event.category": ["network"], "event.type": ["connection", "end"],
            "event.dataset": "network.flow", "flow.end_reason": reason,
            "source.bytes": source.bytes, "source.packets": source.packets,
            "destination.bytes": target.bytes, "destination.packets": target.packets,
            "network.bytes": source.bytes + target.bytes,
            "network.packets": source.packets + target.packets, "log.offset": flow.offset}
        if flow.proto == 6:
            fields["flow.tcp_flags"] = list(_FLAG_LISTS[source.flags | target.flags])
            fields["flow.source_tcp_flags"] = list(_FLAG_LISTS[source.flags])
            fields["flow.destination_tcp_flags"] = list(_FLAG_LISTS[target.flags])
        return flow.offset, fields, f"network.flow {reason} {flow.label}".encode(), None


def _iso(ns: int) -> str:
    """soc.timeutil.format_timestamp of a time in ns, without a datetime: it runs two or three
    times per flow, and a datetime and timedelta cost two thirds of it."""
    seconds, micros = divmod(ns // 1000, 1_000_000)
    return f"{_second_text(seconds)}.{micros:06d}Z"


@lru_cache(maxsize=4096)
def _second_text(seconds: int) -> str:
    return format_timestamp(EPOCH + timedelta(seconds=seconds))[:-8]


def _address(ip: str, port: int) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
