"""pcap and pcapng files: telling a capture by its magic number, and walking its packet
records into a FlowMeter.

Files are walked with `struct` over 1 MiB chunks, not with scapy (measured on bench/pcap.py's
capture: scapy's PcapReader dissects about 8,000 packets/s; its RawPcapReader only frames
records, at about 730,000/s, where this loop frames 1,600,000/s). Both pcap byte orders and
timestamp resolutions (µs, ns) are read, and pcapng sections of either byte order with several
interfaces, each with its link type and timestamp resolution (if_tsresol, if_tsoffset), from
enhanced and simple packet blocks. Memory is bounded by one chunk, whatever the size of the
file. Damaged records (caplen beyond the original length, a bad block length, a cut-off file)
are dead-lettered through the meter with the reason; the packets around them still make flows.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from collectors.files import open_log
from collectors.flow_meter import LINK_KINDS, FlowMeter
from collectors.flow_table import SECOND, Output

PCAP_MAGICS = {b"\xd4\xc3\xb2\xa1": ("<", 1000), b"\xa1\xb2\xc3\xd4": (">", 1000),
               b"\x4d\x3c\xb2\xa1": ("<", 1), b"\xa1\xb2\x3c\x4d": (">", 1)}
PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"
# The shortest each block type can be: section header, interface, enhanced and simple packet.
_SHORTEST_BLOCKS = {0x0A0D0D0A: 28, 1: 20, 6: 32, 3: 16}
CHUNK = 1 << 20
# Larger records are not packets but a damaged header (tcpdump's largest snap length is 256 KiB).
MAX_PACKET = 1 << 18
MAX_BLOCK = 16 << 20
LATEST = 253_402_300_800 * SECOND  # year 10000: later times have no ISO 8601 text


class CaptureFileError(OSError):
    """The file is not a packet capture (like gzip.BadGzipFile, an OSError: the CLI reports
    unreadable files by name and goes on)."""


def is_capture(path: Path) -> bool:
    """Whether a file (or the gzip'd file) starts with a pcap or pcapng magic number."""
    try:
        with open_log(path) as handle:
            head = handle.read(4)
    except OSError:
        return False
    return head in PCAP_MAGICS or head == PCAPNG_MAGIC


def feed_pcap(handle: IO[bytes], meter: FlowMeter) -> Iterator[list[Output]]:
    """Feeds a pcap file's packets to the meter; yields its output after each chunk."""
    header = handle.read(24)
    order, scale = PCAP_MAGICS[header[:4]]
    snaplen, linktype = struct.unpack_from(order + "II", header, 16)
    link = LINK_KINDS.get(linktype & 0xFFFF)  # the upper bits may hold an FCS length
    limit = max(MAX_PACKET, min(snaplen, MAX_BLOCK))
    unpack = struct.Struct(order + "IIII").unpack_from
    packet = meter.packet if link is not None else meter.unsupported
    buffer, base, count = b"", 24, 0
    while chunk := handle.read(CHUNK):
        data = buffer + chunk if buffer else chunk
        position, size = 0, len(data)
        while position + 16 <= size:
            seconds, fraction, caplen, wire = unpack(data, position)
            end = position + 16 + caplen
            if caplen > limit:
                meter.problem(base + position, data[position:position + 16],
                              f"packet record at offset {base + position} claims {caplen} "
                              f"captured bytes (more than {limit}): the file is damaged from "
                              f"here, and the rest of it is unread")
                meter.stats.packets += count
                yield meter.finish()
                return
            if end > size:
                break
            count += 1
            if caplen > wire:
                meter.problem(base + position, data[position:min(end, position + 64)],
                              f"packet at offset {base + position}: captured length {caplen} "
                              f"exceeds its original length {wire}")
            else:
                try:
                    packet(seconds * SECOND + fraction * scale, data, position + 16, end, wire,
                           link, base + position)
                except (IndexError, ValueError, struct.error) as exc:
                    meter.undecodable(base + position, data[position:min(end, position + 64)],
                                      exc)
            position = end
        buffer, base = data[position:], base + position
        yield meter.take()
    meter.stats.packets += count
    if buffer:
        meter.problem(base, buffer[:64], f"the file ends {len(buffer)} bytes into the packet "
                      f"record at offset {base} (truncated capture)")
    if link is None and meter.stats.unsupported_link:
        meter.problem(0, header, f"link type {linktype} is not decoded: its "
                      f"{meter.stats.unsupported_link} packets are counted, not read")
    yield meter.finish()


@dataclass(slots=True)
class _Interface:
    """A pcapng interface: its link kind and how its timestamps become ns."""

    link: int | None
    linktype: int
    snaplen: int
    multiply: int = 1000
    divide: int = 1
    offset: int = 0
    block: int = 0
    skipped: int = 0


def feed_pcapng(handle: IO[bytes], meter: FlowMeter) -> Iterator[list[Output]]:
    """Feeds a pcapng file's packets to the meter; yields its output after each chunk."""
    interfaces: list[_Interface] = []
    order = "<"
    buffer, base, count = b"", 0, 0
    while chunk := handle.read(CHUNK):
        data = buffer + chunk if buffer else chunk
        position, size = 0, len(data)
        while position + 12 <= size:
            kind = data[position:position + 4]
            if kind == PCAPNG_MAGIC:
                order = "<" if data[position + 8:position + 12] == b"\x4d\x3c\x2b\x1a" else ">"
            block, length = struct.unpack_from(order + "II", data, position)
            problem = _block_problem(data, position, block, length, order, size)
            if problem is not None:
                meter.problem(base + position, data[position:position + 64],
                              f"pcapng block at offset {base + position}: {problem}; the rest of "
                              f"the file is unread")
                meter.stats.packets += count
                yield from _finish_pcapng(meter, interfaces)
                return
            if position + length > size:
                break
            if block in (6, 3):
                count += 1
                try:
                    _packet_block(meter, data, position, length, block, order, interfaces,
                                  base + position)
                except (IndexError, ValueError, struct.error) as exc:
                    meter.undecodable(base + position, data[position:position + 64], exc)
            elif block == 1:
                interfaces.append(_interface(data, position, length, order, base + position))
            elif kind == PCAPNG_MAGIC:
                interfaces = []  # a new section numbers its interfaces from 0
            position += length
        buffer, base = data[position:], base + position
        yield meter.take()
    meter.stats.packets += count
    if buffer:
        meter.problem(base, buffer[:64], f"the file ends {len(buffer)} bytes into the block at "
                      f"offset {base} (truncated capture)")
    yield from _finish_pcapng(meter, interfaces)


def _block_problem(data: bytes, position: int, block: int, length: int, order: str,
                   size: int) -> str | None:
    """Why a block's length cannot be right, if it cannot."""
    if length < _SHORTEST_BLOCKS.get(block, 12) or length % 4 or length > MAX_BLOCK:
        return f"impossible block length {length}"
    if data[position:position + 4] == PCAPNG_MAGIC and (
            data[position + 8:position + 12] not in (b"\x4d\x3c\x2b\x1a", b"\x1a\x2b\x3c\x4d")):
        return "section header without a byte-order magic"
    end = position + length
    if end <= size and struct.unpack_from(order + "I", data, end - 4)[0] != length:
        return f"block length {length} does not match the length at its end"
    return None


def _interface(data: bytes, position: int, length: int, order: str,
               offset: int) -> _Interface:
    linktype, _, snaplen = struct.unpack_from(order + "HHI", data, position + 8)
    interface = _Interface(LINK_KINDS.get(linktype), linktype, snaplen, block=offset)
    option, end = position + 16, position + length - 4
    while option + 4 <= end:
        code, size = struct.unpack_from(order + "HH", data, option)
        value = data[option + 4:option + 4 + size]
        if code == 0:
            break
        if code == 9 and size == 1:  # if_tsresol: 10^-n, or 2^-n when the top bit is set
            exponent = value[0] & 0x7F
            units = 2 ** exponent if value[0] & 0x80 else 10 ** exponent
            interface.multiply, interface.divide = SECOND, units
        elif code == 14 and size == 8:  # if_tsoffset: seconds added to every timestamp
            interface.offset = struct.unpack(order + "q", value)[0] * SECOND
        option += 4 + (size + 3) // 4 * 4
    return interface


def _packet_block(meter: FlowMeter, data: bytes, position: int, length: int, block: int,
                  order: str, interfaces: list[_Interface], offset: int) -> None:
    """An enhanced (6) or simple (3) packet block into the meter."""
    if block == 6:
        number, high, low, caplen, wire = struct.unpack_from(order + "5I", data, position + 8)
        start, units = position + 28, high << 32 | low
    else:
        number, units, start = 0, None, position + 12
        wire = struct.unpack_from(order + "I", data, position + 8)[0]
        caplen = min(wire, length - 16)
    interface = interfaces[number] if number < len(interfaces) else None
    if interface is None:
        meter.problem(offset, data[position:position + 64],
                      f"packet block at offset {offset} names interface {number}, which the "
                      f"section does not describe")
    elif start + caplen > position + length - 4 or caplen > wire:
        meter.problem(offset, data[position:position + 64],
                      f"packet block at offset {offset}: captured length {caplen} exceeds its "
                      f"original length {wire} or its block")
    elif interface.link is None:
        interface.skipped += 1
        meter.stats.unsupported_link += 1
    else:
        if block == 3:  # a simple block has no time: it takes the latest time seen
            caplen = min(caplen, interface.snaplen or caplen)
            moment = meter.clock
        else:
            moment = units * interface.multiply // interface.divide + interface.offset
        if 0 <= moment < LATEST:
            meter.packet(moment, data, start, start + caplen, wire, interface.link, offset)
        else:
            meter.problem(offset, data[position:position + 64], f"packet block at offset "
                          f"{offset}: its time ({units} units) is not between 1970 and 9999")


def _finish_pcapng(meter: FlowMeter, interfaces: list[_Interface]) -> Iterator[list[Output]]:
    for interface in interfaces:
        if interface.skipped:
            meter.problem(interface.block, b"", f"interface at offset {interface.block} has "
                          f"link type {interface.linktype}, which is not decoded: its "
                          f"{interface.skipped} packets are counted, not read")
    yield meter.finish()
