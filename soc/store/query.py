"""The structured query model every store backend answers: no backend query strings leak out."""

from __future__ import annotations

import base64
import re
from datetime import datetime, tzinfo
from enum import StrEnum
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, field_validator

from soc.timeutil import parse_time_bound

FIELD_NAME = re.compile(r"^@?[A-Za-z0-9_][A-Za-z0-9_.\-]*$")


class Op(StrEnum):
    EQ = "eq"            # equal to the value, or to any of a list field's values
    NE = "ne"
    IN = "in"            # equal to one of several values
    PREFIX = "prefix"    # text starting with the value
    CIDR = "cidr"        # an IP address inside the network
    GT = "gt"
    GTE = "gte"
    LT = "lt"
    LTE = "lte"
    EXISTS = "exists"    # the field has a non-null value
    MISSING = "missing"


class Filter(BaseModel):
    model_config = ConfigDict(frozen=True)

    field: str
    op: Op = Op.EQ
    value: Any = None

    @field_validator("field")
    @classmethod
    def _safe_name(cls, value: str) -> str:
        if not FIELD_NAME.match(value):
            raise ValueError(f"{value!r} is not a field name (letters, digits, . _ - and a "
                             f"leading @)")
        return value


class Query(BaseModel):
    """Time range [since, until), filters (all must hold), full text, sort, cursor paging."""

    model_config = ConfigDict(frozen=True)

    since: datetime | None = None
    until: datetime | None = None
    filters: list[Filter] = []
    text: str | None = None
    sort: str = "@timestamp"
    order: Literal["asc", "desc"] = "desc"
    limit: int = Field(100, ge=1, le=10_000)
    cursor: str | None = None

    @field_validator("sort")
    @classmethod
    def _safe_sort(cls, value: str) -> str:
        return Filter._safe_name(value)

    @field_validator("text")
    @classmethod
    def _searchable(cls, value: str | None) -> str | None:
        return None if value is None else searchable_text(value)


def searchable_text(value: str) -> str:
    """Full-text search words, refused where no backend's index could parse them."""
    if "\x00" in value:  # SQLite's FTS5 query parser stops at a NUL ("unterminated string")
        raise ValueError("full-text search must not contain a NUL character")
    return value


class Page(BaseModel):
    items: list[dict[str, Any]]
    next_cursor: str | None = None


class Bucket(BaseModel):
    value: Any
    count: int


def encode_cursor(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(values)).decode().rstrip("=")


def decode_cursor(cursor: str) -> list[Any]:
    try:
        values = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, orjson.JSONDecodeError):
        raise ValueError(f"invalid cursor {cursor[:40]!r}") from None
    if not isinstance(values, list):
        raise ValueError(f"invalid cursor {cursor[:40]!r}")
    return values


_OPERATORS = (("!=", Op.NE), (">=", Op.GTE), ("<=", Op.LTE), ("=", Op.EQ), (">", Op.GT),
              ("<", Op.LT))


def parse_filter(text: str) -> Filter:
    """`FIELD=VALUE` and friends, as typed on a command line or in a URL.

    `=` matches equality; a trailing `*` makes it a prefix; a value with `/` on an IP field is a
    CIDR; `=*` means the field exists and `!=*` that it is missing. `!=`, `>`, `>=`, `<`, `<=`
    compare. Numbers are compared as numbers.
    """
    for symbol, op in sorted(_OPERATORS, key=lambda pair: text.find(pair[0]) % (len(text) + 1)):
        field, sep, value = text.partition(symbol)
        if sep and field.strip():
            return _filter(field.strip(), op, value.strip())
    raise ValueError(f"{text!r} is not FIELD=VALUE (or !=, >, >=, <, <=)")


def _filter(field: str, op: Op, value: str) -> Filter:
    if value == "*" and op in (Op.EQ, Op.NE):
        return Filter(field=field, op=Op.EXISTS if op is Op.EQ else Op.MISSING)
    if op is Op.EQ and value.endswith("*") and len(value) > 1:
        return Filter(field=field, op=Op.PREFIX, value=value[:-1])
    if op is Op.EQ and "/" in value and field.endswith(".ip"):
        return Filter(field=field, op=Op.CIDR, value=value)
    return Filter(field=field, op=op, value=_number_or_text(value))


def _number_or_text(value: str) -> Any:
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            continue
    return value


def time_bound(value: str | None, zone: tzinfo) -> datetime | None:
    """`--since 15m` or `--since 2026-11-01T00:00:00` to an aware datetime."""
    return None if value is None else parse_time_bound(value, zone)
