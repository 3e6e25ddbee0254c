"""collectors/files.py: line framing, positions, gzip, BOM, CRLF and oversized records."""

from __future__ import annotations

import gzip
from pathlib import Path

from collectors import parsers
from collectors.files import read_file


def records(path: Path, limit: int = 1024, fmt: str = "text") -> list:
    return list(read_file(path, parsers.get(fmt), limit, observer="test"))


def test_positions_skip_blank_lines_and_keep_the_last_unterminated_line(tmp_path: Path) -> None:
    path = tmp_path / "a.log"
    path.write_bytes(b"\xef\xbb\xbffirst\r\n\n   \nsecond\nthird")
    got = records(path)
    assert [(r.raw, r.position) for r in got] == [(b"first", 0), (b"second", 15), (b"third", 22)]
    assert got[0].extra == {"log.file.path": str(path.resolve()), "observer.name": "test",
                            "observer.type": "file"}
    assert got[0].source == f"file:{path.resolve()}"


def test_gzip_is_read_by_its_magic(tmp_path: Path) -> None:
    path = tmp_path / "rotated.1"
    path.write_bytes(gzip.compress(b"one\ntwo\n"))
    assert [(r.raw, r.position) for r in records(path)] == [(b"one", 0), (b"two", 4)]


def test_oversized_record_is_cut_reported_and_reading_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "big.log"
    huge = b"A" * (3 * (1 << 20) + 5)  # spans several read chunks
    path.write_bytes(b"before\n" + huge + b"\nafter\n" + b"B" * 2000)
    got = records(path, limit=1000)
    assert [r.position for r in got] == [0, 7, 7 + len(huge) + 1, 7 + len(huge) + 7]
    assert got[0].raw == b"before" and got[0].error is None
    assert got[1].raw == b"A" * 1000
    assert got[1].error == (f"record of {len(huge) + 1} bytes exceeds pipeline.max_record_bytes "
                            f"(1000); first 1000 bytes kept")
    assert got[2].raw == b"after" and got[2].error is None
    assert got[3].raw == b"B" * 1000 and got[3].error is not None


def test_parse_errors_travel_with_the_record(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_bytes(b'{"a": 1}\n[1, 2]\n{"b": \n')
    got = records(path, fmt="jsonl")
    assert [(r.fields, r.error) for r in got] == [
        ({"a": 1}, None), (None, "expected a JSON object, got list"),
        (None, "invalid JSON: unexpected end of data at line 1 column 7")]
