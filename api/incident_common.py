"""What the incident and suppression routers share: the service, and errors as HTTP answers."""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException, Request
from fastapi.exceptions import RequestValidationError

from soc.incidents import IncidentService
from soc.store import Store

# Shown in OpenAPI for the error answers the routes give besides FastAPI's own 422.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "missing, invalid or revoked API key"},
    403: {"description": "the key's role may not do this"},
}


def store_of(request: Request) -> Store:
    return request.app.state.store  # type: ignore[no-any-return]


def service(request: Request) -> IncidentService:
    return IncidentService(store_of(request), request.app.state.settings.incidents)


def invalid(location: tuple[str, ...], message: str, value: Any = None) -> RequestValidationError:
    """A 422 in FastAPI's own shape, for a value that passed the type check but means nothing
    (a bad time bound, a cursor of another query)."""
    return RequestValidationError([{"type": "value_error", "loc": location, "msg": message,
                                    "input": value}])


def not_found(what: str) -> HTTPException:
    return HTTPException(404, f"no {what}")
