"""Background jobs at fixed intervals (SFTP pulls now; correlation sweeps, scans, feeds later).

A thin wrapper over APScheduler 3: jobs have names, never overlap themselves (a run still going
when the next is due makes that next run a skip, not a second copy), and a failing run is logged
with its job's name and does not stop later runs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

log = logging.getLogger(__name__)


class Scheduler:
    """Runs named jobs on a pool of threads; start() once, shutdown() when the service stops."""

    def __init__(self, max_workers: int = 8) -> None:
        self._scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(max_workers)},
            job_defaults={"max_instances": 1, "coalesce": True,
                          # A run that is late because the pool was busy still runs.
                          "misfire_grace_time": None},
            timezone=UTC)

    def add_interval_job(self, name: str, every: timedelta, func: Callable[[], Any], *,
                         run_now: bool = False) -> None:
        """Run `func` every `every`; with `run_now`, first right at start (or now, if started).

        ValueError when a job of that name exists or the interval is not positive.
        """
        if every <= timedelta(0):
            raise ValueError(f"job {name!r}: the interval must be positive, got {every}")
        if self._scheduler.get_job(name) is not None:
            raise ValueError(f"job {name!r} is scheduled twice")
        # Left out unless wanted: APScheduler reads next_run_time=None as "paused".
        first: dict[str, Any] = {"next_run_time": datetime.now(UTC)} if run_now else {}
        trigger = IntervalTrigger(seconds=every.total_seconds(), timezone=UTC)
        self._scheduler.add_job(_logged(name, func), trigger, id=name, name=name, **first)

    def job_names(self) -> list[str]:
        return sorted(job.id for job in self._scheduler.get_jobs())

    @property
    def running(self) -> bool:
        return bool(self._scheduler.running)

    def start(self) -> None:
        self._scheduler.start()
        log.info("scheduler started", extra={"jobs": self.job_names()})

    def shutdown(self, wait: bool = True) -> None:
        """Stop starting runs; with `wait`, return once the runs under way have finished."""
        if self._scheduler.running:
            self._scheduler.shutdown(wait=wait)
            log.info("scheduler stopped")

    def __enter__(self) -> Scheduler:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()


def _logged(name: str, func: Callable[[], Any]) -> Callable[[], None]:
    def run() -> None:
        started = time.monotonic()
        try:
            func()
        except Exception:
            # Logged here with the job's name rather than by APScheduler's own handler, so the
            # structured log says which job failed; the next run goes ahead as planned.
            log.exception("job failed", extra={"job": name,
                                               "seconds": round(time.monotonic() - started, 3)})
    return run
