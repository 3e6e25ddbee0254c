"""Reading the paths a command names (files, or `-` for standard input) into raw records.

Text formats go line by line through their parser; binary formats (EVTX, captures) are read as
whole files by their reader, and `auto` recognises them by their first bytes.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from collectors import parsers
from collectors.evtx import is_evtx, read_evtx
from collectors.files import read_file, read_stream
from collectors.netflow import read_netflow_capture
from collectors.pcap import is_capture, read_capture
from soc.events import RawRecord
from soc.progress import Progress
from soc.timeutil import utcnow


def read_paths(paths: list[str], fmt: str, limit: int, source: str, failures: list[str],
               progress: Progress) -> Iterator[RawRecord]:
    """The records of every path in turn: line by line through the format's parser, or, for a
    format of whole binary files (and for such files under auto), through its reader."""
    for name in paths:
        progress.start_file(name)
        # A parser per file: some keep what a file's header said (Zeek's #fields).
        parser = None if fmt in FILE_FORMATS else parsers.get(fmt)
        try:
            if name == "-":
                if parser is None:
                    raise OSError(f"{fmt} cannot be read from standard input; give the file")
                stream_source = f"stdin:{utcnow().isoformat()}"
                extra = {"observer.name": source, "observer.type": "stdin"}
                yield from progress.track(
                    read_stream(sys.stdin.buffer, stream_source, parser, limit, extra))
                continue
            path = Path(name)
            binary = fmt if parser is None else binary_format(path) if fmt == "auto" else None
            if binary is not None:
                yield from progress.track(FILE_FORMATS[binary].read(path, limit, source))
            else:
                yield from progress.track(read_file(path, parser, limit, source))
        except OSError as exc:
            failures.append(f"{name}: {exc.strerror or exc}")


@dataclass(frozen=True)
class FileFormat:
    """A format read as whole files (binary), not line by line through a parser."""

    read: Callable[[Path, int, str], Iterator[RawRecord]]
    # Recognises the format by the file's first bytes, for --format auto; None: never guessed.
    detect: Callable[[Path], bool] | None


FILE_FORMATS: dict[str, FileFormat] = {
    "evtx": FileFormat(read_evtx, is_evtx),
    "pcap": FileFormat(read_capture, is_capture),  # pcap and pcapng, plain or gzip'd
    # A capture of NetFlow/IPFIX export packets looks like any capture: only by --format.
    "netflow": FileFormat(read_netflow_capture, None),
}


def binary_format(path: Path) -> str | None:
    for name, file_format in FILE_FORMATS.items():
        if file_format.detect is not None and file_format.detect(path):
            return name
    return None
