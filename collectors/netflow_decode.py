"""NetFlow v5, NetFlow v9 (RFC 3954) and IPFIX (RFC 7011) decoding: export datagrams to flow
records whose values are keyed by IPFIX information element (IE) id.

v5 records have a fixed layout (Cisco's 48-byte record); v9 and IPFIX describe theirs in
templates (read and compiled by collectors.netflow_templates), kept here per exporter address,
version, source id / observation domain and template id, with the sampling and boot time their
options data announce.

Data sets that arrive before their template wait, at most `pending_sets` per exporter and for
at most `pending_timeout`, and are decoded when it comes; otherwise they come out dropped with
the reason. Nothing here raises on bad input: every part of a datagram that cannot be read comes
out as a `Rejected` with the reason, and the rest of the datagram is still decoded.
"""

from __future__ import annotations

import struct
from collections import deque
from dataclasses import dataclass, field
from socket import inet_ntoa
from typing import Any, NamedTuple

from collectors.netflow_templates import (
    IE,
    IPFIX,
    OPTIONS_SET,
    PAIR,
    TEMPLATE_SET,
    V9,
    MalformedError,
    Template,
    compile_template,
    read_ipfix_template,
    read_v9_template,
    split_records,
    withdraw,
)
from soc.config import NetflowSettings

V5 = 5
# version, count, uptime, secs, nsecs, sequence, engine type and id, sampling
V5_HEADER = struct.Struct("!HHIIIIBBH")
V5_RECORD = struct.Struct("!4s4s4sHHIIIIHHxBBBHHBBxx")
V9_HEADER = struct.Struct("!HHIIII")  # version count uptime secs sequence source-id
IPFIX_HEADER = struct.Struct("!HHIII")  # version length export-secs sequence domain
NTP_UNIX_OFFSET = 2_208_988_800  # seconds from 1900-01-01 (NTP era 0) to 1970-01-01
MAX_MICROS = 253_402_300_799_999_999  # 9999-12-31T23:59:59.999999Z, the last datetime
# samplingAlgorithm / samplerMode (v9 and IPFIX IEs 35, 49), and PSAMP selectorAlgorithm (304).
SAMPLING_MODES = {1: "deterministic", 2: "random"}
SELECTOR_ALGORITHMS = {1: "systematic count-based", 2: "systematic time-based",
                       3: "random n-out-of-N", 4: "uniform probabilistic"}


class Clock(NamedTuple):
    """The IEs that can say when a flow started (or ended), most precise kinds first."""

    millis: int
    seconds: int
    ntp: tuple[int, int]
    delta_micros: int
    uptime: int


START = Clock(IE.START_MILLIS, IE.START_SECONDS, (IE.START_MICROS, IE.START_NANOS),
              IE.START_DELTA_MICROS, IE.START_UPTIME)
END = Clock(IE.END_MILLIS, IE.END_SECONDS, (IE.END_MICROS, IE.END_NANOS),
            IE.END_DELTA_MICROS, IE.END_UPTIME)


@dataclass(frozen=True, slots=True)
class Sampling:
    """1-in-`interval` packet sampling, and who said so: header, options, record or config."""

    interval: int
    algorithm: str | None
    origin: str


@dataclass(frozen=True, slots=True)
class Packet:
    """What a datagram's header says and where it came from: shared by all its records."""

    exporter: str
    version: int
    domain: int  # v9 source id, IPFIX observation domain, v5 engine type << 8 | engine id
    export_micros: int
    uptime_millis: int | None  # v5 and v9 only
    sampling: Sampling | None  # the v5 header's, or the configured default
    origin: str  # names the datagram in record positions: receive time and number, or packet
    received: float


@dataclass(slots=True)
class FlowRecord:
    packet: Packet
    position: str  # "<set>:<record>" within its datagram
    raw: bytes
    values: dict[int, Any]
    start_micros: int | None
    end_micros: int | None
    sampling: Sampling | None


