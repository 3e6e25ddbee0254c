"""Translation of the structured query model to SQLite SQL over the collection tables."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from soc.errors import NormaliseError
from soc.events import SINGLE_VALUED_FIELDS, canonical_ip
from soc.store.base import SPECS, Collection
from soc.store.query import Filter, Op, Query, decode_cursor
from soc.timeutil import format_timestamp, parse_timestamp, to_micros

# Fields kept in indexed columns of their own (migration 0001), by collection: field → column.
HOT_COLUMNS: dict[Collection, dict[str, str]] = {
    Collection.EVENTS: {field: field.replace(".", "_") for field in (
        "event.dataset", "host.name", "source.ip", "destination.ip", "user.name",
        "organization.id")},
}
# Fields looked up through the collection's `<table>_terms` FTS5 index (migration 0002), with the
# letter that starts their tokens.
TERM_FIELDS: dict[Collection, dict[str, str]] = {
    Collection.EVENTS: {"source.ip": "s", "destination.ip": "d"},
}
# Fields the normaliser guarantees single-valued: compared as plain values, no list handling.
SCALAR_FIELDS: dict[Collection, frozenset[str]] = {Collection.EVENTS: SINGLE_VALUED_FIELDS}

_LAST_CHARACTER = "\U0010ffff"


@lru_cache(maxsize=1024)
def _network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return ipaddress.ip_network(text, strict=False)


def ip_in(value: Any, network: str) -> int:
    """SQL function ip_in(value, cidr): 1 when value is an address inside the network."""
    if not isinstance(value, str):
        return 0
    try:
        return int(ipaddress.ip_address(value) in _network(network))
    except ValueError:
        return 0


class SqlBuilder:
    """Builds WHERE clauses and sort keys for one collection."""

    def __init__(self, collection: Collection) -> None:
        self.table = collection.value
        self.spec = SPECS[collection]
        self.scalars = SCALAR_FIELDS.get(collection, frozenset())
        self.columns = HOT_COLUMNS.get(collection, {})
        self.terms = TERM_FIELDS.get(collection, {})

    def value_sql(self, field: str) -> str:
        if field == self.spec.text_field:
            return "text"
        return self.columns.get(field) or f"json_extract(doc, '{_path(field)}')"

    def where(self, query: Query) -> tuple[list[str], list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        if query.since is not None:
            clauses.append("ts >= ?")
            params.append(to_micros(query.since))
        if query.until is not None:
            clauses.append("ts < ?")
            params.append(to_micros(query.until))
        for condition in query.filters:
            sql, values = self.condition(condition)
            clauses.append(sql)
            params.extend(values)
        if query.text:
            if self.spec.text_field is None:
                raise ValueError(f"{self.table} has no full-text field")
            clauses.append(f"rowid IN (SELECT rowid FROM {self.table}_fts WHERE "
                           f"{self.table}_fts MATCH ?)")
            params.append(fts_query(query.text))
        return clauses, params

    def condition(self, condition: Filter) -> tuple[str, list[Any]]:
        field, op, value = condition.field, condition.op, condition.value
        if field == self.spec.time_field and op in _COMPARISONS:
            return f"ts {_COMPARISONS[op]} ?", [to_micros(_as_time(value))]
        if op is Op.EXISTS:
            return f"coalesce(json_type(doc, '{_path(field)}'), 'null') != 'null'", []
        if op is Op.MISSING:
            return f"coalesce(json_type(doc, '{_path(field)}'), 'null') = 'null'", []
        if op is Op.NE:
            sql, params = self.condition(Filter(field=field, op=Op.EQ, value=value))
            return f"NOT coalesce(({sql}), 0)", params
        if op in (Op.EQ, Op.IN) and field in self.terms:
            return self._address_lookup(field, value if op is Op.IN else [value])
        if op in (Op.EQ, Op.IN):
            candidates = _candidates(value if op is Op.IN else [value])
            marks = ", ".join("?" * len(candidates))
            return self._any_value(field, f"IN ({marks})", candidates)
        if op is Op.PREFIX:
            text = str(value)
            return self._any_value(field, ">= ? AND {v} < ?", [text, text + _LAST_CHARACTER])
        if op is Op.CIDR:
            _network(str(value))  # a bad network is the caller's error, raised here
            return self._any_value(field, "", [str(value)], function="ip_in({v}, ?)")
        if op in _COMPARISONS:
            bound = format_timestamp(value) if isinstance(value, datetime) else value
            return self._any_value(field, f"{_COMPARISONS[op]} ?", [bound])
        raise ValueError(f"unsupported filter operator {op!r}")

    def _any_value(self, field: str, test: str, params: list[Any],
                   function: str | None = None) -> tuple[str, list[Any]]:
        """`test` holds for the field's value, or for any element when the value is a list."""
        def check(v: str) -> str:
            return function.format(v=v) if function else f"{v} {test.format(v=v)}"

        scalar = check(self.value_sql(field))
        if field in self.scalars or field == self.spec.text_field:
            return scalar, params
        path = _path(field)
        listed = (f"(json_type(doc, '{path}') = 'array' AND EXISTS (SELECT 1 FROM "
                  f"json_each(doc, '{path}') WHERE {check('value')}))")
        return f"({scalar} OR {listed})", params + params

    def _address_lookup(self, field: str, values: Any) -> tuple[str, list[Any]]:
        """Equality on an address field through the terms index (the column test keeps it exact).

        Values are compared in canonical form, so `::FFFF:10.0.0.1` finds `10.0.0.1`; a value
        that is no address cannot be stored in the field and matches nothing.
        """
        addresses = sorted({address for v in
                            (values if isinstance(values, list | tuple) else [values])
                            if (address := _canonical_or_none(str(v))) is not None})
        if not addresses:
            return "0", []
        letter = self.terms[field]
        match = " OR ".join(f'"{address_token(letter, a)}"' for a in addresses)
        marks = ", ".join("?" * len(addresses))
        return (f"({self.columns[field]} IN ({marks}) AND rowid IN (SELECT rowid FROM "
                f"{self.table}_terms WHERE {self.table}_terms MATCH ?))", [*addresses, match])

    def sort_key(self, query: Query) -> str:
        return "ts" if query.sort == self.spec.time_field else self.value_sql(query.sort)

    def after_cursor(self, query: Query) -> tuple[str, list[Any]]:
        """Keyset condition: rows strictly after the cursor's (sort key, rowid) in sort order."""
        key_value, rowid = _cursor_values(query.cursor)
        key = self.sort_key(query)
        before = query.order == "desc"
        cmp = "<" if before else ">"
        if key_value is None:
            # NULLs sort first ascending and last descending (SQLite's order).
            if before:
                return f"({key} IS NULL AND rowid < ?)", [rowid]
            return f"({key} IS NOT NULL OR rowid > ?)", [rowid]
        tail = f" OR {key} IS NULL" if before else ""
        return (f"({key} {cmp} ? OR ({key} = ? AND rowid {cmp} ?){tail})",
                [key_value, key_value, rowid])


