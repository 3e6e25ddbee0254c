"""`GET /health`: is the store reachable, which collectors run, how full is the ingest queue? No
authentication, for load balancers and probes."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from soc import __version__
from soc.errors import StoreError

router = APIRouter()
log = logging.getLogger(__name__)


@router.get("/health", summary="Service health (no authentication)")
def health(request: Request) -> JSONResponse:
    body: dict[str, Any] = {"status": "ok", "version": __version__}
    # Set by `soc serve`: the collectors and the ingest queue (an app without them, in tests
    # or embedded, reports the store alone).
    runtime = getattr(request.app.state, "runtime", None)
    if runtime is not None:
        body.update(runtime.status())
        if body["ingest"] != "ok":
            body["status"] = "degraded"
    try:
        facts = request.app.state.store.check()
        body["store"] = {"status": "ok", "backend": facts["backend"],
                         "documents": facts["documents"]}
    except StoreError as exc:
        log.error("health check: store unreachable", extra={"error": str(exc)})
        body["status"] = "degraded"
        body["store"] = {"status": "unreachable", "error": str(exc)}
        return JSONResponse(body, status_code=503)
    return JSONResponse(body)
