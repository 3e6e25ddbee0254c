"""`/api/v1/incidents`: the list operators triage from, one incident with everything behind
it, and the triage changes (status, assignee, severity, tags, comments, merge).

Viewers read; analysts change. Every change is audited under `apikey:<key name>`.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator

from api.auth import Caller, actor, require
from api.incident_common import ERROR_RESPONSES, invalid, not_found, service, store_of
from api.incident_list import SORTS, IncidentFilters, search_incidents
from soc.apikeys import Role
from soc.errors import ConflictError, NotFoundError
from soc.incidents import SEVERITIES, STATUSES, InvalidTransition
from soc.store import Collection, Filter, Op
from soc.store import Query as StoreQuery
from soc.store.query import searchable_text
from soc.timeutil import parse_time_bound

router = APIRouter(prefix="/api/v1/incidents", tags=["incidents"], responses=ERROR_RESPONSES)

Viewer = Annotated[Caller, Depends(require(Role.VIEWER))]
Analyst = Annotated[Caller, Depends(require(Role.ANALYST))]
Status = Literal[STATUSES]  # type: ignore[valid-type]
Severity = Literal[SEVERITIES]  # type: ignore[valid-type]

# The events of one incident's alerts are looked up by id: this many ids at most.
MAX_EVENT_IDS = 5000
MAX_ALERTS = 1000
MAX_TAGS = 50

_NOT_FOUND = {404: {"description": "no incident with that id"}}
_CONFLICT = {409: {"description": "a move the lifecycle does not allow (the body lists the "
                                  "allowed ones), or somebody else changed the incident first"}}


class IncidentPatch(BaseModel):
    """The fields an analyst may change; only those given change. `assignee: null` unassigns."""

    model_config = ConfigDict(extra="forbid")

    status: Status | None = None
    assignee: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    severity: Severity | None = None
    tags: Annotated[list[Annotated[str, Field(min_length=1, max_length=100)]],
                    Field(max_length=MAX_TAGS)] | None = None

    @model_validator(mode="after")
    def _something(self) -> IncidentPatch:
        if not self.model_fields_set:
            raise ValueError("nothing to change: give status, assignee, severity or tags")
        for name in ("status", "severity", "tags"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


class CommentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=10_000)

    @model_validator(mode="after")
    def _not_blank(self) -> CommentIn:
        if not self.text.strip():
            raise ValueError("a comment needs text")
        return self


class MergeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source_id: str = Field(min_length=1, max_length=200)


@router.get("", summary="List incidents")
def list_incidents(
    request: Request, _: Viewer,
    status: Annotated[list[Status] | None, Query()] = None,
    severity: Annotated[list[Severity] | None, Query()] = None,
    agency: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    assignee: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    rule: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    q: Annotated[str | None, Query(min_length=1, max_length=500,
                                   description="words that must all appear in the title")] = None,
    since: Annotated[str | None, Query(description="last seen at or after: a timestamp, or a "
                                                   "duration ago (15m, 7d)")] = None,
    until: Annotated[str | None, Query(description="first seen before: a timestamp, or a "
                                                   "duration ago")] = None,
    sla_breached: bool | None = None,
    sort: Literal[SORTS] = "last_seen",  # type: ignore[valid-type]
    order: Literal["asc", "desc"] = "desc",
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    cursor: Annotated[str | None, Query(max_length=2000)] = None,
) -> dict[str, Any]:
    zone = request.app.state.settings.zone()
    try:
        text = None if q is None else searchable_text(q)
    except ValueError as error:
        raise invalid(("query", "q"), str(error), q) from None
    filters = IncidentFilters(
        statuses=status or [], severities=severity or [], agency=agency, assignee=assignee,
        rule=rule, text=text, since=_bound("since", since, zone),
        until=_bound("until", until, zone), sla_breached=sla_breached)
    try:
        page = search_incidents(store_of(request), filters, sort, order, limit, cursor)
    except ValueError as error:
        raise invalid(("query", "cursor"), str(error), cursor) from None
    return {"items": page.items, "next_cursor": page.next_cursor}


@router.get("/{incident_id}", summary="One incident with its alerts, events, timeline and "
                                      "comments", responses=_NOT_FOUND)
def get_incident(
    request: Request, incident_id: str, _: Viewer,
    events_limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    events_cursor: Annotated[str | None, Query(max_length=2000)] = None,
) -> dict[str, Any]:
    incidents = service(request)
    try:
        incident = incidents.get(incident_id)
    except NotFoundError:
        raise not_found(f"incident {incident_id!r}") from None
    store = store_of(request)
    alert_ids = [str(i) for i in incident.get("alert_ids", [])][:MAX_ALERTS]
    alerts = store.search(Collection.ALERTS, StoreQuery(
        filters=[Filter(field="id", op=Op.IN, value=alert_ids)], sort="@timestamp",
        order="asc", limit=MAX_ALERTS)).items if alert_ids else []
    event_ids = list(dict.fromkeys(str(e) for alert in alerts
                                   for e in alert.get("event.ids") or []))[:MAX_EVENT_IDS]
    events: dict[str, Any] = {"items": [], "next_cursor": None}
    if event_ids:
        try:
            page = store.search(Collection.EVENTS, StoreQuery(
                filters=[Filter(field="event.id", op=Op.IN, value=event_ids)],
                sort="@timestamp", order="asc", limit=events_limit, cursor=events_cursor))
        except ValueError as error:
            raise invalid(("query", "events_cursor"), str(error), events_cursor) from None
        events = {"items": page.items, "next_cursor": page.next_cursor}
    return {"incident": incident, "alerts": alerts, "events": events,
            "timeline": incidents.history(incident_id),
            "comments": incidents.comments(incident_id)}


@router.patch("/{incident_id}", summary="Change status, assignee, severity or tags",
              responses={**_NOT_FOUND, **_CONFLICT})
def patch_incident(request: Request, incident_id: str, body: IncidentPatch,
                   key: Analyst) -> Any:
    incidents, who = service(request), actor(key)
    given = body.model_fields_set
    try:
        incident = incidents.get(incident_id)
        if body.status is not None and body.status != incident["status"]:
            incident = incidents.transition(incident_id, body.status, who)
        changes: dict[str, Any] = {name: getattr(body, name)
                                   for name in ("assignee", "severity", "tags") if name in given}
        if changes:
            incident = incidents.update(incident_id, who, **changes)
    except NotFoundError:
        raise not_found(f"incident {incident_id!r}") from None
    except InvalidTransition as error:
        return JSONResponse(status_code=409, content={
            "detail": str(error), "current": error.current, "allowed": error.allowed})
    except ConflictError:
        return _conflict()
    return incident


@router.post("/{incident_id}/comments", status_code=201, summary="Add a comment",
             responses=_NOT_FOUND)
def add_comment(request: Request, incident_id: str, body: CommentIn,
                key: Analyst) -> dict[str, Any]:
    try:
        return service(request).comment(incident_id, actor(key), body.text)
    except NotFoundError:
        raise not_found(f"incident {incident_id!r}") from None


@router.post("/{incident_id}/merge", summary="Fold another incident into this one",
             responses={**_NOT_FOUND, **_CONFLICT})
def merge_incident(request: Request, incident_id: str, body: MergeIn, key: Analyst) -> Any:
    if body.source_id == incident_id:
        raise invalid(("body", "source_id"), "an incident cannot be merged into itself",
                      body.source_id)
    incidents = service(request)
    try:
        incidents.get(incident_id)
    except NotFoundError:
        raise not_found(f"incident {incident_id!r}") from None
    try:
        return incidents.merge(incident_id, body.source_id, actor(key))
    except NotFoundError:
        raise not_found(f"incident {body.source_id!r} (source_id)") from None
    except ConflictError:
        return _conflict()
    except ValueError as error:  # the source was merged already
        return JSONResponse(status_code=409, content={"detail": str(error)})


def _conflict() -> JSONResponse:
    return JSONResponse(status_code=409, content={
        "detail": "the incident was changed by somebody else meanwhile: reload it and try "
                  "again"})


def _bound(name: str, value: str | None, zone: tzinfo) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_time_bound(value, zone)
    except ValueError as error:
        raise invalid(("query", name), str(error), value) from None
