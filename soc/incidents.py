"""Incidents: alerts grouped by rule and grouping key, the triage lifecycle, SLA and audit.

`IncidentService` is what the pipeline (add_alerts) and the API (everything else) call. The
document and its pure rules live in `soc.incident_model`; suppressions in
`soc.incident_suppressions`.

Concurrency: every change reads the document with its version, modifies it and replaces it
with that version. A system update (alerts joining) retries on a conflict, since it has no one
to ask; an operator's update raises ConflictError so the API answers 409 and the operator sees
what changed before trying again.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from soc.config import IncidentsSettings
from soc.errors import ConflictError, NotFoundError
from soc.incident_model import (
    CLOSED,
    OPEN,
    SEVERITIES,
    STATUSES,
    TRANSITIONS,
    InvalidTransition,
    alert_time,
    incident_id,
    join_alert,
    merged,
    new_incident,
    sla_breached,
    union,
    with_breaches,
    with_deadlines,
)
from soc.incident_suppressions import Suppressions
from soc.store import Collection, Filter, Op, Query, Store
from soc.timeutil import format_timestamp, utcnow

__all__ = ["CLOSED", "OPEN", "SEVERITIES", "STATUSES", "TRANSITIONS", "IncidentService",
           "InvalidTransition", "sla_breached"]

SYSTEM = "system"
# Attempts of a system read-modify-write before the conflict is given up on.
SYSTEM_RETRIES = 5
_UNSET: Any = object()
Change = tuple[str, str, Any, Any]  # (action, target, from, to) for the audit log


class IncidentService:
    """Groups alerts into incidents and applies operators' changes, each change audited."""

    def __init__(self, store: Store, settings: IncidentsSettings,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self._suppressions = Suppressions(store, clock, self._audit_one)

    # -- alerts in -----------------------------------------------------------------------------

    def add_alerts(self, alerts: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Put each alert in its incident; the incidents created or changed, in first-change
        order. Suppressed and already counted alerts change nothing."""
        # Oldest first, so a batch chains its windows as the alerts happened.
        ordered = sorted(alerts, key=alert_time)
        changed: dict[str, dict[str, Any]] = {}
        for alert in self._suppressions.filter(ordered):
            incident = self._retrying(lambda a=alert: self._place(a))
            if incident is not None:
                changed[incident["id"]] = incident
        return list(changed.values())

    def _retrying(self, attempt: Callable[[], dict[str, Any] | None]) -> dict[str, Any] | None:
        for remaining in range(SYSTEM_RETRIES, 0, -1):
            try:
                return attempt()
            except ConflictError:
                if remaining == 1:
                    raise
        return None

    def _place(self, alert: Mapping[str, Any]) -> dict[str, Any] | None:
        if self._alert_incident(alert) is not None:
            return None
        found = self._open_incident_for(alert)
        if found is None:
            return self._open(alert)
        incident, version = found
        if str(alert["id"]) in incident["alert_ids"]:
            return None
        joined = with_breaches(join_alert(incident, alert, self.settings), self.clock())
        changes = _field_changes(incident, joined, ("severity",))
        with self.store.transaction():
            self.store.replace(Collection.INCIDENTS, joined, version)
            self._audit(SYSTEM, changes)
            self._tag_alert(alert, joined["id"])
        return joined

    def _open(self, alert: Mapping[str, Any]) -> dict[str, Any] | None:
        incident = with_breaches(new_incident(alert, self.clock(), self.settings), self.clock())
        with self.store.transaction():
            if not self.store.put(Collection.INCIDENTS, [incident]).stored:
                return None  # this alert opened it before: a replay
            self._audit(SYSTEM, [("incident.create", incident["id"], None, "new")])
            self._tag_alert(alert, incident["id"])
        return incident

    def _alert_incident(self, alert: Mapping[str, Any]) -> str | None:
        """The incident that already counts this alert, if any is known.

        The stored alert carries `incident.id` once counted (alert_ids is capped, so it
        cannot tell); an alert that opened an incident is found by the deterministic id.
        """
        try:
            stored = self.store.get(Collection.ALERTS, str(alert["id"])).document
            if stored.get("incident.id"):
                return str(stored["incident.id"])
        except NotFoundError:
            pass
        opener = incident_id(str(alert["rule.id"]), str(alert.get("alert.group_key", "")),
                             str(alert["id"]))
        try:
            return self.store.get(Collection.INCIDENTS, opener).document["id"]
        except NotFoundError:
            return None

    def _open_incident_for(self, alert: Mapping[str, Any]) -> tuple[dict[str, Any], str] | None:
        """The open incident of the alert's rule and key seen within the window, newest."""
        moment, window = alert_time(alert), self.settings.group_window
        query = Query(filters=[
            Filter(field="rule_ids", value=str(alert["rule.id"])),
            Filter(field="group_key", value=str(alert.get("alert.group_key", ""))),
            Filter(field="status", op=Op.IN, value=list(OPEN)),
            Filter(field="last_seen", op=Op.GTE, value=format_timestamp(moment - window)),
            Filter(field="first_seen", op=Op.LTE, value=format_timestamp(moment + window)),
        ], sort="last_seen", order="desc", limit=1)
        items = self.store.search(Collection.INCIDENTS, query).items
        if not items:
            return None
        versioned = self.store.get(Collection.INCIDENTS, items[0]["id"])
        return versioned.document, versioned.version

    def _tag_alert(self, alert: Mapping[str, Any], target: str) -> None:
        # Alerts are stored by the pipeline, maybe after this runs: an alert not stored yet
        # has nothing to tag, and its replay is then caught by alert_ids or the opener id.
        try:
            stored = self.store.get(Collection.ALERTS, str(alert["id"]))
        except NotFoundError:
            return
        self.store.replace(Collection.ALERTS, {**stored.document, "incident.id": target},
                           stored.version)

    # -- operators' changes --------------------------------------------------------------------

    def get(self, incident_id: str) -> dict[str, Any]:
        """The incident; NotFoundError when there is none."""
        return self.store.get(Collection.INCIDENTS, incident_id).document

    def transition(self, incident_id: str, status: str, actor: str) -> dict[str, Any]:
        """Move the incident along its lifecycle; InvalidTransition for a move not allowed."""
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r} (expected one of {', '.join(STATUSES)})")
        versioned = self.store.get(Collection.INCIDENTS, incident_id)
        incident = versioned.document
        current = incident["status"]
        if status not in TRANSITIONS[current]:
            raise InvalidTransition(current, status)
        moved = _moved(incident, status, format_timestamp(self.clock()))
        moved = with_breaches(moved, self.clock())
        return self._write(moved, versioned.version, actor,
                           [("incident.status", incident_id, current, status)])

    def update(self, incident_id: str, actor: str, *, assignee: str | None = _UNSET,
               severity: str = _UNSET, tags: Sequence[str] = _UNSET) -> dict[str, Any]:
        """Change assignee, severity or tags (only those given); unchanged ones are not
        audited. A new severity moves the SLA deadlines."""
        if severity is not _UNSET and severity not in SEVERITIES:
            raise ValueError(f"unknown severity {severity!r} (expected one of "
                             f"{', '.join(SEVERITIES)})")
        versioned = self.store.get(Collection.INCIDENTS, incident_id)
        incident = versioned.document
        changed = dict(incident)
        if assignee is not _UNSET:
            changed["assignee"] = assignee or None
        if severity is not _UNSET:
            changed["severity"] = severity
        if tags is not _UNSET:
            changed["tags"] = union([], (str(t) for t in tags))
        changed = with_breaches(with_deadlines(changed, self.settings), self.clock())
        changes = _field_changes(incident, changed, ("assignee", "severity", "tags"))
        if not changes:
            return incident
        return self._write(changed, versioned.version, actor, changes)

    def comment(self, incident_id: str, actor: str, text: str) -> dict[str, Any]:
        """Add an operator's note to the incident's timeline (Collection.COMMENTS)."""
        if not text or not text.strip():
            raise ValueError("a comment needs text")
        self.store.get(Collection.INCIDENTS, incident_id)  # NotFoundError for a wrong id
        document = {"id": uuid.uuid4().hex, "@timestamp": format_timestamp(self.clock()),
                    "incident_id": incident_id, "actor": actor, "text": text.strip()}
        with self.store.transaction():
            self.store.put(Collection.COMMENTS, [document])
            self._audit(actor, [("incident.comment", incident_id, None, document["id"])])
        return document

    def comments(self, incident_id: str, limit: int = 1000) -> list[dict[str, Any]]:
        query = Query(filters=[Filter(field="incident_id", value=incident_id)], order="asc",
                      limit=limit)
        return self.store.search(Collection.COMMENTS, query).items

    def merge(self, target_id: str, source_id: str, actor: str) -> dict[str, Any]:
        """Fold the source incident into the target; the source is resolved with
        `merged_into`, and each lists the other in `linked`. Returns the target."""
        if target_id == source_id:
            raise ValueError("an incident cannot be merged into itself")
        target = self.store.get(Collection.INCIDENTS, target_id)
        source = self.store.get(Collection.INCIDENTS, source_id)
        if source.document.get("merged_into"):
            raise ValueError(f"incident {source_id} was already merged into "
                             f"{source.document['merged_into']}")
        now = self.clock()
        new_target = with_breaches(merged(target.document, source.document, self.settings), now)
        new_source = with_breaches(
            _merged_away(source.document, target_id, format_timestamp(now)), now)
        changes: list[Change] = [("incident.merge", target_id, source_id, target_id)]
        changes += _field_changes(target.document, new_target, ("severity",))
        if new_source["status"] != source.document["status"]:
            changes.append(("incident.status", source_id, source.document["status"],
                            new_source["status"]))
        # Both incidents change together or not at all.
        with self.store.transaction():
            self.store.replace(Collection.INCIDENTS, new_source, source.version)
            return self._write(new_target, target.version, actor, changes)

    def history(self, target: str, limit: int = 1000) -> list[dict[str, Any]]:
        """The audit entries about one incident (or suppression), oldest first."""
        query = Query(filters=[Filter(field="target", value=target)], order="asc", limit=limit)
        return self.store.search(Collection.AUDIT, query).items

    def _write(self, incident: dict[str, Any], version: str, actor: str,
               changes: list[Change]) -> dict[str, Any]:
        # No retry: ConflictError reaches the operator (the API's 409).
        with self.store.transaction():
            self.store.replace(Collection.INCIDENTS, incident, version)
            self._audit(actor, changes)
        return incident

    # -- SLA -----------------------------------------------------------------------------------

    def refresh_sla(self, now: datetime | None = None) -> list[dict[str, Any]]:
        """Record the breaches of open incidents whose deadlines passed; the ones changed."""
        now = now or self.clock()
        changed: dict[str, dict[str, Any]] = {}
        for incident_id_ in self._overdue(now):
            incident = self._retrying(lambda i=incident_id_: self._flag_breaches(i, now))
            if incident is not None:
                changed[incident["id"]] = incident
        return list(changed.values())

    def _overdue(self, now: datetime) -> Iterator[str]:
        stamp = format_timestamp(now)
        for kind, status in (("acknowledge", ["new"]), ("resolve", list(OPEN))):
            yield from self._ids(Query(filters=[
                Filter(field="status", op=Op.IN, value=status),
                Filter(field=f"sla.{kind}_by", op=Op.LT, value=stamp),
                Filter(field="sla.breaches", op=Op.NE, value=kind)], order="asc", limit=500))

    def _ids(self, query: Query) -> Iterator[str]:
        # Collected before any update, so the pages do not shift under the cursor.
        ids: list[str] = []
        while True:
            page = self.store.search(Collection.INCIDENTS, query)
            ids += [item["id"] for item in page.items]
            if page.next_cursor is None:
                return iter(ids)
            query = query.model_copy(update={"cursor": page.next_cursor})

    def _flag_breaches(self, incident_id_: str, now: datetime) -> dict[str, Any] | None:
        versioned = self.store.get(Collection.INCIDENTS, incident_id_)
        incident = versioned.document
        flagged = with_breaches(incident, now)
        if flagged["sla.breaches"] == incident.get("sla.breaches"):
            return None
        return self._write(flagged, versioned.version, SYSTEM,
                           [("incident.sla_breach", incident_id_, incident.get("sla.breaches"),
                             flagged["sla.breaches"])])

    # -- suppressions --------------------------------------------------------------------------

    def add_suppression(self, rule_id: str | None = None, fields: Mapping[str, str] | None = None,
                        until: datetime | None = None, reason: str = "",
                        actor: str = SYSTEM) -> dict[str, Any]:
        """Stop alerts of `rule_id` and/or with these exact field values from joining
        incidents until `until` (None: until removed). The alerts stay in the store."""
        return self._suppressions.add(rule_id=rule_id, fields=fields or {}, until=until,
                                      reason=reason, actor=actor)

    def remove_suppression(self, suppression_id: str, actor: str) -> dict[str, Any]:
        return self._suppressions.remove(suppression_id, actor)

    def suppressions(self, include_inactive: bool = False) -> list[dict[str, Any]]:
        """Suppressions in force; with include_inactive also expired and removed ones."""
        return self._suppressions.list(include_inactive)

    # -- audit ---------------------------------------------------------------------------------

    def _audit(self, actor: str, changes: Iterable[Change]) -> None:
        stamp = format_timestamp(self.clock())
        entries = [{"id": uuid.uuid4().hex, "@timestamp": stamp, "actor": actor,
                    "action": action, "target": target, "from": old, "to": new}
                   for action, target, old, new in changes]
        if entries:
            self.store.put(Collection.AUDIT, entries)

    def _audit_one(self, actor: str, action: str, target: str, old: Any, new: Any) -> None:
        self._audit(actor, [(action, target, old, new)])


def _moved(incident: dict[str, Any], status: str, stamp: str) -> dict[str, Any]:
    moved = {**incident, "status": status}
    # Leaving `new` by any move means somebody looked at it: the acknowledge SLA is met.
    if moved.get("acknowledged_at") is None:
        moved["acknowledged_at"] = stamp
    # A reopened incident is unresolved again, and its resolve deadline applies again.
    moved["resolved_at"] = stamp if status in CLOSED else None
    return moved


def _merged_away(source: dict[str, Any], target_id: str, stamp: str) -> dict[str, Any]:
    result = {**source, "merged_into": target_id, "linked": union(source["linked"], [target_id])}
    if source["status"] not in CLOSED:
        result = _moved(result, "resolved", stamp)
    return result


def _field_changes(before: Mapping[str, Any], after: Mapping[str, Any],
                   fields: Sequence[str]) -> list[Change]:
    return [(f"incident.{field}", str(after["id"]), before.get(field), after.get(field))
            for field in fields if before.get(field) != after.get(field)]
