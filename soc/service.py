"""Composition root: builds store, inventory, pipeline, collectors and API from settings, and
serves them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from types import FrameType
from typing import Any

import uvicorn

from api import create_app
from collectors import parsers
from collectors.files import FileTailer
from collectors.netflow import NetflowServer
from collectors.pcap import LiveCapture
from collectors.sftp import schedule_sftp_pulls
from collectors.syslog import SyslogServer
from rules.engine import build_engine
from soc.config import Settings, parse_address
from soc.incidents import IncidentService
from soc.inventory import Inventory, open_inventory
from soc.logs import redact_url
from soc.pipeline import Pipeline, build_pipeline
from soc.runtime import tune_for_throughput
from soc.scheduler import Scheduler
from soc.sources import SourceRegistry
from soc.store import Store, open_store
from soc.streaming import StreamIngest

log = logging.getLogger(__name__)


def serve(settings: Settings) -> None:
    """Run the collectors and the API until interrupted (SIGINT or SIGTERM)."""
    inventory = open_inventory(settings)
    store = open_store(settings.store_url())
    # uvicorn shuts down gracefully on SIGTERM, then raises the signal again for the handler that
    # was there before it: make that handler a clean exit, as a service manager expects.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    try:
        asyncio.run(_serve(settings, store, inventory))
    finally:
        store.close()
        log.info("stopped")


async def _serve(settings: Settings, store: Store, inventory: Inventory) -> None:
    engine = build_engine(settings)
    # After the rules: their objects (parse trees, compiled matchers) stay out of the
    # collector's sight, as everything start-up allocated before them.
    tune_for_throughput()

    incidents = IncidentService(store, settings.incidents)

    def stream_pipeline(writer_process: bool = True) -> Pipeline:
        # Every run is a piece of one endless stream: correlation windows close as later
        # events pass their end, never because a batch or a pull ended.
        return build_pipeline(settings, store, inventory, writer_process, detector=engine,
                              flush_detector=False, on_alerts=incidents.add_alerts)

    pipeline = stream_pipeline()
    sources = SourceRegistry(store)
    ingest = StreamIngest(pipeline, settings.pipeline.max_queued,
                          settings.pipeline.flush_interval.total_seconds())
    ingest.start()
    running = RunningCollectors(settings, store, pipeline, ingest, sources,
                                stream_pipeline(writer_process=False))
    scheduler = Scheduler()
    schedule_sftp_pulls(scheduler, settings, store, stream_pipeline, sources)
    # Deadlines pass without any event: open incidents are checked against their SLA.
    scheduler.add_interval_job("incidents-sla", settings.incidents.sla_check_interval,
                               incidents.refresh_sla)
    try:
        scheduler.start()
        await running.start()
        host, port = parse_address(settings.api.listen)
        app = create_app(settings, store)
        app.state.runtime = ServiceStatus(running, ingest)
        server = uvicorn.Server(uvicorn.Config(app, host=host,
                                               port=port, log_config=None, access_log=False,
                                               lifespan="on"))
        log.info("serving", extra={"listen": settings.api.listen,
                                   "store": redact_url(settings.store_url()),
                                   "agencies": len(inventory.agencies),
                                   "collectors": running.names()})
        await server.serve()
    finally:
        await asyncio.to_thread(scheduler.shutdown)  # waits for a pull under way
        await running.stop()
        await asyncio.to_thread(ingest.stop)
        sources.save()


class ServiceStatus:
    """What `/health` reports of the running service beyond the store."""

    def __init__(self, collectors: RunningCollectors, ingest: StreamIngest) -> None:
        self.collectors = collectors
        self.ingest = ingest

    def status(self) -> dict[str, Any]:
        """Collectors listening, and the records queued for the pipeline (of how many); the
        ingest reason when the pipeline stopped (collectors then count records as dropped)."""
        ingest = self.ingest
        report: dict[str, Any] = {
            "collectors": self.collectors.names(),
            "queue": {"depth": ingest.depth, "capacity": ingest.max_queued},
            "ingest": "ok" if ingest.error is None else f"stopped: {ingest.error}"}
        return report


class RunningCollectors:
    """The collectors soc.yaml turns on: syslog listeners and tailed files, with the periodic
    work they need (polling files, saving source counters)."""

    def __init__(self, settings: Settings, store: Store, pipeline: Pipeline,
                 ingest: StreamIngest, sources: SourceRegistry, tailing: Pipeline) -> None:
        """`tailing` stores in this process, not through a writer process: a poll's new
        lines are few."""
        self.settings = settings
        self.sources = sources
        limit = int(settings.pipeline.max_record_bytes)
        syslog = settings.collectors.syslog
        self.syslog = (SyslogServer(syslog, limit, parsers.get(syslog.format), ingest, sources)
                       if syslog.udp or syslog.tcp or syslog.tls else None)
        netflow = settings.collectors.netflow
        self.netflow = NetflowServer(netflow, ingest, sources) if netflow.udp else None
        self.captures = [
            LiveCapture(capture.interface, capture.bpf, ingest,
                        sources.source(f"capture:{capture.interface}", "capture"),
                        name=f"capture:{capture.interface}")
            for capture in settings.collectors.capture]
        self.tailers = [
            FileTailer(source.path, parsers.get(source.format), tailing, store,
                       sources.source(f"file:{source.path}", "file"), limit)
            for source in settings.collectors.files]
        self._periodic: asyncio.Task[None] | None = None

    def names(self) -> list[str]:
        listening = [f"syslog-{kind}" for kind in (self.syslog.addresses if self.syslog else ())]
        listening += [f"netflow-{kind}"
                      for kind in (self.netflow.addresses if self.netflow else ())]
        return (listening + [f"capture:{capture.interface}" for capture in self.captures]
                + [f"file:{tailer.pattern}" for tailer in self.tailers])

    async def start(self) -> None:
        if self.syslog is not None:
            await self.syslog.start()
        if self.netflow is not None:
            await self.netflow.start()
        for capture in self.captures:
            capture.start()  # PermissionError without root or CAP_NET_RAW, saying so
        self._periodic = asyncio.create_task(self._poll())

    async def stop(self) -> None:
        if self._periodic is not None:
            self._periodic.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._periodic
        if self.syslog is not None:
            await self.syslog.stop()
        if self.netflow is not None:
            await self.netflow.stop()  # before the ingest stops: waiting data sets are counted
        for capture in self.captures:
            await asyncio.to_thread(capture.stop)

    async def _poll(self) -> None:
        interval = self.settings.pipeline.poll_interval.total_seconds()
        while True:
            for work in [*(tailer.poll for tailer in self.tailers), self.sources.save]:
                try:
                    await asyncio.to_thread(work)
                except Exception as exc:
                    # One failing file or a busy store must not end tailing for good.
                    log.error("periodic collector work failed",
                              extra={"work": getattr(work, "__qualname__", str(work)),
                                     "reason": f"{type(exc).__name__}: {exc}"})
            await asyncio.sleep(interval)


def _exit_cleanly(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)
