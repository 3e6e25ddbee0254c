"""Composition root: builds store, inventory, pipeline and API from settings, and serves them."""

from __future__ import annotations

import logging
import signal
from types import FrameType

import uvicorn

from api import create_app
from soc.config import Settings, parse_address
from soc.events import EventNormaliser
from soc.inventory import Inventory, load_inventory
from soc.logs import redact_url
from soc.pipeline import Pipeline
from soc.store import Store, open_store

log = logging.getLogger(__name__)
DEFAULT_INVENTORY = "inventory.yaml"


def open_inventory(settings: Settings) -> Inventory:
    """The configured inventory; with none configured and no ./inventory.yaml, an empty one."""
    path = settings.resolve(settings.inventory)
    if not path.exists() and str(settings.inventory) == DEFAULT_INVENTORY:
        log.warning("no inventory file: events will not be tagged with agencies",
                    extra={"path": str(path)})
        return Inventory.empty()
    return load_inventory(path)


def build_pipeline(settings: Settings, store: Store, inventory: Inventory) -> Pipeline:
    normaliser = EventNormaliser(settings.zone(), settings.pipeline.max_future)
    return Pipeline(store, normaliser, inventory, batch_size=settings.pipeline.batch_size,
                    commit_size=settings.pipeline.commit_size)


def serve(settings: Settings) -> None:
    """Run the API (and, as later issues add them, the collectors) until interrupted."""
    inventory = open_inventory(settings)
    store = open_store(settings.store_url())
    host, port = parse_address(settings.api.listen)
    app = create_app(settings, store)
    log.info("serving", extra={"listen": settings.api.listen,
                               "store": redact_url(settings.store_url()),
                               "agencies": len(inventory.agencies)})
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_config=None,
                                           access_log=False, lifespan="on"))
    # uvicorn shuts down gracefully on SIGTERM, then raises the signal again for the handler that
    # was there before it: make that handler a clean exit, as a service manager expects.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    try:
        server.run()
    finally:
        store.close()
        log.info("stopped")


def _exit_cleanly(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)
