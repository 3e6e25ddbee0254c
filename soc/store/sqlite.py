"""The embedded SQLite store: WAL mode, numbered migrations, idempotent batch writes, FTS5 search.

URL: `sqlite:///relative/path.db`, `sqlite:////absolute/path.db` or `sqlite:///:memory:`, with
optional parameters `max_size` (cap the database, e.g. `50GB`: writes past it fail cleanly as if
the disk were full) and `synchronous` (`full`, the default, or `normal`).
"""

from __future__ import annotations

import marshal
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
from pydantic import ByteSize, TypeAdapter, ValidationError

from soc.errors import ConfigError, ConflictError, NotFoundError, StoreError, StoreFullError
from soc.store.base import SPECS, Collection, Store, Versioned, WriteResult, backends
from soc.store.query import Bucket, Page, Query, encode_cursor
from soc.store.sqlite_query import HOT_COLUMNS, TERM_FIELDS, SqlBuilder, ip_in
from soc.timeutil import micros_of_formatted, parse_timestamp, to_micros, utcnow

PAGE_SIZE = 4096
_BYTE_SIZE = TypeAdapter(ByteSize)


@backends.register("sqlite")
class SqliteStore(Store):
    """One writer connection behind a lock; one reader connection per thread (WAL lets them run
    beside the writer)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.path, options = _parse_url(url)
        self._max_pages = options.get("max_pages")
        self._synchronous = options.get("synchronous", "FULL")
        self._memory = self.path == ":memory:"
        self.shareable = not self._memory
        self._write_lock = threading.RLock()
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._closed = False
        self._nesting = 0
        self._builders = {c: SqlBuilder(c) for c in Collection}
        if not self._memory:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        with _translated(self.path):
            self._writer = self._connect()
            self._migrate()

    # -- connections ---------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                               timeout=30)
        conn.create_function("ip_in", 2, ip_in, deterministic=True)
        conn.execute("PRAGMA journal_mode=WAL").fetchone()
        conn.execute(f"PRAGMA synchronous={self._synchronous}")
        conn.execute("PRAGMA cache_size=-65536")
        # Checkpoint every 64 MB of WAL rather than 4 MB: checkpoints were half of commit time.
        conn.execute("PRAGMA wal_autocheckpoint=16384")
        conn.execute("PRAGMA temp_store=MEMORY")
        if self._max_pages:
            conn.execute(f"PRAGMA max_page_count={int(self._max_pages)}")
        return conn

    def _reader(self) -> sqlite3.Connection:
        if self._memory:
            return self._writer
        conn = getattr(self._local, "conn", None)
        if conn is None:
            with _translated(self.path):
                conn = self._connect()
                conn.execute("PRAGMA query_only=1")
            self._local.conn = conn
            with self._write_lock:
                self._readers.append(conn)
        return conn

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        self._check_open()
        if self._memory:
            with self._write_lock, _translated(self.path):
                yield self._writer
        else:
            with _translated(self.path):
                yield self._reader()

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(f"{self.path}: the store is closed")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; writes made inside it (in this thread) join it."""
        self._check_open()
        with self._write_lock, _translated(self.path):
            if self._nesting:
                self._nesting += 1
                try:
                    yield self._writer
                finally:
                    self._nesting -= 1
                return
            self._writer.execute("BEGIN IMMEDIATE")
            self._nesting = 1
            try:
                yield self._writer
                self._writer.execute("COMMIT")
            except BaseException:
                if self._writer.in_transaction:
                    self._writer.execute("ROLLBACK")
                raise
            finally:
                self._nesting = 0

    def _migrate(self) -> None:
        current = self._writer.execute("PRAGMA user_version").fetchone()[0]
        for number, script in _migrations():
            if number <= current:
                continue
            try:
                self._writer.executescript(
                    f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version={number};\nCOMMIT;")
            except sqlite3.Error:
                if self._writer.in_transaction:
                    self._writer.execute("ROLLBACK")
                raise

    def close(self) -> None:
        with self._write_lock:
            self._closed = True
            for conn in self._readers:
                conn.close()
            self._readers.clear()
            self._writer.close()

    # -- writes --------------------------------------------------------------------------------

    def put(self, collection: Collection, documents: Sequence[dict[str, Any]]) -> WriteResult:
        return self._insert(collection, self._rows(collection, documents))

    def encode(self, collection: Collection, documents: Sequence[dict[str, Any]]) -> bytes:
        # The rows themselves, ready for executemany: the producer serialises each document
        # once, and the writer process only unmarshals tuples of str/int. marshal is twice as
        # fast as pickle both ways for such data, and both ends are this store's own processes.
        return marshal.dumps(self._rows(collection, documents))

    def put_encoded(self, collection: Collection, payload: bytes) -> WriteResult:
        return self._insert(collection, marshal.loads(payload))

    def _rows(self, collection: Collection, documents: Sequence[dict[str, Any]]) -> list[tuple]:
        """(id, ts, text, doc, *hot columns) per document.

        One loop with everything bound to locals and no call per document but the C ones: this
        runs for every event ingested.
        """
        spec = SPECS[collection]
        hot = tuple(HOT_COLUMNS.get(collection, {}))
        text_field = spec.text_field
        dumps = orjson.dumps
        rows = []
        for document in documents:
            try:
                head: tuple = (document[spec.id_field], _micros(document[spec.time_field]))
            except KeyError as exc:
                raise StoreError(f"{collection.value} document lacks {exc.args[0]}") from None
            # The text goes out for the dump and back in, rather than copying the document.
            # The caller sees the same content (its key order may change).
            text = document.pop(text_field, None) if text_field is not None else None
            doc = dumps(document).decode()
            if text is not None:
                document[text_field] = text
            rows.append((*head, text, doc, *_hot_values(document, hot)))
        return rows

    def _insert(self, collection: Collection, rows: list[tuple]) -> WriteResult:
        if not rows:
            return WriteResult(0, 0)
        table = collection.value
        hot = HOT_COLUMNS.get(collection, {})
        columns = ", ".join(("id", "ts", "text", "doc", *hot.values()))
        marks = ", ".join("?" * (4 + len(hot)))
        with self.transaction() as conn:
            last = conn.execute(f"SELECT coalesce(max(rowid), 0) FROM {table}").fetchone()[0]
            stored = conn.executemany(
                f"INSERT OR IGNORE INTO {table} ({columns}) VALUES ({marks})", rows).rowcount
            if SPECS[collection].text_field is not None and stored:
                conn.execute(f"INSERT INTO {table}_fts (rowid, text) SELECT rowid, text "
                             f"FROM {table} WHERE rowid > ? AND text IS NOT NULL", (last,))
            if collection in TERM_FIELDS and stored:
                conn.execute(f"INSERT INTO {table}_terms (rowid, terms) SELECT rowid, terms "
                             f"FROM {table}_terms_source WHERE rowid > ? AND terms != ''",
                             (last,))
        return WriteResult(stored, len(rows) - stored)

    def replace(self, collection: Collection, document: dict[str, Any], version: str) -> str:
        if not SPECS[collection].mutable:
            raise StoreError(f"{collection.value} documents cannot be changed")
        document_id, stamp, text, doc, *hot_values = self._rows(collection, [document])[0]
        assignments = "".join(f", {column} = ?"
                              for column in HOT_COLUMNS.get(collection, {}).values())
        with self.transaction() as conn:
            changed = conn.execute(
                f"UPDATE {collection.value} SET ts = ?, text = ?, doc = ?{assignments}, "
                f"version = version + 1 WHERE id = ? AND version = ?",
                (stamp, text, doc, *hot_values, document_id, _version_number(version))).rowcount
            current = conn.execute(f"SELECT version FROM {collection.value} WHERE id = ?",
                                   (document_id,)).fetchone()
        if current is None:
            raise NotFoundError(f"no {collection.value} document {document_id!r}")
        if not changed:
            raise ConflictError(f"{collection.value} document {document_id!r} was changed by "
                                f"someone else (version {current[0]}, not {version})")
        return str(current[0])

    def delete_before(self, collection: Collection, before: datetime) -> int:
        if SPECS[collection].append_only:
            raise StoreError(f"{collection.value} is append-only")
        table, cutoff = collection.value, to_micros(before)
        with self.transaction() as conn:
            if collection in TERM_FIELDS:
                # A contentless FTS5 table forgets a row only when told its terms.
                conn.execute(f"INSERT INTO {table}_terms ({table}_terms, rowid, terms) "
                             f"SELECT 'delete', rowid, terms FROM {table}_terms_source "
                             f"WHERE rowid IN (SELECT rowid FROM {table} WHERE ts < ?) "
                             f"AND terms != ''", (cutoff,))
            return conn.execute(f"DELETE FROM {table} WHERE ts < ?", (cutoff,)).rowcount

    def set_checkpoint(self, key: str, value: dict[str, Any]) -> None:
        with self.transaction() as conn:
            conn.execute("INSERT INTO checkpoints (key, value, updated) VALUES (?, ?, ?) "
                         "ON CONFLICT(key) DO UPDATE SET value = excluded.value, "
                         "updated = excluded.updated",
                         (key, orjson.dumps(value).decode(), to_micros(utcnow())))

    # -- reads ---------------------------------------------------------------------------------

    def get(self, collection: Collection, document_id: str) -> Versioned:
        with self._read() as conn:
            row = conn.execute(f"SELECT text, doc, version FROM {collection.value} WHERE id = ?",
                               (document_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"no {collection.value} document {document_id!r}")
        return Versioned(_document(collection, row[0], row[1]), str(row[2]))

    def search(self, collection: Collection, query: Query) -> Page:
        builder = self._builders[collection]
        clauses, params = builder.where(query)
        if query.cursor:
            clause, values = builder.after_cursor(query)
            clauses.append(clause)
            params.extend(values)
        key = builder.sort_key(query)
        order = "DESC" if query.order == "desc" else "ASC"
        sql = (f"SELECT rowid, {key}, text, doc FROM {collection.value}{_where(clauses)} "
               f"ORDER BY {key} {order}, rowid {order} LIMIT ?")
        with self._read() as conn:
            rows = conn.execute(sql, [*params, query.limit + 1]).fetchall()
        more = len(rows) > query.limit
        rows = rows[:query.limit]
        items = [_document(collection, text, doc) for _, _, text, doc in rows]
        cursor = encode_cursor([rows[-1][1], rows[-1][0]]) if more else None
        return Page(items=items, next_cursor=cursor)

    def count(self, collection: Collection, query: Query) -> int:
        clauses, params = self._builders[collection].where(query)
        with self._read() as conn:
            return conn.execute(f"SELECT count(*) FROM {collection.value}{_where(clauses)}",
                                params).fetchone()[0]

    def count_by(self, collection: Collection, query: Query, field: str,
                 size: int = 10) -> list[Bucket]:
        builder = self._builders[collection]
        clauses, params = builder.where(query)
        if field in builder.scalars or field == builder.spec.text_field:
            value = builder.value_sql(field)
            source = collection.value
            clauses.append(f"{value} IS NOT NULL")
        else:
            value = "j.value"
            source = f"{collection.value}, json_each({collection.value}.doc, '$.\"{field}\"') AS j"
        sql = (f"SELECT {value} AS v, count(*) AS n FROM {source}{_where(clauses)} "
               f"GROUP BY v ORDER BY n DESC, v LIMIT ?")
        with self._read() as conn:
            rows = conn.execute(sql, [*params, size]).fetchall()
        return [Bucket(value=v, count=n) for v, n in rows]

    def get_checkpoint(self, key: str) -> dict[str, Any] | None:
        with self._read() as conn:
            row = conn.execute("SELECT value FROM checkpoints WHERE key = ?", (key,)).fetchone()
        return orjson.loads(row[0]) if row else None

    def checkpoints(self, prefix: str) -> dict[str, dict[str, Any]]:
        with self._read() as conn:
            rows = conn.execute("SELECT key, value FROM checkpoints WHERE key >= ? AND key < ? "
                                "ORDER BY key", (prefix, prefix + "\U0010ffff")).fetchall()
        return {key: orjson.loads(value) for key, value in rows}

    def check(self) -> dict[str, Any]:
        with self._read() as conn:
            counts = {c.value: conn.execute(f"SELECT count(*) FROM {c.value}").fetchone()[0]
                      for c in (Collection.EVENTS, Collection.DEAD_LETTERS, Collection.ALERTS,
                                Collection.INCIDENTS)}
            schema = conn.execute("PRAGMA user_version").fetchone()[0]
        size = 0 if self._memory else sum(
            p.stat().st_size for p in Path(self.path).parent.glob(Path(self.path).name + "*"))
        return {"backend": "sqlite", "path": self.path, "sqlite_version": sqlite3.sqlite_version,
                "schema_version": schema, "bytes": size, "documents": counts}


def _hot_values(document: dict[str, Any], hot: tuple[str, ...]) -> list[Any]:
    # Hot fields are single-valued (the normaliser refuses lists there); a stray structure from
    # another writer is kept out of the column rather than stored as its repr. The type test
    # runs in C: this runs for every event.
    values = [document.get(field) for field in hot]
    if _SCALAR_TYPES.issuperset(map(type, values)):
        return values
    return [v if v.__class__ in _SCALAR_TYPES else None for v in values]


_SCALAR_TYPES = frozenset({str, int, float, bool, type(None)})


def _where(clauses: list[str]) -> str:
    return " WHERE " + " AND ".join(clauses) if clauses else ""


def _document(collection: Collection, text: str | None, doc: str) -> dict[str, Any]:
    document = orjson.loads(doc)
    field = SPECS[collection].text_field
    if field is not None and text is not None:
        document[field] = text
    return document


def _micros(stamp: Any) -> int:
    if isinstance(stamp, datetime):
        return to_micros(stamp)
    if stamp.__class__ is str and len(stamp) == 27 and stamp[-1] == "Z":
        # The normaliser's own fixed format: no zone arithmetic needed.
        return micros_of_formatted(stamp)
    try:
        return to_micros(parse_timestamp(stamp, UTC))
    except ValueError as exc:
        raise StoreError(f"bad document time: {exc}") from None


def _version_number(version: str) -> int:
    try:
        return int(version)
    except ValueError:
        raise ConflictError(f"version {version!r} is not one this store issued") from None


def _migrations() -> list[tuple[int, str]]:
    folder = resources.files("soc.store") / "migrations"
    scripts = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            scripts.append((int(entry.name.split("_", 1)[0]), entry.read_text(encoding="utf-8")))
    return sorted(scripts)


def _parse_url(url: str) -> tuple[str, dict[str, Any]]:
    parts = urlsplit(url)
    if parts.netloc:
        raise ConfigError(f"store.url {url!r}: a SQLite URL has three slashes before a relative "
                          f"path (sqlite:///var/soc.db) and four before an absolute one")
    path = parts.path[1:] if parts.path.startswith("/") else parts.path
    if not path:
        raise ConfigError(f"store.url {url!r} names no database file")
    options: dict[str, Any] = {}
    for name, values in parse_qs(parts.query).items():
        value = values[-1]
        if name == "max_size":
            try:
                options["max_pages"] = max(1, int(_BYTE_SIZE.validate_python(value)) // PAGE_SIZE)
            except ValidationError:
                raise ConfigError(f"store.url: max_size {value!r} is not a size such as 10GB"
                                  ) from None
        elif name == "synchronous" and value.upper() in ("FULL", "NORMAL"):
            options["synchronous"] = value.upper()
        else:
            raise ConfigError(f"store.url: unknown or bad option {name}={value!r} "
                              f"(known: max_size, synchronous=full|normal)")
    return path, options


@contextmanager
def _translated(path: str) -> Iterator[None]:
    """SQLite's exceptions as the store's own, each naming the database file."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        message = str(exc)
        if "full" in message:
            raise StoreFullError(f"{path}: {message}: nothing of this batch was written") from None
        raise StoreError(f"{path}: {message}") from None
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path}: {exc} (is it an SQLite database?)") from None
