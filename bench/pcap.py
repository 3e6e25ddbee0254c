"""Benchmark: packets → flows. Reads a generated 1,000,000-packet capture with
`collectors.pcap.read_capture` and with `tshark -q -z conv,tcp` on the same file.

The capture is a realistic mix, written with struct (scapy would take minutes): TCP
connections with handshakes, HTTP requests or TLS client hellos, data and FIN teardown; DNS
queries and answers; SYN scans answered by RSTs; ICMP echoes and stray UDP. The read runs in a
child process so its peak RSS is its own. Prints one JSON line: packets/s, flows and peak RSS of
read_capture, packets/s and TCP conversations of tshark, and speed_ratio, tshark's time over
read_capture's (above 1: read_capture is faster).
Usage: python bench/pcap.py [--packets N] [--keep FILE] [--measure FILE]
"""

from __future__ import annotations

import argparse
import heapq
import os
import platform
import random
import re
import resource
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import orjson

from collectors.pcap import CaptureStats, read_capture
from soc.runtime import tune_for_throughput

ETHERNET = b"\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02\x08\x00"
START = 1_795_000_000.0  # November 2026
PacketTuple = tuple[float, bytes, int]  # time, headers (and small payload), zero padding after


def client_hello(server_name: bytes) -> bytes:
    """A TLS record with a Chrome-like client hello (GREASE, SNI, ALPN h2, TLS 1.3)."""
    def extension(kind: int, body: bytes) -> bytes:
        return struct.pack("!HH", kind, len(body)) + body

    def vector(body: bytes) -> bytes:
        return struct.pack("!H", len(body)) + body

    extensions = b"".join((
        extension(0x1A1A, b""), extension(0, vector(b"\x00" + vector(server_name))),
        extension(10, vector(struct.pack("!4H", 0x1A1A, 29, 23, 24))), extension(11, b"\x01\x00"),
        extension(13, vector(struct.pack("!8H", 0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501,
                                         0x0806, 0x0601))),
        extension(16, vector(b"\x02h2\x08http/1.1")), extension(23, b""),
        extension(43, b"\x06" + struct.pack("!3H", 0x2A2A, 0x0304, 0x0303)),
        extension(45, b"\x01\x01"), extension(51, vector(struct.pack("!HH", 29, 32) + bytes(32))),
        extension(0xFF01, b"\x00")))
    ciphers = struct.pack("!16H", 0x3A3A, 0x1301, 0x1302, 0x1303, 0xC02B, 0xC02F, 0xC02C, 0xC030,
                          0xCCA9, 0xCCA8, 0xC013, 0xC014, 0x009C, 0x009D, 0x002F, 0x0035)
    body = (b"\x03\x03" + bytes(32) + b"\x20" + bytes(32) + vector(ciphers) + b"\x01\x00"
            + vector(extensions))
    handshake = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + vector(handshake)


HELLO = client_hello(b"dichvucong.gov.vn")


def ip_tcp(src: bytes, dst: bytes, sport: int, dport: int, flags: int, payload: int,
           data: bytes = b"") -> tuple[bytes, int]:
    """Ethernet + IPv4 + TCP headers (and `data`), and how many zero bytes of payload follow."""
    size = 40 + len(data) + payload
    return (ETHERNET + struct.pack("!BBHHHBBH4s4s", 0x45, 0, size, 0, 0x4000, 64, 6, 0, src, dst)
            + struct.pack("!HHIIBBHHH", sport, dport, 1, 1, 0x50, flags, 65535, 0, 0) + data,
            payload)


def ip_udp(src: bytes, dst: bytes, sport: int, dport: int, data: bytes, proto: int = 17
           ) -> tuple[bytes, int]:
    size = 28 + len(data)
    header = (struct.pack("!HHHH", sport, dport, 8 + len(data), 0) if proto == 17
              else struct.pack("!BBHHH", sport, dport, 0, 1, 1))
    return (ETHERNET + struct.pack("!BBHHHBBH4s4s", 0x45, 0, size, 0, 0, 64, proto, 0, src, dst)
            + header + data, 0)


