"""`GET /metrics` (viewer): the store's counters in Prometheus text format 0.0.4.

::

    # HELP soc_events_total Events stored.
    # TYPE soc_events_total counter
    soc_events_total 1200
    ...
    soc_open_incidents{severity="critical"} 2     # one line per severity, zeros included

`soc_open_incidents` counts incidents whose status is not resolved or false_positive;
`soc_sla_breaches_total` counts incidents with `sla.breached` true (open or closed).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse

from api.auth import require
from soc.apikeys import Role
from soc.incident_model import OPEN, SEVERITIES
from soc.store import Collection, Filter, Op, Query, Store

router = APIRouter(tags=["metrics"], dependencies=[Depends(require(Role.VIEWER))])

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

COUNTERS = (
    ("soc_events_total", "Events stored.", Collection.EVENTS),
    ("soc_alerts_total", "Alerts stored.", Collection.ALERTS),
    ("soc_dead_letters_total", "Events that could not be parsed or stored (dead letters).",
     Collection.DEAD_LETTERS),
)


class PrometheusResponse(PlainTextResponse):
    media_type = CONTENT_TYPE


@router.get("/metrics", response_class=PrometheusResponse)
def metrics(request: Request) -> PrometheusResponse:
    """Counts of events, alerts, dead letters, open incidents by severity and SLA breaches."""
    return PrometheusResponse(render(request.app.state.store))


def render(store: Store) -> str:
    """The exposition text, one `# HELP`, `# TYPE` and samples per metric."""
    lines: list[str] = []
    for name, help_text, collection in COUNTERS:
        lines += _header(name, help_text, "counter")
        lines.append(f"{name} {store.count(collection, Query())}")
    open_query = Query(filters=[Filter(field="status", op=Op.IN, value=list(OPEN))])
    buckets = {str(b.value): b.count for b in
               store.count_by(Collection.INCIDENTS, open_query, "severity", size=100)}
    lines += _header("soc_open_incidents",
                     "Incidents not resolved or false_positive, by severity.", "gauge")
    severities = [*SEVERITIES, *sorted(s for s in buckets if s not in SEVERITIES)]
    for severity in severities:
        lines.append(f'soc_open_incidents{{severity="{_escape(severity)}"}} '
                     f"{buckets.get(severity, 0)}")
    breached = store.count(Collection.INCIDENTS,
                           Query(filters=[Filter(field="sla.breached", value=True)]))
    lines += _header("soc_sla_breaches_total", "Incidents that breached an SLA deadline.",
                     "counter")
    lines.append(f"soc_sla_breaches_total {breached}")
    return "\n".join(lines) + "\n"


def _header(name: str, help_text: str, kind: str) -> list[str]:
    return [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
