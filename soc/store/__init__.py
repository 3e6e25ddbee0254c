"""The store: one interface, backends chosen by URL (`sqlite:///var/soc.db`, `elasticsearch+https://…`)."""

from __future__ import annotations

from soc.errors import ConfigError
from soc.store import sqlite
from soc.store.base import SPECS, Collection, Store, Versioned, WriteResult, backends
from soc.store.query import Bucket, Filter, Op, Page, Query

__all__ = ["SPECS", "Bucket", "Collection", "Filter", "Op", "Page", "Query", "Store", "Versioned",
           "WriteResult", "backends", "open_store", "sqlite"]


def open_store(url: str) -> Store:
    """Open the backend the URL's scheme names (`sqlite:///…`, later `elasticsearch+https://…`)."""
    scheme, sep, _ = url.partition(":")
    if not sep or not scheme:
        raise ConfigError(f"store.url {url!r} has no scheme (e.g. sqlite:///var/soc.db)")
    return backends.get(scheme.split("+")[0])(url)
