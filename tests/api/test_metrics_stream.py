"""api/metrics.py, api/stream.py and api/limits.py through FastAPI's test client."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from api import create_app, limits, stream
from soc.apikeys import ApiKeyService
from soc.config import Settings
from soc.store import Collection, Store, open_store


@dataclass
class Env:
    client: TestClient
    store: Store
    headers: dict[str, str]
    feed: dict[str, str]


def incident(number: int, severity: str, status: str = "new", breached: bool = False,
             last_seen: str | None = None) -> dict[str, Any]:
    seen = last_seen or f"2026-11-20T01:{number:02d}:00.000000Z"
    return {"id": f"inc-{number}", "@timestamp": seen, "status": status, "severity": severity,
            "title": f"incident {number}", "rule_ids": ["r"], "alert_count": 1,
            "first_seen": seen, "last_seen": seen, "agencies": [], "assignee": None,
            "sla.breached": breached}


@pytest.fixture
def env(settings: Settings) -> Iterator[Env]:
    with open_store(settings.store_url()) as store:
        token = ApiKeyService(store).create("wall", "viewer")[1]
        _, feed = ApiKeyService(store).create("feed", "feed")
        yield Env(TestClient(create_app(settings, store)), store,
                  {"Authorization": f"Bearer {token}"}, {"Authorization": f"Bearer {feed}"})


# -- GET /metrics --------------------------------------------------------------------------------


def test_metrics_counts_the_store_in_prometheus_text(env: Env) -> None:
    env.store.put(Collection.EVENTS, [{"event.id": f"e{n}", "@timestamp":
                                       "2026-11-20T00:00:00.000000Z"} for n in range(5)])
    env.store.put(Collection.DEAD_LETTERS, [{"event.id": "d1", "@timestamp":
                                             "2026-11-20T00:00:00.000000Z"}])
    env.store.put(Collection.ALERTS, [{"id": f"a{n}", "@timestamp": "2026-11-20T00:00:00.000000Z"}
                                      for n in range(3)])
    env.store.put(Collection.INCIDENTS, [
        incident(1, "critical"), incident(2, "critical", "investigating", breached=True),
        incident(3, "high", "acknowledged"), incident(4, "high", "resolved", breached=True),
        incident(5, "low", "false_positive"), incident(6, "medium", breached=True)])
    response = env.client.get("/metrics", headers=env.headers)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert response.text == (
        "# HELP soc_events_total Events stored.\n"
        "# TYPE soc_events_total counter\n"
        "soc_events_total 5\n"
        "# HELP soc_alerts_total Alerts stored.\n"
        "# TYPE soc_alerts_total counter\n"
        "soc_alerts_total 3\n"
        "# HELP soc_dead_letters_total Events that could not be parsed or stored "
        "(dead letters).\n"
        "# TYPE soc_dead_letters_total counter\n"
        "soc_dead_letters_total 1\n"
        "# HELP soc_open_incidents Incidents not resolved or false_positive, by severity.\n"
        "# TYPE soc_open_incidents gauge\n"
        'soc_open_incidents{severity="informational"} 0\n'
        'soc_open_incidents{severity="low"} 0\n'
        'soc_open_incidents{severity="medium"} 1\n'
        'soc_open_incidents{severity="high"} 1\n'
        'soc_open_incidents{severity="critical"} 2\n'
        "# HELP soc_sla_breaches_total Incidents that breached an SLA deadline.\n"
        "# TYPE soc_sla_breaches_total counter\n"
        "soc_sla_breaches_total 3\n")


def test_metrics_needs_a_viewer_key(env: Env) -> None:
    assert env.client.get("/metrics").status_code == 401
    assert env.client.get("/metrics", headers=env.feed).status_code == 403


# -- GET /api/v1/stream --------------------------------------------------------------------------


def events_of(text: str) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for block in text.split("\n\n"):
        if block.startswith("event: "):
            name, data = block.split("\n")
            out.append((name.removeprefix("event: "), orjson.loads(data.removeprefix("data: "))))
    return out


def later(delay: float, action: Any) -> threading.Thread:
    thread = threading.Thread(target=lambda: (time.sleep(delay), action()))
    thread.start()
    return thread


def test_stream_pushes_new_and_changed_incidents(env: Env) -> None:
    env.store.put(Collection.INCIDENTS, [incident(1, "high"), incident(2, "low")])

    def change() -> None:
        env.store.put(Collection.INCIDENTS, [incident(3, "critical")])
        versioned = env.store.get(Collection.INCIDENTS, "inc-1")
        env.store.replace(Collection.INCIDENTS,
                          {**versioned.document, "status": "acknowledged"}, versioned.version)

    thread = later(0.5, change)
    with env.client.stream("GET", "/api/v1/stream", params={"interval": 0.1, "limit": 2},
                           headers=env.headers) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        text = "".join(response.iter_text())
    thread.join()
    # The baseline (both incidents as they were) is not sent; the changes are, oldest first.
    assert text.startswith("event: incident\ndata: {")
    received = events_of(text)
    assert [(name, doc["id"], doc["status"]) for name, doc in received] == [
        ("incident", "inc-1", "acknowledged"), ("incident", "inc-3", "new")]
    assert received[1][1] == incident(3, "critical")


def test_stream_sends_keep_alives_when_quiet(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stream, "KEEPALIVE", 0.2)
    thread = later(0.7, lambda: env.store.put(Collection.INCIDENTS, [incident(1, "high")]))
    response = env.client.get("/api/v1/stream", params={"interval": 0.1, "limit": 1},
                              headers=env.headers)
    thread.join()
    *quiet, last, end = response.text.split("\n\n")
    # 0.7 s quiet at one keep-alive per 0.2 s, then the one event the limit allows.
    assert len(quiet) >= 2
    assert set(quiet) == {": keep-alive"}
    assert end == ""
    assert events_of(last) == [("incident", incident(1, "high"))]


def test_stream_validates_and_needs_a_key(env: Env) -> None:
    assert env.client.get("/api/v1/stream").status_code == 401
    for params in ({"interval": 0.05}, {"interval": 61}, {"limit": 0}):
        assert env.client.get("/api/v1/stream", params=params,
                              headers=env.headers).status_code == 422


# -- request body limit --------------------------------------------------------------------------

URL = "/api/v1/incidents/inc-1/comments"


def test_the_limit_comes_from_settings_or_the_default(settings: Settings) -> None:
    assert limits.DEFAULT_MAX_BODY_BYTES == 1_048_576
    assert limits.max_body_bytes(settings) == getattr(settings.api, "max_body_bytes", 1_048_576)
    assert limits.max_body_bytes(SimpleNamespace(api=SimpleNamespace(max_body_bytes=10))) == 10
    assert limits.max_body_bytes(SimpleNamespace()) == 1_048_576


def test_a_content_length_over_the_limit_is_413(env: Env) -> None:
    response = env.client.post(URL, content=b"x" * 1_048_577, headers=env.headers)
    assert response.status_code == 413
    assert response.json() == {"detail": "request body over 1048576 bytes"}
    # At the limit the route answers (a viewer may not comment).
    assert env.client.post(URL, content=b"x" * 1_048_576,
                           headers=env.headers).status_code == 403


def test_a_streamed_body_over_the_limit_is_413(settings: Settings, sqlite_store: Store,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "DEFAULT_MAX_BODY_BYTES", 100)
    client = TestClient(create_app(settings, sqlite_store))

    def chunks(count: int) -> Iterator[bytes]:
        for _ in range(count):
            yield b"y" * 30

    response = client.post(URL, content=chunks(4))
    assert "content-length" not in response.request.headers
    assert response.status_code == 413
    assert response.json() == {"detail": "request body over 100 bytes"}
    assert client.post(URL, content=chunks(3)).status_code == 401
