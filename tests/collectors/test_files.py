"""collectors/files.py: line framing, positions, gzip, BOM, CRLF and oversized records."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

from collectors import parsers
from collectors.files import content_source, fingerprint, read_file


def records(path: Path, limit: int = 1024, fmt: str = "text") -> list:
    return list(read_file(path, parsers.get(fmt), limit, observer="test"))


def test_positions_skip_blank_lines_and_keep_the_last_unterminated_line(tmp_path: Path) -> None:
    path = tmp_path / "a.log"
    path.write_bytes(b"\xef\xbb\xbffirst\r\n\n   \nsecond\nthird")
    got = records(path)
    assert [(r.raw, r.position) for r in got] == [(b"first", 0), (b"second", 15), (b"third", 22)]
    assert got[0].extra == {"log.file.path": str(path.resolve()), "observer.name": "test",
                            "observer.type": "file"}
    first_line = hashlib.blake2b(b"\xef\xbb\xbffirst\r\n", digest_size=8).hexdigest()
    assert got[0].source == f"log:{first_line}"


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


def test_fingerprint_follows_content_not_path() -> None:
    def digest(data: bytes) -> str:
        return hashlib.blake2b(data, digest_size=8).hexdigest()

    assert fingerprint(b"Nov 22 10:00:01 h sshd[1]: x\nmore") == digest(
        b"Nov 22 10:00:01 h sshd[1]: x\n")
    # Header comments repeat across files: the first real line decides.
    zeek = b"#separator \\x09\n#fields\tts\n1700000000.1\tC1\n"
    assert fingerprint(zeek) == digest(zeek)
    assert fingerprint(b"#separator \\x09\n#fields\tts\n") is None
    assert fingerprint(b"a line still being writ") is None
    assert fingerprint(b"x" * 5000) == digest(b"x" * 4096)
    short = b"short, no newline"
    assert content_source(short, complete=True) == f"log:{digest(short)}"
    assert content_source(short, complete=False) is None


def test_a_renamed_or_gzipped_file_keeps_its_event_ids(tmp_path: Path) -> None:
    lines = b"first line\nsecond line\n"
    plain = tmp_path / "access.log"
    plain.write_bytes(lines)
    rotated = tmp_path / "access.log.1.gz"
    rotated.write_bytes(gzip.compress(lines))
    assert [(r.source, r.position) for r in records(plain)] == [
        (r.source, r.position) for r in records(rotated)]
