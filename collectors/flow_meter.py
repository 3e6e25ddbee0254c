"""FlowMeter: captured packets decoded into a FlowTable.

Decoding: Ethernet (802.1Q and QinQ tags → network.vlan.id, network.inner.vlan.id), Linux
cooked v1 and v2, raw IP and BSD loopback links; IPv4 (later fragments counted to the flow of
their first fragment by IP id), IPv6 (extension headers skipped, fragment header read); TCP,
UDP, SCTP ports, ICMP and ICMPv6 types. A packet cut by the snap length gives what it holds;
one its headers cannot describe is dead-lettered with the reason.
"""

from __future__ import annotations

import struct
from typing import Any

from collectors.flow_table import PORT_PAIR, TRANSPORTS, FlowTable
from collectors.protocols import icmp_ports

# Link types (tcpdump.org/linktypes.html) → the decoder's few link kinds.
ETHERNET, RAW, SLL, SLL2, NULL = 1, 101, 113, 276, 0
LINK_KINDS = {1: ETHERNET, 101: RAW, 12: RAW, 14: RAW, 228: RAW, 229: RAW, 113: SLL,
              276: SLL2, 0: NULL, 108: NULL}
_VLAN_TPIDS = frozenset({0x8100, 0x88A8, 0x9100})
_IP_BY_VERSION = {4: 0x0800, 6: 0x86DD}
_IPV6_EXTENSIONS = frozenset({0, 43, 44, 51, 60, 135, 139, 140})

_U16 = struct.Struct("!H")
_IPV4 = struct.Struct("!BxHHHxB")
# Ethernet type, IPv4 first byte, length, id, fragment, protocol, addresses and ports, TCP flags.
_FAST = struct.Struct("!12xHBxHHHxB2x12s9xB")
_IPV6 = struct.Struct("!4xHB")
_V6_FRAGMENT = struct.Struct("!BxHI")


