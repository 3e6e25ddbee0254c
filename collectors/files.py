"""Files: read log files (plain or gzip'd) record by record, with byte positions for event ids,
and follow growing files (`FileTailer`) through rotation and restarts.

Memory stays bounded whatever the file holds: a line longer than the record limit is read in
chunks, kept only up to the limit, and reported as one oversized record.
"""

from __future__ import annotations

import contextlib
import glob
import gzip
import hashlib
import io
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from collectors.parsers import Parser
from soc.errors import NotARecordError, ParseError
from soc.events import RawRecord
from soc.pipeline import Pipeline
from soc.sources import SourceCounters
from soc.store import Store
from soc.timeutil import utcnow

log = logging.getLogger(__name__)

GZIP_MAGIC = b"\x1f\x8b"
UTF8_BOM = b"\xef\xbb\xbf"
CHUNK = 1 << 20
FINGERPRINT_BYTES = 4096
# A file renamed away by rotation is read on until it has not grown for this many polls.
FINISH_POLLS = 60


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
                extra: dict[str, str], start: int = 0) -> Iterator[RawRecord]:
    """Records of a byte stream, one per line, positioned by byte offset from its start (the
    stream's first byte being at offset `start` of the log)."""
    offset = start
    stamped = not parser.timestamp_required
    required, keep_original = parser.timestamp_required, parser.keep_original
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
        except NotARecordError:
            continue
        except ParseError as exc:
            fields, error = None, str(exc)
        # Positional: keyword arguments cost a tenth of a microsecond per record here.
        yield RawRecord(source, body, fields, error, position, received, required, extra,
                        keep_original)


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


