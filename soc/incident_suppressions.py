"""Suppressions: operator rules that keep known noise out of incidents without deleting alerts.

A suppression matches an alert by rule id and/or exact field values (every given field must
match; a list field matches when any of its values does), until an optional expiry.

Storage: no collection of the Store fits (incidents, comments and the audit log mean other
things, and the audit log is append-only), so suppressions are kept as checkpoints under
`suppression:<id>`, which every backend already persists. A checkpoint cannot be deleted, so a
removed suppression keeps its record with `removed_at` set and stops applying.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from soc.errors import NotFoundError
from soc.store import Store
from soc.timeutil import format_timestamp, parse_timestamp

PREFIX = "suppression:"
Audit = Callable[[str, str, str, Any, Any], None]


def matches(suppression: Mapping[str, Any], alert: Mapping[str, Any]) -> bool:
    rule_id = suppression.get("rule_id")
    if rule_id is not None and alert.get("rule.id") != rule_id:
        return False
    return all(_field_matches(alert.get(field), value)
               for field, value in suppression.get("fields", {}).items())


def _field_matches(actual: Any, wanted: str) -> bool:
    if isinstance(actual, list | tuple):
        return any(str(item) == wanted for item in actual)
    return actual is not None and str(actual) == wanted


def active(suppression: Mapping[str, Any], now: datetime) -> bool:
    if suppression.get("removed_at"):
        return False
    until = suppression.get("until")
    return until is None or parse_timestamp(until, UTC) > now


class Suppressions:
    """Add, remove, list and apply suppressions; changes go to the audit log via `audit`."""

    def __init__(self, store: Store, clock: Callable[[], datetime], audit: Audit) -> None:
        self.store = store
        self.clock = clock
        self.audit = audit

    def add(self, *, rule_id: str | None, fields: Mapping[str, str], until: datetime | None,
            reason: str, actor: str) -> dict[str, Any]:
        """A new suppression; ValueError when it would match every alert or has no reason."""
        if rule_id is None and not fields:
            raise ValueError("a suppression needs a rule id or field values (it would hide "
                             "every alert)")
        if not reason or not reason.strip():
            raise ValueError("a suppression needs a reason")
        now = self.clock()
        document = {
            "id": uuid.uuid4().hex, "rule_id": rule_id,
            "fields": {str(k): str(v) for k, v in fields.items()},
            "until": format_timestamp(until) if until is not None else None,
            "reason": reason.strip(), "created_by": actor, "created_at": format_timestamp(now),
            "removed_at": None, "hits": 0,
        }
        self.store.set_checkpoint(PREFIX + document["id"], document)
        self.audit(actor, "suppression.add", document["id"], None, _summary(document))
        return document

    def remove(self, suppression_id: str, actor: str) -> dict[str, Any]:
        """Stop a suppression; NotFoundError for an unknown or already removed one."""
        document = self.store.get_checkpoint(PREFIX + suppression_id)
        if document is None or document.get("removed_at"):
            raise NotFoundError(f"no suppression {suppression_id!r}")
        document = {**document, "removed_at": format_timestamp(self.clock())}
        self.store.set_checkpoint(PREFIX + suppression_id, document)
        self.audit(actor, "suppression.remove", suppression_id, _summary(document), None)
        return document

    def list(self, include_inactive: bool = False) -> list[dict[str, Any]]:
        """The suppressions in force (or all, removed and expired too), oldest first."""
        now = self.clock()
        found = self.store.checkpoints(PREFIX).values()
        chosen = [s for s in found if include_inactive or active(s, now)]
        return sorted(chosen, key=lambda s: (s["created_at"], s["id"]))

    def filter(self, alerts: list[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
        """The alerts no active suppression matches; each suppression counts its hits."""
        rules = self.list()
        if not rules:
            return alerts
        hits: dict[str, int] = {}
        kept = []
        for alert in alerts:
            hit = next((s for s in rules if matches(s, alert)), None)
            if hit is None:
                kept.append(alert)
            else:
                hits[hit["id"]] = hits.get(hit["id"], 0) + 1
        self._count(hits)
        return kept

    def _count(self, hits: Mapping[str, int]) -> None:
        # Read-then-write of a counter: two processes adding alerts at the same instant may
        # lose a hit. It is a noise gauge for operators, not a record, so that is accepted.
        for suppression_id, count in hits.items():
            document = self.store.get_checkpoint(PREFIX + suppression_id)
            if document is not None:
                document["hits"] = document.get("hits", 0) + count
                self.store.set_checkpoint(PREFIX + suppression_id, document)


def _summary(document: Mapping[str, Any]) -> dict[str, Any]:
    return {"rule_id": document["rule_id"], "fields": document["fields"],
            "until": document["until"], "reason": document["reason"]}
