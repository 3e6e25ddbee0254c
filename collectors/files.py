"""Files: read log files (plain or gzip'd) record by record, with byte positions for event ids.

Memory stays bounded whatever the file holds: a line longer than the record limit is read in
chunks, kept only up to the limit, and reported as one oversized record.
"""

from __future__ import annotations

import gzip
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from collectors.parsers import Parser
from soc.errors import ParseError
from soc.events import RawRecord
from soc.timeutil import utcnow

GZIP_MAGIC = b"\x1f\x8b"
UTF8_BOM = b"\xef\xbb\xbf"
CHUNK = 1 << 20
FINGERPRINT_BYTES = 4096


def open_log(path: Path) -> IO[bytes]:
    """Open a log file for reading bytes, through gzip when its magic bytes say so."""
    handle = path.open("rb")
    if handle.read(2) == GZIP_MAGIC:
        handle.close()
        return gzip.open(path, "rb")
    handle.seek(0)
    return handle


def fingerprint(head: bytes) -> str | None:
    """The content identity of a log file, from its first bytes; None until they suffice.

    A hash of everything up to the end of the first line that is not a `#` comment (Zeek, W3C
    and CSV-style headers repeat across files), at most FINGERPRINT_BYTES. It follows the
    content, not the path: a file renamed or gzip'd by rotation keeps it, so its events keep
    their ids; a file truncated and rewritten (copytruncate) gets a new one, so new lines at
    old offsets are new events. None while that first line is still being written.
    """
    end = 0
    while end < len(head):
        newline = head.find(b"\n", end)
        if newline < 0:
            break
        line, end = head[end:newline], newline + 1
        if not line.startswith(b"#"):
            return hashlib.blake2b(head[:end], digest_size=8).hexdigest()
    if len(head) >= FINGERPRINT_BYTES:
        return hashlib.blake2b(head[:FINGERPRINT_BYTES], digest_size=8).hexdigest()
    return None


def content_source(head: bytes, complete: bool) -> str | None:
    """The record source (for event ids) of a log whose first bytes are `head`.

    `complete` says `head` is the whole log (a file read to its end, not one still growing):
    then even a log with no full first line has an identity.
    """
    identity = fingerprint(head[:FINGERPRINT_BYTES])
    if identity is None and complete:
        identity = hashlib.blake2b(head, digest_size=8).hexdigest()
    return f"log:{identity}" if identity is not None else None


def read_file(path: Path, parser: Parser, max_record_bytes: int,
              observer: str = "file") -> Iterator[RawRecord]:
    """Every record of a file in order; OSError when the file cannot be opened."""
    real = os.path.realpath(path)
    extra = {"log.file.path": real, "observer.name": observer, "observer.type": "file"}
    with open_log(path) as handle:
        head = handle.read(FINGERPRINT_BYTES)
        source = content_source(head, complete=len(head) < FINGERPRINT_BYTES)
        handle.seek(0)
        yield from read_stream(handle, source or f"file:{real}", parser, max_record_bytes,
                               extra)


def read_stream(handle: IO[bytes], source: str, parser: Parser, max_record_bytes: int,
                extra: dict[str, str]) -> Iterator[RawRecord]:
    """Records of a byte stream, one per line, positioned by byte offset from its start."""
    offset = 0
    stamped = not parser.timestamp_required
    parse = parser.parse
    for line, size, cut in _lines(handle, max_record_bytes):
        position = offset
        offset += size
        if position == 0 and line.startswith(UTF8_BOM):
            line = line[len(UTF8_BOM):]
        body = line[:-1] if line.endswith(b"\r") else line
        if not body or body.isspace():
            continue
        received = utcnow() if stamped else None
        if cut:
            yield RawRecord(source=source, raw=body, position=position, received=received,
                            extra=extra, error=f"record of {size} bytes exceeds "
                            f"pipeline.max_record_bytes ({max_record_bytes}); first "
                            f"{len(body)} bytes kept")
            continue
        try:
            fields, error = parse(body), None
        except ParseError as exc:
            fields, error = None, str(exc)
        yield RawRecord(source=source, raw=body, fields=fields, error=error, position=position,
                        received=received, timestamp_required=parser.timestamp_required,
                        keep_original=parser.keep_original, extra=extra)


def _lines(handle: IO[bytes], limit: int) -> Iterator[tuple[bytes, int, bool]]:
    """(line without its newline, full size in bytes, whether it was cut at `limit`).

    Reads large chunks and splits them: several times faster than readline per line. Memory
    stays within one chunk plus `limit` bytes however long a line is.
    """
    head, size = b"", 0  # the line begun in an earlier chunk: its first bytes, its size so far
    while chunk := handle.read(CHUNK):
        pieces = chunk.split(b"\n")
        rest = pieces.pop()
        for piece in pieces:
            if size:
                full = size + len(piece)
                yield (head + piece[:limit])[:limit], full + 1, full > limit
                head, size = b"", 0
            elif len(piece) <= limit:
                yield piece, len(piece) + 1, False
            else:
                yield piece[:limit], len(piece) + 1, True
        if rest:
            if len(head) < limit:
                head += rest[:limit - len(head)]
            size += len(rest)
    if size:
        yield head, size, size > limit
