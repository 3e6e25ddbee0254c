"""`GET /api/v1/stream` (viewer): server-sent events pushing new and changed incidents.

Every `interval` seconds (default 2, 0.1 to 60) the stream reads the `WINDOW` incidents seen
most recently (by `last_seen`) and sends each one that is new or differs from what this
connection last saw, oldest `last_seen` first::

    event: incident
    data: {"id": "...", "status": "acknowledged", ...}   # the whole incident, one line

Incidents carry no `updated_at` (a status, assignee or tag change moves no time field), so a
change is found by comparing each document with the one sent before, not by a timestamp. What
exists when the stream opens is the baseline, not sent: a screen loads it with
`GET /incidents` and then listens. A change to an incident outside the window is not seen.

A comment line `: keep-alive` goes out after `KEEPALIVE` seconds without an event, so proxies
keep the connection open. The stream ends when the client disconnects or, with `limit=N`,
after N incident events (for scripts and tests).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

import anyio
import orjson
from fastapi import APIRouter, Depends, Request
from fastapi import Query as Param
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from api.auth import require
from soc.apikeys import Role
from soc.store import Collection, Query, Store

router = APIRouter(prefix="/api/v1", tags=["stream"],
                   dependencies=[Depends(require(Role.VIEWER))])

# Seconds without an event before a keep-alive comment.
KEEPALIVE = 15.0
# How many of the most recently seen incidents each poll compares.
WINDOW = 1000
KEEPALIVE_LINE = b": keep-alive\n\n"


@router.get("/stream", response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {}},
                             "description": "`event: incident` messages, one per change"}})
async def stream(request: Request,
                 interval: Annotated[float, Param(ge=0.1, le=60,
                                                  description="seconds between polls")] = 2.0,
                 limit: Annotated[int | None, Param(ge=1, le=100_000,
                                                    description="end after this many incident "
                                                                "events")] = None,
                 ) -> StreamingResponse:
    """New and changed incidents as server-sent events (see the module's docstring)."""
    store: Store = request.app.state.store
    seen = await run_in_threadpool(_snapshot, store)
    return StreamingResponse(
        _events(request, store, seen, interval, limit), media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


async def _events(request: Request, store: Store, seen: dict[str, bytes], interval: float,
                  limit: int | None) -> AsyncIterator[bytes]:
    sent = 0
    quiet_since = time.monotonic()
    while not await request.is_disconnected():
        for incident in await run_in_threadpool(_changes, store, seen):
            yield b"event: incident\ndata: " + orjson.dumps(incident) + b"\n\n"
            quiet_since = time.monotonic()
            sent += 1
            if limit is not None and sent >= limit:
                return
        if time.monotonic() - quiet_since >= KEEPALIVE:
            yield KEEPALIVE_LINE
            quiet_since = time.monotonic()
        await anyio.sleep(interval)


def _recent(store: Store) -> list[dict[str, Any]]:
    query = Query(sort="last_seen", order="desc", limit=WINDOW)
    return store.search(Collection.INCIDENTS, query).items


def _fingerprint(incident: dict[str, Any]) -> bytes:
    return hashlib.blake2b(orjson.dumps(incident, option=orjson.OPT_SORT_KEYS),
                           digest_size=16).digest()


def _snapshot(store: Store) -> dict[str, bytes]:
    return {str(i["id"]): _fingerprint(i) for i in _recent(store)}


def _changes(store: Store, seen: dict[str, bytes]) -> list[dict[str, Any]]:
    """The incidents new or changed since `seen`, which is updated; oldest last_seen first."""
    changed = []
    for incident in _recent(store):
        key, mark = str(incident["id"]), _fingerprint(incident)
        if seen.get(key) != mark:
            seen[key] = mark
            changed.append(incident)
    changed.sort(key=lambda i: (str(i.get("last_seen") or ""), str(i["id"])))
    return changed
