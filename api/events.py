"""`GET /api/v1/events` (the store's structured query) and `GET /api/v1/events/{id}`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request

from api.auth import require
from api.query_params import QUERY_ERROR, invalid, search_query
from soc.apikeys import Role
from soc.errors import NotFoundError
from soc.events import unflatten
from soc.store import Collection, Store
from soc.store.query import Query

router = APIRouter(prefix="/api/v1", tags=["events"], responses=QUERY_ERROR,
                   dependencies=[Depends(require(Role.VIEWER))])


def search(store: Store, collection: Collection, query: Query) -> dict[str, Any]:
    """One page of `collection` as the API answers it: documents nested as on the wire."""
    try:
        page = store.search(collection, query)
    except ValueError as exc:  # a cursor that does not decode, or one from another sort
        raise invalid(exc) from None
    return {"items": [unflatten(document) for document in page.items],
            "next_cursor": page.next_cursor}


@router.get("/events")
def list_events(request: Request, query: Annotated[Query, Depends(search_query)]
                ) -> dict[str, Any]:
    """Events matching the query, newest first unless `sort`/`order` say otherwise."""
    return search(request.app.state.store, Collection.EVENTS, query)


@router.get("/events/{event_id}")
def get_event(request: Request, event_id: str) -> dict[str, Any]:
    """One event by its `event.id`; 404 when there is none."""
    try:
        found = request.app.state.store.get(Collection.EVENTS, event_id)
    except NotFoundError:
        raise HTTPException(404, f"no event {event_id!r}") from None
    return unflatten(found.document)
