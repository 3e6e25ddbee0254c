"""What packets say above TCP and UDP: DNS messages, HTTP requests, TLS client hellos (with their
JA3 and JA4 fingerprints), and the Community ID that names a flow across tools.

Pure functions over bytes, no scapy: they run for every DNS packet and for the first payload of
every TCP connection, so each is one pass of struct and slicing. Garbage never raises: a payload
that is not the protocol (or is too damaged to say) gives None. A payload cut short by the
capture's snap length gives what its whole parts say.
"""

from __future__ import annotations

import binascii
import hashlib
import socket
import struct
from functools import lru_cache
from typing import Any

_U16 = struct.Struct("!H")
# Community ID hash input, by address length: seed, addresses, protocol, a zero byte, ports.
_FLOW_TUPLES = {4: struct.Struct("!H4s4sBxHH"), 16: struct.Struct("!H16s16sBxHH")}
_DNS_HEADER = struct.Struct("!6H")
_DNS_QUESTION = struct.Struct("!HH")
_DNS_RECORD = struct.Struct("!HHIH")
_MX = struct.Struct("!H")
_SRV = struct.Struct("!HHH")
_SOA_NUMBERS = struct.Struct("!5I")

# ---------------------------------------------------------------------------------------------
# DNS (RFC 1035, names and codes from the IANA DNS parameters registry)

DNS_TYPES = {
    1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 10: "NULL", 12: "PTR", 13: "HINFO", 15: "MX",
    16: "TXT", 28: "AAAA", 33: "SRV", 35: "NAPTR", 39: "DNAME", 41: "OPT", 43: "DS", 46: "RRSIG",
    47: "NSEC", 48: "DNSKEY", 50: "NSEC3", 52: "TLSA", 64: "SVCB", 65: "HTTPS", 99: "SPF",
    251: "IXFR", 252: "AXFR", 255: "ANY", 257: "CAA",
}
DNS_CLASSES = {1: "IN", 3: "CH", 4: "HS", 254: "NONE", 255: "ANY"}
DNS_OPCODES = {0: "QUERY", 1: "IQUERY", 2: "STATUS", 4: "NOTIFY", 5: "UPDATE", 6: "DSO"}
DNS_RCODES = {
    0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED",
    6: "YXDOMAIN", 7: "YXRRSET", 8: "NXRRSET", 9: "NOTAUTH", 10: "NOTZONE",
}
# Header bits as ECS names them, in header order.
_DNS_FLAGS = ((0x0400, "AA"), (0x0200, "TC"), (0x0100, "RD"), (0x0080, "RA"), (0x0020, "AD"),
              (0x0010, "CD"))
_OPT, _EDNS_DO = 41, 0x8000
MAX_DNS_NAME = 255
# Answers kept per message: a crafted response can hold thousands, an event that large helps
# nobody.
MAX_DNS_ANSWERS = 100
# Label bytes shown as they are; the rest are escaped as ECS asks of dns.question.name (\DDD for
# non-printables, \t \r \n, escaped backslash and quote) and a dot inside a label as dig does.
_PLAIN_LABEL = bytes(b for b in range(0x20, 0x7F) if b not in b'\\".')
_PLAIN_NAME = _PLAIN_LABEL + b"."
_LABEL_ESCAPES = {ord("\t"): "\\t", ord("\r"): "\\r", ord("\n"): "\\n", ord("\\"): "\\\\",
                  ord('"'): '\\"', ord("."): "\\."}


class _CutError(Exception):
    """The bytes end before the structure being read (a cut or damaged message)."""


