"""Incidents on the real SQLite store: grouping, replay, lifecycle, changes, SLA, suppression,
audit and concurrent updates, with a fixed clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from soc.config import IncidentsSettings
from soc.errors import ConflictError, NotFoundError
from soc.incidents import IncidentService, InvalidTransition, sla_breached
from soc.store import Collection, Filter, Query, Store, Versioned

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
KEY = "source.ip=10.1.2.3|organization.id=000.00.12.H45"
OTHER_KEY = "source.ip=10.9.9.9|organization.id=000.00.12.H45"


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def ts(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def alert(number: int, at: timedelta = timedelta(0), *, rule: str = "ssh-brute",
          key: str = KEY, level: str = "medium", agency: str = "000.00.12.H45",
          asset: str | None = "portal-01") -> dict[str, Any]:
    document: dict[str, Any] = {
        "id": f"alert-{number}", "@timestamp": ts(T0 + at), "event.kind": "alert",
        "rule.id": rule, "rule.name": "SSH brute force" if rule == "ssh-brute" else rule,
        "rule.level": level, "alert.group_key": key, "alert.agencies": [agency],
        "organization.id": agency, "event.ids": [f"event-{number}"], "alert.event_count": 1,
        "source.ip": key.split("|")[0].partition("=")[2],
    }
    if asset:
        document["asset.name"] = asset
    return document


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def service(sqlite_store: Store, clock: Clock) -> IncidentService:
    return IncidentService(sqlite_store, IncidentsSettings(), clock=clock)


def actions(store: Store) -> list[tuple[str, str, Any, Any]]:
    entries = store.search(Collection.AUDIT, Query(order="asc", limit=1000)).items
    return [(e["actor"], e["action"], e["from"], e["to"]) for e in entries]


def one(service: IncidentService, *alerts: dict[str, Any]) -> dict[str, Any]:
    changed = service.add_alerts(list(alerts))
    assert len(changed) == 1
    return changed[0]


# -- grouping -------------------------------------------------------------------------------

def test_alerts_of_one_rule_and_key_within_the_window_make_one_incident(
        service: IncidentService, sqlite_store: Store) -> None:
    changed = service.add_alerts([
        alert(1), alert(2, timedelta(minutes=30), asset="mail-01", agency="000.00.15.H45"),
        alert(3, timedelta(minutes=80))])  # 50 minutes after the second: still in the window

    assert len(changed) == 1
    incident = sqlite_store.get(Collection.INCIDENTS, changed[0]["id"]).document
    assert incident == changed[0]
    assert {k: incident[k] for k in (
        "@timestamp", "status", "severity", "title", "rule_ids", "alert_ids", "alert_count",
        "first_seen", "last_seen", "agencies", "assets", "assignee", "tags", "group_key",
        "linked", "sla.acknowledge_by", "sla.resolve_by", "sla.breached")} == {
        "@timestamp": "2026-03-02T08:00:00.000000Z", "status": "new", "severity": "medium",
        "title": "SSH brute force: 10.1.2.3, 000.00.12.H45", "rule_ids": ["ssh-brute"],
        "alert_ids": ["alert-1", "alert-2", "alert-3"], "alert_count": 3,
        "first_seen": "2026-03-02T08:00:00.000000Z", "last_seen": "2026-03-02T09:20:00.000000Z",
        "agencies": ["000.00.12.H45", "000.00.15.H45"], "assets": ["portal-01", "mail-01"],
        "assignee": None, "tags": [], "group_key": KEY, "linked": [],
        "sla.acknowledge_by": "2026-03-02T12:00:00.000000Z",
        "sla.resolve_by": "2026-03-03T08:00:00.000000Z", "sla.breached": False}


def test_another_key_or_rule_opens_its_own_incident(service: IncidentService) -> None:
    changed = service.add_alerts([alert(1), alert(2, key=OTHER_KEY), alert(3, rule="port-scan")])

    assert sorted((i["rule_ids"][0], i["group_key"], i["alert_count"]) for i in changed) == [
        ("port-scan", KEY, 1), ("ssh-brute", KEY, 1), ("ssh-brute", OTHER_KEY, 1)]


def test_an_alert_after_the_window_opens_a_new_incident(service: IncidentService) -> None:
    first = one(service, alert(1))
    second = one(service, alert(2, timedelta(minutes=61)))

    assert second["id"] != first["id"]
    assert (service.get(first["id"])["alert_count"], second["alert_count"]) == (1, 1)


def test_the_group_window_comes_from_config(sqlite_store: Store, clock: Clock) -> None:
    service = IncidentService(sqlite_store, IncidentsSettings(group_window="2h"), clock=clock)

    assert len(service.add_alerts([alert(1), alert(2, timedelta(minutes=110))])) == 1


def test_an_alert_after_resolution_opens_a_new_incident(service: IncidentService) -> None:
    first = one(service, alert(1))
    service.transition(first["id"], "resolved", "analyst1")

    second = one(service, alert(2, timedelta(minutes=5)))

    assert second["id"] != first["id"]
    assert second["status"] == "new"
    assert service.get(first["id"])["alert_count"] == 1


def test_the_highest_severity_is_kept_and_moves_the_sla(service: IncidentService,
                                                        sqlite_store: Store) -> None:
    incident = one(service, alert(1, level="medium"), alert(2, level="critical"),
                   alert(3, level="low"))

    assert incident["severity"] == "critical"
    assert (incident["sla.acknowledge_by"], incident["sla.resolve_by"]) == (
        "2026-03-02T08:15:00.000000Z", "2026-03-02T12:00:00.000000Z")
    assert actions(sqlite_store) == [("system", "incident.create", None, "new"),
                                     ("system", "incident.severity", "medium", "critical")]


def test_replaying_alerts_changes_nothing(service: IncidentService, sqlite_store: Store) -> None:
    batch = [alert(1), alert(2, timedelta(minutes=10)), alert(3, timedelta(minutes=20),
                                                            key=OTHER_KEY)]
    first = service.add_alerts(batch)
    audit_before = actions(sqlite_store)

    assert service.add_alerts(batch) == []
    assert service.add_alerts([batch[1]]) == []

    stored = sqlite_store.search(Collection.INCIDENTS, Query(limit=100)).items
    assert sorted((i["id"], i["alert_count"]) for i in stored) == sorted(
        (i["id"], i["alert_count"]) for i in first)
    assert sorted(i["alert_count"] for i in stored) == [1, 2]
    assert actions(sqlite_store) == audit_before


def test_replaying_after_resolution_creates_no_second_incident(
        service: IncidentService, sqlite_store: Store) -> None:
    # The pipeline stores the alerts: a counted one carries its incident's id.
    alerts = [alert(1), alert(2, timedelta(minutes=10))]
    sqlite_store.put(Collection.ALERTS, [dict(a) for a in alerts])
    incident = one(service, *alerts)
    service.transition(incident["id"], "resolved", "analyst1")

    assert service.add_alerts(alerts) == []
    assert sqlite_store.count(Collection.INCIDENTS, Query()) == 1
    assert sqlite_store.get(Collection.ALERTS, "alert-2").document["incident.id"] == \
        incident["id"]


def test_the_incident_id_is_deterministic(sqlite_store: Store, tmp_path: Any) -> None:
    from soc.store import open_store

    other_store = open_store(f"sqlite:///{tmp_path / 'other.db'}")
    try:
        first = one(IncidentService(sqlite_store, IncidentsSettings(), Clock()), alert(1))
        second = one(IncidentService(other_store, IncidentsSettings(), Clock()), alert(1))
    finally:
        other_store.close()
    assert first["id"] == second["id"]
    assert len(first["id"]) == 32


def test_alert_ids_are_capped_but_counted_exactly(service: IncidentService) -> None:
    alerts = [alert(n, timedelta(seconds=n)) for n in range(1003)]

    incident = one(service, *alerts)

    assert (len(incident["alert_ids"]), incident["alert_count"]) == (1000, 1003)


# -- lifecycle ------------------------------------------------------------------------------

PATHS = {"new": [], "acknowledged": ["acknowledged"], "investigating": ["investigating"],
         "resolved": ["resolved"], "false_positive": ["false_positive"]}
ALLOWED = [("new", "acknowledged"), ("new", "investigating"), ("new", "resolved"),
           ("new", "false_positive"), ("acknowledged", "investigating"),
           ("acknowledged", "resolved"), ("acknowledged", "false_positive"),
           ("investigating", "resolved"), ("investigating", "false_positive"),
           ("resolved", "investigating"), ("false_positive", "investigating")]


@pytest.mark.parametrize(("start", "end"), ALLOWED)
def test_every_allowed_move(service: IncidentService, sqlite_store: Store, start: str,
                            end: str) -> None:
    incident = one(service, alert(1))
    for status in PATHS[start]:
        service.transition(incident["id"], status, "analyst1")

    moved = service.transition(incident["id"], end, "analyst1")

    assert moved["status"] == end
    assert sqlite_store.get(Collection.INCIDENTS, incident["id"]).document == moved
    assert actions(sqlite_store)[-1] == ("analyst1", "incident.status", start, end)


@pytest.mark.parametrize(("start", "end", "allowed"), [
    ("new", "new", ["acknowledged", "investigating", "resolved", "false_positive"]),
    ("investigating", "acknowledged", ["resolved", "false_positive"]),
    ("acknowledged", "new", ["investigating", "resolved", "false_positive"]),
    ("resolved", "false_positive", ["investigating"]),
    ("false_positive", "acknowledged", ["investigating"]),
])
def test_a_move_not_allowed_names_the_allowed_ones(service: IncidentService, sqlite_store: Store,
                                                   start: str, end: str,
                                                   allowed: list[str]) -> None:
    incident = one(service, alert(1))
    for status in PATHS[start]:
        service.transition(incident["id"], status, "analyst1")
    before = sqlite_store.get(Collection.INCIDENTS, incident["id"])

    with pytest.raises(InvalidTransition) as raised:
        service.transition(incident["id"], end, "analyst1")

    assert raised.value.allowed == allowed
    assert (raised.value.current, raised.value.requested) == (start, end)
    assert sqlite_store.get(Collection.INCIDENTS, incident["id"]) == before


def test_an_unknown_status_or_incident_is_refused(service: IncidentService) -> None:
    incident = one(service, alert(1))
    with pytest.raises(ValueError, match="unknown status 'closed'"):
        service.transition(incident["id"], "closed", "analyst1")
    with pytest.raises(NotFoundError):
        service.transition("no-such-incident", "acknowledged", "analyst1")


def test_times_of_acknowledgement_resolution_and_reopening(service: IncidentService,
                                                           clock: Clock) -> None:
    incident = one(service, alert(1))
    clock.now = T0 + timedelta(minutes=10)
    acknowledged = service.transition(incident["id"], "acknowledged", "analyst1")
    clock.now = T0 + timedelta(hours=2)
    resolved = service.transition(incident["id"], "resolved", "analyst1")
    clock.now = T0 + timedelta(hours=3)
    reopened = service.transition(incident["id"], "investigating", "analyst2")

    assert (acknowledged["acknowledged_at"], acknowledged["resolved_at"]) == (
        "2026-03-02T08:10:00.000000Z", None)
    assert resolved["resolved_at"] == "2026-03-02T10:00:00.000000Z"
    assert (reopened["status"], reopened["acknowledged_at"], reopened["resolved_at"]) == (
        "investigating", "2026-03-02T08:10:00.000000Z", None)


def test_leaving_new_by_any_move_counts_as_acknowledged(service: IncidentService,
                                                        clock: Clock) -> None:
    incident = one(service, alert(1))
    clock.now = T0 + timedelta(minutes=7)

    moved = service.transition(incident["id"], "investigating", "analyst1")

    assert moved["acknowledged_at"] == "2026-03-02T08:07:00.000000Z"


# -- operators' changes ---------------------------------------------------------------------

def test_update_changes_only_what_is_given_and_audits_each_field(
        service: IncidentService, sqlite_store: Store) -> None:
    incident = one(service, alert(1))

    updated = service.update(incident["id"], "analyst1", assignee="lan.nguyen",
                             severity="high", tags=["phishing", "vip", "phishing"])
    again = service.update(incident["id"], "analyst1", assignee="lan.nguyen")
    unassigned = service.update(incident["id"], "analyst2", assignee=None)

    assert (updated["assignee"], updated["severity"], updated["tags"]) == (
        "lan.nguyen", "high", ["phishing", "vip"])
    assert (updated["sla.acknowledge_by"], updated["sla.resolve_by"]) == (
        "2026-03-02T09:00:00.000000Z", "2026-03-02T16:00:00.000000Z")
    assert again == updated
    assert (unassigned["assignee"], unassigned["severity"]) == (None, "high")
    assert actions(sqlite_store) == [
        ("system", "incident.create", None, "new"),
        ("analyst1", "incident.assignee", None, "lan.nguyen"),
        ("analyst1", "incident.severity", "medium", "high"),
        ("analyst1", "incident.tags", [], ["phishing", "vip"]),
        ("analyst2", "incident.assignee", "lan.nguyen", None)]


def test_update_refuses_an_unknown_severity(service: IncidentService) -> None:
    incident = one(service, alert(1))
    with pytest.raises(ValueError, match="unknown severity 'urgent'"):
        service.update(incident["id"], "analyst1", severity="urgent")


def test_comments_are_stored_listed_and_audited(service: IncidentService, sqlite_store: Store,
                                                clock: Clock) -> None:
    incident = one(service, alert(1))
    clock.now = T0 + timedelta(minutes=3)

    note = service.comment(incident["id"], "analyst1", "  Blocked at the firewall.  ")

    assert {k: note[k] for k in ("@timestamp", "incident_id", "actor", "text")} == {
        "@timestamp": "2026-03-02T08:03:00.000000Z", "incident_id": incident["id"],
        "actor": "analyst1", "text": "Blocked at the firewall."}
    assert service.comments(incident["id"]) == [note]
    assert actions(sqlite_store)[-1] == ("analyst1", "incident.comment", None, note["id"])
    with pytest.raises(ValueError, match="needs text"):
        service.comment(incident["id"], "analyst1", " ")
    with pytest.raises(NotFoundError):
        service.comment("no-such-incident", "analyst1", "hello")


def test_merge_folds_the_source_into_the_target(service: IncidentService, sqlite_store: Store,
                                                clock: Clock) -> None:
    target = one(service, alert(1), alert(2, timedelta(minutes=5)))
    source = one(service, alert(3, timedelta(minutes=20), key=OTHER_KEY, level="high",
                                agency="000.00.15.H45", asset="mail-01"))
    clock.now = T0 + timedelta(hours=1)

    merged = service.merge(target["id"], source["id"], "analyst1")

    assert {k: merged[k] for k in ("alert_ids", "alert_count", "agencies", "assets",
                                   "severity", "linked", "first_seen", "last_seen")} == {
        "alert_ids": ["alert-1", "alert-2", "alert-3"], "alert_count": 3,
        "agencies": ["000.00.12.H45", "000.00.15.H45"], "assets": ["portal-01", "mail-01"],
        "severity": "high", "linked": [source["id"]],
        "first_seen": "2026-03-02T08:00:00.000000Z", "last_seen": "2026-03-02T08:20:00.000000Z"}
    assert service.get(target["id"]) == merged
    gone = service.get(source["id"])
    assert (gone["status"], gone["merged_into"], gone["linked"], gone["resolved_at"]) == (
        "resolved", target["id"], [target["id"]], "2026-03-02T09:00:00.000000Z")
    assert actions(sqlite_store)[-3:] == [
        ("analyst1", "incident.merge", source["id"], target["id"]),
        ("analyst1", "incident.severity", "medium", "high"),
        ("analyst1", "incident.status", "new", "resolved")]
    with pytest.raises(ValueError, match="already merged"):
        service.merge(target["id"], source["id"], "analyst1")
    with pytest.raises(ValueError, match="into itself"):
        service.merge(target["id"], target["id"], "analyst1")


# -- SLA ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("level", "acknowledge_by", "resolve_by"), [
    ("critical", "2026-03-02T08:15:00.000000Z", "2026-03-02T12:00:00.000000Z"),
    ("high", "2026-03-02T09:00:00.000000Z", "2026-03-02T16:00:00.000000Z"),
    ("medium", "2026-03-02T12:00:00.000000Z", "2026-03-03T08:00:00.000000Z"),
    ("low", "2026-03-02T16:00:00.000000Z", "2026-03-05T08:00:00.000000Z"),
    ("informational", "2026-03-03T08:00:00.000000Z", "2026-03-09T08:00:00.000000Z"),
])
def test_sla_deadlines_per_severity(service: IncidentService, level: str, acknowledge_by: str,
                                    resolve_by: str) -> None:
    incident = one(service, alert(1, level=level))

    assert (incident["sla.acknowledge_by"], incident["sla.resolve_by"]) == (
        acknowledge_by, resolve_by)


def test_sla_targets_come_from_config(sqlite_store: Store, clock: Clock) -> None:
    settings = IncidentsSettings(sla={"critical": {"acknowledge": "5m", "resolve": "1h"}})
    service = IncidentService(sqlite_store, settings, clock=clock)

    incident = one(service, alert(1, level="critical"))

    assert (incident["sla.acknowledge_by"], incident["sla.resolve_by"]) == (
        "2026-03-02T08:05:00.000000Z", "2026-03-02T09:00:00.000000Z")
    assert settings.sla["low"] == IncidentsSettings.DEFAULT_SLA["low"]


def test_the_sla_clock_starts_when_the_incident_opens(service: IncidentService,
                                                      clock: Clock) -> None:
    # Alerts replayed a day late do not open an incident already overdue.
    clock.now = T0 + timedelta(days=1)

    incident = one(service, alert(1, level="critical"))

    assert incident["sla.acknowledge_by"] == "2026-03-03T08:15:00.000000Z"
    assert sla_breached(incident, clock.now) == []


def test_breach_detection(service: IncidentService, clock: Clock) -> None:
    incident = one(service, alert(1, level="critical"))  # acknowledge 08:15, resolve 12:00

    assert sla_breached(incident, T0 + timedelta(minutes=15)) == []
    assert sla_breached(incident, T0 + timedelta(minutes=16)) == ["acknowledge"]
    assert sla_breached(incident, T0 + timedelta(hours=5)) == ["acknowledge", "resolve"]
    clock.now = T0 + timedelta(minutes=10)
    acknowledged = service.transition(incident["id"], "acknowledged", "analyst1")
    assert sla_breached(acknowledged, T0 + timedelta(hours=5)) == ["resolve"]
    clock.now = T0 + timedelta(hours=3)
    resolved = service.transition(incident["id"], "resolved", "analyst1")
    assert sla_breached(resolved, T0 + timedelta(days=3)) == []


def test_refresh_sla_flags_overdue_open_incidents_for_the_list(
        service: IncidentService, sqlite_store: Store, clock: Clock) -> None:
    late = one(service, alert(1, level="critical"))
    on_time = one(service, alert(2, key=OTHER_KEY, level="low"))
    handled = one(service, alert(3, rule="port-scan", level="critical"))
    service.transition(handled["id"], "acknowledged", "analyst1")

    assert service.refresh_sla(T0 + timedelta(minutes=10)) == []
    changed = service.refresh_sla(T0 + timedelta(minutes=20))
    assert [(i["id"], i["sla.breaches"]) for i in changed] == [(late["id"], ["acknowledge"])]
    assert service.refresh_sla(T0 + timedelta(minutes=30)) == []  # recorded once
    changed = service.refresh_sla(T0 + timedelta(hours=5))
    assert sorted((i["id"], tuple(i["sla.breaches"])) for i in changed) == sorted([
        (late["id"], ("acknowledge", "resolve")), (handled["id"], ("resolve",))])

    breached = sqlite_store.search(Collection.INCIDENTS, Query(
        filters=[Filter(field="sla.breached", value=True)])).items
    assert sorted(i["id"] for i in breached) == sorted([late["id"], handled["id"]])
    assert service.get(on_time["id"])["sla.breached"] is False
    assert ("system", "incident.sla_breach", [], ["acknowledge"]) in actions(sqlite_store)


def test_a_late_move_records_its_breach(service: IncidentService, clock: Clock) -> None:
    incident = one(service, alert(1, level="critical"))
    clock.now = T0 + timedelta(minutes=20)

    moved = service.transition(incident["id"], "acknowledged", "analyst1")

    assert (moved["sla.breached"], moved["sla.breaches"]) == (True, ["acknowledge"])


# -- suppressions ---------------------------------------------------------------------------

def test_a_suppression_by_rule_keeps_its_alerts_out_of_incidents(
        service: IncidentService, sqlite_store: Store) -> None:
    rule = service.add_suppression(rule_id="ssh-brute", reason="pentest", actor="admin1")

    changed = service.add_alerts([alert(1), alert(2), alert(3, rule="port-scan")])

    assert [i["rule_ids"] for i in changed] == [["port-scan"]]
    assert [(s["id"], s["hits"]) for s in service.suppressions()] == [(rule["id"], 2)]


def test_a_suppression_by_field_values_needs_every_field(service: IncidentService) -> None:
    service.add_suppression(fields={"source.ip": "10.1.2.3", "alert.agencies": "000.00.12.H45"},
                            reason="vulnerability scanner", actor="admin1")

    changed = service.add_alerts([alert(1), alert(2, key=OTHER_KEY),
                                  alert(3, agency="000.00.15.H45")])

    assert sorted(i["alert_ids"][0] for i in changed) == ["alert-2", "alert-3"]


def test_expired_and_removed_suppressions_stop_applying(service: IncidentService,
                                                        clock: Clock) -> None:
    expiring = service.add_suppression(rule_id="ssh-brute", until=T0 + timedelta(hours=1),
                                       reason="maintenance", actor="admin1")
    removed = service.add_suppression(rule_id="port-scan", reason="noise", actor="admin1")
    assert service.add_alerts([alert(1), alert(2, rule="port-scan")]) == []

    service.remove_suppression(removed["id"], "admin1")
    clock.now = T0 + timedelta(hours=1)

    changed = service.add_alerts([alert(3), alert(4, rule="port-scan")])
    assert sorted(i["alert_ids"][0] for i in changed) == ["alert-3", "alert-4"]
    assert service.suppressions() == []
    every = service.suppressions(include_inactive=True)
    # Both made at the same instant: their order is the ids'.
    assert sorted((s["id"], s["hits"], s["removed_at"]) for s in every) == sorted([
        (expiring["id"], 1, None), (removed["id"], 1, "2026-03-02T08:00:00.000000Z")])
    with pytest.raises(NotFoundError):
        service.remove_suppression(removed["id"], "admin1")


def test_a_suppression_needs_a_match_and_a_reason(service: IncidentService) -> None:
    with pytest.raises(ValueError, match="rule id or field values"):
        service.add_suppression(reason="everything", actor="admin1")
    with pytest.raises(ValueError, match="needs a reason"):
        service.add_suppression(rule_id="ssh-brute", reason=" ", actor="admin1")


# -- audit ----------------------------------------------------------------------------------

def test_every_change_is_audited_with_who_what_and_from_to(
        service: IncidentService, sqlite_store: Store, clock: Clock) -> None:
    incident = one(service, alert(1))
    other = one(service, alert(2, key=OTHER_KEY))
    clock.now = T0 + timedelta(minutes=5)
    service.transition(incident["id"], "acknowledged", "analyst1")
    service.update(incident["id"], "analyst1", assignee="lan.nguyen", tags=["ddos"])
    service.comment(incident["id"], "analyst1", "looking")
    service.merge(incident["id"], other["id"], "analyst1")
    suppression = service.add_suppression(rule_id="x", reason="noise", actor="admin1")
    service.remove_suppression(suppression["id"], "admin1")

    entries = sqlite_store.search(Collection.AUDIT, Query(order="asc", limit=100)).items
    assert [(e["actor"], e["action"], e["target"]) for e in entries] == [
        ("system", "incident.create", incident["id"]),
        ("system", "incident.create", other["id"]),
        ("analyst1", "incident.status", incident["id"]),
        ("analyst1", "incident.assignee", incident["id"]),
        ("analyst1", "incident.tags", incident["id"]),
        ("analyst1", "incident.comment", incident["id"]),
        ("analyst1", "incident.merge", incident["id"]),
        ("analyst1", "incident.status", other["id"]),
        ("admin1", "suppression.add", suppression["id"]),
        ("admin1", "suppression.remove", suppression["id"])]
    assert entries[2]["@timestamp"] == "2026-03-02T08:05:00.000000Z"
    assert (entries[2]["from"], entries[2]["to"]) == ("new", "acknowledged")
    assert set(entries[0]) == {"id", "@timestamp", "actor", "action", "target", "from", "to"}
    assert [e["action"] for e in service.history(other["id"])] == [
        "incident.create", "incident.status"]


# -- concurrency ----------------------------------------------------------------------------

class RacingStore:
    """The SQLite store, with another writer changing an incident right after it is read."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.races = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def get(self, collection: Collection, document_id: str) -> Versioned:
        versioned = self._store.get(collection, document_id)
        if self.races and collection is Collection.INCIDENTS:
            self.races -= 1
            self._store.replace(collection, {**versioned.document, "tags": ["by-other"]},
                                versioned.version)
        return versioned


