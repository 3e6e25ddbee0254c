"""Property-based: schemathesis drives every operation of `/openapi.json` with generated input,
as an admin, on a seeded SQLite store; no answer may be a 5xx or break the declared schema.

Each bug it found keeps an example-based regression test below.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error, response_schema_conformance

from api import create_app
from rules.alerts import RuleInfo, build_alert
from soc.apikeys import ApiKeyService
from soc.config import Settings
from soc.incidents import IncidentService
from soc.store import Collection, Store, open_store
from soc.timeutil import format_timestamp

T0 = datetime(2026, 11, 20, 1, 0, tzinfo=UTC)
RULES = [("ssh-brute", "SSH brute force", "high"), ("port-scan", "Port scan", "low"),
         ("web-shell", "Web shell upload", "critical")]


@dataclass
class Seeded:
    app: FastAPI
    store: Store
    token: str
    incident_ids: list[str]

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def _seed(store: Store, settings: Settings) -> list[str]:
    ids = []
    for number, rule in enumerate(RULES):
        at = T0 + timedelta(minutes=10 * number)
        ip = f"10.0.{number}.5"
        events = [{"event.id": f"ev-{number}-{n}",
                   "@timestamp": format_timestamp(at + timedelta(seconds=n)),
                   "message": f"event {n} from {ip}", "source.ip": ip,
                   "organization.id": "000.00.12.H45", "host.name": f"host-{number}"}
                  for n in range(number + 1)]
        store.put(Collection.EVENTS, events)
        alert = build_alert(RuleInfo(id=rule[0], name=rule[1], level=rule[2]), events,
                            {"source.ip": ip})
        store.put(Collection.ALERTS, [alert])
        service = IncidentService(store, settings.incidents, clock=lambda at=at: at)
        (incident,) = service.add_alerts([alert])
        ids.append(incident["id"])
    return ids


@pytest.fixture
def seeded(settings: Settings) -> Iterator[Seeded]:
    with open_store(settings.store_url()) as store:
        ids = _seed(store, settings)
        _, token = ApiKeyService(store).create("schema-admin", "admin")
        yield Seeded(create_app(settings, store), store, token, ids)


def _operations() -> list[tuple[str, str]]:
    """(METHOD, path) of every documented operation but endless event streams (an answer that
    never ends cannot be checked); the schema needs no store to be built."""
    paths = create_app(None, None).openapi()["paths"]  # type: ignore[arg-type]
    return [(method.upper(), path) for path, item in paths.items()
            for method, operation in item.items()
            if not any("text/event-stream" in answer.get("content", {})
                       for answer in operation.get("responses", {}).values())]


def _cases(operation: Any, seeded: Seeded) -> st.SearchStrategy[Any]:
    """Generated cases; where the path names an incident or an event, also ones naming a
    seeded one, so the answers past the 404 are exercised too."""
    known = {"incident_id": seeded.incident_ids, "event_id": ["ev-0-0", "ev-2-1"]}
    names = [name for name in known if "{" + name + "}" in operation.path]
    if not names:
        return operation.as_strategy()
    real = st.fixed_dictionaries({name: st.sampled_from(known[name]) for name in names}).flatmap(
        lambda values: operation.as_strategy(path_parameters=values))
    return st.one_of(operation.as_strategy(), real)


# schemathesis' own pytest plugin (from_fixture/parametrize) does not run under pytest 9, so
# each operation gets a plain test that draws its cases with hypothesis.
@pytest.mark.parametrize(("method", "path"), _operations())
def test_no_server_error_and_every_answer_fits_the_schema(method: str, path: str,
                                                          seeded: Seeded) -> None:
    operation = schemathesis.openapi.from_asgi("/openapi.json", seeded.app)[path][method]

    @hypothesis_settings(max_examples=25, deadline=None, database=None,
                         suppress_health_check=list(HealthCheck))
    @given(case=_cases(operation, seeded))
    def check(case: Any) -> None:
        case.call_and_validate(headers=seeded.headers,
                               checks=[not_a_server_error, response_schema_conformance])

    check()


# -- regressions for what the property test found -------------------------------------------


@pytest.fixture
def client(seeded: Seeded) -> TestClient:
    return TestClient(seeded.app, headers=seeded.headers)


@pytest.mark.parametrize("url", ["/api/v1/events", "/api/v1/alerts", "/api/v1/incidents"])
def test_a_nul_in_the_full_text_query_is_a_422_not_a_500(client: TestClient, url: str) -> None:
    # It reached SQLite's FTS parser, whose "unterminated string" StoreError answered 500.
    response = client.get(url, params={"q": "\x00"})
    assert response.status_code == 422
    assert "NUL" in str(response.json()["detail"])


@pytest.mark.parametrize(("url", "params"), [
    ("/api/v1/events", {"since": "yesterday"}), ("/api/v1/alerts", {"sort": "drop table"}),
    ("/api/v1/stats", {"until": "soon"})])
def test_a_search_422_is_one_line_and_the_schema_says_so(client: TestClient, url: str,
                                                         params: dict[str, str]) -> None:
    # The one-line `detail` broke the documented 422 (FastAPI's list of errors).
    response = client.get(url, params=params)
    assert response.status_code == 422
    assert isinstance(response.json()["detail"], str)
    answer = client.get("/openapi.json").json()["paths"][url]["get"]["responses"]["422"]
    schema = answer["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/QueryError"}
    detail = client.get("/openapi.json").json()["components"]["schemas"]["QueryError"][
        "properties"]["detail"]
    assert {option.get("type") for option in detail["anyOf"]} == {"string", "array"}
