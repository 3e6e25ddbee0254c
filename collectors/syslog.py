"""Syslog listener: UDP, TCP and TLS (RFC 5425) on asyncio, RFC 6587 framing, into the pipeline.

TCP and TLS frames are octet-counted (`LEN SP MSG`) or end at a newline; the framing is
decided frame by frame, as senders mix them. Every frame becomes a RawRecord whose id comes
from the connection and the frame's number in it, so two identical messages stay two events.
TCP senders are slowed down when the pipeline is behind (the handler stops reading until the
queue has room); UDP datagrams that do not fit are counted as dropped, and so are the
datagrams the kernel dropped for a full socket buffer (read from /proc/net/udp).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from collections.abc import Sequence
from typing import Any

from collectors.parsers import Parser
from collectors.udp import KernelDrops, address_text, bound_udp_socket
from soc.config import SyslogSettings, parse_address
from soc.errors import ConfigError, ParseError
from soc.events import RawRecord
from soc.sources import SourceCounters, SourceRegistry
from soc.streaming import StreamIngest
from soc.timeutil import utcnow

log = logging.getLogger(__name__)

Frame = tuple[bytes, str | None]  # the frame's bytes, and why it is bad (None when it is not)
# Octet counts longer than this many digits are not octet counts (10 digits ≈ 10 GB).
MAX_COUNT_DIGITS = 10


class SyslogFramer:
    """Cuts a TCP byte stream into syslog frames (RFC 6587), holding at most `limit` bytes of
    any one frame: longer frames come out cut, with the reason."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._buffer = bytearray()
        self._discard = 0          # bytes still to skip of an oversized octet-counted frame
        self._skip_line = False    # skipping the rest of an oversized newline-framed frame

    def feed(self, data: bytes) -> list[Frame]:
        buffer = self._buffer
        buffer += data
        frames: list[Frame] = []
        position = 0
        while position < len(buffer):
            if self._discard:
                taken = min(self._discard, len(buffer) - position)
                position += taken
                self._discard -= taken
                continue
            if self._skip_line:
                newline = buffer.find(b"\n", position)
                if newline < 0:
                    position = len(buffer)
                    break
                position, self._skip_line = newline + 1, False
                continue
            counted = self._octet_counted(buffer, position, frames)
            if counted is None:
                break  # an octet count whose frame has not fully arrived
            if counted >= 0:
                position = counted
                continue
            ended = self._newline_framed(buffer, position, frames)
            if ended is None:
                break
            position = ended
        del buffer[:position]
        return frames

    def close(self) -> list[Frame]:
        """What is left when the connection ends: a frame cut short, if any."""
        rest = bytes(self._buffer).strip(b"\r\n\x00")
        self._buffer.clear()
        if not rest or self._discard or self._skip_line:
            return []
        count, _, message = rest.partition(b" ")
        if count.isdigit() and not count.startswith(b"0") and len(count) <= MAX_COUNT_DIGITS:
            return [(message, f"frame cut short: the octet count says {int(count)} bytes, "
                              f"the connection ended after {len(message)}")]
        return [(rest, None)]  # a last line without its newline is still a whole message

    def _octet_counted(self, buffer: bytearray, position: int, frames: list[Frame]) -> int | None:
        """The end of an octet-counted frame at `position` (appended to frames); -1 when the
        bytes there are not an octet count; None when more bytes are needed."""
        if not 0x31 <= buffer[position] <= 0x39:  # a count starts with 1-9
            return -1
        space = buffer.find(b" ", position, position + MAX_COUNT_DIGITS + 1)
        if space < 0:
            digits = buffer[position:position + MAX_COUNT_DIGITS + 1]
            waiting = len(digits) <= MAX_COUNT_DIGITS and digits.isdigit()
            return None if waiting and len(buffer) - position <= MAX_COUNT_DIGITS else -1
        if not buffer[position:space].isdigit():
            return -1
        length, start = int(buffer[position:space]), space + 1
        if length > self.limit:
            kept = bytes(buffer[start:start + self.limit])
            frames.append((kept, f"frame of {length} bytes exceeds pipeline.max_record_bytes "
                                 f"({self.limit}); first {len(kept)} bytes kept"))
            available = len(buffer) - start
            self._discard = max(0, length - available)
            return start + min(length, available)
        if len(buffer) - start < length:
            return None
        frames.append((bytes(buffer[start:start + length]), None))
        return start + length

    def _newline_framed(self, buffer: bytearray, position: int,
                        frames: list[Frame]) -> int | None:
        newline = buffer.find(b"\n", position, position + self.limit + 1)
        if newline < 0:
            if len(buffer) - position > self.limit:
                frames.append((bytes(buffer[position:position + self.limit]),
                               f"frame longer than pipeline.max_record_bytes ({self.limit}); "
                               f"first {self.limit} bytes kept"))
                self._skip_line = True
                return position + self.limit
            return None
        frame = bytes(buffer[position:newline]).rstrip(b"\r\x00")
        if frame.strip():
            frames.append((frame, None))
        return newline + 1


