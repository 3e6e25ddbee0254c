"""soc/store/query.py: what the structured query model refuses before any backend sees it."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from soc.store import Query
from soc.store.query import searchable_text


def test_full_text_with_a_nul_is_refused_with_the_reason() -> None:
    # SQLite's FTS5 parser fails on it ("unterminated string"): an API 500 before this check.
    with pytest.raises(ValidationError, match="full-text search must not contain a NUL"):
        Query(text="failed\x00root")
    with pytest.raises(ValueError, match="full-text search must not contain a NUL"):
        searchable_text("\x00")
    assert Query(text="failed root").text == "failed root"
