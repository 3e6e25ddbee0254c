"""api/incidents.py and api/suppressions.py through FastAPI's test client on the SQLite store."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api import create_app
from rules.alerts import RuleInfo, build_alert
from soc.apikeys import ApiKeyService
from soc.config import Settings
from soc.incidents import IncidentService
from soc.store import Collection, Store, open_store
from soc.timeutil import format_timestamp

T0 = datetime(2026, 11, 20, 1, 0, tzinfo=UTC)
URL = "/api/v1/incidents"
AGENCIES = ("000.00.12.H45", "000.00.15.H45")
# (rule id, name, level) of the 7 seeded incidents, in first-seen order.
SEEDS = [("ssh-brute", "SSH brute force", "high"), ("port-scan", "Port scan", "low"),
         ("web-shell", "Web shell upload", "critical"), ("dns-tunnel", "DNS tunnel", "medium"),
         ("ssh-brute", "SSH brute force", "high"), ("malware-c2", "Malware beacon", "critical"),
         ("port-scan", "Port scan", "informational")]


def ts(moment: datetime) -> str:
    return format_timestamp(moment)


@dataclass
class Env:
    client: TestClient
    store: Store
    settings: Settings
    tokens: dict[str, str]
    ids: list[str]  # the seeded incidents, in first-seen order

    def call(self, method: str, url: str, role: str | None = "viewer", **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.tokens[role]}"} if role else {}
        return self.client.request(method, url, headers=headers, **kwargs)

    def get(self, url: str, role: str | None = "viewer", **kwargs: Any) -> Any:
        return self.call("GET", url, role, **kwargs)

    def doc(self, incident_id: str) -> dict[str, Any]:
        return self.store.get(Collection.INCIDENTS, incident_id).document


def seed(store: Store, settings: Settings, number: int, rule: tuple[str, str, str],
         at: datetime, events: int = 1) -> dict[str, Any]:
    """Events, the alert they raise (stored, as the pipeline does) and its incident."""
    ip = f"10.0.{number}.5"
    agency = AGENCIES[number % 2]
    stored = [{"event.id": f"ev-{number}-{n}", "@timestamp": ts(at + timedelta(seconds=n)),
               "message": f"event {n} from {ip}", "source.ip": ip, "organization.id": agency,
               "host.name": f"host-{number}"} for n in range(events)]
    store.put(Collection.EVENTS, stored)
    info = RuleInfo(id=rule[0], name=rule[1], level=rule[2])
    alert = build_alert(info, stored, {"source.ip": ip})
    store.put(Collection.ALERTS, [alert])
    service = IncidentService(store, settings.incidents, clock=lambda: at)
    (incident,) = service.add_alerts([alert])
    return incident


@pytest.fixture
def env(settings: Settings) -> Iterator[Env]:
    with open_store(settings.store_url()) as store:
        keys = ApiKeyService(store)
        tokens = {role: keys.create(f"{role}-1", role)[1]
                  for role in ("viewer", "analyst", "admin", "feed")}
        _, revoked = keys.create("gone", "admin")
        keys.revoke("gone", "test")
        tokens["revoked"] = revoked
        ids = [seed(store, settings, n, rule, T0 + timedelta(minutes=10 * n), events=n + 1)["id"]
               for n, rule in enumerate(SEEDS)]
        yield Env(TestClient(create_app(settings, store)), store, settings, tokens, ids)


def ids_of(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


# -- GET /incidents ------------------------------------------------------------------------------


def test_list_answers_the_incidents_newest_first(env: Env) -> None:
    response = env.get(URL)
    assert response.status_code == 200
    body = response.json()
    assert [i["id"] for i in body["items"]] == env.ids[::-1]
    assert body["next_cursor"] is None
    first = body["items"][-1]
    seen = ts(T0)
    assert first == {
        "id": env.ids[0], "@timestamp": seen, "status": "new", "severity": "high",
        "title": "SSH brute force: 10.0.0.5, 000.00.12.H45", "rule_ids": ["ssh-brute"],
        "alert_ids": first["alert_ids"], "alert_count": 1, "first_seen": seen,
        "last_seen": seen, "agencies": ["000.00.12.H45"], "assets": [], "assignee": None,
        "tags": [], "group_key": "source.ip=10.0.0.5|organization.id=000.00.12.H45",
        "linked": [], "created_at": seen, "acknowledged_at": None, "resolved_at": None,
        "sla.breached": False, "sla.breaches": [],
        "sla.acknowledge_by": "2026-11-20T02:00:00.000000Z",
        "sla.resolve_by": "2026-11-20T09:00:00.000000Z"}
    assert len(first["alert_ids"]) == 1


def pages_of(env: Env, params: dict[str, Any]) -> list[list[str]]:
    """The ids of every page, following next_cursor to the end."""
    pages: list[list[str]] = []
    cursor = None
    while True:
        body = env.get(URL, params={**params, **({"cursor": cursor} if cursor else {})}).json()
        pages.append([item["id"] for item in body["items"]])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages


def test_cursor_pagination_gives_every_incident_once(env: Env) -> None:
    pages = pages_of(env, {"limit": 3, "sort": "first_seen", "order": "asc"})
    assert pages == [env.ids[0:3], env.ids[3:6], env.ids[6:7]]


def test_sort_by_severity_ranks_levels_not_names(env: Env) -> None:
    ids = env.ids
    expected = [ids[5], ids[2], ids[4], ids[0], ids[3], ids[1], ids[6]]
    assert ids_of(env.get(URL, params={"sort": "severity"})) == expected
    pages = pages_of(env, {"sort": "severity", "limit": 3})
    assert pages == [expected[0:3], expected[3:6], expected[6:7]]
    assert ids_of(env.get(URL, params={"sort": "severity", "order": "asc"})) == [
        ids[6], ids[1], ids[3], ids[4], ids[0], ids[5], ids[2]]
    assert ids_of(env.get(URL, params={"sort": "severity", "limit": 2,
                                       "severity": ["low", "critical"]})) == [ids[5], ids[2]]
    # The last page ends exactly at a severity's end: no cursor to an empty page.
    body = env.get(URL, params={"sort": "severity", "severity": ["critical"], "limit": 2}).json()
    assert body["next_cursor"] is None


def test_list_filters(env: Env) -> None:
    ids = env.ids
    service = IncidentService(env.store, env.settings.incidents,
                              clock=lambda: T0 + timedelta(minutes=30))
    service.transition(ids[1], "acknowledged", "t")
    service.transition(ids[2], "resolved", "t")
    service.update(ids[3], "t", assignee="lan")

    def listed(**params: Any) -> list[str]:
        return sorted(ids_of(env.get(URL, params=params)), key=ids.index)

    assert listed(status=["acknowledged", "resolved"]) == [ids[1], ids[2]]
    assert listed(status="new") == [ids[0], *ids[3:]]
    assert listed(severity=["critical", "low"]) == [ids[1], ids[2], ids[5]]
    assert listed(severity="critical", status="new") == [ids[5]]
    assert listed(agency=AGENCIES[1]) == [ids[1], ids[3], ids[5]]
    assert listed(assignee="lan") == [ids[3]]
    assert listed(rule="ssh-brute") == [ids[0], ids[4]]
    assert listed(q="port scan") == [ids[1], ids[6]]
    assert listed(q="nothing-like-this") == []
    assert listed(since=ts(T0 + timedelta(minutes=40))) == ids[4:]
    assert listed(until=ts(T0 + timedelta(minutes=20))) == ids[:2]
    assert listed(since=ts(T0 + timedelta(minutes=10)),
                  until="2026-11-20T08:31:00+07:00") == ids[1:4]
    assert listed(sla_breached=False) == ids
    assert listed(sla_breached=True) == []


def test_sla_breached_filter(env: Env) -> None:
    IncidentService(env.store, env.settings.incidents).refresh_sla(T0 + timedelta(minutes=40))
    # critical: acknowledge within 15 minutes of opening: ids[2] (opened at +20m) missed it,
    # ids[5] (opened at +50m) and the high ids[0] (1 hour) are still in time.
    assert ids_of(env.get(URL, params={"sla_breached": "true"})) == [env.ids[2]]
    assert env.ids[2] not in ids_of(env.get(URL, params={"sla_breached": "false"}))


@pytest.mark.parametrize("params", [
    {"limit": 0}, {"limit": 1001}, {"limit": "x"}, {"status": "open"},
    {"severity": "urgent"}, {"sort": "title; drop"}, {"order": "up"},
    {"since": "yesterday"}, {"until": "2026-13-40"}, {"cursor": "not-a-cursor"},
    {"sla_breached": "maybe"}, {"sort": "severity", "cursor": "WzEsMl0"}])
def test_bad_query_values_are_422(env: Env, params: dict[str, Any]) -> None:
    response = env.get(URL, params=params)
    assert response.status_code == 422
    assert isinstance(response.json()["detail"], list)


def test_limit_bounds_are_accepted(env: Env) -> None:
    assert len(ids_of(env.get(URL, params={"limit": 1}))) == 1
    assert len(ids_of(env.get(URL, params={"limit": 1000}))) == 7


# -- auth ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "url", "body"), [
    ("GET", URL, None), ("GET", f"{URL}/x", None), ("PATCH", f"{URL}/x", {"assignee": "a"}),
    ("POST", f"{URL}/x/comments", {"text": "t"}), ("POST", f"{URL}/x/merge", {"source_id": "y"}),
    ("GET", "/api/v1/suppressions", None),
    ("POST", "/api/v1/suppressions", {"rule_id": "r", "reason": "x"}),
    ("DELETE", "/api/v1/suppressions/x", None)])
def test_every_route_needs_a_valid_key(env: Env, method: str, url: str,
                                       body: dict[str, Any] | None) -> None:
    for role in (None, "revoked"):
        response = env.call(method, url, role, json=body)
        assert response.status_code == 401, (role, response.text)
        assert response.headers["www-authenticate"] == "Bearer"
        assert "detail" in response.json()
    bad = env.client.request(method, url, json=body,
                             headers={"Authorization": "Bearer soc_nope"})
    assert bad.status_code == 401
    feed = env.call(method, url, "feed", json=body)
    assert feed.status_code == 403
    assert "feed" in feed.json()["detail"]


@pytest.mark.parametrize(("method", "url", "body", "least"), [
    ("PATCH", "/api/v1/incidents/{id}", {"assignee": "a"}, "analyst"),
    ("POST", "/api/v1/incidents/{id}/comments", {"text": "t"}, "analyst"),
    ("POST", "/api/v1/incidents/{id}/merge", {"source_id": "{other}"}, "analyst"),
    ("POST", "/api/v1/suppressions", {"rule_id": "r", "reason": "x"}, "admin"),
    ("DELETE", "/api/v1/suppressions/nope", None, "admin")])
def test_roles_below_the_least_are_403(env: Env, method: str, url: str,
                                       body: dict[str, Any] | None, least: str) -> None:
    url = url.format(id=env.ids[0])
    if body and body.get("source_id"):
        body = {"source_id": env.ids[1]}
    lower = ["viewer"] if least == "analyst" else ["viewer", "analyst"]
    for role in lower:
        response = env.call(method, url, role, json=body)
        assert response.status_code == 403, role
        assert response.json()["detail"] == (
            f"an API key with role {role!r} may not do this (needs {least!r})")
    assert env.call(method, url, least, json=body).status_code not in (401, 403)


# -- GET /incidents/{id} ------------------------------------------------------------------------


def test_one_incident_with_alerts_events_timeline_and_comments(env: Env) -> None:
    target = env.ids[2]  # three events behind its alert
    env.call("POST", f"{URL}/{target}/comments", "analyst", json={"text": "looking"})
    response = env.get(f"{URL}/{target}", params={"events_limit": 2})
    assert response.status_code == 200
    body = response.json()
    assert body["incident"] == env.doc(target)
    (alert,) = body["alerts"]
    assert alert["rule.id"] == "web-shell"
    assert alert["event.ids"] == ["ev-2-0", "ev-2-1", "ev-2-2"]
    assert alert["incident.id"] == target
    assert [e["event.id"] for e in body["events"]["items"]] == ["ev-2-0", "ev-2-1"]
    assert body["events"]["items"][0]["message"] == "event 0 from 10.0.2.5"
    cursor = body["events"]["next_cursor"]
    rest = env.get(f"{URL}/{target}", params={"events_limit": 2, "events_cursor": cursor}).json()
    assert [e["event.id"] for e in rest["events"]["items"]] == ["ev-2-2"]
    assert rest["events"]["next_cursor"] is None
    assert [(t["actor"], t["action"], t["from"], t["to"]) for t in body["timeline"]] == [
        ("system", "incident.create", None, "new"),
        ("apikey:analyst-1", "incident.comment", None, body["comments"][0]["id"])]
    assert [(c["actor"], c["text"]) for c in body["comments"]] == [
        ("apikey:analyst-1", "looking")]


def test_unknown_incident_is_404(env: Env) -> None:
    response = env.get(f"{URL}/no-such-incident")
    assert response.status_code == 404
    assert response.json() == {"detail": "no incident 'no-such-incident'"}


@pytest.mark.parametrize("params", [{"events_limit": 0}, {"events_limit": 1001},
                                    {"events_cursor": "garbage"}])
def test_bad_event_paging_is_422(env: Env, params: dict[str, Any]) -> None:
    assert env.get(f"{URL}/{env.ids[0]}", params=params).status_code == 422


# -- PATCH /incidents/{id} ----------------------------------------------------------------------


def test_patch_changes_status_assignee_severity_and_tags(env: Env) -> None:
    target = env.ids[0]
    response = env.call("PATCH", f"{URL}/{target}", "analyst", json={
        "status": "acknowledged", "assignee": "lan", "severity": "critical",
        "tags": ["ssh", "vpn", "ssh"]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["id"], body["status"], body["assignee"], body["severity"], body["tags"]) == (
        target, "acknowledged", "lan", "critical", ["ssh", "vpn"])
    assert body["sla.acknowledge_by"] == "2026-11-20T01:15:00.000000Z"
    assert body == env.doc(target)
    timeline = env.get(f"{URL}/{target}").json()["timeline"]
    assert [(t["actor"], t["action"], t["from"], t["to"]) for t in timeline[1:]] == [
        ("apikey:analyst-1", "incident.status", "new", "acknowledged"),
        ("apikey:analyst-1", "incident.assignee", None, "lan"),
        ("apikey:analyst-1", "incident.severity", "high", "critical"),
        ("apikey:analyst-1", "incident.tags", [], ["ssh", "vpn"])]
    unassigned = env.call("PATCH", f"{URL}/{target}", "analyst", json={"assignee": None})
    assert unassigned.json()["assignee"] is None
    same = env.call("PATCH", f"{URL}/{target}", "analyst", json={"status": "acknowledged"})
    assert same.status_code == 200
    assert same.json()["status"] == "acknowledged"


def test_an_invalid_move_is_409_with_the_allowed_moves(env: Env) -> None:
    target = env.ids[0]
    assert env.call("PATCH", f"{URL}/{target}", "analyst",
                    json={"status": "resolved"}).status_code == 200
    response = env.call("PATCH", f"{URL}/{target}", "analyst", json={"status": "acknowledged"})
    assert response.status_code == 409
    assert response.json() == {
        "detail": "cannot move an incident from 'resolved' to 'acknowledged' "
                  "(allowed: investigating)",
        "current": "resolved", "allowed": ["investigating"]}
    assert env.doc(target)["status"] == "resolved"
    reopened = env.call("PATCH", f"{URL}/{target}", "analyst", json={"status": "investigating"})
    assert reopened.json()["status"] == "investigating"


def test_a_concurrent_change_is_409(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    target, reads = env.ids[0], []
    original = env.store.get

    def racing_get(collection: Collection, document_id: str) -> Any:
        versioned = original(collection, document_id)
        if collection is Collection.INCIDENTS:
            reads.append(document_id)
            if len(reads) == 2:  # the update's read: somebody else writes right after it
                IncidentService(env.store, env.settings.incidents).update(
                    target, "apikey:other", assignee="minh")
        return versioned

    monkeypatch.setattr(env.store, "get", racing_get)
    response = env.call("PATCH", f"{URL}/{target}", "analyst", json={"assignee": "lan"})
    assert response.status_code == 409
    assert "changed by somebody else" in response.json()["detail"]
    monkeypatch.undo()
    assert env.doc(target)["assignee"] == "minh"


@pytest.mark.parametrize("body", [
    {}, {"status": "closed"}, {"severity": "urgent"}, {"priority": 1}, {"assignee": ""},
    {"tags": "one"}, {"tags": [""]}, {"status": None}, {"tags": [str(n) for n in range(51)]},
    {"assignee": "x" * 201}])
def test_bad_patch_bodies_are_422(env: Env, body: dict[str, Any]) -> None:
    response = env.call("PATCH", f"{URL}/{env.ids[0]}", "analyst", json=body)
    assert response.status_code == 422
    assert isinstance(response.json()["detail"], list)
    assert env.doc(env.ids[0])["status"] == "new"


def test_patch_of_an_unknown_incident_is_404(env: Env) -> None:
    response = env.call("PATCH", f"{URL}/nope", "analyst", json={"status": "acknowledged"})
    assert response.status_code == 404
    assert response.json() == {"detail": "no incident 'nope'"}


# -- POST /incidents/{id}/comments --------------------------------------------------------------


def test_comment_is_201_with_the_comment(env: Env) -> None:
    target = env.ids[3]
    response = env.call("POST", f"{URL}/{target}/comments", "analyst",
                        json={"text": "  blocked at the firewall  "})
    assert response.status_code == 201
    body = response.json()
    assert body == {"id": body["id"], "@timestamp": body["@timestamp"], "incident_id": target,
                    "actor": "apikey:analyst-1", "text": "blocked at the firewall"}
    assert env.get(f"{URL}/{target}").json()["comments"] == [body]
    longest = env.call("POST", f"{URL}/{target}/comments", "admin", json={"text": "x" * 10_000})
    assert longest.status_code == 201


@pytest.mark.parametrize("body", [{}, {"text": ""}, {"text": "   "}, {"text": "x" * 10_001},
                                  {"text": 5}, {"text": "ok", "by": "me"}])
def test_bad_comments_are_422(env: Env, body: dict[str, Any]) -> None:
    response = env.call("POST", f"{URL}/{env.ids[0]}/comments", "analyst", json=body)
    assert response.status_code == 422


def test_comment_on_an_unknown_incident_is_404(env: Env) -> None:
    response = env.call("POST", f"{URL}/nope/comments", "analyst", json={"text": "hi"})
    assert response.status_code == 404


# -- POST /incidents/{id}/merge -----------------------------------------------------------------


def test_merge_folds_the_source_into_the_target(env: Env) -> None:
    target, source = env.ids[0], env.ids[4]
    response = env.call("POST", f"{URL}/{target}/merge", "analyst", json={"source_id": source})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["id"], body["alert_count"], body["linked"], body["first_seen"],
            body["last_seen"], body["agencies"]) == (
        target, 2, [source], ts(T0), ts(T0 + timedelta(minutes=40, seconds=4)),
        [AGENCIES[0]])
    merged = env.doc(source)
    assert (merged["status"], merged["merged_into"], merged["linked"]) == (
        "resolved", target, [target])
    detail = env.get(f"{URL}/{target}").json()
    assert len(detail["alerts"]) == 2
    assert detail["events"]["items"][0]["event.id"] == "ev-0-0"
    assert len(detail["events"]["items"]) == 6
    again = env.call("POST", f"{URL}/{env.ids[1]}/merge", "analyst", json={"source_id": source})
    assert again.status_code == 409
    assert again.json() == {"detail": f"incident {source} was already merged into {target}"}


def test_merge_errors(env: Env) -> None:
    target = env.ids[0]
    own = env.call("POST", f"{URL}/{target}/merge", "analyst", json={"source_id": target})
    assert own.status_code == 422
    assert own.json()["detail"][0]["msg"] == "an incident cannot be merged into itself"
    assert env.call("POST", f"{URL}/{target}/merge", "analyst",
                    json={"source_id": "nope"}).json() == {
        "detail": "no incident 'nope' (source_id)"}
    assert env.call("POST", f"{URL}/nope/merge", "analyst",
                    json={"source_id": target}).status_code == 404
    for body in ({}, {"source_id": ""}, {"source_id": target, "x": 1}):
        assert env.call("POST", f"{URL}/{target}/merge", "analyst",
                        json=body).status_code == 422


# -- /suppressions ------------------------------------------------------------------------------


def test_suppressions_add_list_and_remove(env: Env) -> None:
    url = "/api/v1/suppressions"
    assert env.get(url).json() == {"items": [], "next_cursor": None}
    response = env.call("POST", url, "admin", json={
        "rule_id": "port-scan", "fields": {"source.ip": "10.0.9.9"},
        "until": "2099-01-01T07:00:00+07:00", "reason": "  the scanner of the audit team "})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body == {"id": body["id"], "rule_id": "port-scan",
                    "fields": {"source.ip": "10.0.9.9"}, "until": "2099-01-01T00:00:00.000000Z",
                    "reason": "the scanner of the audit team", "created_by": "apikey:admin-1",
                    "created_at": body["created_at"], "removed_at": None, "hits": 0}
    assert env.get(url).json() == {"items": [body], "next_cursor": None}
    # It works: the scanner's next alert opens no incident.
    event = {"event.id": "ev-s", "@timestamp": ts(T0), "source.ip": "10.0.9.9"}
    alert = build_alert(RuleInfo(id="port-scan", name="Port scan"), [event], {})
    assert IncidentService(env.store, env.settings.incidents).add_alerts([alert]) == []
    assert env.get(url).json()["items"][0]["hits"] == 1

    removed = env.call("DELETE", f"{url}/{body['id']}", "admin")
    assert removed.status_code == 200
    assert removed.json()["removed_at"] is not None
    assert env.get(url).json()["items"] == []
    assert [s["id"] for s in env.get(url, params={"include_inactive": True}).json()[
        "items"]] == [body["id"]]
    again = env.call("DELETE", f"{url}/{body['id']}", "admin")
    assert again.status_code == 404
    assert again.json() == {"detail": f"no suppression {body['id']!r}"}
    audit = IncidentService(env.store, env.settings.incidents).history(body["id"])
    assert [(a["actor"], a["action"]) for a in audit] == [
        ("apikey:admin-1", "suppression.add"), ("apikey:admin-1", "suppression.remove")]


def test_suppression_without_expiry_and_zone_less_until(env: Env) -> None:
    url = "/api/v1/suppressions"
    forever = env.call("POST", url, "admin", json={"rule_id": "r", "reason": "noise"})
    assert forever.json()["until"] is None
    local = env.call("POST", url, "admin", json={"fields": {"host.name": "h"},
                                                 "until": "2099-01-01T07:00:00",
                                                 "reason": "noise"})
    assert local.json()["until"] == "2099-01-01T00:00:00.000000Z"  # read in Asia/Ho_Chi_Minh


@pytest.mark.parametrize("body", [
    {"reason": "no rule nor fields"}, {"rule_id": "r"}, {"rule_id": "r", "reason": ""},
    {"rule_id": "r", "reason": "   "}, {"rule_id": "r", "reason": "x", "extra": 1},
    {"rule_id": "r", "reason": "x", "until": "2001-01-01T00:00:00Z"},
    {"rule_id": "r", "reason": "x", "until": "soon"},
    {"fields": {"bad field'": "v"}, "reason": "x"}, {"fields": {"a": ["v"]}, "reason": "x"}])
def test_bad_suppressions_are_422(env: Env, body: dict[str, Any]) -> None:
    response = env.call("POST", "/api/v1/suppressions", "admin", json=body)
    assert response.status_code == 422, response.text
    assert isinstance(response.json()["detail"], list)