def test_a_concurrent_operator_update_conflicts(sqlite_store: Store, clock: Clock) -> None:
    racing = RacingStore(sqlite_store)
    service = IncidentService(racing, IncidentsSettings(), clock=clock)  # type: ignore[arg-type]
    incident = one(service, alert(1))
    audit_before = actions(sqlite_store)

    racing.races = 1
    with pytest.raises(ConflictError):
        service.update(incident["id"], "analyst1", assignee="lan.nguyen")
    racing.races = 1
    with pytest.raises(ConflictError):
        service.transition(incident["id"], "acknowledged", "analyst2")

    stored = sqlite_store.get(Collection.INCIDENTS, incident["id"]).document
    assert (stored["assignee"], stored["status"], stored["tags"]) == (None, "new", ["by-other"])
    assert actions(sqlite_store) == audit_before


def test_a_concurrent_change_is_retried_for_alerts(sqlite_store: Store, clock: Clock) -> None:
    racing = RacingStore(sqlite_store)
    service = IncidentService(racing, IncidentsSettings(), clock=clock)  # type: ignore[arg-type]
    incident = one(service, alert(1))

    racing.races = 2
    joined = one(service, alert(2, timedelta(minutes=1)))

    assert (joined["id"], joined["alert_count"], joined["tags"]) == (
        incident["id"], 2, ["by-other"])