_COMPARISONS = {Op.GT: ">", Op.GTE: ">=", Op.LT: "<", Op.LTE: "<="}


def _path(field: str) -> str:
    # Field names are checked against query.FIELD_NAME, so they hold no quote characters.
    return f'$."{field}"'


def _as_time(value: Any) -> datetime:
    return value if isinstance(value, datetime) else parse_timestamp(value, UTC)


def _candidates(values: Any) -> list[Any]:
    """Values to compare with: numbers also as text and numeric text also as numbers (ECS keeps
    `event.code` as text, but people type 4625)."""
    if not isinstance(values, list | tuple):
        values = [values]
    out: list[Any] = []
    for value in values:
        out.append(value)
        if isinstance(value, bool):
            continue
        if isinstance(value, int | float):
            out.append(str(value))
        elif isinstance(value, str):
            try:
                out.append(int(value))
            except ValueError:
                continue
    return out


def address_token(letter: str, address: str) -> str:
    """The terms-index token of a canonical address, as the view in migration 0002 builds it."""
    return letter + address.replace(".", "x").replace(":", "y")


def _canonical_or_none(value: str) -> str | None:
    try:
        return canonical_ip(value)
    except NormaliseError:
        return None


def _cursor_values(cursor: str | None) -> tuple[Any, int]:
    values = decode_cursor(cursor or "")
    if len(values) != 2 or not isinstance(values[1], int):
        raise ValueError(f"invalid cursor {cursor!r}")
    return values[0], values[1]


def fts_query(text: str) -> str:
    """Every whitespace-separated term must appear; each is quoted so FTS5 syntax is inert."""
    terms = [term.replace('"', '""') for term in text.split()]
    if not terms:
        raise ValueError("empty full-text query")
    return " ".join(f'"{term}"' for term in terms)
