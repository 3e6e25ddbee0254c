"""Packet captures → ECS network flows and application events, from pcap and pcapng files
(`read_capture`) and from a live interface (`LiveCapture`).

The parts: collectors.capture_files walks pcap and pcapng records, collectors.flow_meter decodes
their headers and collectors.flow_table keeps the flows and makes their ECS fields; this module
puts them together into RawRecords. The whole decoder and flow table run at over 250,000
packets/s on bench/pcap.py's capture.

Identity: the source is the capture's content (`pcap:` + a hash of its first 4 KiB, as
collectors.files names logs), the position the byte offset of a packet record. A flow is
positioned at its first packet (each packet starts at most one flow), an application event at
its packet's offset + 1, a damaged packet at offset + 2: records are at least 16 bytes, so no
two positions meet. Damaged packets and files are dead-lettered with the reason (caplen beyond
the original length, an impossible IP header length, a bad block length, a cut-off file); the
packets around them still make flows.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import select
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

from collectors.capture_files import (
    MAX_PACKET,
    PCAP_MAGICS,
    PCAPNG_MAGIC,
    CaptureFileError,
    feed_pcap,
    feed_pcapng,
    is_capture,
)
from collectors.files import FINGERPRINT_BYTES, open_log
from collectors.flow_meter import ETHERNET, RAW, FlowMeter
from collectors.flow_table import SECOND, CaptureStats, Output
from soc.errors import ConfigError
from soc.events import RawRecord
from soc.sources import SourceCounters
from soc.streaming import StreamIngest
from soc.timeutil import utcnow

__all__ = ["CaptureFileError", "CaptureStats", "FlowMeter", "LiveCapture", "is_capture",
           "read_capture"]

log = logging.getLogger(__name__)


def read_capture(path: Path, max_record_bytes: int, observer: str = "file", *,
                 idle_timeout: float = 60.0, active_timeout: float = 1800.0,
                 max_flows: int = 100_000,
                 stats: CaptureStats | None = None) -> Iterator[RawRecord]:
    """The flows, application events and dead letters of a pcap or pcapng file (plain or gzip'd),
    in the order they close; CaptureFileError when it is not a capture, OSError when it cannot be
    opened. `stats` (if given) is filled in as the file is read."""
    real = os.path.realpath(path)
    extra = {"log.file.path": real, "observer.name": observer, "observer.type": "file"}
    meter = FlowMeter(idle_timeout, active_timeout, max_flows, stats)
    with open_log(path) as handle:
        head = handle.read(FINGERPRINT_BYTES)
        if head[:4] not in PCAP_MAGICS and head[:4] != PCAPNG_MAGIC:
            raise CaptureFileError(errno.EINVAL, "not a pcap or pcapng capture (no magic number)",
                                   str(path))
        if head[:4] in PCAP_MAGICS and len(head) < 24:
            raise CaptureFileError(errno.EINVAL, f"pcap file cut off inside its header "
                                   f"({len(head)} of 24 bytes): no packets", str(path))
        source = f"pcap:{hashlib.blake2b(head, digest_size=8).hexdigest()}"
        handle.seek(0)
        walk = feed_pcapng if head[:4] == PCAPNG_MAGIC else feed_pcap
        for outputs in walk(handle, meter):
            for position, fields, raw, error in outputs:
                yield RawRecord(source, raw[:max_record_bytes], fields, error, position,
                                keep_original=False, extra=extra)
    log.info("capture read", extra={"path": real, **asdict(meter.stats)})




# Interface hardware types (ARPHRD_*) whose frames carry no link header: raw IP.
_RAW_HARDWARE = frozenset({65534, 776, 778, 823})  # none (tun, wireguard), sit, ipgre, ip6gre
SOL_PACKET, PACKET_STATISTICS = 263, 6  # linux/socket.h, linux/if_packet.h


class LiveCapture:
    """Packets from a live interface into flows and application events for a StreamIngest.

    The socket is scapy's L2ListenSocket (AF_PACKET, promiscuous) with the BPF filter compiled
    by libpcap and attached in the kernel, so filtered-out packets never reach Python; frames
    are read raw (scapy dissects nothing) into the same FlowMeter as files, on a thread. Closed
    flows are handed over every `flush_interval` s with `ingest.offer`: a full queue drops them,
    counted, rather than stall reading (the kernel would drop packets instead). Packets the
    kernel dropped are counted too. Records are positioned by capture start and sequence.
    On the loopback interface Linux shows each packet twice (sent and received), so flows
    there count double; sensors capture on mirror ports, where this does not arise.
    """

    def __init__(self, interface: str, bpf: str | None, ingest: StreamIngest,
                 counters: SourceCounters, *, name: str = "capture", idle_timeout: float = 60.0,
                 active_timeout: float = 1800.0, max_flows: int = 100_000,
                 flush_interval: float = 1.0) -> None:
        self.interface = interface
        self.bpf = bpf
        self.ingest = ingest
        self.counters = counters
        self.flush_interval = flush_interval
        self.meter = FlowMeter(idle_timeout, active_timeout, max_flows)
        self.source = f"capture:{interface}"
        self.extra = {"observer.name": name, "observer.type": "sensor",
                      "observer.ingress.interface.name": interface}
        self._socket: Any = None
        self._link = ETHERNET
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = ""
        self._sequence = 0

    def start(self) -> None:
        """Open the interface and start reading. PermissionError without root or CAP_NET_RAW,
        ConfigError for a filter libpcap cannot compile, OSError for a missing interface."""
        self._socket = _listen(self.interface, self.bpf)
        self._socket.ins.setblocking(False)
        hardware = self._socket.ins.getsockname()[3]
        self._link = RAW if hardware in _RAW_HARDWARE else ETHERNET
        self._started = f"{time.time():.6f}"
        self._thread = threading.Thread(target=self._run, name=f"soc-capture-{self.interface}",
                                        daemon=True)
        self._thread.start()
        log.info("capturing", extra={"interface": self.interface, "bpf": self.bpf})

    def stop(self, timeout: float = 10.0) -> None:
        """Stop reading, and hand over every flow still open (as at the end of a capture)."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._socket is not None:
            self._count_kernel_drops()
            self._socket.close()
            self._socket = None
        self._deliver(self.meter.finish())

    def _run(self) -> None:
        receive = self._socket.recv_raw
        packet = self.meter.packet
        flush_at = time.monotonic() + self.flush_interval
        try:
            while not self._stopping.is_set():
                try:
                    _, data, stamp = receive(MAX_PACKET)
                except BlockingIOError:
                    select.select([self._socket.ins], [], [], min(0.2, self.flush_interval))
                    data = None
                if data:
                    moment = int(stamp * SECOND) if stamp else time.time_ns()
                    try:
                        packet(moment, data, 0, len(data), len(data), self._link, 0)
                    except (IndexError, ValueError, struct.error) as exc:
                        self.meter.undecodable(0, data[:64], exc)
                if time.monotonic() >= flush_at:
                    self.meter.sweep(time.time_ns())
                    self._deliver(self.meter.take())
                    self._count_kernel_drops()
                    flush_at = time.monotonic() + self.flush_interval
        except OSError as exc:
            log.error("live capture stopped", extra={"interface": self.interface,
                                                     "reason": str(exc)})

    def _deliver(self, outputs: list[Output]) -> None:
        if not outputs:
            return
        now = utcnow()
        records = []
        for _, fields, raw, error in outputs:
            self._sequence += 1
            if fields is not None:
                del fields["log.offset"]  # a live packet has no place in a file
            records.append(RawRecord(self.source, raw, fields, error,
                                     f"{self._started}:{self._sequence}", now,
                                     extra=self.extra, keep_original=False))
        bad = sum(record.error is not None for record in records)
        self.counters.count(received=len(records), parsed=len(records) - bad, dead_lettered=bad)
        if not self.ingest.offer(records):
            self.counters.count(dropped=len(records))
            log.warning("capture records dropped: the ingest queue is full",
                        extra={"interface": self.interface, "records": len(records)})

    def _count_kernel_drops(self) -> None:
        # tpacket_stats: packets seen, packets dropped, both reset by each read.
        try:
            _, drops = struct.unpack("II", self._socket.ins.getsockopt(SOL_PACKET,
                                                                       PACKET_STATISTICS, 8))
        except OSError:
            return
        if drops:
            self.counters.count(dropped=drops)
            log.warning("the kernel dropped captured packets: the socket buffer was full",
                        extra={"interface": self.interface, "dropped": drops})


def _listen(interface: str, bpf: str | None) -> Any:
    """scapy's listening socket on an interface, its filter attached."""
    # Imported here: scapy takes a second to import, and only live capture needs it.
    from scapy.arch.linux import L2ListenSocket
    from scapy.error import Scapy_Exception

    try:
        return L2ListenSocket(iface=interface, filter=bpf, promisc=True)
    except PermissionError:
        raise PermissionError(errno.EPERM, f"live capture on {interface} needs root or the "
                              f"CAP_NET_RAW capability") from None
    except Scapy_Exception as exc:
        raise ConfigError(f"collectors.capture: BPF filter {bpf!r} on {interface}: "
                          f"{exc}") from None
    except OSError as exc:
        raise OSError(exc.errno, f"cannot capture on {interface}: {exc.strerror}") from None
    except ValueError:  # scapy's word for an interface it does not know
        raise OSError(errno.ENODEV, f"cannot capture on {interface}: no such interface") from None

