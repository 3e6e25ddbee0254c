"""NetFlow v9 and IPFIX templates: the information elements (IE) records are keyed by, the
set ids of template sets, reading (options) template records, compiling them for decoding and
splitting data sets into records with them.

A template is compiled to one `struct` layout when its fields have fixed lengths (the common
case: one C call per record); IPFIX variable-length fields take a field-by-field path.
Enterprise-specific and unknown fields are stepped over by their length, never interpreted.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from socket import AF_INET6, inet_ntoa, inet_ntop
from typing import Any

V9, IPFIX = 9, 10
PAIR = struct.Struct("!HH")  # set id + length, template id + field count, IE + field length
TEMPLATE_SET = {V9: 0, IPFIX: 2}
OPTIONS_SET = {V9: 1, IPFIX: 3}
VARIABLE = 65535  # IPFIX field length meaning "length in the record" (RFC 7011 §7)
ENTERPRISE_BIT = 0x8000


class IE:
    """Information element ids (IANA IPFIX registry; NetFlow v9 uses the same numbers)."""

    OCTETS, PACKETS, PROTOCOL, TOS, TCP_FLAGS, SRC_PORT, SRC_IPV4 = 1, 2, 4, 5, 6, 7, 8
    INPUT, DST_PORT, DST_IPV4, OUTPUT, NEXT_HOP_IPV4, SRC_AS, DST_AS = 10, 11, 12, 14, 15, 16, 17
    BGP_NEXT_HOP_IPV4, END_UPTIME, START_UPTIME, POST_OCTETS, POST_PACKETS = 18, 21, 22, 23, 24
    SRC_IPV6, DST_IPV6, ICMP_TYPE_CODE_IPV4 = 27, 28, 32
    SAMPLING_INTERVAL, SAMPLING_ALGORITHM = 34, 35
    SAMPLER_ID, SAMPLER_MODE, SAMPLER_RANDOM_INTERVAL = 48, 49, 50
    DIRECTION, NEXT_HOP_IPV6, BGP_NEXT_HOP_IPV6 = 61, 62, 63
    OCTETS_TOTAL, PACKETS_TOTAL, ICMP_TYPE_CODE_IPV6 = 85, 86, 139
    START_SECONDS, END_SECONDS, START_MILLIS, END_MILLIS = 150, 151, 152, 153
    START_MICROS, END_MICROS, START_NANOS, END_NANOS = 154, 155, 156, 157
    START_DELTA_MICROS, END_DELTA_MICROS, SYSTEM_INIT_MILLIS = 158, 159, 160
    ICMP_TYPE_IPV4, ICMP_CODE_IPV4, ICMP_TYPE_IPV6, ICMP_CODE_IPV6 = 176, 177, 178, 179
    DSCP, SELECTOR_ID, SELECTOR_ALGORITHM = 195, 302, 304
    PACKET_INTERVAL, PACKET_SPACE, SAMPLING_SIZE, SAMPLING_POPULATION = 305, 306, 309, 310


ADDRESSES = frozenset({IE.SRC_IPV4, IE.DST_IPV4, IE.NEXT_HOP_IPV4, IE.BGP_NEXT_HOP_IPV4,
                       IE.SRC_IPV6, IE.DST_IPV6, IE.NEXT_HOP_IPV6, IE.BGP_NEXT_HOP_IPV6})
# Every other IE named in `IE` is an unsigned integer (reduced-size encoding allowed, §6.2).
INTEGERS = frozenset(v for k, v in vars(IE).items() if k.isupper()) - ADDRESSES
INTEGER_CODES = {1: "B", 2: "H", 4: "I", 8: "Q"}


class MalformedError(ValueError):
    """A template or record that cannot be read; the rest of its set is rejected."""


@dataclass(slots=True)
class Template:
    """A data or options template, compiled for decoding."""

    fields: tuple[tuple[int | None, int], ...]  # (IE, or None to step over; length)
    options: bool
    refreshed: float
    layout: struct.Struct | None  # None when a field has a variable length
    ies: tuple[int, ...]  # the IE of each item the layout unpacks
    # (item index, function) for items unpacked as bytes: addresses, integers of odd sizes
    converters: tuple[tuple[int, Callable[[bytes], Any]], ...]
    min_length: int


def read_v9_template(body: bytes, position: int, options: bool
                      ) -> tuple[int, tuple[tuple[int | None, int], ...] | None, int]:
    """A v9 (options) template record at `position`: id, fields, where the next one starts."""
    if options:
        if len(body) - position < 6:
            raise MalformedError("options template header cut off")
        template_id, scope_bytes, option_bytes = struct.unpack_from("!HHH", body, position)
        if scope_bytes % 4 or option_bytes % 4 or not scope_bytes + option_bytes:
            raise MalformedError(f"options template {template_id} has scope length {scope_bytes} "
                                 f"and option length {option_bytes}")
        count, scopes, position = (scope_bytes + option_bytes) // 4, scope_bytes // 4, position + 6
    else:
        template_id, count = PAIR.unpack_from(body, position)
        scopes, position = 0, position + 4
    if template_id < 256 or not count:
        raise MalformedError(f"template {template_id} with {count} fields")
    if position + 4 * count > len(body):
        raise MalformedError(f"template {template_id} announces {count} fields; the set ends after "
                             f"{(len(body) - position) // 4}")
    fields = []
    for number in range(count):
        ie, length = PAIR.unpack_from(body, position + 4 * number)
        if not length or length == VARIABLE:
            raise MalformedError(f"field {number} of template {template_id} has length {length}")
        # v9 scope types (system, interface, ...) are not IEs: their numbers mean other things.
        fields.append((None if number < scopes else ie, length))
    return template_id, tuple(fields), position + 4 * count


def read_ipfix_template(body: bytes, position: int, options: bool
                         ) -> tuple[int, tuple[tuple[int | None, int], ...] | None, int]:
    """An IPFIX (options) template record; fields None for a withdrawal (RFC 7011 §8.1)."""
    template_id, count = PAIR.unpack_from(body, position)
    position += 4
    if not count:
        if template_id < 256 and template_id != (OPTIONS_SET if options else TEMPLATE_SET)[IPFIX]:
            raise MalformedError(f"withdrawal of template {template_id}")
        return template_id, None, position
    scopes = 0
    if options:
        if len(body) - position < 2:
            raise MalformedError(f"options template {template_id} cut off before its scope count")
        scopes = int.from_bytes(body[position:position + 2])
        position += 2
        if not 0 < scopes <= count:
            raise MalformedError(f"options template {template_id} has {scopes} scope fields of "
                                 f"{count}")
    if template_id < 256:
        raise MalformedError(f"template id {template_id} is below 256")
    fields = []
    for number in range(count):
        if len(body) - position < 4:
            raise MalformedError(f"template {template_id} announces {count} fields; the set ends "
                                 f"after {number}")
        ie, length = PAIR.unpack_from(body, position)
        position += 4
        if ie & ENTERPRISE_BIT:
            if len(body) - position < 4:
                raise MalformedError(f"field {number} of template {template_id} cut off before its "
                                     f"enterprise number")
            position += 4
            ie = None  # enterprise-specific: stepped over by its length
        fields.append((ie, length))
    if not sum(1 if length == VARIABLE else length for _, length in fields):
        raise MalformedError(f"template {template_id} describes records of 0 bytes")
    return template_id, tuple(fields), position


def withdraw(templates: dict[int, Template], template_id: int, options: bool) -> None:
    """Forget a template, or with id 2 or 3 every template of its kind (RFC 7011 §8.1)."""
    if template_id >= 256:
        templates.pop(template_id, None)
        return
    # Template id 2 (3 in an options template set) withdraws every template of that kind.
    for known in [k for k, t in templates.items() if t.options == options]:
        del templates[known]


def compile_template(fields: tuple[tuple[int | None, int], ...], options: bool,
                     now: float) -> Template:
    """A template's fields as one struct layout (fixed lengths) or for the field-by-field path."""
    variable = any(length == VARIABLE for _, length in fields)
    codes: list[str] = []
    ies: list[int] = []
    converters: list[tuple[int, Callable[[bytes], Any]]] = []
    for ie, length in fields:
        if variable or not ((ie in ADDRESSES and length in (4, 16)) or ie in INTEGERS):
            codes.append(f"{length}x")  # stepped over
            continue
        if ie in ADDRESSES:
            converters.append((len(ies), _address))
        elif length not in INTEGER_CODES:  # reduced-size (3, 5, 6, 7 bytes) or oversized
            converters.append((len(ies), int.from_bytes))
        codes.append(INTEGER_CODES[length] if ie in INTEGERS and length in INTEGER_CODES
                     else f"{length}s")
        ies.append(ie)  # type: ignore[arg-type]
    minimum = sum(1 if length == VARIABLE else length for _, length in fields)
    layout = None if variable else struct.Struct("!" + "".join(codes))
    return Template(fields, options, now, layout, tuple(ies), tuple(converters), minimum)


