"""`/api/v1/suppressions`: rules that keep known noise out of incidents (the alerts stay).

Viewers list them; admins add and remove them, each change audited.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field, model_validator

from api.auth import Caller, actor, require
from api.incident_common import ERROR_RESPONSES, invalid, not_found, service
from soc.apikeys import Role
from soc.errors import NotFoundError
from soc.timeutil import utcnow

router = APIRouter(prefix="/api/v1/suppressions", tags=["suppressions"],
                   responses=ERROR_RESPONSES)

Viewer = Annotated[Caller, Depends(require(Role.VIEWER))]
Admin = Annotated[Caller, Depends(require(Role.ADMIN))]
Text = Annotated[str, Field(min_length=1, max_length=500)]


class SuppressionIn(BaseModel):
    """Alerts of `rule_id` and/or with exactly these field values stop joining incidents until
    `until` (a timestamp; without a zone it is read in the configured one; none: until
    removed). At least a rule id or one field is needed."""

    model_config = ConfigDict(extra="forbid")

    rule_id: Text | None = None
    fields: Annotated[dict[Annotated[str, Field(min_length=1, max_length=200,
                                                pattern=r"^@?[A-Za-z0-9_][A-Za-z0-9_.\-]*$")],
                           Annotated[str, Field(max_length=1000)]],
                      Field(max_length=50)] = {}
    until: datetime | None = None
    reason: Annotated[str, Field(min_length=1, max_length=1000)]

    @model_validator(mode="after")
    def _narrow(self) -> SuppressionIn:
        if self.rule_id is None and not self.fields:
            raise ValueError("a suppression needs rule_id or fields (it would hide every alert)")
        if not self.reason.strip():
            raise ValueError("a suppression needs a reason")
        return self


@router.get("", summary="List suppressions")
def list_suppressions(request: Request, _: Viewer,
                      include_inactive: bool = False) -> dict[str, Any]:
    """The suppressions in force, oldest first; with include_inactive also expired and
    removed ones."""
    return {"items": service(request).suppressions(include_inactive), "next_cursor": None}


@router.post("", status_code=201, summary="Add a suppression")
def add_suppression(request: Request, body: SuppressionIn, key: Admin) -> dict[str, Any]:
    until = body.until
    if until is not None:
        if until.tzinfo is None:
            until = until.replace(tzinfo=request.app.state.settings.zone())
        if until <= utcnow():
            raise invalid(("body", "until"), "until is in the past: the suppression would "
                                             "never apply", body.until.isoformat())
    try:
        return service(request).add_suppression(rule_id=body.rule_id, fields=body.fields,
                                                until=until, reason=body.reason,
                                                actor=actor(key))
    except ValueError as error:
        raise invalid(("body",), str(error)) from None


@router.delete("/{suppression_id}", summary="Remove a suppression",
               responses={404: {"description": "no such suppression in force"}})
def remove_suppression(request: Request, suppression_id: str, key: Admin) -> dict[str, Any]:
    try:
        return service(request).remove_suppression(suppression_id, actor(key))
    except NotFoundError:
        raise not_found(f"suppression {suppression_id!r}") from None
