"""`GET /api/v1/alerts`: the store's structured query over the alerts."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from api.auth import require
from api.events import search
from api.query_params import QUERY_ERROR, search_query
from soc.apikeys import Role
from soc.store import Collection
from soc.store.query import Query

router = APIRouter(prefix="/api/v1", tags=["alerts"], responses=QUERY_ERROR,
                   dependencies=[Depends(require(Role.VIEWER))])


@router.get("/alerts")
def list_alerts(request: Request, query: Annotated[Query, Depends(search_query)]
                ) -> dict[str, Any]:
    """Alerts matching the query (e.g. `where=rule.level=high`), newest first by default."""
    return search(request.app.state.store, Collection.ALERTS, query)
