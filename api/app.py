"""The FastAPI application factory."""

from __future__ import annotations

from fastapi import FastAPI

from api import health
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
    return app
