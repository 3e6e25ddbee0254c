"""The FastAPI application factory."""

from __future__ import annotations

from fastapi import FastAPI

from api import alerts as alerts_api
from api import events as events_api
from api import health, incidents, suppressions
from api import inventory as inventory_api
from api import limits as limits_api
from api import metrics as metrics_api
from api import sources as sources_api
from api import stats as stats_api
from api import stream as stream_api
from soc import __version__
from soc.config import Settings
from soc.store import Store


def create_app(settings: Settings, store: Store) -> FastAPI:
    """The API over one store; nothing is read from the environment here."""
    app = FastAPI(title="Provincial SOC", version=__version__,
                  description="Security operations monitoring for a province's government "
                              "network.")
    app.state.settings = settings
    app.state.store = store
    app.include_router(health.router)
    app.include_router(incidents.router)
    app.include_router(suppressions.router)
    for router in (events_api.router, alerts_api.router, stats_api.router,
                   inventory_api.router, sources_api.router):
        app.include_router(router)
    app.include_router(metrics_api.router)
    app.include_router(stream_api.router)
    app.add_middleware(limits_api.BodySizeLimit, max_bytes=limits_api.max_body_bytes(settings))
    return app