def dns_message(rng: random.Random, ident: int, answer: bool) -> bytes:
    labels = ["".join(rng.choices("abcdefghijklmnopqrstuvwxyz0123456789", k=rng.randint(4, 40))),
              rng.choice(("cdn", "mail", "portal", "api")), rng.choice(("gov", "com")), "vn"]
    name = b"".join(bytes([len(label)]) + label.encode() for label in labels) + b"\x00"
    header = struct.pack("!6H", ident, 0x8180 if answer else 0x0100, 1, int(answer), 0, 0)
    body = header + name + b"\x00\x01\x00\x01"
    if answer:
        body += b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04" + bytes(
            (203, 0, 113, rng.randint(1, 254)))
    return body


def tcp_session(rng: random.Random, t: float, index: int) -> list[PacketTuple]:
    client = bytes((10, 45, rng.randint(1, 120), rng.randint(2, 250)))
    server = bytes((203, 0, 113, rng.randint(1, 60)))
    sport, dport = 20000 + index % 40000, rng.choice((80, 443, 443, 8443, 22))
    out = [ip_tcp(client, server, sport, dport, 0x02, 0), ip_tcp(server, client, dport, sport,
                                                                   0x12, 0),
           ip_tcp(client, server, sport, dport, 0x10, 0)]
    first = (b"GET /dichvucong/hoso?id=%d HTTP/1.1\r\nHost: portal.gov.vn\r\nUser-Agent: "
             b"Mozilla/5.0\r\n\r\n" % index if dport == 80 else HELLO)
    out.append(ip_tcp(client, server, sport, dport, 0x18, 0, first))
    for _ in range(rng.randint(4, 30)):
        out.append(ip_tcp(server, client, dport, sport, 0x10, rng.choice((1460, 1460, 512, 90))))
        if rng.random() < 0.5:
            out.append(ip_tcp(client, server, sport, dport, 0x10, 0))
    out += [ip_tcp(client, server, sport, dport, 0x11, 0), ip_tcp(server, client, dport, sport,
                                                                   0x11, 0),
            ip_tcp(client, server, sport, dport, 0x10, 0)]
    step = rng.uniform(0.0005, 0.02)
    return [(t + n * step, packet, pad) for n, (packet, pad) in enumerate(out)]


def other_session(rng: random.Random, t: float, index: int) -> list[PacketTuple]:
    client = bytes((10, 45, rng.randint(1, 120), rng.randint(2, 250)))
    kind = rng.random()
    if kind < 0.6:  # DNS query and answer
        resolver, ident, sport = bytes((10, 45, 0, 53)), index & 0xFFFF, 1024 + index % 60000
        return [(t, *ip_udp(client, resolver, sport, 53, dns_message(rng, ident, False))),
                (t + 0.002, *ip_udp(resolver, client, 53, sport,
                                    dns_message(rng, ident, True)))]
    if kind < 0.9:  # a burst of a SYN scan: SYN, RST-ACK
        scanner, target = bytes((198, 51, 100, 7)), bytes((10, 45, 1, rng.randint(2, 250)))
        out = []
        for n in range(10):
            port = rng.randint(1, 65535)
            out += [(t + n * 0.0001, *ip_tcp(scanner, target, 40000, port, 0x02, 0)),
                    (t + n * 0.0001 + 0.00005, *ip_tcp(target, scanner, port, 40000, 0x14, 0))]
        return out
    peer = bytes((10, 45, 0, rng.randint(1, 9)))  # ICMP echo, and a syslog datagram
    return [(t, *ip_udp(client, peer, 8, 0, b"ping" * 8, proto=1)),
            (t + 0.001, *ip_udp(peer, client, 0, 0, b"ping" * 8, proto=1)),
            (t + 0.002, *ip_udp(client, peer, 40514, 514, b"<30>1 - host app - - - hello"))]


