"""Zeek logs: the "zeek" format, reading Zeek's TSV logs and its JSON logs (one object a line),
with conn, dns, http, ssl and notice records mapped to ECS.

One parser instance reads one log, line by line in order. A TSV log's header block
(`#separator`, `#set_separator`, `#empty_field`, `#unset_field`, `#path`, `#open`, `#fields`,
`#types`, and `#close` at the end) says how the lines after it read; a new block (logs
concatenated after a rotation) replaces it. A header line is no record: `parse` takes it in and
raises `HeaderLineError`, a ParseError, so that it can be told from a broken line (the file
reader does not skip it yet: until it does, header lines are dead-lettered with that reason).
A TSV line before any header is refused: its fields cannot be named.

Every field of a record is kept, typed, under `zeek.<log>.<field>` with Zeek's own field name
(`zeek.connection.*` for conn.log, `zeek.connection.conn_state` among them, as pySigma's ECS
Zeek pipeline expects), so the record needs no `log.original` copy. Moved whole are `ts` →
`@timestamp` (ISO 8601 UTC), `uid` → `zeek.session_id`, `id.orig_h|p` → `source.ip|port`,
`id.resp_h|p` → `destination.ip|port` and `community_id` → `network.community_id`. ECS copies
come on top: `source|destination.bytes|packets` are conn's orig/resp_bytes and _pkts (payload
bytes, as that pipeline maps them; the IP-level counts stay `zeek.connection.orig_ip_bytes` …),
`dns.answers.data|ttl` are the parallel `answers` and `TTLs`. Unset (`-`) and empty (`(empty)`)
fields are absent; sets and vectors are lists; TSV `time` fields are ISO 8601 UTC text,
`interval` fields seconds as a float (`event.duration` in nanoseconds).

JSON logs carry no `#path`: `_path` names the log where the writer adds it (Zeek's Kafka
writer, the json-streaming-logs package), else a field only that log has (`conn_state`: conn),
else the record is kept as `zeek.unknown.*`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any, NamedTuple

from collectors.parsers import registry
from collectors.parsers.jsonl import JsonLinesParser
from collectors.parsers.network_fields import (
    set_dns_answers,
    set_endpoint,
    set_http,
    set_tls_version,
    set_traffic,
    set_transport,
)
from soc.errors import NotARecordError, ParseError
from soc.timeutil import EPOCH, format_timestamp

_EPOCH_TEXT = re.compile(r"[0-9]{1,11}(?:\.[0-9]{1,9})?")
_ESCAPES = re.compile(r"(?:\\x[0-9a-fA-F]{2})+")

class HeaderLineError(NotARecordError):
    """A `#` line of a Zeek TSV log: it says how the lines after it read and is no record."""


def _epoch_text(text: str) -> str:
    """Zeek's `time` (epoch seconds with a fraction: `1795316400.123456`) as ISO 8601 UTC."""
    if _EPOCH_TEXT.fullmatch(text) is None:
        raise ValueError(f"{text[:40]!r} is not epoch seconds")
    seconds, _, fraction = text.partition(".")
    return format_timestamp(EPOCH + timedelta(seconds=int(seconds),
                                              microseconds=int(fraction[:6].ljust(6, "0"))))


def _text(value: str) -> str:
    # Zeek writes separators and non-printable bytes as \xHH (and a value that would read as
    # `-` or `(empty)` with its first byte so); a run of them may be one UTF-8 character.
    return _ESCAPES.sub(_unescape, value) if "\\x" in value else value


def _unescape(run: re.Match[str]) -> str:
    return bytes.fromhex(run.group().replace("\\x", "")).decode("utf-8", "backslashreplace")


def _bool(text: str) -> bool:
    if text == "T":
        return True
    if text == "F":
        return False
    raise ValueError(f"{text[:40]!r} is not T or F")


_SCALARS: dict[str, Callable[[str], Any]] = {
    "time": _epoch_text, "interval": float, "double": float, "count": int, "int": int,
    "port": int, "bool": _bool,
}


def _converter(kind: str, set_separator: str) -> Callable[[str], Any]:
    """How a TSV value of a Zeek type (`#types`) becomes a value: text, number, bool, list."""
    container, bracket, element = kind.partition("[")
    if bracket and container in ("set", "vector") and element.endswith("]"):
        convert = _SCALARS.get(element[:-1], _text)
        return lambda value: [convert(item) for item in value.split(set_separator)]
    return _SCALARS.get(kind, _text)


