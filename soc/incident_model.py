"""The incident document and its rules, without the store: ids, grouping fields, lifecycle, SLA.

An incident is a flat dict (dotted keys for the SLA fields), kept in `Collection.INCIDENTS`.
Times are `format_timestamp` text (fixed width UTC), so text order is time order and the
store's range filters work on them. `soc.incidents` reads and writes these documents.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from soc.config import IncidentsSettings
from soc.errors import SocError
from soc.timeutil import format_timestamp, parse_timestamp

SEVERITIES: tuple[str, ...] = IncidentsSettings.SEVERITIES
STATUSES: tuple[str, ...] = ("new", "acknowledged", "investigating", "resolved",
                             "false_positive")
CLOSED: frozenset[str] = frozenset({"resolved", "false_positive"})
OPEN: tuple[str, ...] = tuple(s for s in STATUSES if s not in CLOSED)
# Moves an operator may make, by current status, in lifecycle order (the API answers 409 with
# them). Reopening goes to `investigating`: somebody is already looking at it again.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "new": ("acknowledged", "investigating", "resolved", "false_positive"),
    "acknowledged": ("investigating", "resolved", "false_positive"),
    "investigating": ("resolved", "false_positive"),
    "resolved": ("investigating",),
    "false_positive": ("investigating",),
}
# alert_ids is kept for the operator's screen, not as the complete list: a noisy incident
# would otherwise grow without bound. alert_count stays exact.
MAX_ALERT_IDS = 1000
SLA_KINDS: tuple[str, ...] = ("acknowledge", "resolve")


class InvalidTransition(SocError):  # noqa: N818 - the name the API and issue use
    """A status move the lifecycle does not allow; `.allowed` lists the moves that are."""

    def __init__(self, current: str, requested: str) -> None:
        self.current = current
        self.requested = requested
        self.allowed: list[str] = list(TRANSITIONS.get(current, ()))
        super().__init__(f"cannot move an incident from {current!r} to {requested!r} "
                         f"(allowed: {', '.join(self.allowed) or 'none'})")


def severity_rank(level: object) -> int:
    """Position in SEVERITIES; an unknown level counts as the lowest rather than failing."""
    return SEVERITIES.index(level) if level in SEVERITIES else 0


def higher_severity(a: str, b: object) -> str:
    return b if isinstance(b, str) and severity_rank(b) > severity_rank(a) else a


def incident_id(rule_id: str, group_key: str, first_alert_id: str) -> str:
    """Deterministic, so replaying the alerts that opened an incident finds the same one."""
    digest = hashlib.sha256(f"{rule_id}\0{group_key}\0{first_alert_id}".encode())
    return digest.hexdigest()[:32]


def title(rule_name: str, group_key: str) -> str:
    """`Rule name: value, value` from a `field=value|field=value` grouping key."""
    values = [part.partition("=")[2] for part in group_key.split("|") if part]
    shown = ", ".join(v for v in values if v)
    return f"{rule_name}: {shown}" if shown else rule_name


def alert_time(alert: Mapping[str, Any]) -> datetime:
    return parse_timestamp(alert["@timestamp"], UTC)


def alert_agencies(alert: Mapping[str, Any]) -> list[str]:
    agencies = alert.get("alert.agencies") or [alert.get("organization.id")]
    return [str(a) for a in agencies if a not in (None, "")]


def alert_assets(alert: Mapping[str, Any]) -> list[str]:
    asset = alert.get("asset.name")
    return [str(asset)] if asset not in (None, "") else []


def union(first: Iterable[str], second: Iterable[str]) -> list[str]:
    return list(dict.fromkeys([*first, *second]))


def new_incident(alert: Mapping[str, Any], now: datetime,
                 settings: IncidentsSettings) -> dict[str, Any]:
    """The incident an alert opens, status `new`, its SLA clock started at `now`."""
    seen = format_timestamp(alert_time(alert))
    rule_id, key = str(alert["rule.id"]), str(alert.get("alert.group_key", ""))
    severity = higher_severity(SEVERITIES[0], alert.get("rule.level"))
    incident = {
        "id": incident_id(rule_id, key, str(alert["id"])), "@timestamp": seen,
        "status": "new", "severity": severity,
        "title": title(str(alert.get("rule.name") or rule_id), key),
        "rule_ids": [rule_id], "alert_ids": [str(alert["id"])], "alert_count": 1,
        "first_seen": seen, "last_seen": seen, "agencies": alert_agencies(alert),
        "assets": alert_assets(alert), "assignee": None, "tags": [], "group_key": key,
        "linked": [], "created_at": format_timestamp(now), "acknowledged_at": None,
        "resolved_at": None, "sla.breached": False, "sla.breaches": [],
    }
    return with_deadlines(incident, settings)


def join_alert(incident: dict[str, Any], alert: Mapping[str, Any],
               settings: IncidentsSettings) -> dict[str, Any]:
    """The incident with one more alert counted (the caller checked it is not counted yet)."""
    seen = format_timestamp(alert_time(alert))
    joined = {
        **incident,
        "alert_ids": union(incident["alert_ids"], [str(alert["id"])])[:MAX_ALERT_IDS],
        "alert_count": incident["alert_count"] + 1,
        "first_seen": min(incident["first_seen"], seen),
        "last_seen": max(incident["last_seen"], seen),
        "agencies": union(incident["agencies"], alert_agencies(alert)),
        "assets": union(incident["assets"], alert_assets(alert)),
        "rule_ids": union(incident["rule_ids"], [str(alert["rule.id"])]),
        "severity": higher_severity(incident["severity"], alert.get("rule.level")),
    }
    joined["@timestamp"] = joined["first_seen"]
    return with_deadlines(joined, settings)


def merged(target: dict[str, Any], source: Mapping[str, Any],
           settings: IncidentsSettings) -> dict[str, Any]:
    """The target with the source's alerts, counts, agencies, assets and rules folded in."""
    overlap = len(set(target["alert_ids"]) & set(source["alert_ids"]))
    result = {
        **target,
        "alert_ids": union(target["alert_ids"], source["alert_ids"])[:MAX_ALERT_IDS],
        "alert_count": target["alert_count"] + source["alert_count"] - overlap,
        "first_seen": min(target["first_seen"], source["first_seen"]),
        "last_seen": max(target["last_seen"], source["last_seen"]),
        "agencies": union(target["agencies"], source["agencies"]),
        "assets": union(target["assets"], source["assets"]),
        "rule_ids": union(target["rule_ids"], source["rule_ids"]),
        "severity": higher_severity(target["severity"], source["severity"]),
        "linked": union(target["linked"], [source["id"]]),
    }
    result["@timestamp"] = result["first_seen"]
    return with_deadlines(result, settings)


