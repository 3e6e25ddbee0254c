"""collectors/syslog.py: RFC 6587 framing, and real UDP, TCP and TLS traffic on loopback."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import socket
import ssl
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from collectors import parsers
from collectors.syslog import SyslogFramer, SyslogServer
from soc.config import SyslogSettings, TlsListenerSettings
from soc.sources import SourceRegistry
from soc.store import Collection, Query, Store
from soc.streaming import StreamIngest
from tests.collectors.streaming import stream_ingest


@pytest.mark.parametrize(("chunks", "expected"), [
    ([b"<1>a\n<2>b\r\n"], [(b"<1>a", None), (b"<2>b", None)]),
    ([b"4 <1>a", b"5 <2>bc"], [(b"<1>a", None), (b"<2>bc", None)]),
    ([b"1", b"0 <3>01234", b"56\n"], [(b"<3>0123456", None)]),  # count split across reads
    ([b"<1>mixed\n6 <2>oct<3>lf\n"], [(b"<1>mixed", None), (b"<2>oct", None),
                                       (b"<3>lf", None)]),
    ([b"\n\n<1>after blanks\n"], [(b"<1>after blanks", None)]),
    ([b"12x <1>no count\n"], [(b"12x <1>no count", None)]),
    ([b"<1>" + b"x" * 20 + b"tail\n<2>next\n"],
     [(b"<1>" + b"x" * 13, "frame longer than pipeline.max_record_bytes (16); first 16 "
                           "bytes kept"), (b"<2>next", None)]),
    ([b"40 <1>" + b"y" * 10, b"y" * 27 + b"<2>ok\n"],
     [(b"<1>" + b"y" * 10, "frame of 40 bytes exceeds pipeline.max_record_bytes (16); "
                           "first 13 bytes kept"), (b"<2>ok", None)]),
])
def test_framing(chunks: list[bytes], expected: list[tuple[bytes, str | None]]) -> None:
    framer = SyslogFramer(16)
    frames = [frame for chunk in chunks for frame in framer.feed(chunk)]
    assert frames + framer.close() == expected


def test_a_connection_that_ends_mid_frame() -> None:
    framer = SyslogFramer(1024)
    assert framer.feed(b"30 <1>only part") == []
    assert framer.close() == [(b"<1>only part", "frame cut short: the octet count says 30 "
                                                "bytes, the connection ended after 12")]
    framer = SyslogFramer(1024)
    assert framer.feed(b"<1>no newline at the end") == []
    assert framer.close() == [(b"<1>no newline at the end", None)]


def json_line(number: int, sender: str = "tcp") -> bytes:
    return (b'{"@timestamp": "2026-11-20T10:00:00Z", "message": "%s %d"}'
            % (sender.encode(), number))


class Harness:
    def __init__(self, store: Store, server: SyslogServer, ingest: StreamIngest) -> None:
        self.store, self.server, self.ingest = store, server, ingest

    def address(self, kind: str) -> tuple[str, int]:
        return self.server.addresses[kind]

    def messages(self) -> list[str]:
        page = self.store.search(Collection.EVENTS, Query(limit=10000, sort="message",
                                                          order="asc"))
        return [event["message"] for event in page.items]

    async def settle(self, received: int, stored: int | None = None,
                     collection: Collection = Collection.EVENTS, timeout: float = 30) -> None:
        """Wait until the listeners received that many frames and the store holds `stored`
        documents (the pipeline stores through a writer process, asynchronously)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = sum(c.received for c in self.server.sources._sources.values())
            if got >= received and (stored is None or
                                    self.store.count(collection, Query()) >= stored):
                return
            await asyncio.sleep(0.05)


@asynccontextmanager
async def listening(tmp_path: Path, settings: SyslogSettings, started: bool = True,
                    max_queued: int = 100_000) -> AsyncIterator[Harness]:
    async with stream_ingest(tmp_path, max_queued) as (store, ingest):
        server = SyslogServer(settings, 1 << 16, parsers.get("jsonl"), ingest,
                              SourceRegistry(store))
        await server.start()
        if started:
            ingest.start()
        try:
            yield Harness(store, server, ingest)
        finally:
            await server.stop()