def parse_dns(payload: bytes) -> dict[str, Any] | None:
    """ECS `dns.*` fields of one DNS message (UDP payload, or TCP without its length prefix)."""
    if len(payload) < 12:
        return None
    ident, flags, questions, answers, authority, additional = _DNS_HEADER.unpack_from(payload)
    opcode = flags >> 11 & 0xF
    response = flags >> 15
    # What port 53 carries that is not DNS rarely has one question and a known opcode.
    if opcode not in DNS_OPCODES or questions > 1 or (questions == 0 and not response):
        return None
    fields: dict[str, Any] = {"dns.id": str(ident), "dns.type": "answer" if response else "query",
                              "dns.op_code": DNS_OPCODES[opcode]}
    offset = 12
    try:
        if questions:
            name, offset = _name(payload, offset)
            qtype, qclass = _DNS_QUESTION.unpack_from(payload, offset)
            offset += 4
            fields["dns.question.name"] = name
            fields["dns.question.type"] = _dns_type(qtype)
            fields["dns.question.class"] = _dns_class(qclass)
    except (_CutError, struct.error):
        return None
    if response:
        fields["dns.response_code"] = DNS_RCODES.get(flags & 0xF, str(flags & 0xF))
    header_flags = [name for bit, name in _DNS_FLAGS if flags & bit]
    records, edns_do = _dns_records(payload, offset, answers, authority + additional)
    if edns_do:
        header_flags.append("DO")
    fields["dns.header_flags"] = header_flags
    if records:
        fields["dns.answers"] = records
        # Only addresses that decoded: an A record of the wrong length shows as RFC 3597 text.
        resolved = [r["data"] for r in records
                    if r["type"] in ("A", "AAAA") and not r["data"].startswith("\\#")]
        if resolved:
            fields["dns.resolved_ip"] = resolved
    return fields


def _dns_records(payload: bytes, offset: int, answers: int,
                 others: int) -> tuple[list[dict[str, Any]], bool]:
    """The answer records, and whether an EDNS OPT record further on sets the DO bit. Stops at
    the first record the message does not hold whole (a truncated capture keeps the rest)."""
    records: list[dict[str, Any]] = []
    try:
        for _ in range(answers):
            name, offset = _name(payload, offset)
            rtype, rclass, ttl, length = _DNS_RECORD.unpack_from(payload, offset)
            start = offset + 10
            offset = start + length
            if offset > len(payload):
                raise _CutError
            if len(records) < MAX_DNS_ANSWERS:
                records.append({"name": name, "type": _dns_type(rtype),
                                "class": _dns_class(rclass), "ttl": ttl,
                                "data": _rdata(payload, rtype, start, length)})
        for _ in range(others):
            _, offset = _name(payload, offset)
            rtype, _, ttl, length = _DNS_RECORD.unpack_from(payload, offset)
            if rtype == _OPT:
                return records, bool(ttl & _EDNS_DO)
            offset += 10 + length
    except (_CutError, struct.error):
        pass
    return records, False


def _name(message: bytes, offset: int) -> tuple[str, int]:
    """The domain name at `offset` and the offset after it in place (after the pointer, if the
    name ends in one). Each compression pointer must point before the run of labels it ends:
    positions then only go down, so a looping name cannot loop."""
    labels: list[bytes] = []
    size = len(message)
    run_start = offset
    after = -1
    total = 0
    while True:
        if offset >= size:
            raise _CutError
        length = message[offset]
        if length == 0:
            offset += 1
            break
        if length >= 0xC0:
            if offset + 1 >= size:
                raise _CutError
            target = (length & 0x3F) << 8 | message[offset + 1]
            if target >= run_start:
                raise _CutError
            if after < 0:
                after = offset + 2
            offset = run_start = target
            continue
        if length > 63:
            raise _CutError  # the 0x40 and 0x80 label types are obsolete
        total += length + 1
        if total > MAX_DNS_NAME or offset + 1 + length > size:
            raise _CutError
        labels.append(message[offset + 1:offset + 1 + length])
        offset += 1 + length
    return _name_text(labels), after if after >= 0 else offset


def _name_text(labels: list[bytes]) -> str:
    if not labels:
        return "."
    joined = b".".join(labels)
    # Plain when only the separators are dots and every other byte needs no escape.
    if joined.count(b".") == len(labels) - 1 and not joined.translate(None, _PLAIN_NAME):
        return joined.decode("ascii")
    return ".".join(_escaped(label) for label in labels)