class SyslogServer:
    """The UDP, TCP and TLS listeners of one configuration, feeding one StreamIngest."""

    def __init__(self, settings: SyslogSettings, max_record_bytes: int, parser: Parser,
                 ingest: StreamIngest, sources: SourceRegistry, name: str = "syslog") -> None:
        self.settings = settings
        self.max_record_bytes = max_record_bytes
        self.parser = parser
        self.ingest = ingest
        self.sources = sources
        self.name = name
        self.addresses: dict[str, tuple[str, int]] = {}
        self._servers: list[asyncio.base_events.Server] = []
        self._udp: asyncio.DatagramTransport | None = None
        self._udp_protocol: _DatagramReceiver | None = None
        self._connections = 0
        self._open: dict[asyncio.StreamWriter, asyncio.Task[Any] | None] = {}

    async def start(self) -> None:
        """Bind every configured listener; OSError (e.g. address in use) names the address."""
        s = self.settings
        if s.udp:
            await self._start_udp(parse_address(s.udp))
        if s.tcp:
            await self._start_stream("tcp", parse_address(s.tcp), None)
        if s.tls:
            await self._start_stream("tls", parse_address(s.tls.listen), self._tls_context())

    async def stop(self) -> None:
        """Stop listening, end the open connections (keeping their unfinished frames) and wait
        for their handlers, so nothing arrives after the pipeline has been told to stop."""
        for server in self._servers:
            server.close()
        handlers = list(self._open.values())
        for writer in list(self._open):
            writer.close()
        if handlers:
            await asyncio.wait([h for h in handlers if h is not None], timeout=10)
        for server in self._servers:
            await server.wait_closed()
        if self._udp is not None:
            self._udp.close()
        if self._udp_protocol is not None:
            self._udp_protocol.kernel_drops.check()

    def _tls_context(self) -> ssl.SSLContext:
        tls = self.settings.tls
        assert tls is not None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            context.load_cert_chain(tls.cert_file, tls.key_file)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"collectors.syslog.tls: cannot load {tls.cert_file} and "
                              f"{tls.key_file}: {exc}") from None
        return context

    async def _start_udp(self, address: tuple[str, int]) -> None:
        loop = asyncio.get_running_loop()
        counters = self.sources.source(f"{self.name}-udp", "syslog-udp")
        sock = bound_udp_socket(address, int(self.settings.udp_buffer))
        self._udp, self._udp_protocol = await loop.create_datagram_endpoint(
            lambda: _DatagramReceiver(self, counters, sock), sock=sock)
        self.addresses["udp"] = sock.getsockname()[:2]
        log.info("syslog listening", extra={"transport": "udp",
                                            "address": address_text(self.addresses["udp"])})

    async def _start_stream(self, kind: str, address: tuple[str, int],
                            context: ssl.SSLContext | None) -> None:
        counters = self.sources.source(f"{self.name}-{kind}", f"syslog-{kind}")

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await self._serve_connection(kind, reader, writer, counters)

        server = await asyncio.start_server(
            handle, address[0], address[1], ssl=context, limit=1 << 16,
            ssl_handshake_timeout=(self.settings.handshake_timeout.total_seconds()
                                   if context else None))
        self._servers.append(server)
        self.addresses[kind] = server.sockets[0].getsockname()[:2]
        log.info("syslog listening", extra={"transport": kind,
                                            "address": address_text(self.addresses[kind])})

    async def _serve_connection(self, kind: str, reader: asyncio.StreamReader,
                                writer: asyncio.StreamWriter, counters: SourceCounters) -> None:
        peer = writer.get_extra_info("peername") or ("unknown", 0)
        self._connections += 1
        connection = f"{utcnow().timestamp():.6f}-{self._connections}"
        stream = _FrameStream(self, kind, peer, connection, counters)
        framer = SyslogFramer(self.max_record_bytes)
        self._open[writer] = asyncio.current_task()
        try:
            if await self._read_frames(reader, stream, framer):
                # However the connection ended, a frame it left unfinished is kept, with the
                # reason.
                await stream.submit(framer.close())
        finally:
            del self._open[writer]
            writer.close()
            with contextlib.suppress(ConnectionError, ssl.SSLError, OSError):
                await writer.wait_closed()

    async def _read_frames(self, reader: asyncio.StreamReader, stream: _FrameStream,
                           framer: SyslogFramer) -> bool:
        """Hand the connection's frames over until it ends; False when ingest refused them."""
        idle = self.settings.idle_timeout.total_seconds()
        try:
            while data := await asyncio.wait_for(reader.read(1 << 16), idle):
                if not await stream.submit(framer.feed(data)):
                    return False
        except TimeoutError:
            log.info("syslog connection idle, closed", extra={"peer": stream.peer})
        except (ConnectionError, ssl.SSLError, OSError) as exc:
            log.warning("syslog connection failed", extra={"peer": stream.peer,
                                                           "reason": str(exc)})
        return True

    def records(self, frames: Sequence[Frame], source: str, position: str, peer: str,
                kind: str, counters: SourceCounters) -> list[RawRecord]:
        """RawRecords of frames from one sender, positioned `position:n`; counts them."""
        parse = self.parser.parse
        now = utcnow()
        extra = {"observer.name": self.name, "observer.type": f"syslog-{kind}",
                 "log.source.address": peer}
        records = []
        bad = 0
        for number, (raw, error) in enumerate(frames):
            fields = None
            if error is None:
                try:
                    fields = parse(raw)
                except ParseError as exc:
                    error = str(exc)
            bad += error is not None
            records.append(RawRecord(source, raw, fields, error, f"{position}:{number}", now,
                                     self.parser.timestamp_required, extra,
                                     self.parser.keep_original))
        counters.count(received=len(frames), parsed=len(frames) - bad, dead_lettered=bad)
        return records


