"""soc/scheduler.py: interval jobs run again and again, never overlap, stop on shutdown."""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable
from datetime import timedelta

import pytest

from soc.scheduler import Scheduler

EVERY = timedelta(seconds=0.1)


def wait_for(condition: Callable[[], bool], seconds: float = 5) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_an_interval_job_runs_repeatedly_and_stops_on_shutdown() -> None:
    runs: list[float] = []
    scheduler = Scheduler()
    scheduler.add_interval_job("tick", EVERY, lambda: runs.append(time.monotonic()))
    assert scheduler.job_names() == ["tick"]
    started = time.monotonic()
    scheduler.start()
    try:
        assert wait_for(lambda: len(runs) >= 3)
    finally:
        scheduler.shutdown()
    assert not scheduler.running
    stopped_at = len(runs)
    time.sleep(0.3)
    assert len(runs) == stopped_at
    # Not run at start unless asked: the first run comes one interval after the start.
    assert runs[0] - started > 0.05
    assert all(later - earlier > 0.05 for earlier, later in itertools.pairwise(runs))


def test_a_job_never_overlaps_itself_and_shutdown_waits_for_the_run_under_way() -> None:
    lock = threading.Lock()
    running = peak = finished = 0

    def slow() -> None:
        nonlocal running, peak, finished
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.35)  # several intervals long
        with lock:
            running -= 1
            finished += 1

    with Scheduler() as scheduler:
        scheduler.add_interval_job("slow", EVERY, slow, run_now=True)
        assert wait_for(lambda: finished >= 2)
        assert wait_for(lambda: running == 1)
    assert (peak, running) == (1, 0)


def test_run_now_runs_at_start_and_jobs_are_independent() -> None:
    ran: list[str] = []
    with Scheduler() as scheduler:
        scheduler.add_interval_job("now", timedelta(hours=1), lambda: ran.append("now"),
                                   run_now=True)
        scheduler.add_interval_job("later", timedelta(hours=1), lambda: ran.append("later"))
        assert wait_for(lambda: ran == ["now"])
        time.sleep(0.2)
    assert ran == ["now"]


def test_a_failing_run_is_logged_with_its_job_and_the_next_run_goes_ahead(
        caplog: pytest.LogCaptureFixture) -> None:
    attempts: list[int] = []

    def broken() -> None:
        attempts.append(1)
        raise RuntimeError("feed unreachable")

    with caplog.at_level(logging.ERROR, logger="soc.scheduler"), Scheduler() as scheduler:
        scheduler.add_interval_job("feed-pull", EVERY, broken, run_now=True)
        assert wait_for(lambda: len(attempts) >= 3)
    failures = [r for r in caplog.records if r.message == "job failed"]
    assert len(failures) >= 3
    assert {r.job for r in failures} == {"feed-pull"}  # type: ignore[attr-defined]
    assert "feed unreachable" in caplog.text


def test_names_are_unique_and_intervals_positive() -> None:
    scheduler = Scheduler()
    scheduler.add_interval_job("sweep", EVERY, lambda: None)
    with pytest.raises(ValueError, match="job 'sweep' is scheduled twice"):
        scheduler.add_interval_job("sweep", EVERY, lambda: None)
    with pytest.raises(ValueError, match="the interval must be positive"):
        scheduler.add_interval_job("never", timedelta(0), lambda: None)
    scheduler.shutdown()  # never started: nothing to stop, no error
