"""A store writer in a process of its own, so ingest keeps normalising while the store works.

Threads cannot do this: Python's sqlite3 releases the GIL around every row it steps and must win
it back from a busy producer each time, which slowed a writer thread to a few hundred rows a
second in measurement. A process has its own GIL; batches travel as `Store.encode` payloads.

The producer sends small batches (they stay in the CPU cache while it normalises them); the
writer commits every batch that has queued up meanwhile in one transaction (group commit), so
transactions are large exactly when the store is the bottleneck.
"""

from __future__ import annotations

import multiprocessing
import pickle
import queue
import threading
from collections.abc import Sequence
from multiprocessing.connection import Connection

from soc.errors import StoreError
from soc.store.base import Collection, Store, WriteResult

Job = list[tuple[Collection, bytes]]
Results = list[tuple[Collection, WriteResult]]
Outcome = Results | BaseException

# Jobs the writer holds while it writes: enough to group commits, few enough to bound memory.
QUEUED_JOBS = 32


class StoreWriterProcess:
    """Writes jobs (lists of encoded per-collection payloads) in order; results come back in the
    same order, one per job. After a failed job, later jobs are refused, so nothing lands out
    of order."""

    def __init__(self, url: str, commit_size: int) -> None:
        context = multiprocessing.get_context("spawn")
        jobs_out, self._jobs = context.Pipe(duplex=False)
        self._results, results_in = context.Pipe(duplex=False)
        self._process = context.Process(target=_serve,
                                        args=(url, commit_size, jobs_out, results_in),
                                        name="soc-store-writer", daemon=True)
        self._process.start()
        jobs_out.close()
        results_in.close()
        self.pending = 0

    def submit(self, job: Job, records: int) -> None:
        """Send a job of `records` records; blocks while the writer's queue is full."""
        self._jobs.send_bytes(pickle.dumps((records, job), protocol=pickle.HIGHEST_PROTOCOL))
        self.pending += 1

    def ready(self) -> list[Outcome]:
        """Outcomes that have arrived, without waiting."""
        outcomes = []
        while self.pending and self._results.poll():
            outcomes.append(self._receive())
        return outcomes

    def close(self) -> list[Outcome]:
        """Wait for every job sent, stop the process, return the remaining outcomes."""
        outcomes = []
        try:
            self._jobs.send_bytes(b"")
            while self.pending:
                outcomes.append(self._receive())
        finally:
            self._jobs.close()
            self._process.join(timeout=30)
            if self._process.is_alive():
                self._process.kill()
        return outcomes

    def _receive(self) -> Outcome:
        try:
            data = self._results.recv_bytes()
        except EOFError:
            self.pending = 0
            return StoreError(f"store writer process died (exit code {self._process.exitcode})")
        self.pending -= 1
        return pickle.loads(data)


def _serve(url: str, commit_size: int, jobs: Connection, results: Connection) -> None:
    from soc.runtime import tune_for_throughput
    from soc.store import open_store  # the child imports the backends itself

    tune_for_throughput()
    # A thread receives jobs while the store writes, so the producer never waits on a pipe
    # nobody reads: without it each side stalled the other for a fifth of the run.
    received: queue.Queue[bytes] = queue.Queue(maxsize=QUEUED_JOBS)
    threading.Thread(target=_receive_jobs, args=(jobs, received), name="soc-store-jobs",
                     daemon=True).start()
    failure: BaseException | None = None
    with open_store(url) as store:
        while group := _next_group(received, commit_size):
            if failure is None:
                outcomes, failure = _write_group(store, group)
            else:
                error = StoreError(f"not written: an earlier batch failed ({failure})")
                outcomes = [error] * len(group)
            for outcome in outcomes:
                results.send_bytes(pickle.dumps(outcome))


def _next_group(received: queue.Queue[bytes], commit_size: int) -> list[Job]:
    """The next job and those queued behind it, up to `commit_size` records; [] at the end."""
    group: list[Job] = []
    records = 0
    data = received.get()
    while data:
        count, job = pickle.loads(data)
        group.append(job)
        records += count
        if records >= commit_size:
            break
        try:
            data = received.get_nowait()
        except queue.Empty:
            break
    if not data and group:
        received.put(b"")  # the end marker, seen again on the next call
    return group


def _write_group(store: Store, group: Sequence[Job]) -> tuple[list[Outcome], StoreError | None]:
    try:
        with store.transaction():
            outcomes: list[Outcome] = [[(c, store.put_encoded(c, payload)) for c, payload in job]
                                       for job in group]
    except StoreError as exc:
        return [exc] * len(group), exc
    return outcomes, None


def _receive_jobs(jobs: Connection, received: queue.Queue[bytes]) -> None:
    try:
        while data := jobs.recv_bytes():
            received.put(data)
    except EOFError:
        pass
    received.put(b"")
