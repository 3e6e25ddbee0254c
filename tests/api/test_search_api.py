"""The read side of the API (events, alerts, stats, agencies, assets, sources) through
FastAPI's test client, on a real SQLite store and the shipped inventory.yaml."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api import create_app
from soc.apikeys import ApiKeyService
from soc.config import Settings
from soc.store import Collection, Store, open_store

DAY = "2026-11-20T00:00:0{}.000000Z"


def _event(n: int, **fields: Any) -> dict[str, Any]:
    return {"event.id": f"e{n}", "@timestamp": DAY.format(n), "event.dataset": "nginx.access",
            "source.ip": f"10.45.1.{n}", "message": f"request number {n}", **fields}


EVENTS = [
    _event(1, **{"host.name": "dvc-web-01", "destination.port": 443}),
    _event(2, **{"host.name": "dvc-web-02", "destination.port": 80}),
    _event(3, **{"host.name": "dvc-web-01", "destination.port": 22}),
    _event(4, **{"event.dataset": "sshd", "message": "failed password for root"}),
    _event(5, **{"event.dataset": "sshd", "message": "accepted password for admin"}),
    _event(6, **{"source.ip": "203.0.113.9"}),
    _event(7, **{"host.name": "mail-01"}),
]

ALERTS = [
    {"id": "a1", "@timestamp": DAY.format(4), "event.kind": "alert", "rule.id": "r-ssh",
     "rule.name": "SSH brute force", "rule.level": "high", "event.ids": ["e4"],
     "message": "SSH brute force"},
    {"id": "a2", "@timestamp": DAY.format(5), "event.kind": "alert", "rule.id": "r-ssh",
     "rule.name": "SSH brute force", "rule.level": "high", "event.ids": ["e5"],
     "message": "SSH brute force"},
    {"id": "a3", "@timestamp": DAY.format(6), "event.kind": "alert", "rule.id": "r-scan",
     "rule.name": "Port scan", "rule.level": "medium", "event.ids": ["e6"],
     "message": "Port scan"},
]


def _incident(n: int, status: str, severity: str, agencies: list[str],
              rule_ids: list[str]) -> dict[str, Any]:
    return {"id": f"i{n}", "@timestamp": DAY.format(n), "status": status, "severity": severity,
            "title": f"incident {n}", "rule_ids": rule_ids, "alert_count": 1,
            "first_seen": DAY.format(n), "last_seen": DAY.format(n), "agencies": agencies,
            "assignee": None}


INCIDENTS = [
    _incident(4, "new", "high", ["000.00.02.H45"], ["r-ssh"]),
    _incident(5, "acknowledged", "high", ["000.00.02.H45", "000.00.01.H45"], ["r-ssh"]),
    _incident(6, "new", "medium", ["000.00.02.H45"], ["r-scan"]),
]

SOURCE = {"name": "syslog-udp", "kind": "syslog", "received": 10, "parsed": 9,
          "dead_lettered": 1, "dropped": 0, "last_seen": DAY.format(7)}


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    with open_store(settings.store_url()) as opened:
        opened.put(Collection.EVENTS, EVENTS)
        opened.put(Collection.ALERTS, ALERTS)
        opened.put(Collection.INCIDENTS, INCIDENTS)
        opened.set_checkpoint("source:syslog-udp", SOURCE)
        opened.set_checkpoint("source:files", {**SOURCE, "name": "files", "kind": "file"})
        yield opened


@pytest.fixture
def client(settings: Settings, store: Store) -> TestClient:
    _, token = ApiKeyService(store).create("wall", "viewer")
    return TestClient(create_app(settings, store),
                      headers={"Authorization": f"Bearer {token}"})


def ids(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["event"]["id"] for item in response.json()["items"]]


# --- events ----------------------------------------------------------------------------------

def test_events_are_nested_as_on_the_wire(client: TestClient) -> None:
    response = client.get("/api/v1/events", params={"limit": 1})
    assert response.status_code == 200
    body = response.json()
    assert body["items"] == [{"@timestamp": DAY.format(7),
                              "event": {"id": "e7", "dataset": "nginx.access"},
                              "source": {"ip": "10.45.1.7"}, "host": {"name": "mail-01"},
                              "message": "request number 7"}]
    assert isinstance(body["next_cursor"], str)


def test_events_page_with_the_cursor(client: TestClient) -> None:
    pages, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        response = client.get("/api/v1/events", params=params)
        pages.append(ids(response))
        cursor = response.json()["next_cursor"]
        if cursor is None:
            break
    assert pages == [["e7", "e6", "e5"], ["e4", "e3", "e2"], ["e1"]]


def test_events_page_in_ascending_order(client: TestClient) -> None:
    first = client.get("/api/v1/events", params={"limit": 4, "order": "asc"})
    assert ids(first) == ["e1", "e2", "e3", "e4"]
    second = client.get("/api/v1/events", params={"limit": 4, "order": "asc",
                                                  "cursor": first.json()["next_cursor"]})
    assert ids(second) == ["e5", "e6", "e7"]
    assert second.json()["next_cursor"] is None


@pytest.mark.parametrize(("params", "expected"), [
    ({"where": "event.dataset=sshd"}, ["e5", "e4"]),
    ({"where": ["event.dataset=nginx.access", "host.name=dvc-web-01"]}, ["e3", "e1"]),
    ({"where": "host.name!=dvc-web-01"}, ["e7", "e6", "e5", "e4", "e2"]),
    ({"where": "destination.port>22"}, ["e2", "e1"]),
    ({"where": "destination.port<=80"}, ["e3", "e2"]),
    ({"where": "host.name=dvc-*"}, ["e3", "e2", "e1"]),
    ({"where": "host.name=*"}, ["e7", "e3", "e2", "e1"]),
    ({"where": "source.ip=10.45.1.0/30"}, ["e3", "e2", "e1"]),
    ({"q": "password"}, ["e5", "e4"]),
    ({"q": "failed root"}, ["e4"]),
    ({"since": DAY.format(3), "until": DAY.format(6)}, ["e5", "e4", "e3"]),
    ({"since": "2026-11-20T07:00:02"}, ["e7", "e6", "e5", "e4", "e3", "e2"]),  # UTC+7
    ({"since": "1d"}, []),
    ({"sort": "source.ip", "order": "asc", "limit": 2}, ["e1", "e2"]),
])
def test_events_filters(client: TestClient, params: dict[str, Any],
                        expected: list[str]) -> None:
    assert ids(client.get("/api/v1/events", params=params)) == expected


@pytest.mark.parametrize(("params", "message"), [
    ({"where": "no-operator"}, "'no-operator' is not FIELD=VALUE (or !=, >, >=, <, <=)"),
    ({"where": "bad name=1"}, "'bad name' is not a field name (letters, digits, . _ -"),
    ({"since": "99999999d"}, "'99999999d' is too far back"),
    ({"since": "yesterday"}, "'yesterday' is neither a timestamp nor a duration such as 15m or "
                             "7d"),
    ({"sort": "drop table"}, "'drop table' is not a field name"),
    ({"cursor": "%%%not-a-cursor"}, "invalid cursor"),
])
def test_events_bad_parameters_answer_422_with_a_message(client: TestClient,
                                                         params: dict[str, Any],
                                                         message: str) -> None:
    response = client.get("/api/v1/events", params=params)
    assert response.status_code == 422
    assert message in response.json()["detail"]


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 1001}, {"limit": "ten"},
                                    {"order": "up"}])
def test_events_out_of_range_parameters_answer_422(client: TestClient,
                                                   params: dict[str, Any]) -> None:
    response = client.get("/api/v1/events", params=params)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", next(iter(params))]


def test_events_limit_accepts_the_maximum(client: TestClient) -> None:
    assert len(ids(client.get("/api/v1/events", params={"limit": 1000}))) == 7


def test_one_event_by_id(client: TestClient) -> None:
    response = client.get("/api/v1/events/e4")
    assert response.status_code == 200
    assert response.json() == {"@timestamp": DAY.format(4),
                                "event": {"id": "e4", "dataset": "sshd"},
                                "source": {"ip": "10.45.1.4"},
                                "message": "failed password for root"}


def test_an_unknown_event_is_404(client: TestClient) -> None:
    response = client.get("/api/v1/events/nope")
    assert response.status_code == 404
    assert response.json() == {"detail": "no event 'nope'"}


# --- alerts ----------------------------------------------------------------------------------

def test_alerts_search(client: TestClient) -> None:
    response = client.get("/api/v1/alerts", params={"where": "rule.level=high"})
    assert response.status_code == 200
    assert response.json() == {"items": [
        {"id": "a2", "@timestamp": DAY.format(5), "event": {"kind": "alert", "ids": ["e5"]},
         "rule": {"id": "r-ssh", "name": "SSH brute force", "level": "high"},
         "message": "SSH brute force"},
        {"id": "a1", "@timestamp": DAY.format(4), "event": {"kind": "alert", "ids": ["e4"]},
         "rule": {"id": "r-ssh", "name": "SSH brute force", "level": "high"},
         "message": "SSH brute force"},
    ], "next_cursor": None}


def test_alerts_page_and_filter_by_time(client: TestClient) -> None:
    first = client.get("/api/v1/alerts", params={"limit": 2, "order": "asc"})
    assert [item["id"] for item in first.json()["items"]] == ["a1", "a2"]
    second = client.get("/api/v1/alerts", params={"limit": 2, "order": "asc",
                                                  "cursor": first.json()["next_cursor"]})
    assert second.json() == {"items": [{"id": "a3", "@timestamp": DAY.format(6),
                                        "event": {"kind": "alert", "ids": ["e6"]},
                                        "rule": {"id": "r-scan", "name": "Port scan",
                                                 "level": "medium"},
                                        "message": "Port scan"}], "next_cursor": None}
    since = client.get("/api/v1/alerts", params={"since": DAY.format(5), "q": "scan"})
    assert [item["id"] for item in since.json()["items"]] == ["a3"]
    assert client.get("/api/v1/alerts", params={"where": "=x"}).status_code == 422


# --- stats -----------------------------------------------------------------------------------

def test_stats_over_everything(client: TestClient) -> None:
    response = client.get("/api/v1/stats")
    assert response.status_code == 200
    assert response.json() == {
        "since": None, "until": None,
        "incidents": {
            "total": 3,
            "by_status": [{"value": "new", "count": 2}, {"value": "acknowledged", "count": 1}],
            "by_severity": [{"value": "high", "count": 2}, {"value": "medium", "count": 1}],
            "by_agency": [{"value": "000.00.02.H45", "count": 3},
                          {"value": "000.00.01.H45", "count": 1}],
            "by_rule": [{"value": "r-ssh", "count": 2}, {"value": "r-scan", "count": 1}],
        },
        "alerts": {
            "total": 3,
            "by_level": [{"value": "high", "count": 2}, {"value": "medium", "count": 1}],
            "by_rule": [{"value": "SSH brute force", "count": 2},
                        {"value": "Port scan", "count": 1}],
        },
        "events": {"total": 7},
    }


def test_stats_over_a_period(client: TestClient) -> None:
    response = client.get("/api/v1/stats", params={"since": DAY.format(5),
                                                   "until": DAY.format(6), "size": 1})
    assert response.status_code == 200
    assert response.json() == {
        "since": DAY.format(5), "until": DAY.format(6),
        "incidents": {"total": 1,
                      "by_status": [{"value": "acknowledged", "count": 1}],
                      "by_severity": [{"value": "high", "count": 1}],
                      "by_agency": [{"value": "000.00.01.H45", "count": 1}],
                      "by_rule": [{"value": "r-ssh", "count": 1}]},
        "alerts": {"total": 1, "by_level": [{"value": "high", "count": 1}],
                   "by_rule": [{"value": "SSH brute force", "count": 1}]},
        "events": {"total": 1},
    }


def test_stats_bad_time_is_422(client: TestClient) -> None:
    response = client.get("/api/v1/stats", params={"until": "soon"})
    assert response.status_code == 422
    assert "'soon' is neither a timestamp nor a duration" in response.json()["detail"]
    assert client.get("/api/v1/stats", params={"size": 0}).status_code == 422


# --- inventory and sources -------------------------------------------------------------------

def test_agencies_from_the_inventory(client: TestClient) -> None:
    response = client.get("/api/v1/agencies")
    assert response.status_code == 200
    body = response.json()
    assert body["next_cursor"] is None
    by_id = {item["id"]: item for item in body["items"]}
    assert by_id["000.00.00.H45"] == {
        "id": "000.00.00.H45", "name": "Ủy ban nhân dân tỉnh Sơn Hà", "tier": "province",
        "group": "people-committee", "parent": None, "networks": ["10.45.0.0/16"],
        "systems": []}
    assert by_id["000.00.02.H45"]["systems"][:4] == ["dvc", "motcua", "qlvb", "mail"]
    assert by_id["000.00.02.H45"]["parent"] == "000.00.00.H45"
    assert "contact" not in by_id["000.00.02.H45"]
    departments = client.get("/api/v1/agencies", params={"group": "department"}).json()
    assert departments["items"] and all(item["group"] == "department"
                                        for item in departments["items"])
    assert {item["tier"] for item in body["items"]} >= {"province", "commune"}


def test_assets_from_the_inventory(client: TestClient) -> None:
    response = client.get("/api/v1/assets", params={"system": "dvc"})
    assert response.status_code == 200
    assert response.json() == {"items": [
        {"name": "dvc-web-01", "agency": "000.00.02.H45", "system": "dvc",
         "system_name": "Cổng dịch vụ công tỉnh (public service portal)", "level": 3,
         "role": "public-service-portal", "hostnames": ["dichvucong.sonha.gov.vn"],
         "addresses": ["10.45.1.10"]},
        {"name": "dvc-web-02", "agency": "000.00.02.H45", "system": "dvc",
         "system_name": "Cổng dịch vụ công tỉnh (public service portal)", "level": 3,
         "role": "public-service-portal", "hostnames": [], "addresses": ["10.45.1.11"]},
        {"name": "dvc-db-01", "agency": "000.00.02.H45", "system": "dvc",
         "system_name": "Cổng dịch vụ công tỉnh (public service portal)", "level": 3,
         "role": "database", "hostnames": [], "addresses": ["10.45.1.20"]},
    ], "next_cursor": None}
    every = client.get("/api/v1/assets").json()["items"]
    assert {"dvc-web-01", "mail-01", "motcua-app-01"} <= {item["name"] for item in every}
    assert client.get("/api/v1/assets", params={"agency": "nope"}).json()["items"] == []


def test_sources_counters(client: TestClient) -> None:
    response = client.get("/api/v1/sources")
    assert response.status_code == 200
    assert response.json() == {"items": [{**SOURCE, "name": "files", "kind": "file"}, SOURCE],
                               "next_cursor": None}


# --- auth ------------------------------------------------------------------------------------

ROUTES = ["/api/v1/events", "/api/v1/events/e1", "/api/v1/alerts", "/api/v1/stats",
          "/api/v1/agencies", "/api/v1/assets", "/api/v1/sources"]


@pytest.mark.parametrize("path", ROUTES)
def test_every_route_needs_a_token(settings: Settings, store: Store, path: str) -> None:
    client = TestClient(create_app(settings, store))
    response = client.get(path)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert "missing bearer token" in response.json()["detail"]
    bad = client.get(path, headers={"Authorization": "Bearer soc_nope"})
    assert bad.status_code == 401


@pytest.mark.parametrize("path", ROUTES)
def test_a_feed_key_is_refused(settings: Settings, store: Store, path: str) -> None:
    _, token = ApiKeyService(store).create("national", "feed")
    client = TestClient(create_app(settings, store))
    response = client.get(path, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403
    assert response.json() == {"detail": "an API key with role 'feed' may not do this "
                                         "(needs 'viewer')"}


@pytest.mark.parametrize("role", ["analyst", "admin"])
def test_higher_roles_read_too(settings: Settings, store: Store, role: str) -> None:
    _, token = ApiKeyService(store).create(f"{role}-key", role)
    client = TestClient(create_app(settings, store))
    for path in ROUTES:
        response = client.get(path, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200, path


def test_the_routes_are_in_the_openapi_document(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/v1/events", "/api/v1/events/{event_id}", "/api/v1/alerts", "/api/v1/stats",
            "/api/v1/agencies", "/api/v1/assets", "/api/v1/sources"} <= set(paths)
    parameters = {p["name"] for p in paths["/api/v1/events"]["get"]["parameters"]}
    assert parameters == {"since", "until", "where", "q", "sort", "order", "limit", "cursor"}