@registry.register("zeek")
class ZeekParser:
    name = "zeek"
    timestamp_required = True
    # Every field is kept under zeek.<log>.*: the line itself would add only its bytes.
    keep_original = False

    def __init__(self) -> None:
        self._json = JsonLinesParser()
        self._start_header()

    def parse(self, raw: bytes) -> dict[str, Any]:
        first = raw[:1]
        if first == b"{":
            return self._json_record(raw)
        text = raw.decode("utf-8", "backslashreplace")
        if first == b"#":
            key = self._read_header(text)
            raise HeaderLineError(f"zeek header line {key[:40]}: read for the lines after it, "
                                  f"no record of its own")
        return self._tsv_record(text)

    def continues(self, raw: bytes) -> bool:
        """Whether a line is a TSV line of the log whose header this parser has read (as many
        separators as the header has fields, less one): `auto` asks, as no line of a Zeek TSV
        log but its header says what it is."""
        columns = self._columns
        return (columns is not None and raw[:1] != b"#"
                and raw.count(self._separator_bytes) == len(columns) - 1)

    def _start_header(self) -> None:
        # Zeek's defaults, for a header block that leaves a line out.
        self._separator, self._separator_bytes = "\t", b"\t"
        self._set_separator, self._empty, self._unset = ",", "(empty)", "-"
        self._path = "unknown"
        self._fields: list[str] | None = None
        self._columns: list[tuple[str, str, Callable[[str], Any]]] | None = None

    def _read_header(self, text: str) -> str:
        """Takes in a header line; returns its key (`#fields`)."""
        if text.startswith("#separator "):
            self._start_header()  # the first line of every block, whatever came before
            separator = _text(text[11:])
            if not separator:
                raise ParseError("zeek #separator line names no separator")
            self._separator, self._separator_bytes = separator, separator.encode()
            return "#separator"
        key, _, value = text.partition(self._separator)
        if key == "#fields":
            self._fields, self._columns = value.split(self._separator), None
        elif key == "#types":
            types = value.split(self._separator)
            if self._fields is None or len(types) != len(self._fields):
                self._columns = None
                named = len(self._fields) if self._fields is not None else "no"
                raise ParseError(f"zeek #types line gives {len(types)} types for {named} "
                                 f"#fields: the log's lines cannot be read")
            self._columns = [(name, kind, _converter(kind, self._set_separator))
                             for name, kind in zip(self._fields, types, strict=True)]
        elif key == "#set_separator":
            self._set_separator = _text(value)
        elif key == "#empty_field":
            self._empty = _text(value)
        elif key == "#unset_field":
            self._unset = _text(value)
        elif key == "#path":
            self._path = _text(value)
        # #open, #close and any other comment say nothing about the lines.
        return key

    def _tsv_record(self, text: str) -> dict[str, Any]:
        columns = self._columns
        if columns is None:
            raise ParseError("zeek TSV line with no #fields and #types header before it: its "
                             "fields cannot be named")
        values = text.split(self._separator)
        if len(values) != len(columns):
            raise ParseError(f"zeek TSV line has {len(values)} fields where the #fields header "
                             f"names {len(columns)}")
        unset, empty = self._unset, self._empty
        record: dict[str, Any] = {}
        for (name, kind, convert), value in zip(columns, values, strict=True):
            if value in (unset, empty):
                continue
            try:
                record[name] = convert(value)
            except ValueError:
                raise ParseError(f"zeek field {name}: {value[:40]!r} is not a Zeek {kind}"
                                 ) from None
        return _event(self._path, record)

    def _json_record(self, raw: bytes) -> dict[str, Any]:
        document = self._json.parse(raw)
        document.pop("@timestamp", None)  # JsonLinesParser's copy of ts, read below
        path = document.pop("_path", None)
        if not isinstance(path, str) or not path:
            path = next((log for key, log in _JSON_PATHS if key in document), "unknown")
        # Null (an unset field, with json_include_unset_fields) and empty are absent, as in TSV.
        return _event(path, {key: value for key, value in document.items()
                             if value is not None and value != "" and value != []})


def _event(path: str, record: dict[str, Any]) -> dict[str, Any]:
    """The ECS event of a Zeek record (field name → typed value) of log `path`."""
    ts = record.pop("ts", None)
    if ts is None:
        raise ParseError(f"zeek {path} record without ts")
    event: dict[str, Any] = {"@timestamp": _timestamp(ts), "event.dataset": f"zeek.{path}"}
    uid = record.pop("uid", None)
    if uid:
        event["zeek.session_id"] = uid
    set_endpoint(event, "source", record.pop("id.orig_h", None), record.pop("id.orig_p", None))
    set_endpoint(event, "destination", record.pop("id.resp_h", None),
                 record.pop("id.resp_p", None))
    community = record.pop("community_id", None)
    if community:
        event["network.community_id"] = community
    proto = record.get("proto")
    if isinstance(proto, str):
        set_transport(proto, event)
    log = _LOGS.get(path)
    namespace = path
    if log is not None:
        namespace = log.namespace
        event["event.category"], event["event.type"] = list(log.categories), list(log.types)
        log.mapper(record, event)
    prefix = f"zeek.{namespace}."
    for name, value in record.items():
        event[prefix + name] = value
    return event