def _escaped(label: bytes) -> str:
    return "".join(chr(b) if b in _PLAIN_LABEL else _LABEL_ESCAPES.get(b) or f"\\{b:03d}"
                   for b in label)


def _dns_type(value: int) -> str:
    return DNS_TYPES.get(value) or f"TYPE{value}"


def _dns_class(value: int) -> str:
    return DNS_CLASSES.get(value) or f"CLASS{value}"


def _rdata(message: bytes, rtype: int, start: int, length: int) -> str:
    """The presentation form of a record's data (as dig shows it; unknown types per RFC 3597)."""
    data = message[start:start + length]
    try:
        if rtype == 1 and length == 4:
            return socket.inet_ntop(socket.AF_INET, data)
        if rtype == 28 and length == 16:
            return socket.inet_ntop(socket.AF_INET6, data)
        if rtype in (2, 5, 12, 39):
            return _name(message, start)[0]
        if rtype == 15:
            return f"{_MX.unpack_from(data)[0]} {_name(message, start + 2)[0]}"
        if rtype == 33:
            priority, weight, port = _SRV.unpack_from(data)
            return f"{priority} {weight} {port} {_name(message, start + 6)[0]}"
        if rtype == 16:
            return " ".join(_character_strings(data))
        if rtype == 6:
            primary, after = _name(message, start)
            mailbox, after = _name(message, after)
            numbers = " ".join(map(str, _SOA_NUMBERS.unpack_from(message, after)))
            return f"{primary} {mailbox} {numbers}"
    except (_CutError, struct.error):
        pass
    return f"\\# {length} {data.hex()}"


def _character_strings(data: bytes) -> list[str]:
    strings = []
    offset = 0
    while offset < len(data):
        end = offset + 1 + data[offset]
        strings.append(data[offset + 1:end].decode("utf-8", "backslashreplace"))
        offset = end
    return strings


# ---------------------------------------------------------------------------------------------
# HTTP/1.x requests (RFC 9112)

HTTP_METHODS = frozenset({
    b"GET", b"POST", b"HEAD", b"PUT", b"DELETE", b"OPTIONS", b"PATCH", b"CONNECT", b"TRACE",
    b"PROPFIND", b"PROPPATCH", b"MKCOL", b"COPY", b"MOVE", b"LOCK", b"UNLOCK", b"SEARCH",
})
MAX_HTTP_HEADERS = 100
_HTTP_HEADERS = {b"host": "host", b"user-agent": "user_agent.original",
                 b"referer": "http.request.referrer"}


def parse_http_request(payload: bytes) -> dict[str, Any] | None:
    """ECS fields of the HTTP request that starts a TCP segment: its request line and the
    headers the segment holds (bodies and later requests are not read)."""
    space = payload.find(b" ", 0, 10)
    if space < 3 or payload[:space] not in HTTP_METHODS:
        return None
    # Lines end in CRLF, or a bare LF from hand-written clients.
    lines = payload.split(b"\n", MAX_HTTP_HEADERS)
    # The target is everything between the method and the version: attack tools send raw
    # spaces in it, and those requests matter most.
    method, _, rest = lines[0].rstrip(b"\r").partition(b" ")
    target, _, version = rest.rpartition(b" ")
    if not version.startswith(b"HTTP/"):
        if len(lines) > 1:
            return None
        target, version = rest, b""  # the capture ends inside the request line
    if not target:
        return None
    fields: dict[str, Any] = {"http.request.method": _text(method),
                              "url.original": _text(target)}
    if version:
        fields["http.version"] = _text(version[5:])
    host = None
    for line in lines[1:]:
        name, colon, value = line.rstrip(b"\r").partition(b":")
        if not name:
            break  # the blank line that ends the headers
        field = _HTTP_HEADERS.get(name.strip().lower()) if colon else None
        if field == "host":
            host = _text(value.strip())
        elif field is not None:
            fields[field] = _text(value.strip())
    fields.update(_url_parts(fields["url.original"], host, method == b"CONNECT"))
    return fields


