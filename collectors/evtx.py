"""EVTX: Windows event log files, read record by record with the `evtx` package (pyevtx-rs) and
mapped to ECS by the Winlogbeat/NXLog mapping (`collectors.parsers.winlog.winlog_to_ecs`).

A file is read one 64 KiB chunk at a time (memory stays bounded whatever its size). Each chunk is
also walked here, record header by record header, so that nothing the parser cannot read is
lost silently: a corrupt record, the records of a chunk after a broken record header, and the
records a truncated file cuts off each become a RawRecord with `error` set (dead-lettered with
its reason and bytes), while every record that can be read still lands.

Identity: the source of a record is its Windows log, `winlog:<computer>/<channel>`, and its
position its EventRecordID. That pair names the record whatever file holds it: it does not
change as the file grows, is copied or renamed, or wraps around (Windows overwrites the oldest
chunks of a full log, so no hash of the file's first bytes survives), and two overlapping exports
of one log store each record once. The event id also holds the event's time, which keeps the
records of a log cleared and restarted at record 1 apart. Records whose log cannot be read yet
fall back to `file:<real path>`, as collectors.files does for a file without content identity.
"""

from __future__ import annotations

import errno
import io
import os
import re
import struct
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import orjson
from evtx import PyEvtxParser

from collectors.parsers.winlog import winlog_to_ecs
from soc.errors import ParseError
from soc.events import RawRecord

FILE_MAGIC = b"ElfFile\x00"
CHUNK_MAGIC = b"ElfChnk\x00"
RECORD_MAGIC = b"\x2a\x2a\x00\x00"
FILE_HEADER_SIZE = 4096
CHUNK_SIZE = 65536
CHUNK_HEADER_SIZE = 512
RECORD_HEADER_SIZE = 24

_RECORD_NUMBER = re.compile(r"record number (\d+)")
_NOISE = "An error occurred while trying to deserialize evtx stream.: "


class EvtxFileError(OSError):
    """The file is not an EVTX log at all (like gzip.BadGzipFile, an OSError: the file cannot be
    read as what it claims to be, and the CLI reports unreadable files by name and goes on)."""


def is_evtx(path: Path) -> bool:
    """Whether a file starts with the EVTX signature (False when it cannot be read)."""
    try:
        with path.open("rb") as handle:
            return handle.read(len(FILE_MAGIC)) == FILE_MAGIC
    except OSError:
        return False


def read_evtx(path: Path, max_record_bytes: int, observer: str = "file") -> Iterator[RawRecord]:
    """Every record of an EVTX file in file order; EvtxFileError when the file is not EVTX,
    OSError when it cannot be opened."""
    real = os.path.realpath(path)
    extra = {"log.file.path": real, "observer.name": observer, "observer.type": "file"}
    with path.open("rb") as handle:
        header = handle.read(FILE_HEADER_SIZE)
        if not header.startswith(FILE_MAGIC):
            raise EvtxFileError(errno.EINVAL, "not an EVTX file (it does not start with the "
                                "ElfFile signature)", str(path))
        if len(header) < FILE_HEADER_SIZE:
            raise EvtxFileError(errno.EINVAL, f"EVTX file cut off inside its header ({len(header)} "
                                f"of {FILE_HEADER_SIZE} bytes): no records", str(path))
        reader = _ChunkReader(header, f"file:{real}", extra, max_record_bytes)
        index = 0
        while chunk := handle.read(CHUNK_SIZE):
            yield from reader.read(index, chunk)
            index += 1