def split_records(template: Template, body: bytes
                         ) -> tuple[list[tuple[bytes, dict[int, Any]]], bytes, str | None]:
    """The records of a data set; the bytes left over, and why they are bad (None: padding)."""
    if template.layout is None:
        records, used, reason = _variable_records(template, body)
    else:
        layout, ies, converters = template.layout, template.ies, template.converters
        size = layout.size
        used = len(body) - len(body) % size
        records = []
        for start in range(0, used, size):
            items = layout.unpack_from(body, start)
            if converters:
                items = list(items)  # type: ignore[assignment]
                for index, convert in converters:
                    items[index] = convert(items[index])  # type: ignore[index]
            records.append((body[start:start + size], dict(zip(ies, items, strict=True))))
        reason = None
    rest = body[used:]
    if reason is None and rest.strip(b"\x00"):
        reason = (f"{len(rest)} bytes after the last record are not a whole record of "
                  f"{template.min_length} bytes")
    return records, rest, reason


def _variable_records(template: Template, body: bytes
                      ) -> tuple[list[tuple[bytes, dict[int, Any]]], int, str | None]:
    records = []
    start = 0
    while len(body) - start >= template.min_length:
        position = start
        values: dict[int, Any] = {}
        for ie, length in template.fields:
            if length == VARIABLE:
                # RFC 7011 §7: one length byte, or 255 and then two.
                length = body[position] if position < len(body) else 0
                position += 1
                if length == 255:
                    length = int.from_bytes(body[position:position + 2])
                    position += 2
            if position + length > len(body):
                return records, start, f"record {len(records)} runs past the end of the set"
            if ie in ADDRESSES and length in (4, 16):
                values[ie] = _address(body[position:position + length])
            elif ie in INTEGERS:
                values[ie] = int.from_bytes(body[position:position + length])
            position += length
        records.append((body[start:position], values))
        start = position
    return records, start, None


def _address(packed: bytes) -> str:
    return inet_ntoa(packed) if len(packed) == 4 else inet_ntop(AF_INET6, packed)