def _url_parts(target: str, host: str | None, connect: bool) -> dict[str, Any]:
    """url.path/query/domain/port/scheme of a request target (origin, absolute or authority
    form) and the Host header."""
    parts: dict[str, Any] = {}
    if connect:
        host = target
    elif "://" in target.partition("?")[0]:
        scheme, _, rest = target.partition("://")
        parts["url.scheme"] = scheme.lower()
        authority, slash, rest = rest.partition("/")
        host = authority.rpartition("@")[2] or host
        target = slash + rest
    if not connect:
        path, question, query = target.partition("?")
        parts["url.path"] = path.partition("#")[0]
        if question:
            parts["url.query"] = query.partition("#")[0]
    if host:
        domain, port = _host_port(host)
        parts["url.domain"] = domain
        if port is not None:
            parts["url.port"] = port
    return parts


def _host_port(host: str) -> tuple[str, int | None]:
    # An IPv6 literal keeps its brackets in url.domain, as ECS asks.
    name, colon, port = host.rpartition(":")
    if (colon and port.isascii() and port.isdigit() and len(port) <= 5 and int(port) < 65536
            and (not name.startswith("[") or name.endswith("]"))):
        return name, int(port)
    return host, None


def _text(value: bytes) -> str:
    return value.decode("utf-8", "backslashreplace")


# ---------------------------------------------------------------------------------------------
# TLS client hello (RFC 8446 §4.1.2), JA3 (Salesforce) and JA4 (FoxIO, technical_details/JA4.md)

_TLS_VERSIONS = {0x0304: ("1.3", "tls"), 0x0303: ("1.2", "tls"), 0x0302: ("1.1", "tls"),
                 0x0301: ("1.0", "tls"), 0x0300: ("3.0", "ssl"), 0x0002: ("2.0", "ssl")}
_JA4_VERSIONS = {0x0304: "13", 0x0303: "12", 0x0302: "11", 0x0301: "10", 0x0300: "s3",
                 0x0002: "s2", 0xFEFF: "d1", 0xFEFD: "d2", 0xFEFC: "d3"}
_SNI, _GROUPS, _POINT_FORMATS, _SIGNATURES, _ALPN, _VERSIONS = 0, 10, 11, 13, 16, 43
_READ_EXTENSIONS = frozenset({_SNI, _GROUPS, _POINT_FORMATS, _SIGNATURES, _ALPN, _VERSIONS})
_GREASE = frozenset(range(0x0A0A, 0x10000, 0x1010))  # RFC 8701
_EXTENSION = struct.Struct("!HH")


class ClientHello:
    """The parts of a client hello that fingerprints and ECS use. Lists of 16-bit values stay
    the bytes the wire has until a fingerprint needs them: most clients send the same hello
    every time, and bytes make a cheap cache key for its fingerprints."""

    __slots__ = ("alpn", "ciphers", "complete", "extensions", "groups", "point_formats",
                 "server_name", "signatures", "version", "versions")

    def __init__(self) -> None:
        self.version = 0
        self.ciphers = b""
        self.extensions: list[int] = []
        self.groups = b""
        self.point_formats = b""
        self.signatures = b""
        self.versions = b""
        self.alpn = b""  # the first protocol offered
        self.server_name: str | None = None
        self.complete = False


def parse_tls_client_hello(payload: bytes) -> dict[str, Any] | None:
    """ECS `tls.*` fields of a TLS record holding a client hello: the server name, the highest
    version offered, and the JA3 and JA4 fingerprints. A hello cut off by the end of the
    segment (large post-quantum key shares span two) keeps what it holds but no fingerprint,
    since a fingerprint of part of a hello would name a client that does not exist."""
    if len(payload) < 11 or payload[0] != 0x16 or payload[1] != 3 or payload[5] != 1:
        return None
    length = int.from_bytes(payload[6:9], "big")
    hello = ClientHello()
    try:
        _read_hello(payload[9:9 + length], hello)
        hello.complete = len(payload) >= 9 + length
    except (_CutError, struct.error):
        if not hello.version:
            return None
    offered = _offered_version(hello.version, hello.versions)
    fields: dict[str, Any] = {}
    if offered in _TLS_VERSIONS:
        fields["tls.version"], fields["tls.version_protocol"] = _TLS_VERSIONS[offered]
    if hello.server_name is not None:
        fields["tls.client.server_name"] = hello.server_name
    if hello.complete:
        fields["tls.client.ja3"], fields["tls.client.ja4"] = fingerprints(hello)
    return fields


