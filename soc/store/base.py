"""The Store interface that every backend implements, and the collections it holds.

A collection is a set of JSON documents with an id, a time and optional full text: events,
dead letters, alerts, incidents, comments, the audit log, API keys and scan results. Documents
are flat dicts with dotted ECS names; the backend decides how to keep them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import orjson

from soc.plugins import Registry
from soc.store.query import Bucket, Page, Query


class Collection(StrEnum):
    EVENTS = "events"
    DEAD_LETTERS = "dead_letters"
    ALERTS = "alerts"
    INCIDENTS = "incidents"
    COMMENTS = "comments"
    AUDIT = "audit"
    API_KEYS = "api_keys"
    SCAN_RESULTS = "scan_results"


@dataclass(frozen=True)
class CollectionSpec:
    id_field: str
    time_field: str = "@timestamp"
    text_field: str | None = None
    mutable: bool = True
    append_only: bool = False


SPECS: dict[Collection, CollectionSpec] = {
    Collection.EVENTS: CollectionSpec("event.id", text_field="message", mutable=False),
    Collection.DEAD_LETTERS: CollectionSpec("event.id", text_field="error.message", mutable=False),
    Collection.ALERTS: CollectionSpec("id", text_field="message"),
    Collection.INCIDENTS: CollectionSpec("id", text_field="title"),
    Collection.COMMENTS: CollectionSpec("id", text_field="text"),
    # The audit log is append-only: backends refuse updates and deletes.
    Collection.AUDIT: CollectionSpec("id", mutable=False, append_only=True),
    Collection.API_KEYS: CollectionSpec("id"),
    Collection.SCAN_RESULTS: CollectionSpec("id"),
}


@dataclass(frozen=True)
class WriteResult:
    stored: int
    duplicates: int

    def __add__(self, other: WriteResult) -> WriteResult:
        return WriteResult(self.stored + other.stored, self.duplicates + other.duplicates)


@dataclass(frozen=True)
class Versioned:
    """A document with the opaque version a later update must present."""

    document: dict[str, Any]
    version: str


class Store(ABC):
    """Persistence for every collection. Implementations are safe to share between threads."""

    url: str
    # True when another process can open the same store by its URL (not an in-memory one).
    shareable: bool = True

    @abstractmethod
    def put(self, collection: Collection, documents: Sequence[dict[str, Any]]) -> WriteResult:
        """Insert documents in one atomic batch; an id already stored is a duplicate, no error."""

    def encode(self, collection: Collection, documents: Sequence[dict[str, Any]]) -> bytes:
        """Documents made ready for `put_encoded`, possibly in another process of the same store.

        Backends override both to move their per-document work to the producer's side.
        """
        return orjson.dumps(list(documents))

    def put_encoded(self, collection: Collection, payload: bytes) -> WriteResult:
        """`put` for a payload from `encode`."""
        return self.put(collection, orjson.loads(payload))

    def transaction(self) -> AbstractContextManager[Any]:
        """Writes inside commit together or not at all, where the backend can (group commit).

        Backends without multi-write transactions commit each write on its own.
        """
        return nullcontext()

    @abstractmethod
    def get(self, collection: Collection, document_id: str) -> Versioned:
        """The document with that id; NotFoundError when there is none."""

    @abstractmethod
    def replace(self, collection: Collection, document: dict[str, Any], version: str) -> str:
        """Replace a document if `version` is still current; returns the new version.

        ConflictError when somebody else changed it first; NotFoundError when it is gone.
        """

    @abstractmethod
    def search(self, collection: Collection, query: Query) -> Page:
        """One page of matching documents, sorted, with a cursor for the next page."""

    @abstractmethod
    def count(self, collection: Collection, query: Query) -> int:
        """How many documents match (sort, limit and cursor are ignored)."""

    @abstractmethod
    def count_by(self, collection: Collection, query: Query, field: str,
                 size: int = 10) -> list[Bucket]:
        """The most frequent values of `field` among matching documents, most frequent first."""

    @abstractmethod
    def delete_before(self, collection: Collection, before: datetime) -> int:
        """Retention: remove documents older than `before`; returns how many."""

    @abstractmethod
    def get_checkpoint(self, key: str) -> dict[str, Any] | None:
        """A collector's saved position (e.g. inode and offset of a tailed file)."""

    @abstractmethod
    def set_checkpoint(self, key: str, value: dict[str, Any]) -> None:
        """Save a collector's position; durable when this returns."""

    @abstractmethod
    def checkpoints(self, prefix: str) -> dict[str, dict[str, Any]]:
        """Every saved checkpoint whose key starts with `prefix`, by key."""

    @abstractmethod
    def check(self) -> dict[str, Any]:
        """Reachability and basic facts (backend, version, sizes); StoreError when unreachable."""

    @abstractmethod
    def close(self) -> None:
        """Release connections; the store is unusable afterwards."""

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


StoreFactory = type[Store]
backends: Registry[StoreFactory] = Registry("store backend")