def loopback(**extra: object) -> SyslogSettings:
    return SyslogSettings(udp="127.0.0.1:0", tcp="127.0.0.1:0", **extra)  # type: ignore[arg-type]


async def send_tcp(address: tuple[str, int], payload: bytes,
                   context: ssl.SSLContext | None = None) -> None:
    _reader, writer = await asyncio.open_connection(*address, ssl=context)
    writer.write(payload)
    await writer.drain()
    writer.close()
    await writer.wait_closed()


def test_tcp_and_udp_messages_land_once_with_their_sender(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with listening(tmp_path, loopback()) as harness:
            framed = b"".join(b"%d %s" % (len(m), m) for m in (json_line(i) for i in range(50)))
            await send_tcp(harness.address("tcp"), framed + json_line(50) + b"\n")
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                for i in range(20):
                    udp.sendto(json_line(i, "udp"), harness.address("udp"))
            await harness.settle(71, 71)
            messages = harness.messages()
            assert sorted(messages) == sorted([f"tcp {i}" for i in range(51)]
                                              + [f"udp {i}" for i in range(20)])
            event = harness.store.search(Collection.EVENTS, Query(limit=1)).items[0]
            assert event["observer.name"] == "syslog"
            assert event["log.source.address"].startswith("127.0.0.1:")
            counters = {c.name: c.as_json() for c in harness.server.sources._sources.values()}
            assert counters["syslog-tcp"]["received"] == 51
            assert counters["syslog-udp"]["received"] == 20
            assert counters["syslog-udp"]["dropped"] == 0

    asyncio.run(scenario())


def test_identical_messages_stay_separate_events(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with listening(tmp_path, loopback()) as harness:
            await send_tcp(harness.address("tcp"), (json_line(7) + b"\n") * 5)
            await harness.settle(5, 5)
            assert harness.messages() == ["tcp 7"] * 5

    asyncio.run(scenario())


def test_bad_frames_are_dead_lettered_and_the_listener_keeps_serving(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with listening(tmp_path, loopback()) as harness:
            garbage = b"\x00\xff\xfe binary \xc3\x28 garbage\n"
            await send_tcp(harness.address("tcp"), garbage + b"99 " + json_line(1))
            await send_tcp(harness.address("tcp"), json_line(2) + b"\n")
            await harness.settle(3, 2, Collection.DEAD_LETTERS)
            assert harness.messages() == ["tcp 2"]
            letters = harness.store.search(Collection.DEAD_LETTERS, Query(sort="error.message"))
            reasons = sorted(d["error.message"] for d in letters.items)
            assert reasons == [
                "frame cut short: the octet count says 99 bytes, the connection ended after 58",
                "invalid UTF-8 at byte 1 (JSON text must be UTF-8)"]

    asyncio.run(scenario())


def test_udp_datagrams_that_do_not_fit_are_counted_as_dropped(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with listening(tmp_path, loopback(), started=False, max_queued=1000) as harness:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                for i in range(1500):
                    udp.sendto(json_line(i, "udp"), harness.address("udp"))
            await harness.settle(1500)
            udp_counters = harness.server.sources.source("syslog-udp", "syslog-udp")
            assert (udp_counters.received, udp_counters.dropped) == (1500, 500)
            harness.ingest.start()
            await harness.settle(1500, 1000)
            await asyncio.sleep(0.2)
            assert harness.store.count(Collection.EVENTS, Query()) == 1000

    asyncio.run(scenario())


def make_certificate(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - dt.timedelta(minutes=1))
                   .not_valid_after(now + dt.timedelta(days=1))
                   .add_extension(x509.SubjectAlternativeName(
                       [x509.DNSName("localhost"),
                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
                   .sign(key, hashes.SHA256()))
    cert_file, key_file = folder / "syslog.crt", folder / "syslog.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


def test_tls_carries_messages_and_a_stalled_handshake_is_dropped(tmp_path: Path) -> None:
    cert_file, key_file = make_certificate(tmp_path)
    settings = SyslogSettings(udp=None, tcp=None, handshake_timeout="0.5s",  # type: ignore[arg-type]
                              tls=TlsListenerSettings(listen="127.0.0.1:0", cert_file=cert_file,
                                                      key_file=key_file))
    client = ssl.create_default_context(cafile=cert_file)

    async def scenario() -> None:
        async with listening(tmp_path, settings) as harness:
            stalled_reader, stalled = await asyncio.open_connection(*harness.address("tls"))
            await send_tcp(harness.address("tls"), json_line(1, "tls") + b"\n" +
                           b"%d %s" % (len(json_line(2, "tls")), json_line(2, "tls")),
                           context=client)
            await harness.settle(2, 2)
            assert harness.messages() == ["tls 1", "tls 2"]
            closed_at = time.monotonic()
            assert await asyncio.wait_for(stalled_reader.read(), 5) == b""  # server gave up
            assert time.monotonic() - closed_at < 3
            stalled.close()

    asyncio.run(scenario())


def tcp_flood(address: tuple[str, int], count: int, done: Callable[[int], None]) -> None:
    with socket.create_connection(address) as sock:
        sent = 0
        for i in range(count):
            sock.sendall(json_line(i) + b"\n")
            sent += 1
        done(sent)


def test_a_flooding_tcp_sender_is_slowed_not_dropped(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with listening(tmp_path, loopback(), max_queued=1000) as harness:
            sent: list[int] = []
            await asyncio.to_thread(tcp_flood, harness.address("tcp"), 20_000, sent.append)
            await harness.settle(20_000, 20_000, timeout=60)
            assert sent == [20_000]
            assert harness.store.count(Collection.EVENTS, Query()) == 20_000
            tcp = harness.server.sources.source("syslog-tcp", "syslog-tcp")
            assert (tcp.received, tcp.dropped) == (20_000, 0)

    asyncio.run(scenario())


def test_a_stalled_sender_is_disconnected_and_its_unfinished_frame_kept(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with listening(tmp_path, loopback(idle_timeout="0.5s")) as harness:
            reader, writer = await asyncio.open_connection(*harness.address("tcp"))
            writer.write(json_line(1) + b"\n" + b"80 " + json_line(2)[:30])
            await writer.drain()
            started = time.monotonic()
            assert await asyncio.wait_for(reader.read(), 5) == b""  # the server hung up
            assert time.monotonic() - started < 3
            writer.close()
            await harness.settle(2, 1, Collection.DEAD_LETTERS)
            assert harness.messages() == ["tcp 1"]
            letter = harness.store.search(Collection.DEAD_LETTERS, Query()).items[0]
            assert letter["error.message"] == ("frame cut short: the octet count says 80 bytes, "
                                               "the connection ended after 30")

    asyncio.run(scenario())


def test_stopping_ends_open_connections_and_keeps_their_unfinished_frame(
        tmp_path: Path) -> None:
    async def scenario() -> None:
        async with listening(tmp_path, loopback()) as harness:
            _reader, writer = await asyncio.open_connection(*harness.address("tcp"))
            writer.write(json_line(1) + b"\n" + b"90 " + json_line(2)[:40])
            await writer.drain()
            await harness.settle(1, 1)
            started = time.monotonic()
            await harness.server.stop()
            assert time.monotonic() - started < 3  # not the 10-minute idle timeout
            await harness.settle(2, 1, Collection.DEAD_LETTERS)
            letter = harness.store.search(Collection.DEAD_LETTERS, Query()).items[0]
            assert letter["error.message"] == ("frame cut short: the octet count says 90 bytes, "
                                               "the connection ended after 40")
            writer.close()

    asyncio.run(scenario())