class _FrameStream:
    """The frames of one TCP or TLS connection, numbered in order across reads."""

    def __init__(self, server: SyslogServer, kind: str, peer: Any, connection: str,
                 counters: SourceCounters) -> None:
        self.server = server
        self.kind = kind
        self.peer = address_text(peer)
        self.source = f"syslog-{kind}:{peer[0]}"
        self.connection = connection
        self.counters = counters
        self.reads = 0

    async def submit(self, frames: list[Frame]) -> bool:
        """Hand frames to the pipeline, waiting for room (that wait is the backpressure)."""
        if not frames:
            return True
        self.reads += 1
        records = self.server.records(frames, self.source, f"{self.connection}:{self.reads}",
                                      self.peer, self.kind, self.counters)
        if await self.server.ingest.put_async(records):
            return True
        self.counters.count(dropped=len(records))
        log.error("syslog records refused: ingest has stopped",
                  extra={"peer": self.peer, "records": len(records)})
        return False


class _DatagramReceiver(asyncio.DatagramProtocol):
    def __init__(self, server: SyslogServer, counters: SourceCounters,
                 sock: socket.socket) -> None:
        self.server = server
        self.counters = counters
        self.started = f"{utcnow().timestamp():.6f}"
        self.sequence = 0
        self.kernel_drops = KernelDrops(sock, counters, "syslog datagrams")

    def datagram_received(self, data: bytes, address: tuple[str | Any, int]) -> None:
        self.sequence += 1
        limit = self.server.max_record_bytes
        frame = data.rstrip(b"\r\n\x00")
        error = None
        if len(frame) > limit:
            error = (f"datagram of {len(frame)} bytes exceeds pipeline.max_record_bytes "
                     f"({limit}); first {limit} bytes kept")
            frame = frame[:limit]
        if not frame.strip():
            return
        records = self.server.records([(frame, error)], f"syslog-udp:{address[0]}",
                                      f"{self.started}:{self.sequence}", address_text(address),
                                      "udp", self.counters)
        if not self.server.ingest.offer(records):
            self.counters.count(dropped=1)
        if self.sequence % 1024 == 0:
            self.kernel_drops.check()

