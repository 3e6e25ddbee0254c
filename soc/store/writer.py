"""A store writer in a process of its own, so ingest keeps normalising while the store works.

Threads cannot do this: Python's sqlite3 releases the GIL around every row it steps and must win
it back from a busy producer each time, which slowed a writer thread to a few hundred rows a
second in measurement. A process has its own GIL; batches travel as `Store.encode` payloads.
"""

from __future__ import annotations

import multiprocessing
import pickle
from collections.abc import Sequence
from multiprocessing.connection import Connection

from soc.errors import StoreError
from soc.store.base import Collection, WriteResult

Job = list[tuple[Collection, bytes]]
Results = list[tuple[Collection, WriteResult]]
Outcome = Results | BaseException


class StoreWriterProcess:
    """Writes jobs (lists of encoded per-collection payloads) in order; results come back in the
    same order. After a failed job, later jobs are refused, so nothing lands out of order."""

    def __init__(self, url: str) -> None:
        context = multiprocessing.get_context("spawn")
        jobs_out, self._jobs = context.Pipe(duplex=False)
        self._results, results_in = context.Pipe(duplex=False)
        self._process = context.Process(target=_serve, args=(url, jobs_out, results_in),
                                        name="soc-store-writer", daemon=True)
        self._process.start()
        jobs_out.close()
        results_in.close()
        self.pending = 0

    def submit(self, job: Job) -> None:
        """Send a job; blocks while the writer is busy with the one before (bounded memory)."""
        self._jobs.send_bytes(pickle.dumps(job, protocol=pickle.HIGHEST_PROTOCOL))
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


def _serve(url: str, jobs: Connection, results: Connection) -> None:
    from soc.store import open_store  # the child imports the backends itself

    failure: BaseException | None = None
    with open_store(url) as store:
        while data := jobs.recv_bytes():
            job: Sequence[tuple[Collection, bytes]] = pickle.loads(data)
            if failure is None:
                try:
                    outcome: Outcome = [(c, store.put_encoded(c, payload)) for c, payload in job]
                except StoreError as exc:
                    failure = outcome = exc
            else:
                outcome = StoreError(f"not written: an earlier batch failed ({failure})")
            results.send_bytes(pickle.dumps(outcome))