@dataclass(slots=True)
class Rejected:
    """Bytes that did not become flow records, and why. `dropped` marks data that waited for a
    template that never came (not malformed; nothing can be read from it)."""

    exporter: str
    domain: int | None
    origin: str
    position: str
    received: float
    raw: bytes
    reason: str
    dropped: bool = False


@dataclass(slots=True)
class Decoded:
    flows: list[FlowRecord] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)

    def reject(self, packet: Packet, position: str, raw: bytes, reason: str,
               dropped: bool = False) -> None:
        self.rejected.append(Rejected(packet.exporter, packet.domain, packet.origin, position,
                                      packet.received, raw, reason, dropped))




@dataclass(slots=True)
class Domain:
    """What one exporter said about one source id / observation domain."""

    templates: dict[int, Template] = field(default_factory=dict)
    sampling: Sampling | None = None  # from options data that names no sampler
    samplers: dict[int, Sampling] = field(default_factory=dict)  # by sampler / selector id
    system_init_micros: int | None = None  # IPFIX systemInitTimeMilliseconds, for uptimes


@dataclass(slots=True)
class Waiting:
    """A data set that came before its template."""

    arrived: float
    packet: Packet
    set_index: int
    offset: int
    template_id: int
    body: bytes


class NetflowDecoder:
    """Decodes the datagrams of any number of exporters, keeping their templates and options."""

    def __init__(self, settings: NetflowSettings) -> None:
        self.template_timeout = settings.template_timeout.total_seconds()
        self.pending_timeout = settings.pending_timeout.total_seconds()
        self.pending_sets = settings.pending_sets
        self.default_sampling = (Sampling(settings.sampling_rate, None, "config")
                                 if settings.sampling_rate > 1 else None)
        self._domains: dict[tuple[str, int, int], Domain] = {}
        self._waiting: dict[str, deque[Waiting]] = {}

    def decode(self, data: bytes, exporter: str, origin: str, now: float) -> Decoded:
        """The flow records of one datagram (and of data sets its templates release), what was
        rejected in it, and the waiting data sets that timed out by `now`."""
        out = Decoded()
        self._expire(now, out)
        version = int.from_bytes(data[:2]) if len(data) >= 2 else None
        if version == V5:
            self._v5(data, exporter, origin, now, out)
        elif version in (V9, IPFIX):
            self._templated(data, version, exporter, origin, now, out)
        else:
            out.rejected.append(unreadable(
                exporter, origin, now, data, f"version {version} is not NetFlow v5, v9 or "
                                             f"IPFIX (10)" if version is not None
                else f"a {len(data)}-byte datagram is not NetFlow"))
        return out

    def flush(self, why: str) -> list[Rejected]:
        """Drop every waiting data set (the listener stops, the capture ended)."""
        out = Decoded()
        for queue in self._waiting.values():
            for item in queue:
                _drop(item, f"its template did not come before {why}", out)
        self._waiting.clear()
        return out.rejected

    def _v5(self, data: bytes, exporter: str, origin: str, now: float, out: Decoded) -> None:
        if len(data) < V5_HEADER.size:
            out.rejected.append(unreadable(
                exporter, origin, now, data, f"NetFlow v5 datagram of {len(data)} bytes is "
                                             f"shorter than its {V5_HEADER.size}-byte header"))
            return
        _, count, uptime, secs, nsecs, _, engine_type, engine_id, sampling = \
            V5_HEADER.unpack_from(data)
        interval = sampling & 0x3FFF  # the top 2 bits are the sampling mode
        packet = Packet(exporter, V5, engine_type << 8 | engine_id,
                        secs * 1_000_000 + nsecs // 1000, uptime,
                        Sampling(interval, SAMPLING_MODES.get(sampling >> 14), "header")
                        if interval > 1 else self.default_sampling, origin, now)
        whole = min(count, (len(data) - V5_HEADER.size) // V5_RECORD.size)
        for index in range(whole):
            offset = V5_HEADER.size + index * V5_RECORD.size
            raw = data[offset:offset + V5_RECORD.size]
            out.flows.append(self._flow(packet, f"0:{index}", raw,
                                        _v5_values(V5_RECORD.unpack(raw)), None))
        end = V5_HEADER.size + whole * V5_RECORD.size
        rest = data[end:]
        if count > whole:
            out.reject(packet, f"0:@{end}", rest or data[:V5_HEADER.size],
                       f"the v5 header announces {count} records; the datagram holds {whole}"
                       + (f" and {len(rest)} bytes more" if rest else ""))
        elif rest:
            out.reject(packet, f"0:@{end}", rest,
                       f"{len(rest)} bytes after the {count} records the v5 header announces")

    def _templated(self, data: bytes, version: int, exporter: str, origin: str, now: float,
                   out: Decoded) -> None:
        header = V9_HEADER if version == V9 else IPFIX_HEADER
        if len(data) < header.size:
            out.rejected.append(unreadable(
                exporter, origin, now, data, f"{'NetFlow v9' if version == V9 else 'IPFIX'} "
                f"datagram of {len(data)} bytes is shorter than its {header.size}-byte header"))
            return
        end = len(data)
        if version == V9:
            # The v9 header's record count is not checked: exporters count differently.
            _, _, uptime, secs, _, domain = V9_HEADER.unpack_from(data)
        else:
            _, length, secs, _, domain = IPFIX_HEADER.unpack_from(data)
            uptime = None
        packet = Packet(exporter, version, domain, secs * 1_000_000, uptime,
                        self.default_sampling, origin, now)
        if version == IPFIX and length != end:
            # Trust the datagram over the header: decode what is there, reject the excess.
            inside = header.size <= length < end
            out.reject(packet, f"0:@{length if inside else 0}",
                       data[length:] if inside else data[:header.size],
                       f"the IPFIX header says the message is {length} bytes; the datagram "
                       f"holds {end}")
            end = length if inside else end
        self._sets(data, header.size, end, packet, out)

    def _sets(self, data: bytes, offset: int, end: int, packet: Packet, out: Decoded) -> None:
        index = 0
        while end - offset >= PAIR.size:
            set_id, length = PAIR.unpack_from(data, offset)
            if length < PAIR.size or offset + length > end:
                out.reject(packet, f"{index}:@{offset}", data[offset:end],
                           f"set {index} (id {set_id}) says it is {length} bytes; "
                           f"{end - offset} remain in the message")
                return
            body = data[offset + PAIR.size:offset + length]
            if set_id >= 256:
                self._data(set_id, body, index, offset, packet, out)
            elif set_id in (TEMPLATE_SET[packet.version], OPTIONS_SET[packet.version]):
                self._templates(body, set_id == OPTIONS_SET[packet.version], index, offset,
                                packet, out)
            else:
                out.reject(packet, f"{index}:@{offset}", data[offset:offset + length],
                           f"set {index} has the reserved id {set_id}")
            offset += length
            index += 1
        if offset < end:
            out.reject(packet, f"{index}:@{offset}", data[offset:end],
                       f"{end - offset} bytes after the last set, too few for a set header")

    def _templates(self, body: bytes, options: bool, index: int, offset: int, packet: Packet,
                   out: Decoded) -> None:
        key = (packet.exporter, packet.version, packet.domain)
        domain = self._domains.setdefault(key, Domain())
        read = read_v9_template if packet.version == V9 else read_ipfix_template
        position = 0
        learned = []
        # Less than a template record header left is padding (RFC 7011 §3.3.1).
        while len(body) - position >= PAIR.size:
            try:
                template_id, fields, position = read(body, position, options)
            except MalformedError as exc:
                out.reject(packet, f"{index}:@{offset + PAIR.size + position}",
                           body[position:], f"set {index}: {exc}")
                break
            if fields is None:
                withdraw(domain.templates, template_id, options)
                continue
            known = domain.templates.get(template_id)
            if known is not None and known.fields == fields and known.options == options:
                known.refreshed = packet.received
            else:
                domain.templates[template_id] = compile_template(fields, options, packet.received)
            learned.append(template_id)
        for template_id in learned:
            self._release(packet, template_id, domain, out)

    def _data(self, set_id: int, body: bytes, index: int, offset: int, packet: Packet,
              out: Decoded) -> None:
        domain = self._domains.get((packet.exporter, packet.version, packet.domain))
        template = domain.templates.get(set_id) if domain is not None else None
        if template is not None and packet.received - template.refreshed > self.template_timeout:
            # RFC 7011 §8.4: a template not refreshed within its lifetime must not be used.
            del domain.templates[set_id]  # type: ignore[union-attr]
            template = None
        if domain is None or template is None:
            self._wait(Waiting(packet.received, packet, index, offset, set_id, body), out)
        else:
            self._records(template, set_id, body, packet, index, offset, domain, out)

    def _records(self, template: Template, template_id: int, body: bytes, packet: Packet,
                 index: int, offset: int, domain: Domain, out: Decoded) -> None:
        records, rest, reason = split_records(template, body)
        for number, (raw, values) in enumerate(records):
            if template.options:
                _remember_options(values, domain)
            else:
                out.flows.append(self._flow(packet, f"{index}:{number}", raw, values, domain))
        if reason is not None:
            out.reject(packet, f"{index}:@{offset + PAIR.size + len(body) - len(rest)}", rest,
                       f"set {index} (template {template_id}): {reason}")

    def _flow(self, packet: Packet, position: str, raw: bytes, values: dict[int, Any],
              domain: Domain | None) -> FlowRecord:
        return FlowRecord(packet, position, raw, values, _moment(values, START, packet, domain),
                          _moment(values, END, packet, domain),
                          _sampling(values, packet, domain))

    def _wait(self, item: Waiting, out: Decoded) -> None:
        queue = self._waiting.setdefault(item.packet.exporter, deque())
        queue.append(item)
        while len(queue) > self.pending_sets:
            _drop(queue.popleft(), f"{self.pending_sets} data sets of this exporter were "
                                   f"already waiting for their templates", out)

    def _release(self, packet: Packet, template_id: int, domain: Domain, out: Decoded) -> None:
        queue = self._waiting.get(packet.exporter)
        if not queue:
            return
        keep: deque[Waiting] = deque()
        template = domain.templates[template_id]
        for item in queue:
            if (item.template_id == template_id and item.packet.version == packet.version
                    and item.packet.domain == packet.domain):
                self._records(template, template_id, item.body, item.packet, item.set_index,
                              item.offset, domain, out)
            else:
                keep.append(item)
        self._waiting[packet.exporter] = keep

    def _expire(self, now: float, out: Decoded) -> None:
        for exporter, queue in list(self._waiting.items()):
            while queue and now - queue[0].arrived > self.pending_timeout:
                item = queue.popleft()
                _drop(item, f"its template did not come within {self.pending_timeout:g}s", out)
            if not queue:
                del self._waiting[exporter]


def unreadable(exporter: str, origin: str, now: float, data: bytes, reason: str) -> Rejected:
    """A datagram none of which can be read (its source id unknown)."""
    return Rejected(exporter, None, origin, "0:@0", now, data, reason)


def _drop(item: Waiting, why: str, out: Decoded) -> None:
    out.reject(item.packet, f"{item.set_index}:@{item.offset}", item.body,
               f"data set {item.set_index} (template {item.template_id}) dropped: {why}",
               dropped=True)


def _v5_values(record: tuple[Any, ...]) -> dict[int, Any]:
    (src, dst, hop, input_, output, packets, octets, first, last, src_port, dst_port, flags,
     protocol, tos, src_as, dst_as, _src_mask, _dst_mask) = record
    return {IE.SRC_IPV4: inet_ntoa(src), IE.DST_IPV4: inet_ntoa(dst),
            IE.NEXT_HOP_IPV4: inet_ntoa(hop), IE.INPUT: input_, IE.OUTPUT: output,
            IE.PACKETS: packets, IE.OCTETS: octets, IE.START_UPTIME: first,
            IE.END_UPTIME: last, IE.SRC_PORT: src_port, IE.DST_PORT: dst_port,
            IE.TCP_FLAGS: flags, IE.PROTOCOL: protocol, IE.TOS: tos, IE.SRC_AS: src_as,
            IE.DST_AS: dst_as}


def _remember_options(values: dict[int, Any], domain: Domain) -> None:
    """Keep what options data says about sampling and the exporter's boot time."""
    sampling = _options_sampling(values)
    if sampling is not None:
        sampler = values.get(IE.SELECTOR_ID, values.get(IE.SAMPLER_ID))
        if sampler is None:
            domain.sampling = sampling
        else:
            domain.samplers[sampler] = sampling
    if IE.SYSTEM_INIT_MILLIS in values:
        domain.system_init_micros = values[IE.SYSTEM_INIT_MILLIS] * 1000


def _options_sampling(values: dict[int, Any]) -> Sampling | None:
    interval = values.get(IE.SAMPLING_INTERVAL) or values.get(IE.SAMPLER_RANDOM_INTERVAL)
    mode = SAMPLING_MODES.get(values.get(IE.SAMPLING_ALGORITHM)
                              or values.get(IE.SAMPLER_MODE) or 0)
    if not interval and values.get(IE.PACKET_INTERVAL):
        # PSAMP count-based (RFC 5477): select `interval` packets, then skip `space`.
        taken = values[IE.PACKET_INTERVAL]
        interval = round((taken + values.get(IE.PACKET_SPACE, 0)) / taken)
    elif not interval and values.get(IE.SAMPLING_SIZE):
        interval = round(values.get(IE.SAMPLING_POPULATION, 0) / values[IE.SAMPLING_SIZE])
    mode = SELECTOR_ALGORITHMS.get(values.get(IE.SELECTOR_ALGORITHM) or 0, mode)
    return Sampling(interval, mode, "options") if interval else None


def _sampling(values: dict[int, Any], packet: Packet, domain: Domain | None) -> Sampling | None:
    """The sampling of a record: its own field, its sampler's options, the domain's options,
    the v5 header, or the configured default, in that order."""
    interval = values.get(IE.SAMPLING_INTERVAL)
    if interval:
        return Sampling(interval, SAMPLING_MODES.get(values.get(IE.SAMPLING_ALGORITHM) or 0),
                        "record")
    if domain is not None:
        sampler = values.get(IE.SELECTOR_ID, values.get(IE.SAMPLER_ID))
        if sampler is not None and sampler in domain.samplers:
            return domain.samplers[sampler]
        if domain.sampling is not None:
            return domain.sampling
    return packet.sampling


def _moment(values: dict[int, Any], clock: Clock, packet: Packet,
            domain: Domain | None) -> int | None:
    """When the flow started (or ended), in µs since the epoch; None when nothing says."""
    if clock.millis in values:
        micros = values[clock.millis] * 1000
    elif clock.seconds in values:
        micros = values[clock.seconds] * 1_000_000
    elif clock.ntp[0] in values or clock.ntp[1] in values:
        ntp = values.get(clock.ntp[0], values.get(clock.ntp[1]))
        micros = (ntp >> 32) * 1_000_000 - NTP_UNIX_OFFSET * 1_000_000 + (
            (ntp & 0xFFFFFFFF) * 1_000_000 >> 32)
    elif clock.delta_micros in values:
        micros = packet.export_micros - values[clock.delta_micros]
    elif clock.uptime in values and packet.uptime_millis is not None:
        # Uptimes are 32-bit milliseconds that wrap after 49.7 days: the difference is read
        # as signed, so a flow seen just before a wrap is not placed 49 days back.
        ago = (packet.uptime_millis - values[clock.uptime]) & 0xFFFFFFFF
        micros = packet.export_micros - (ago - (1 << 32) if ago >= 1 << 31 else ago) * 1000
    elif clock.uptime in values and domain is not None and domain.system_init_micros:
        micros = domain.system_init_micros + values[clock.uptime] * 1000
    else:
        return None
    return micros if 0 <= micros <= MAX_MICROS else None

