"""`GET /api/v1/stats`: what a wallboard shows over a period.

The answer, every `by_*` a list of `{"value", "count"}` buckets, most frequent first, at most
`size` (default 20) of them::

    {"since": "2026-11-20T00:00:00.000000Z" | null,   # the bounds as read, UTC
     "until": "..." | null,
     "incidents": {"total": 3,
                   "by_status": [{"value": "new", "count": 2}, ...],
                   "by_severity": [...],
                   "by_agency": [...],                # the incidents' `agencies`
                   "by_rule": [...]},                 # the incidents' `rule_ids`
     "alerts": {"total": 5, "by_level": [...],        # `rule.level`
                "by_rule": [...]},                    # `rule.name`
     "events": {"total": 1200}}

Each collection is bounded by its own `@timestamp`: an incident's is its first sighting.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi import Query as Param

from api.auth import require
from api.query_params import QUERY_ERROR, time_range
from soc.apikeys import Role
from soc.store import Collection, Store
from soc.store.query import Query
from soc.timeutil import format_timestamp

router = APIRouter(prefix="/api/v1", tags=["stats"], responses=QUERY_ERROR,
                   dependencies=[Depends(require(Role.VIEWER))])

INCIDENT_FIELDS = {"by_status": "status", "by_severity": "severity", "by_agency": "agencies",
                   "by_rule": "rule_ids"}
ALERT_FIELDS = {"by_level": "rule.level", "by_rule": "rule.name"}


@router.get("/stats")
def stats(request: Request,
          bounds: Annotated[tuple[datetime | None, datetime | None], Depends(time_range)],
          size: Annotated[int, Param(ge=1, le=100, description="buckets per count")] = 20,
          ) -> dict[str, Any]:
    """Counts of incidents, alerts and events in [since, until) (see the module's docstring)."""
    store: Store = request.app.state.store
    since, until = bounds
    query = Query(since=since, until=until)
    return {
        "since": None if since is None else format_timestamp(since),
        "until": None if until is None else format_timestamp(until),
        "incidents": _counts(store, Collection.INCIDENTS, query, INCIDENT_FIELDS, size),
        "alerts": _counts(store, Collection.ALERTS, query, ALERT_FIELDS, size),
        "events": {"total": store.count(Collection.EVENTS, query)},
    }


def _counts(store: Store, collection: Collection, query: Query, fields: dict[str, str],
            size: int) -> dict[str, Any]:
    counts: dict[str, Any] = {"total": store.count(collection, query)}
    for name, field in fields.items():
        counts[name] = [bucket.model_dump() for bucket in
                        store.count_by(collection, query, field, size)]
    return counts
