"""Query parameters shared by the search routes: the store's structured query, from a URL.

The same forms as `soc events search`: `since`/`until` take ISO 8601 or a duration ago (`15m`,
`7d`), `where` (repeatable) takes `FIELD=VALUE`, `!=`, `>`, `>=`, `<`, `<=`, `VALUE*` for a
prefix and `=*` for present. A bad filter, time or cursor answers 422 with one clear line.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Annotated, Any, Literal

from fastapi import HTTPException, Request
from fastapi import Query as Param
from pydantic import BaseModel, ValidationError

from soc.store.query import Filter, Query, parse_filter, time_bound

MAX_LIMIT = 1000


class QueryError(BaseModel):
    """A 422 of a search route: FastAPI's list of errors for a parameter of the wrong type or
    range, one line of text for a bad filter, time, sort or cursor."""

    detail: str | list[dict[str, Any]]


# The routers' `responses`: documents the 422 as it is really answered.
QUERY_ERROR: dict[int | str, dict[str, Any]] = {
    422: {"model": QueryError, "description": "a parameter that is invalid or means nothing"}}

Since = Annotated[str | None, Param(description="from this time (ISO 8601, or a duration ago: "
                                                "15m, 7d)")]
Until = Annotated[str | None, Param(description="before this time (same forms as since)")]


def invalid(error: ValueError) -> HTTPException:
    """A 422 naming what was wrong in one line (a pydantic error's first message)."""
    if isinstance(error, ValidationError) and error.errors():
        message = str(error.errors()[0]["msg"]).removeprefix("Value error, ")
    else:
        message = str(error).strip() or "invalid parameter"
    return HTTPException(422, message)


def time_range(request: Request, since: Since = None,
               until: Until = None) -> tuple[datetime | None, datetime | None]:
    """The `since`/`until` of a request as aware datetimes (the configured zone for bare times)."""
    zone = request.app.state.settings.zone()
    return _bound(since, zone), _bound(until, zone)


def _bound(value: str | None, zone: tzinfo) -> datetime | None:
    try:
        return time_bound(value, zone)
    except ValueError as exc:
        raise invalid(exc) from None
    except OverflowError:  # a duration reaching before year 1
        raise HTTPException(422, f"{value!r} is too far back") from None


def filters(where: list[str]) -> list[Filter]:
    try:
        return [parse_filter(text) for text in where]
    except ValueError as exc:
        raise invalid(exc) from None


def search_query(
        request: Request,
        since: Since = None,
        until: Until = None,
        where: Annotated[list[str], Param(
            description="filter (repeatable): FIELD=VALUE, !=, >, >=, <, <=; VALUE* is a "
                        "prefix, an IP field = a CIDR matches the network, =* means present"
        )] = [],  # noqa: B006 - FastAPI copies defaults
        q: Annotated[str | None, Param(description="full text: every word must appear")] = None,
        sort: Annotated[str, Param(description="field to sort by")] = "@timestamp",
        order: Literal["asc", "desc"] = "desc",
        limit: Annotated[int, Param(ge=1, le=MAX_LIMIT)] = 100,
        cursor: Annotated[str | None, Param(description="next_cursor of the previous page")]
        = None,
) -> Query:
    """The dependency of a search route: its query parameters as a store Query."""
    start, end = time_range(request, since, until)
    try:
        return Query(since=start, until=end, filters=filters(where), text=q or None, sort=sort,
                     order=order, limit=limit, cursor=cursor or None)
    except ValueError as exc:
        raise invalid(exc) from None