def _read_hello(body: bytes, hello: ClientHello) -> None:
    """Fills `hello` from a handshake body; _CutError where the body ends early."""
    if len(body) < 35:
        raise _CutError
    hello.version = _U16.unpack_from(body)[0]
    offset = 35 + body[34]  # version, random, session id
    hello.ciphers, offset = _vector(body, offset, 2)
    _, offset = _vector(body, offset, 1)  # compression methods
    if offset == len(body):
        return  # no extensions (SSL 3.0 style)
    extensions, offset = _vector(body, offset, 2)
    position = 0
    while position < len(extensions):
        kind, size = _EXTENSION.unpack_from(extensions, position)
        data = extensions[position + 4:position + 4 + size]
        if len(data) < size:
            raise _CutError
        hello.extensions.append(kind)
        if kind in _READ_EXTENSIONS:
            _read_extension(hello, kind, data)
        position += 4 + size


def _read_extension(hello: ClientHello, kind: int, data: bytes) -> None:
    if kind == _SNI:
        names, _ = _vector(data, 0, 2)
        position = 0
        while position + 3 <= len(names):
            name_type = names[position]
            name, position = _vector(names, position + 1, 2)
            if name_type == 0:  # host_name
                hello.server_name = _text(name)
                break
    elif kind == _GROUPS:
        hello.groups = _vector(data, 0, 2)[0]
    elif kind == _POINT_FORMATS:
        hello.point_formats = _vector(data, 0, 1)[0]
    elif kind == _SIGNATURES:
        hello.signatures = _vector(data, 0, 2)[0]
    elif kind == _VERSIONS:
        hello.versions = _vector(data, 0, 1)[0]
    elif kind == _ALPN:
        protocols, _ = _vector(data, 0, 2)
        if protocols:
            hello.alpn = _vector(protocols, 0, 1)[0]


def _vector(data: bytes, offset: int, width: int) -> tuple[bytes, int]:
    """A length-prefixed vector at `offset` (prefix of `width` bytes) and the offset after it."""
    if offset + width > len(data):
        raise _CutError
    size = data[offset] if width == 1 else _U16.unpack_from(data, offset)[0]
    end = offset + width + size
    if end > len(data):
        raise _CutError
    return data[offset + width:end], end


def _u16s(data: bytes) -> list[int]:
    """The 16-bit values of a list, GREASE (RFC 8701: 0x0a0a, 0x1a1a, … 0xfafa) left out."""
    values = struct.unpack(f"!{len(data) // 2}H", data[:len(data) & ~1])
    return [value for value in values if value not in _GREASE]


def _offered_version(legacy: int, versions: bytes) -> int:
    """The highest version a hello offers: from supported_versions when it has one."""
    return max(_u16s(versions), default=legacy)


def fingerprints(hello: ClientHello) -> tuple[str, str]:
    """(JA3, JA4) of a complete client hello over TCP."""
    return _fingerprints(hello.version, hello.ciphers, tuple(hello.extensions), hello.groups,
                         hello.point_formats, hello.signatures, hello.versions, hello.alpn)