class _ChunkReader:
    """Turns the chunks of one file into RawRecords, remembering the log last seen."""

    def __init__(self, header: bytes, fallback: str, extra: dict[str, str], limit: int) -> None:
        self.header = header
        self.source = fallback
        self.extra = extra
        self.limit = limit

    def read(self, index: int, chunk: bytes) -> Iterator[RawRecord]:
        if not chunk.strip(b"\x00"):
            return  # not written yet: Windows grows a log file ahead of its records
        where = f"chunk {index} (file offset {FILE_HEADER_SIZE + index * CHUNK_SIZE})"
        if len(chunk) < CHUNK_HEADER_SIZE or not chunk.startswith(CHUNK_MAGIC):
            reason = ("cut off by the end of the file" if chunk.startswith(CHUNK_MAGIC)
                      else "no chunk signature")
            yield self._error(chunk, f"chunk {index}", f"{where}: {reason}; its records are lost")
            return
        parsed, failures, chunk_failure = self._parse(chunk)
        layout, stop = _walk(chunk)
        for record_id, start, size in layout:
            raw = chunk[start:start + size]
            if start + size > len(chunk):
                yield self._error(raw, record_id, f"record {record_id} is cut off: the file ends "
                                  f"{len(raw)} bytes into its {size} (truncated file)")
            elif record_id in parsed:
                yield self._record(record_id, parsed[record_id])
            else:
                reason = (failures.get(record_id) or chunk_failure
                          or "the evtx parser did not return it")
                yield self._error(raw, record_id, f"record {record_id}: {reason}")
        following = layout[-1][0] + 1 if layout else struct.unpack_from("<Q", chunk, 24)[0]
        last = struct.unpack_from("<Q", chunk, 32)[0]
        if stop is None and layout and following <= last:
            end = layout[-1][1] + layout[-1][2]
            stop = (end, f"the chunk header counts them, but its records end at offset {end}")
        if stop is not None:
            offset, reason = stop
            lost = (f"record {last}" if last == following else
                    f"records {following}-{last}" if last > following else "the rest")
            yield self._error(chunk[offset:], following,
                              f"{lost} of {where} cannot be read: {reason}")

    def _parse(self, chunk: bytes) -> tuple[dict[int, str], dict[int, str], str | None]:
        """What the evtx package makes of one chunk: records (id → JSON), per-record failures,
        and a failure of the whole chunk. A short (truncated) chunk is padded, so the records
        it holds whole still parse; the parser makes records of the padding too, so only the
        walk of the record headers says which records the chunk holds."""
        parsed: dict[int, str] = {}
        failures: dict[int, str] = {}
        chunk_failure = None
        data = self.header + chunk.ljust(CHUNK_SIZE, b"\x00")
        records = PyEvtxParser(io.BytesIO(data), number_of_threads=1).records_json()
        # The parser yields a failure per bad record and goes on; the bound guards against one
        # that would not move forward.
        for _ in range(CHUNK_SIZE // RECORD_HEADER_SIZE + 2):
            try:
                record = next(records)
            except StopIteration:
                break
            except (RuntimeError, OSError) as exc:
                message = str(exc).replace(_NOISE, "")
                number = _RECORD_NUMBER.search(message)
                if number:
                    failures[int(number.group(1))] = message
                else:
                    chunk_failure = chunk_failure or message
                continue
            parsed[record["event_record_id"]] = record["data"]
        return parsed, failures, chunk_failure

    def _record(self, record_id: int, text: str) -> RawRecord:
        raw = text.encode()
        if len(raw) > self.limit:
            return self._error(raw, record_id, f"record of {len(raw)} bytes exceeds "
                               f"pipeline.max_record_bytes ({self.limit}); first {self.limit} "
                               f"bytes kept")
        try:
            document = orjson.loads(raw)
            if not isinstance(document, dict):
                raise ParseError(f"expected a JSON object, got {type(document).__name__}")
            fields = evtx_to_ecs(document)
        except orjson.JSONDecodeError as exc:
            # Corrupt BinXML can come out of the parser as broken JSON.
            return self._error(raw, record_id, f"record {record_id}: rendered as invalid JSON "
                               f"({exc.msg} at column {exc.colno})")
        except ParseError as exc:
            return self._error(raw, record_id, f"record {record_id}: {exc}")
        computer, channel = fields.get("winlog.computer_name"), fields.get("winlog.channel")
        if computer and channel:
            self.source = f"winlog:{computer.lower()}/{channel.lower()}"
        return RawRecord(source=self.source, raw=raw, fields=fields, position=record_id,
                         extra=self.extra, keep_original=False)

    def _error(self, raw: bytes, position: int | str, reason: str) -> RawRecord:
        return RawRecord(source=self.source, raw=raw[:self.limit], error=reason,
                         position=position, extra=self.extra, keep_original=False)


def _walk(chunk: bytes) -> tuple[list[tuple[int, int, int]], tuple[int, str] | None]:
    """(record id, offset, size) of each record of a chunk, by its headers, up to the chunk's
    free space; and where and why the walk stopped early, if it did."""
    # Past the free space lie bytes of older records (chunks are reused), so it bounds the walk.
    # A damaged header's impossible value does not: then the records end where their signatures
    # do, and the caller checks their count against the header's.
    free = struct.unpack_from("<I", chunk, 48)[0]
    bounded = CHUNK_HEADER_SIZE <= free <= CHUNK_SIZE
    end = free if bounded else CHUNK_SIZE
    layout = []
    offset = CHUNK_HEADER_SIZE
    while offset < end:
        if offset >= len(chunk):
            return layout, (offset, "the file ends before them (truncated file)")
        if offset + RECORD_HEADER_SIZE > len(chunk):
            return layout, (offset, "the file ends inside a record header (truncated file)")
        if chunk[offset:offset + 4] != RECORD_MAGIC:
            return layout, ((offset, f"no record signature at chunk offset {offset}")
                            if bounded else None)
        size, record_id = struct.unpack_from("<IQ", chunk, offset + 4)
        if size < RECORD_HEADER_SIZE or offset + size > CHUNK_SIZE:
            return layout, (offset, f"record size {size} at chunk offset {offset} is impossible")
        layout.append((record_id, offset, size))
        offset += size
    return layout, None


def evtx_to_ecs(document: Mapping[str, Any]) -> dict[str, Any]:
    """The ECS fields of one record as the evtx package renders it (`{"Event": {...}}`)."""
    event = document.get("Event")
    system = event.get("System") if isinstance(event, dict) else None
    if not isinstance(system, dict):
        raise ParseError("no Event/System element")
    event_id = system.get("EventID")
    provider = _attributes(system.get("Provider"))
    execution = _attributes(system.get("Execution"))
    correlation = _attributes(system.get("Correlation"))
    winlog: dict[str, Any] = {
        "channel": system.get("Channel"), "computer_name": system.get("Computer"),
        "event_id": event_id.get("#text") if isinstance(event_id, dict) else event_id,
        "provider_name": provider.get("Name") or provider.get("EventSourceName"),
        "provider_guid": provider.get("Guid"), "record_id": system.get("EventRecordID"),
        "task": system.get("Task"), "opcode": system.get("Opcode"),
        "keywords": system.get("Keywords"), "version": system.get("Version"),
        "level": system.get("Level"), "activity_id": correlation.get("ActivityID"),
        "related_activity_id": correlation.get("RelatedActivityID"),
        "process": {"pid": execution.get("ProcessID"),
                    "thread": {"id": execution.get("ThreadID")}},
        "user": {"identifier": _attributes(system.get("Security")).get("UserID")},
        "event_data": _named_data(event.get("EventData")),
    }
    user_data = event.get("UserData")
    if isinstance(user_data, dict):
        winlog["user_data"] = _user_data(user_data)
    return winlog_to_ecs(winlog, _attributes(system.get("TimeCreated")).get("SystemTime"))


def _attributes(element: Any) -> dict[str, Any]:
    attributes = element.get("#attributes") if isinstance(element, dict) else None
    return attributes if isinstance(attributes, dict) else {}


def _named_data(element: Any) -> dict[str, Any]:
    """Named <Data> elements come as name: value; unnamed ones (classic event sources) as
    `Data`, which becomes param1…paramN as Winlogbeat names them."""
    if not isinstance(element, dict):
        return {}
    data = {key: value for key, value in element.items() if key not in ("#attributes", "Data")}
    unnamed = element.get("Data")
    if isinstance(unnamed, dict):
        unnamed = unnamed.get("#text")
    if unnamed is not None:
        values = unnamed if isinstance(unnamed, list) else [unnamed]
        data.update({f"param{n}": value for n, value in enumerate(values, 1)})
    return data


def _user_data(element: dict[str, Any]) -> dict[str, Any]:
    """<UserData> holds one provider-defined element (1102's LogFileCleared): its fields, with
    its name as `xml_name`, as Winlogbeat writes them."""
    children = {key: value for key, value in element.items() if key != "#attributes"}
    if len(children) == 1:
        (name, child), = children.items()
        if isinstance(child, dict):
            fields = {key: value for key, value in child.items() if key != "#attributes"}
            return {"xml_name": name, **fields}
    return children
