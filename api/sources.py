"""`GET /api/v1/sources`: every collector source's counters, as the collectors last saved them.

Each item: `name`, `kind`, `received`, `parsed`, `dead_lettered`, `dropped`, `last_seen`.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from api.auth import require
from soc.apikeys import Role
from soc.sources import saved_sources

router = APIRouter(prefix="/api/v1", tags=["sources"], dependencies=[Depends(require(Role.VIEWER))])


@router.get("/sources")
def list_sources(request: Request) -> dict[str, Any]:
    """The saved counters of every source, by name."""
    items = sorted(saved_sources(request.app.state.store), key=lambda item: item.get("name", ""))
    return {"items": items, "next_cursor": None}
