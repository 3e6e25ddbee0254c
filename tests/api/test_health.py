"""api/health.py through FastAPI's test client, on a temporary store."""

from __future__ import annotations

from fastapi.testclient import TestClient

from api import create_app
from soc.config import Settings
from soc.store import Collection, open_store


def test_health_reports_the_store(settings: Settings) -> None:
    with open_store(settings.store_url()) as store:
        store.put(Collection.EVENTS, [{"event.id": "e1", "@timestamp": "2026-11-20T00:00:00Z"}])
        client = TestClient(create_app(settings, store))
        response = client.get("/health")
        assert response.status_code == 200
        body = response.json()
        assert body["status"] == "ok"
        assert body["store"] == {"status": "ok", "backend": "sqlite",
                                 "documents": {"events": 1, "dead_letters": 0, "alerts": 0,
                                               "incidents": 0}}
        assert client.get("/openapi.json").json()["info"]["title"] == "Provincial SOC"


def test_health_says_when_the_store_is_gone(settings: Settings) -> None:
    store = open_store(settings.store_url())
    client = TestClient(create_app(settings, store))
    store.close()
    response = client.get("/health")
    assert response.status_code == 503
    assert response.json()["store"]["status"] == "unreachable"