@lru_cache(maxsize=4096)
def _fingerprints(version: int, cipher_list: bytes, extension_list: tuple[int, ...],
                  groups: bytes, point_formats: bytes, signature_list: bytes, versions: bytes,
                  alpn: bytes) -> tuple[str, str]:
    ciphers = _u16s(cipher_list)
    extensions = [value for value in extension_list if value not in _GREASE]
    ja3 = ",".join((str(version), "-".join(map(str, ciphers)), "-".join(map(str, extensions)),
                    "-".join(map(str, _u16s(groups))), "-".join(map(str, point_formats))))
    # JA4 (FoxIO, technical_details/JA4.md): t, version, d|i, cipher and extension counts, ALPN;
    # the sorted ciphers hashed; the sorted extensions but SNI and ALPN, then the signature
    # algorithms in their order, hashed.
    sni = "d" if _SNI in extensions else "i"
    part_a = (f"t{_JA4_VERSIONS.get(_offered_version(version, versions), '00')}{sni}"
              f"{min(len(ciphers), 99):02d}{min(len(extensions), 99):02d}{_ja4_alpn(alpn)}")
    hashed = sorted(value for value in extensions if value not in (_SNI, _ALPN))
    signatures = _u16s(signature_list)
    text = _hex_list(hashed) + ("_" + _hex_list(signatures) if signatures else "")
    part_b = _ja4_hash(_hex_list(sorted(ciphers))) if ciphers else "000000000000"
    part_c = _ja4_hash(text) if hashed else "000000000000"
    ja3_hash = hashlib.md5(ja3.encode(), usedforsecurity=False).hexdigest()
    return ja3_hash, f"{part_a}_{part_b}_{part_c}"


def _ja4_alpn(first: bytes) -> str:
    if not first:
        return "00"
    if _alphanumeric(first[0]) and _alphanumeric(first[-1]):
        return chr(first[0]) + chr(first[-1])
    text = first.hex()
    return text[0] + text[-1]


def _alphanumeric(byte: int) -> bool:
    return 0x30 <= byte <= 0x39 or 0x41 <= byte <= 0x5A or 0x61 <= byte <= 0x7A


def _hex_list(values: list[int]) -> str:
    return ("%04x," * len(values) % tuple(values))[:-1]


def _ja4_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


# ---------------------------------------------------------------------------------------------
# Community ID v1 (github.com/corelight/community-id-spec)

# ICMP types whose answer is another type: request and answer then make one flow, the type and
# its counterpart standing in for the ports (Zeek's ICMP4_counterpart / ICMP6_counterpart).
ICMP_COUNTERPARTS = {8: 0, 0: 8, 13: 14, 14: 13, 15: 16, 16: 15, 10: 9, 9: 10, 17: 18, 18: 17}
ICMP6_COUNTERPARTS = {128: 129, 129: 128, 130: 131, 131: 130, 133: 134, 134: 133, 135: 136,
                      136: 135, 139: 140, 140: 139, 144: 145, 145: 144}
# Protocols whose Community ID includes ports (or their ICMP stand-ins).
PORTED_PROTOCOLS = frozenset({1, 6, 17, 58, 132})


def icmp_ports(icmp_type: int, code: int, v6: bool) -> tuple[int, int, bool]:
    """The port stand-ins of an ICMP message: (type, counterpart or code, one_way)."""
    counterpart = (ICMP6_COUNTERPARTS if v6 else ICMP_COUNTERPARTS).get(icmp_type)
    if counterpart is None:
        return icmp_type, code, True
    return icmp_type, counterpart, False


def community_id(source: bytes, destination: bytes, protocol: int, source_port: int = 0,
                 destination_port: int = 0, one_way: bool = False, seed: int = 0) -> str:
    """The Community ID v1 of a flow from packed addresses (4 or 16 bytes each)."""
    if not one_way and (source, source_port) > (destination, destination_port):
        source, destination = destination, source
        source_port, destination_port = destination_port, source_port
    data = _FLOW_TUPLES[len(source)].pack(seed, source, destination, protocol, source_port,
                                          destination_port)
    if protocol not in PORTED_PROTOCOLS:
        data = data[:-4]
    digest = hashlib.sha1(data, usedforsecurity=False).digest()
    return "1:" + binascii.b2a_base64(digest, newline=False).decode()