class FileTailer:
    """Follows the files matching one path or glob: new complete lines go through the pipeline,
    then the file's checkpoint (`tail:<content identity>` → offset) moves past them.

    Checkpoints are keyed by content, not path, so a file renamed by rotation is finished where
    it was left (files in the same directory are searched for the inode it had), a gzip'd
    rotated file whose lines were already read is skipped, and a copytruncate'd file starts
    again from 0. A crash between storing and checkpointing re-reads lines the store already
    has: their ids are the same, so nothing is stored twice.
    """

    def __init__(self, pattern: str, parser: Parser, pipeline: Pipeline, store: Store,
                 counters: SourceCounters, max_record_bytes: int, observer: str = "files",
                 max_read_bytes: int = 16 << 20) -> None:
        self.pattern = pattern
        self.parser = parser
        self.pipeline = pipeline
        self.store = store
        self.counters = counters
        self.max_record_bytes = max_record_bytes
        self.observer = observer
        self.max_read_bytes = max(max_read_bytes, max_record_bytes + 1)
        self._followed: dict[tuple[int, int], Path] = {}  # (device, inode) → last path seen
        # Renamed files being finished: (device, inode) → (size last seen, polls unchanged).
        self._quiet: dict[tuple[int, int], tuple[int, int]] = {}
        self._parsers: dict[str, Parser] = {}  # by checkpoint key

    def poll(self) -> int:
        """One pass over the matching files (and files renamed away from them); returns the
        number of records read."""
        paths = [Path(p) for p in sorted(glob.glob(self.pattern))]
        read = 0
        for path in paths + self._renamed(set(paths)):
            try:
                read += self._follow(path)
            except FileNotFoundError:
                continue  # rotated away between listing and opening: next pass finds it
            except OSError as exc:
                log.warning("cannot read tailed file", extra={"path": str(path),
                                                              "reason": exc.strerror or str(exc)})
        return read

    def _renamed(self, matched: set[Path]) -> list[Path]:
        """Followed files that no longer match the pattern (renamed by rotation): they are
        read on until they have not grown for FINISH_POLLS polls, as the program writing them
        may take a while to reopen its log (until logrotate's postrotate signal, say)."""
        found = []
        for identity, path in list(self._followed.items()):
            try:
                status = os.stat(path)
                moved = (status.st_dev, status.st_ino) != identity
            except FileNotFoundError:
                moved = True
            if not moved and path in matched:
                continue  # still where the pattern finds it
            if moved:
                path = self._find(path.parent, identity)
                if path is None:  # deleted
                    del self._followed[identity]
                    self._quiet.pop(identity, None)
                    continue
                status = os.stat(path)
            size, polls = self._quiet.get(identity, (-1, 0))
            polls = polls + 1 if status.st_size == size else 0
            if polls >= FINISH_POLLS:
                del self._followed[identity]
                self._quiet.pop(identity, None)
                continue
            self._quiet[identity] = (status.st_size, polls)
            if path not in matched:
                found.append(path)
        return found

    @staticmethod
    def _find(folder: Path, identity: tuple[int, int]) -> Path | None:
        """The file in `folder` with that (device, inode), if any."""
        with contextlib.suppress(OSError), os.scandir(folder) as entries:
            for entry in entries:
                status = entry.stat(follow_symlinks=False)
                if (status.st_dev, status.st_ino) == identity:
                    return Path(entry.path)
        return None

    def _follow(self, path: Path) -> int:
        with open_log(path) as handle:
            compressed = isinstance(handle, gzip.GzipFile)
            head = handle.read(FINGERPRINT_BYTES)
            source = content_source(head, complete=compressed)
            if source is None:
                return 0  # the first line is still being written
            status = os.fstat(handle.fileno()) if not compressed else os.stat(path)
            if not compressed:
                self._followed[(status.st_dev, status.st_ino)] = path
            # The inode too: two files whose first lines agree keep checkpoints of their own.
            # (A gzip'd copy of lines already read is then read once more; their ids are the
            # same, so it stores nothing.)
            key = (f"tail:{source.removeprefix('log:')}:{status.st_dev}:{status.st_ino}")
            saved = self.store.get_checkpoint(key) or {}
            if saved.get("done"):
                return 0
            offset = int(saved.get("offset", 0))
            if not compressed and status.st_size < offset:
                log.warning("tailed file shrank under the same first line: reading it again",
                            extra={"path": str(path), "offset": offset,
                                   "size": status.st_size})
                offset = 0
            handle.seek(offset)
            read = 0
            while True:
                data, end, done = self._complete_lines(handle, compressed)
                if not data:
                    if done:  # a rotated copy of lines already read: never open it again
                        self.store.set_checkpoint(key, {"offset": offset, "path": str(path),
                                                        "done": True})
                    return read
                read += self._ingest(path, source, key, data, offset, end, done)
                offset += end
                # A growing file gives one chunk per poll; a gzip'd one is read to its end
                # through this handle, as seeking in it again would decompress from the start.
                if not compressed or done:
                    return read

    def _complete_lines(self, handle: IO[bytes], compressed: bool) -> tuple[bytes, int, bool]:
        """New bytes up to the last newline (a gzip'd file: to its end): (bytes, their length,
        whether the file is finished)."""
        data = handle.read(self.max_read_bytes)
        if compressed and len(data) < self.max_read_bytes:
            return data, len(data), True  # a rotated file does not grow: its last line counts
        cut = data.rfind(b"\n") + 1
        if not cut and len(data) > self.max_record_bytes:
            cut = len(data)  # one line longer than the limit: framing reports it cut
        return data[:cut], cut, False

    def _ingest(self, path: Path, source: str, key: str, data: bytes, offset: int, end: int,
                done: bool) -> int:
        extra = {"log.file.path": str(path), "observer.name": self.observer,
                 "observer.type": "file"}
        # A parser per file: some keep what a file's header said (Zeek's #fields).
        parser = self._parsers.get(key) or self._parsers.setdefault(key, type(self.parser)())
        records = read_stream(io.BytesIO(data), source, parser, self.max_record_bytes,
                              extra, start=offset)
        summary = self.pipeline.run(records)
        self.store.set_checkpoint(key, {"offset": offset + end, "path": str(path),
                                        "done": done})
        self.counters.count(received=summary.read,
                            parsed=summary.read - summary.reasons.get("parse", 0),
                            dead_lettered=summary.dead_lettered)
        return summary.read