def packets(count: int, seed: int = 3) -> Iterator[PacketTuple]:
    """`count` packets in time order, sessions overlapping as on a busy link."""
    rng = random.Random(seed)
    pending: list[tuple[float, int, bytes, int]] = []
    t, index, made = START, 0, 0
    while made < count:
        index += 1
        t += rng.expovariate(4000)
        session = (tcp_session if rng.random() < 0.6 else other_session)(rng, t, index)
        for when, packet, pad in session:
            heapq.heappush(pending, (when, made, packet, pad))
            made += 1
        while pending and pending[0][0] <= t:
            when, _, packet, pad = heapq.heappop(pending)
            yield when, packet, pad
    while pending:
        when, _, packet, pad = heapq.heappop(pending)
        yield when, packet, pad


def write_capture(path: Path, count: int) -> int:
    """A pcap of `count` packets (µs timestamps, Ethernet); returns the number written."""
    written = 0
    with path.open("wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        pieces = []
        for when, packet, pad in packets(count):
            if written == count:
                break
            seconds = int(when)
            size = len(packet) + pad
            pieces.append(struct.pack("<IIII", seconds, int((when - seconds) * 1e6), size, size))
            pieces.append(packet)
            if pad:
                pieces.append(bytes(pad))
            written += 1
            if len(pieces) > 30000:
                out.write(b"".join(pieces))
                pieces.clear()
        out.write(b"".join(pieces))
    return written


def measure(path: Path) -> dict[str, object]:
    """read_capture over a file, in this process (tuned as `soc ingest` is): figures as a dict."""
    tune_for_throughput()
    stats = CaptureStats()
    datasets: Counter[str] = Counter()
    started, cpu = time.perf_counter(), time.process_time()
    for record in read_capture(path, 1 << 16, stats=stats):
        fields = record.fields or {}
        datasets[f"{fields.get('event.dataset')}/{fields.get('network.transport')}"] += 1
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    return {"seconds": round(seconds, 3), "cpu_seconds": round(cpu, 3), "packets": stats.packets,
            "packets_per_s": round(stats.packets / seconds), "flows": stats.flows,
            "tcp_flows": datasets["network.flow/tcp"], "app_events": stats.app_events,
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def tshark(path: Path) -> tuple[float, int]:
    """Seconds `tshark -q -z conv,tcp` takes over a file, and the TCP conversations it lists."""
    started = time.perf_counter()
    done = subprocess.run(["tshark", "-r", str(path), "-q", "-z", "conv,tcp"],
                          capture_output=True, text=True, check=True)
    seconds = time.perf_counter() - started
    return seconds, sum(1 for line in done.stdout.splitlines()
                        if re.match(r"^\S+:\d+\s+<->", line))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packets", type=int, default=1_000_000)
    parser.add_argument("--keep", type=Path, help="write the capture here and keep it")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(orjson.dumps(measure(args.measure)).decode())
        return
    if shutil.which("tshark") is None:
        sys.exit("tshark is not installed (apt-get install tshark)")
    with tempfile.TemporaryDirectory() as scratch:
        path = args.keep or Path(scratch) / "bench.pcap"
        count = write_capture(path, args.packets)
        child = subprocess.run([sys.executable, __file__, "--measure", str(path)],
                               capture_output=True, text=True, check=True)
        ours = orjson.loads(child.stdout)
        seconds, conversations = tshark(path)
        print(orjson.dumps({
            "packets": count, "capture_mb": round(path.stat().st_size / 2**20, 1),
            "read_capture": ours,
            "tshark": {"seconds": round(seconds, 3), "packets_per_s": round(count / seconds),
                       "tcp_conversations": conversations},
            "speed_ratio": round(seconds / ours["seconds"], 2),
            "cpus": os.cpu_count(), "python": platform.python_version(),
        }).decode())


if __name__ == "__main__":
    main()
