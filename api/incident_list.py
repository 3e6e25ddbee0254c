"""The incident list as store queries: filters, sorts and cursor paging.

Severity is stored as its name, whose text order means nothing, so a list sorted by severity
is read one severity at a time (highest first when descending), each by last seen, newest
first; its cursor names the severity reached and the store's cursor within it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from soc.incidents import SEVERITIES
from soc.store import Collection, Filter, Op, Query, Store
from soc.store.query import Page, decode_cursor, encode_cursor
from soc.timeutil import format_timestamp

SORTS: tuple[str, ...] = ("last_seen", "first_seen", "created_at", "alert_count", "severity")
_BY_SEVERITY = "severity"


@dataclass(frozen=True)
class IncidentFilters:
    statuses: list[str] = field(default_factory=list)
    severities: list[str] = field(default_factory=list)
    agency: str | None = None
    assignee: str | None = None
    rule: str | None = None
    text: str | None = None
    since: datetime | None = None   # last seen at or after
    until: datetime | None = None   # first seen before
    sla_breached: bool | None = None

    def store_filters(self, with_severity: bool = True) -> list[Filter]:
        filters: list[Filter] = []
        if self.statuses:
            filters.append(Filter(field="status", op=Op.IN, value=list(self.statuses)))
        if self.severities and with_severity:
            filters.append(Filter(field="severity", op=Op.IN, value=list(self.severities)))
        for name, value in (("agencies", self.agency), ("assignee", self.assignee),
                            ("rule_ids", self.rule)):
            if value is not None:
                filters.append(Filter(field=name, value=value))
        if self.since is not None:
            filters.append(Filter(field="last_seen", op=Op.GTE,
                                  value=format_timestamp(self.since)))
        if self.until is not None:
            filters.append(Filter(field="first_seen", op=Op.LT,
                                  value=format_timestamp(self.until)))
        if self.sla_breached is not None:
            filters.append(Filter(field="sla.breached", value=self.sla_breached))
        return filters


def search_incidents(store: Store, filters: IncidentFilters, sort: str, order: str,
                     limit: int, cursor: str | None) -> Page:
    """One page of incidents; ValueError for a cursor that is not this query's."""
    if sort == _BY_SEVERITY:
        return _by_severity(store, filters, order, limit, cursor)
    return store.search(Collection.INCIDENTS, Query(
        filters=filters.store_filters(), text=filters.text, sort=sort, order=order,
        limit=limit, cursor=cursor))


def _by_severity(store: Store, filters: IncidentFilters, order: str, limit: int,
                 cursor: str | None) -> Page:
    levels = list(SEVERITIES) if order == "asc" else list(reversed(SEVERITIES))
    wanted = [level for level in levels
              if not filters.severities or level in filters.severities]
    start, inner = _severity_cursor(cursor, wanted)
    base = filters.store_filters(with_severity=False)

    def query(level: str, size: int = limit, after: str | None = None) -> Query:
        return Query(filters=[*base, Filter(field="severity", value=level)], text=filters.text,
                     sort="last_seen", order="desc", limit=size, cursor=after)

    items: list[dict] = []
    for position in range(start, len(wanted)):
        level = wanted[position]
        page = store.search(Collection.INCIDENTS, query(
            level, limit - len(items), inner if position == start else None))
        items += page.items
        if len(items) < limit:
            continue
        if page.next_cursor is not None:
            return Page(items=items, next_cursor=encode_cursor(
                [_BY_SEVERITY, level, page.next_cursor]))
        for later in wanted[position + 1:]:
            if store.count(Collection.INCIDENTS, query(later, 1)):
                return Page(items=items, next_cursor=encode_cursor([_BY_SEVERITY, later, None]))
        break
    return Page(items=items, next_cursor=None)


def _severity_cursor(cursor: str | None, wanted: list[str]) -> tuple[int, str | None]:
    if cursor is None:
        return 0, None
    values = decode_cursor(cursor)
    if (len(values) != 3 or values[0] != _BY_SEVERITY or values[1] not in wanted
            or not isinstance(values[2], str | None)):
        raise ValueError(f"invalid cursor {cursor[:40]!r} (not from this list's sort)")
    return wanted.index(values[1]), values[2]
