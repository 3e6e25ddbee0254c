"""Bearer API keys on every route but `/health`: who is calling, and whether their role may.

A route declares the least role it needs, `Depends(require(Role.ANALYST))`, and receives the
caller's key document (name, role). No or a bad token answers 401, a role too low 403, both
with a JSON body naming what was wrong and never echoing the token.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from soc.apikeys import ApiKeyService, Role, allows

# auto_error off: a missing header gets our 401 body, not FastAPI's 403.
_bearer = HTTPBearer(auto_error=False, description="an API key from `soc apikey create`")

Caller = dict[str, Any]
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def require(needed: Role) -> Callable[..., Caller]:
    """The dependency of a route that needs at least `needed`."""

    def caller(request: Request, credentials: Credentials) -> Caller:
        if credentials is None:
            raise _unauthorised("missing bearer token (Authorization: Bearer <API key>)")
        key = ApiKeyService(request.app.state.store).verify(credentials.credentials)
        if key is None:
            raise _unauthorised("invalid or revoked API key")
        if not allows(key["role"], needed):
            raise HTTPException(403, f"an API key with role {key['role']!r} may not do this "
                                     f"(needs {needed.value!r})")
        return key

    return caller


def actor(key: Caller) -> str:
    """How the audit log names a caller."""
    return f"apikey:{key['name']}"


def _unauthorised(reason: str) -> HTTPException:
    return HTTPException(401, reason, headers={"WWW-Authenticate": "Bearer"})