def with_deadlines(incident: dict[str, Any], settings: IncidentsSettings) -> dict[str, Any]:
    """SLA deadlines from the severity, counted from when the incident was opened (not from
    the first alert's time: replayed old alerts must not open an incident already late)."""
    target = settings.sla[incident["severity"]]
    opened = parse_timestamp(incident["created_at"], UTC)
    return {**incident, "sla.acknowledge_by": format_timestamp(opened + target.acknowledge),
            "sla.resolve_by": format_timestamp(opened + target.resolve)}


def sla_breached(incident: Mapping[str, Any], now: datetime) -> list[str]:
    """Which deadlines were missed: done after the deadline, or not done and now past it."""
    stamp = format_timestamp(now)
    done = {"acknowledge": incident.get("acknowledged_at"),
            "resolve": incident.get("resolved_at")}
    return [kind for kind in SLA_KINDS
            if (done[kind] or stamp) > incident[f"sla.{kind}_by"]]


def with_breaches(incident: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The stored breach flags brought up to date. A breach, once recorded, stays: it happened,
    whatever the incident does later (so a list filtered on it shows the misses)."""
    breaches = union(incident.get("sla.breaches") or [], sla_breached(incident, now))
    ordered = [kind for kind in SLA_KINDS if kind in breaches]
    return {**incident, "sla.breaches": ordered, "sla.breached": bool(ordered)}