def _timestamp(ts: Any) -> str:
    # TSV times are converted by type already; JSON's `ts` is epoch seconds (a number) unless
    # the writer was set to ISO 8601, which the normaliser reads as it is.
    if isinstance(ts, str) and _EPOCH_TEXT.fullmatch(ts) is None:
        return ts
    if isinstance(ts, bool) or not isinstance(ts, int | float | str):
        raise ParseError(f"zeek ts {ts!r} is neither epoch seconds nor ISO 8601 text")
    try:
        return _epoch_text(str(ts))
    except ValueError as exc:
        raise ParseError(f"zeek ts: {exc}") from None


# conn_state → event.type, as Filebeat's Zeek module sets them.
_CONNECTION_TYPES = {
    "S0": ("connection", "start"), "S1": ("connection", "start"),
    "SF": ("connection", "start", "end"), "REJ": ("connection", "start", "denied"),
}


def _conn(record: dict[str, Any], event: dict[str, Any]) -> None:
    service = record.get("service")
    if isinstance(service, str):
        # Zeek joins the protocols it found on one connection with commas (`quic,ssl`).
        event["network.protocol"] = service.split(",") if "," in service else service
    duration = record.get("duration")
    if isinstance(duration, int | float):
        event["event.duration"] = round(duration * 1_000_000_000)
    set_traffic(event, record.get("orig_bytes"), record.get("resp_bytes"),
                record.get("orig_pkts"), record.get("resp_pkts"))
    state = record.get("conn_state")
    if isinstance(state, str):
        event["event.type"] = list(_CONNECTION_TYPES.get(state, ("connection", "info")))


_DNS_FLAGS = ("AA", "TC", "RD", "RA")


def _dns(record: dict[str, Any], event: dict[str, Any]) -> None:
    get = record.get
    if (transaction := get("trans_id")) is not None:
        event["dns.id"] = str(transaction)
    for key, name in (("query", "dns.question.name"), ("qtype_name", "dns.question.type"),
                      ("qclass_name", "dns.question.class"),
                      ("rcode_name", "dns.response_code")):
        if (value := get(key)) is not None:
            event[name] = value
    answers = get("answers")
    event["dns.type"] = "answer" if "rcode_name" in record or answers else "query"
    flags = [flag for flag in _DNS_FLAGS if get(flag) is True]
    if flags:
        event["dns.header_flags"] = flags
    if isinstance(answers, list):
        ttls = get("TTLs")
        set_dns_answers(event, answers, ttls if isinstance(ttls, list) else None)


def _http(record: dict[str, Any], event: dict[str, Any]) -> None:
    get = record.get
    set_http(event, method=get("method"), target=get("uri"), host=get("host"),
             status=get("status_code"), user_agent=get("user_agent"),
             referrer=get("referrer"), version=get("version"))
    for key, name in (("request_body_len", "http.request.body.bytes"),
                      ("response_body_len", "http.response.body.bytes")):
        if isinstance(value := get(key), int):
            event[name] = value


# ssl.log fields with an ECS twin (ja3 and ja3s come from the ja3 package).
_TLS_FIELDS = {
    "server_name": "tls.client.server_name", "established": "tls.established",
    "resumed": "tls.resumed", "cipher": "tls.cipher", "curve": "tls.curve",
    "next_protocol": "tls.next_protocol", "ja3": "tls.client.ja3", "ja3s": "tls.server.ja3s",
    "subject": "tls.server.subject", "issuer": "tls.server.issuer",
    "client_subject": "tls.client.subject", "client_issuer": "tls.client.issuer",
}


def _ssl(record: dict[str, Any], event: dict[str, Any]) -> None:
    set_tls_version(event, record.get("version"))
    for key, name in _TLS_FIELDS.items():
        if (value := record.get(key)) is not None:
            event[name] = value


def _notice(record: dict[str, Any], event: dict[str, Any]) -> None:
    event["event.kind"] = "alert"
    if (note := record.get("note")) is not None:
        event["rule.name"] = note
    if (message := record.get("msg")) is not None:
        event["message"] = message
    # Notices about a host rather than one connection (scans, password guessing) name it in
    # src/dst/p instead of the connection's id.
    if "source.ip" not in event:
        set_endpoint(event, "source", record.get("src"), None)
    if "destination.ip" not in event:
        set_endpoint(event, "destination", record.get("dst"), record.get("p"))


class _Log(NamedTuple):
    namespace: str
    categories: tuple[str, ...]
    types: tuple[str, ...]
    mapper: Callable[[dict[str, Any], dict[str, Any]], None]


_LOGS = {
    "conn": _Log("connection", ("network",), ("connection",), _conn),
    "dns": _Log("dns", ("network",), ("protocol", "info"), _dns),
    "http": _Log("http", ("network", "web"), ("protocol", "access"), _http),
    "ssl": _Log("ssl", ("network",), ("protocol", "connection"), _ssl),
    "notice": _Log("notice", ("intrusion_detection",), ("info",), _notice),
}
# For JSON logs without _path: a field that each of these logs always writes and no other does.
_JSON_PATHS = (("conn_state", "conn"), ("rejected", "dns"), ("response_body_len", "http"),
               ("established", "ssl"), ("note", "notice"))