class FlowMeter(FlowTable):
    """Decodes packets (link, IP and transport headers) into the flow table it is."""

    def unsupported(self, *_: Any) -> None:
        """`packet` for a link type the decoder does not read: the packet is only counted."""
        self.stats.unsupported_link += 1

    def undecodable(self, position: int, raw: bytes, error: Exception) -> None:
        """Dead-letter a packet that made the decoder fail (a case it does not know yet)."""
        self.problem(position, raw, f"packet at offset {position} cannot be decoded: "
                                    f"{type(error).__name__}: {error}")

    def packet(self, ts: int, data: bytes, start: int, end: int, wire: int, link: int,
               offset: int) -> None:
        """One captured packet: data[start:end] of the `wire` bytes sent, at `ts` ns."""
        if ts >= self.next_sweep:
            self.sweep(ts)
        if end - start < wire:
            self.stats.truncated += 1
        # Most packets are TCP or UDP in IPv4 without options on Ethernet: one unpack reads all
        # their headers, and addresses and ports come out as the flow key in one slice.
        if link == ETHERNET and end - start >= 48:
            etype, first, size, _, fragment, proto, key, flags = _FAST.unpack_from(data, start)
            if (etype == 0x0800 and first == 0x45 and size >= 40 and not fragment & 0x3FFF
                    and (proto == 6 or proto == 17)):
                ip_end = start + 14 + size
                if proto == 17:
                    key += b"\x11"
                    flags = 0
                self.count(ts, data, start + 34, ip_end if ip_end < end else end, size - 20,
                           key, proto, size, None, offset, flags, False)
                return
        self._link(ts, data, start, end, end - start < wire, link, offset)

    def _link(self, ts: int, data: bytes, start: int, end: int, cut: bool, link: int,
              offset: int) -> None:
        # Every read is checked against `end`: data is a chunk that holds the next packets too.
        p = start
        if link == ETHERNET and end - p >= 14:
            etype = data[p + 12] << 8 | data[p + 13]
            p += 14
        elif link == RAW and end > p:
            etype = _IP_BY_VERSION.get(data[p] >> 4, 0)
        elif link == SLL and end - p >= 16:
            etype = _U16.unpack_from(data, p + 14)[0]
            p += 16
        elif link == SLL2 and end - p >= 20:
            etype = _U16.unpack_from(data, p)[0]
            p += 20
        elif link == NULL and end - p >= 5:
            etype = _IP_BY_VERSION.get(data[p + 4] >> 4, 0)
            p += 4
        else:
            return self._unusable(offset, data, start, end, cut, "the link-layer header")
        vlan = None
        if etype in _VLAN_TPIDS:
            vlan, etype, p = _vlan_tags(data, p, end)
        if etype == 0x0800:
            self._ipv4(ts, data, p, end, cut, vlan, offset)
        elif etype == 0x86DD:
            self._ipv6(ts, data, p, end, cut, vlan, offset)
        elif etype:
            self.stats.not_ip += 1
        else:
            self._unusable(offset, data, start, end, cut, "the VLAN tags")

    def _ipv4(self, ts: int, data: bytes, p: int, end: int, cut: bool, vlan: Any,
              offset: int) -> None:
        if end - p < 20:
            return self._unusable(offset, data, p, end, cut, "the IPv4 header")
        first, size, ident, fragment, proto = _IPV4.unpack_from(data, p)
        header = (first & 15) << 2
        if first >> 4 != 4 or header < 20:
            return self._malformed(offset, data, p, f"IPv4 header length {header} (IHL "
                                   f"{first & 15}, version {first >> 4}) is impossible")
        if size < header:
            if size:
                return self._malformed(offset, data, p, f"IPv4 total length {size} is shorter "
                                       f"than its {header}-byte header")
            size = end - p  # 0: a segmentation-offloaded packet, captured before the NIC split it
        l4 = p + header
        if l4 > end:
            if cut:
                return self._unusable(offset, data, p, end, cut, "the IPv4 options")
            return self._malformed(offset, data, p, f"IPv4 header length {header} is longer "
                                   f"than the packet's {end - p} bytes")
        addresses = data[p + 12:p + 20]
        fragmented = None
        if fragment & 0x3FFF:
            if fragment & 0x1FFF:
                return self.count_fragment(ts, (addresses, ident, proto), size,
                                           not fragment & 0x2000)
            fragmented = (addresses, ident, proto)
        self._transport(ts, data, l4, min(end, p + size), size - header, addresses, proto, size,
                        vlan, offset, cut, fragmented, False)

    def _ipv6(self, ts: int, data: bytes, p: int, end: int, cut: bool, vlan: Any,
              offset: int) -> None:
        if end - p < 40:
            return self._unusable(offset, data, p, end, cut, "the IPv6 header")
        length, proto = _IPV6.unpack_from(data, p)
        size = 40 + length
        addresses = data[p + 8:p + 40]
        l4 = p + 40
        fragmented = None
        for _ in range(8):  # extension headers, a bounded chain
            if proto not in _IPV6_EXTENSIONS:
                break
            if l4 + 8 > end:
                return self._unusable(offset, data, p, end, cut, "the IPv6 extension headers")
            if proto == 44:
                following, place, ident = _V6_FRAGMENT.unpack_from(data, l4)
                if place & 0xFFF8:
                    return self.count_fragment(ts, (addresses, ident, 44), size,
                                               not place & 1)
                if place & 1:
                    fragmented = (addresses, ident, 44)
                proto, l4 = following, l4 + 8
            else:
                step = (data[l4 + 1] + 2) * 4 if proto == 51 else (data[l4 + 1] + 1) * 8
                proto, l4 = data[l4], l4 + step
        self._transport(ts, data, l4, min(end, p + size), size - (l4 - p), addresses, proto,
                        size, vlan, offset, cut, fragmented, True)

    def _transport(self, ts: int, data: bytes, l4: int, end: int, length: int, addresses: bytes,
                   proto: int, size: int, vlan: Any, offset: int, cut: bool,
                   fragmented: tuple[bytes, int, int] | None, v6: bool) -> None:
        """The flow key of a packet from its transport header at data[l4:end] (`length` bytes
        sent): addresses, then ports (ICMP: type and counterpart or code), then for all but
        TCP the protocol number."""
        flags = 0
        one_way = False
        icmp = None
        if proto == 6 or proto == 17 or proto == 132:
            if end - l4 < (14 if proto == 6 else 4):
                return self._unusable(offset, data, l4, end, cut, f"the {TRANSPORTS[proto]} "
                                      f"header")
            key = addresses + data[l4:l4 + 4]
            if proto == 6:
                flags = data[l4 + 13]
            else:
                key += bytes((proto,))
        elif proto == 1 or proto == 58:
            if end - l4 < 2:
                return self._unusable(offset, data, l4, end, cut, "the ICMP header")
            icmp = (data[l4], data[l4 + 1])
            sport, dport, one_way = icmp_ports(icmp[0], icmp[1], v6)
            key = addresses + PORT_PAIR.pack(sport, dport) + bytes((proto,))
        else:
            key = addresses + b"\x00\x00\x00\x00" + bytes((proto,))
        side = self.count(ts, data, l4, end, length, key, proto, size, vlan, offset, flags,
                          one_way)
        if icmp is not None and side.flow.icmp is None:
            side.flow.icmp = icmp
        if fragmented is not None:
            self.remember_fragment(fragmented, side)

    def _unusable(self, offset: int, data: bytes, start: int, end: int, cut: bool,
                  what: str) -> None:
        if cut:
            self.stats.unusable += 1  # the snap length, not damage: counted, not dead-lettered
        else:
            self._malformed(offset, data, start, f"the packet ends inside {what} ({end - start} "
                            f"bytes left for it)")

    def _malformed(self, offset: int, data: bytes, start: int, reason: str) -> None:
        self.problem(offset, data[start:start + 64], f"packet at offset {offset}: {reason}")


def _vlan_tags(data: bytes, p: int, end: int) -> tuple[tuple[int, int | None] | None, int, int]:
    """The (outer, inner or None) VLAN ids of 802.1Q / QinQ tags at p, the ethertype after
    them and where they end; ethertype 0 when the packet ends inside them."""
    if end - p < 4:
        return None, 0, p
    outer, etype = PORT_PAIR.unpack_from(data, p)
    p += 4
    inner = None
    if etype in _VLAN_TPIDS:
        if end - p < 4:
            return None, 0, p
        inner, etype = PORT_PAIR.unpack_from(data, p)
        inner &= 0xFFF
        p += 4
    return (outer & 0xFFF, inner), etype, p

