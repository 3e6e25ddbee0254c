"""SFTP: pull log files from remote servers on a schedule, each pull going on where the last ended.

For every configured path or glob a pull reads what was appended since the last pull, up to the
last complete line (a line still being written waits for the next pull), parses it and feeds it
to the pipeline. The file's position is saved only after the pipeline has stored its records: a
crash in between re-reads them, and their deterministic event ids store nothing twice.

A file is known by its content identity (`collectors.files.content_source`), as a local file is,
so a file pulled here and the same file read from disk get the same event ids. When the path
shows another identity (rotated by rename, copytruncate) or fewer bytes than were read, the file
is read again from its start. Gzip'd files (rotated copies) are read whole, once.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import re
import time
import zlib
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

import asyncssh
from asyncssh.constants import FILEXFER_TYPE_REGULAR

from collectors import parsers
from collectors.files import FINGERPRINT_BYTES, GZIP_MAGIC, content_source, read_stream
from collectors.sftp_remote import FileChangedError, Loop, RemoteStream, SftpError
from soc.config import Settings, SftpSourceSettings
from soc.errors import ConfigError, SocError
from soc.pipeline import IngestSummary, Pipeline
from soc.scheduler import Scheduler
from soc.sources import SourceCounters, SourceRegistry
from soc.store import Store

log = logging.getLogger(__name__)

GLOB = re.compile(r"[*?\[]")
# The last complete line is looked for backwards from the end in steps of this size.
TAIL_STEP = 64 * 1024
# Bytes before the saved offset that must read the same for a pull to go on from there.
TAIL_CHECK_BYTES = 1024

NO_SUCH_FILE = (asyncssh.SFTPNoSuchFile, asyncssh.SFTPNoSuchPath)
# SftpError lives with the loop that raises it on a timeout; callers import it from here.
__all__ = ["PullSummary", "SftpError", "SftpPuller", "schedule_sftp_pulls"]


@dataclass
class PullSummary:
    server: str
    files: int = 0          # files with new records read
    unchanged: int = 0      # nothing new since the last pull
    waiting: int = 0        # first line not complete yet: read when it is
    missing: int = 0        # configured path or glob not there (its checkpoint is kept)
    failed: int = 0         # could not be read this pull (permission, changed while read)
    bytes: int = 0
    records: int = 0
    stored: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    seconds: float = 0.0

    def add(self, ingest: IngestSummary) -> None:
        self.records += ingest.read
        self.stored += ingest.stored
        self.duplicates += ingest.duplicates
        self.dead_lettered += ingest.dead_lettered

    def as_json(self) -> dict[str, Any]:
        summary = asdict(self)
        summary["seconds"] = round(self.seconds, 3)
        return summary


class SftpPuller:
    """Pulls the configured files of one server into a pipeline; one pull at a time."""

    def __init__(self, server: SftpSourceSettings, store: Store, *, max_record_bytes: int,
                 env: Mapping[str, str] | None = None) -> None:
        self.server = server
        self.store = store
        self.max_record_bytes = max_record_bytes
        self.env = os.environ if env is None else env
        self.where = f"{server.user}@{server.host}:{server.port}"
        self.timeout = server.timeout.total_seconds()
        self.known_hosts = server.known_hosts or Path("~/.ssh/known_hosts").expanduser()
        self.parser = parsers.get(server.format)
        self.observer = {"observer.name": server.label, "observer.type": "sftp"}

    @classmethod
    def from_settings(cls, server: SftpSourceSettings, settings: Settings,
                      store: Store) -> SftpPuller:
        """A puller with the server's key and known_hosts files read against the config's
        directory, and the configured record size limit."""
        resolved = server.model_copy(update={
            "key_file": settings.resolve(server.key_file) if server.key_file else None,
            "known_hosts": settings.resolve(server.known_hosts) if server.known_hosts else None})
        return cls(resolved, store, max_record_bytes=settings.pipeline.max_record_bytes)

    def checkpoint_key(self, path: str) -> str:
        return f"sftp:{self.where}:{path}"

    def pull(self, pipeline: Pipeline) -> PullSummary:
        """Read what is new in every configured file; SftpError when the server fails as a whole.

        A file that cannot be read is counted and logged, and the others are still read.
        """
        summary = PullSummary(self.server.label)
        started = time.monotonic()
        keys, password = self._credentials()
        loop = Loop(self.timeout, self.where)
        try:
            connection, sftp = loop.run(self._connect(keys, password),
                                        "connecting and logging in")
            try:
                for path in self._paths(loop, sftp, summary):
                    self._pull_file(loop, sftp, path, pipeline, summary)
            finally:
                loop.run(_close(connection), "closing the connection")
        except (OSError, asyncssh.Error) as exc:
            raise self._explain(exc) from exc
        finally:
            loop.close()
        summary.seconds = time.monotonic() - started
        log.info("sftp pull done", extra=summary.as_json())
        return summary

    # -- connecting ----------------------------------------------------------------------------

    def _credentials(self) -> tuple[list[asyncssh.SSHKey] | None, str | None]:
        server = self.server
        if not self.known_hosts.is_file():
            raise SftpError(f"{self.where}: known_hosts file {self.known_hosts} does not exist; "
                            f"{self._add_key_hint()}")
        keys = None
        if server.key_file:
            try:
                keys = [asyncssh.read_private_key(str(server.key_file))]
            except (OSError, asyncssh.KeyImportError) as exc:
                reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
                raise SftpError(f"{self.where}: cannot use key_file {server.key_file}: "
                                f"{reason}") from None
        password = None
        if server.password_env:
            password = self.env.get(server.password_env)
            if not password:
                raise SftpError(f"{self.where}: environment variable {server.password_env} "
                                f"(password_env) is not set")
        return keys, password

    async def _connect(self, keys: list[asyncssh.SSHKey] | None, password: str | None
                       ) -> tuple[asyncssh.SSHClientConnection, asyncssh.SFTPClient]:
        server = self.server
        # Only what soc.yaml says: no ~/.ssh/config, agent or default keys of the service user.
        connection = await asyncssh.connect(
            server.host, server.port, username=server.user, known_hosts=str(self.known_hosts),
            client_keys=keys, password=password, agent_path=None, config=None)
        try:
            return connection, await connection.start_sftp_client()
        except BaseException:
            connection.abort()
            raise

    def _add_key_hint(self) -> str:
        port = f"-p {self.server.port} " if self.server.port != 22 else ""
        return (f"check the server's key fingerprint with its administrator, then add it: "
                f"ssh-keyscan {port}{self.server.host} >> {self.known_hosts}")

    def _explain(self, exc: OSError | asyncssh.Error) -> SftpError:
        """One line that says what failed and what to do about it, and holds no secret."""
        if isinstance(exc, asyncssh.HostKeyNotVerifiable):
            return SftpError(f"{self.where}: host key refused: the key the server offered is "
                             f"not the one for {self.server.host} in {self.known_hosts}; "
                             f"{self._add_key_hint()}")
        if isinstance(exc, asyncssh.PermissionDenied):
            tried = " and ".join(
                ([f"key file {self.server.key_file}"] if self.server.key_file else [])
                + ([f"the password in ${self.server.password_env}"]
                   if self.server.password_env else []))
            return SftpError(f"{self.where}: login refused for user {self.server.user} "
                             f"(tried {tried})")
        if isinstance(exc, asyncssh.DisconnectError):
            return SftpError(f"{self.where}: disconnected: {exc.reason}")
        if isinstance(exc, asyncssh.Error):
            return SftpError(f"{self.where}: {exc.reason}")
        return SftpError(f"{self.where}: cannot connect: {exc.strerror or exc}")

    # -- files ---------------------------------------------------------------------------------

    def _paths(self, loop: Loop, sftp: asyncssh.SFTPClient,
               summary: PullSummary) -> list[str]:
        """The configured paths, globs expanded to the regular files they match, each once."""
        paths: list[str] = []
        for pattern in self.server.files:
            if not GLOB.search(pattern):
                paths.append(pattern)
                continue
            try:
                names = loop.run(sftp.glob_sftpname(pattern), f"listing {pattern}")
            except NO_SUCH_FILE:
                self._missing(pattern, summary)
                continue
            except asyncssh.SFTPError as exc:
                self._not_read(pattern, exc.reason, summary)
                continue
            paths.extend(sorted(str(n.filename) for n in names
                                if n.attrs.type == FILEXFER_TYPE_REGULAR))
        return list(dict.fromkeys(paths))

    def _missing(self, path: str, summary: PullSummary) -> None:
        summary.missing += 1
        log.warning("remote file missing", extra={"server": self.server.label, "path": path})

    def _pull_file(self, loop: Loop, sftp: asyncssh.SFTPClient, path: str, pipeline: Pipeline,
                   summary: PullSummary) -> None:
        try:
            remote = loop.run(sftp.open(path, "rb"), f"opening {path}")
            self._read_file(loop, remote, path, pipeline, summary)
            # Closed after a clean read only: after a failure the connection's end closes it,
            # and a server that hung once cannot hold the pull a second time here.
            loop.run(remote.close(), f"closing {path}")
        except NO_SUCH_FILE:
            self._missing(path, summary)
        except asyncssh.SFTPError as exc:
            self._not_read(path, exc.reason, summary)
        except (FileChangedError, EOFError, gzip.BadGzipFile, zlib.error) as exc:
            self._not_read(path, f"changed while being read ({exc}); read again next pull",
                           summary)

    def _not_read(self, path: str, reason: str, summary: PullSummary) -> None:
        summary.failed += 1
        log.warning("remote file not read", extra={"server": self.server.label, "path": path,
                                                   "reason": reason})

    def _read_file(self, loop: Loop, remote: asyncssh.SFTPClientFile, path: str,
                   pipeline: Pipeline, summary: PullSummary) -> None:
        key = self.checkpoint_key(path)
        saved = self.store.get_checkpoint(key)
        size = loop.run(remote.stat(), f"reading the size of {path}").size or 0
        head = RemoteStream(loop, remote, path, 0, min(size, FINGERPRINT_BYTES)).readall()
        compressed = head.startswith(GZIP_MAGIC)
        if compressed:
            with self._gunzip(loop, remote, path, size) as first:
                head = first.read(FINGERPRINT_BYTES)
        # A gzip'd file is a finished one: even without a complete line it has an identity.
        identity = content_source(head, complete=compressed)
        if identity is None:
            summary.waiting += 1
            return
        stream: IO[bytes]
        if compressed:
            if saved is not None and saved.get("gzip") and (
                    saved.get("identity"), saved.get("size")) == (identity, size):
                summary.unchanged += 1
                return
            start, generation = 0, 0
            stream = self._gunzip(loop, remote, path, size)
        else:
            start, generation = self._resume(loop, remote, path, saved, identity, size)
            end = self._last_line_end(loop, remote, path, start, size)
            if end <= start:
                summary.unchanged += 1
                return
            stream = RemoteStream(loop, remote, path, start, end)
        source = identity if generation == 0 else f"{identity}#{generation}"
        extra = {"log.file.path": path, **self.observer}
        with stream:
            summary.add(pipeline.run(read_stream(stream, source, self.parser,
                                                 self.max_record_bytes, extra, start)))
            end = start + stream.tell()
        summary.files += 1
        summary.bytes += end - start
        checkpoint: dict[str, Any] = {"identity": identity, "generation": generation,
                                      "offset": end, "size": size}
        if compressed:
            checkpoint["gzip"] = True
        else:
            checkpoint["tail"] = _tail(loop, remote, path, end)
        # After the pipeline has stored the records, never before: see the module docstring.
        self.store.set_checkpoint(key, checkpoint)

    @staticmethod
    def _gunzip(loop: Loop, remote: asyncssh.SFTPClientFile, path: str,
                size: int) -> gzip.GzipFile:
        return gzip.GzipFile(fileobj=RemoteStream(loop, remote, path, 0, size))

    def _resume(self, loop: Loop, remote: asyncssh.SFTPClientFile, path: str,
                saved: dict[str, Any] | None, identity: str, size: int) -> tuple[int, int]:
        """(offset to read from, generation of the file's content) from the last checkpoint."""
        if saved is None:
            return 0, 0
        offset, generation = int(saved["offset"]), int(saved.get("generation", 0))
        if saved.get("identity") == identity:
            if offset <= size and _tail(loop, remote, path, offset) == saved.get("tail"):
                return offset, generation
            # Rewritten under the same first line (a log whose first line never changes, then
            # copytruncate): the lines now at old offsets are new ones and need ids of their own.
            generation += 1
        else:
            generation = 0
        log.info("remote file rotated or rewritten: reading it from its start", extra={
            "server": self.server.label, "path": path, "was": saved.get("identity"),
            "now": identity, "read_before": offset, "size": size})
        return 0, generation

    @staticmethod
    def _last_line_end(loop: Loop, remote: asyncssh.SFTPClientFile, path: str, start: int,
                       size: int) -> int:
        """The offset just past the last newline in [start, size); `start` when there is none."""
        end = size
        while end > start:
            begin = max(start, end - TAIL_STEP)
            newline = RemoteStream(loop, remote, path, begin, end).readall().rfind(b"\n")
            if newline >= 0:
                return begin + newline + 1
            end = begin
        return start


def _tail(loop: Loop, remote: asyncssh.SFTPClientFile, path: str, offset: int) -> str | None:
    """A hash of the bytes just before `offset`: when they change, the file was rewritten."""
    if offset == 0:
        return None
    data = RemoteStream(loop, remote, path, max(0, offset - TAIL_CHECK_BYTES), offset).readall()
    return hashlib.blake2b(data, digest_size=8).hexdigest()


async def _close(connection: asyncssh.SSHClientConnection) -> None:
    connection.close()
    await connection.wait_closed()



def schedule_sftp_pulls(scheduler: Scheduler, settings: Settings, store: Store,
                        pipeline_factory: Callable[[], Pipeline], sources: SourceRegistry, *,
                        run_now: bool = True) -> list[str]:
    """One job per configured SFTP server, every `every`; returns the job names.

    A failed pull is logged with its server and reason; the server's next pull goes ahead.
    Each server's counters are kept in `sources` under the job's name.
    ConfigError when a server's format is unknown or two servers share a name.
    """
    names: list[str] = []
    for server in settings.collectors.sftp:
        name = f"sftp:{server.label}"
        if name in names:
            raise ConfigError(f"collectors.sftp: two servers are named {server.label!r}; give "
                              f"each its own name")
        puller = SftpPuller.from_settings(server, settings, store)
        job = _pull_job(puller, pipeline_factory, sources.source(name, "sftp"))
        scheduler.add_interval_job(name, server.every, job, run_now=run_now)
        names.append(name)
    return names


def _pull_job(puller: SftpPuller, pipeline_factory: Callable[[], Pipeline],
              counters: SourceCounters) -> Callable[[], None]:
    def job() -> None:
        try:
            pulled = puller.pull(pipeline_factory())
            counters.count(received=pulled.records,
                           parsed=pulled.records - pulled.dead_lettered,
                           dead_lettered=pulled.dead_lettered)
        except SocError as exc:
            log.error("sftp pull failed", extra={"server": puller.server.label,
                                                 "reason": str(exc)})
    return job
