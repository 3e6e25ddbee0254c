"""collectors/sftp.py against a real asyncssh SFTP server on 127.0.0.1 and a real SQLite store."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncssh
import pytest

from collectors import parsers
from collectors.files import content_source, read_file
from collectors.sftp import PullSummary, SftpError, SftpPuller, schedule_sftp_pulls
from soc.config import Settings, SftpSourceSettings, load_settings
from soc.errors import ConfigError
from soc.inventory import Inventory
from soc.pipeline import Pipeline, build_pipeline
from soc.scheduler import Scheduler
from soc.sources import SourceRegistry
from soc.store import Collection, Store, open_store
from soc.store.query import Query
from tests.conftest import ROOT

USER = "collector"
PASSWORD = "Tr0ub4dor&3-not-in-any-log"


class SlowableSftp(asyncssh.SFTPServer):
    """The stock SFTP server confined to a root directory; reads wait `delay` seconds first."""

    def __init__(self, chan: asyncssh.SSHServerChannel, root: Path, state: SftpTestServer
                 ) -> None:
        super().__init__(chan, chroot=str(root).encode())
        self.state = state

    async def read(self, file_obj: Any, offset: int, size: int) -> bytes:  # type: ignore[override]
        if self.state.read_delay:
            await asyncio.sleep(self.state.read_delay)
        return super().read(file_obj, offset, size)  # type: ignore[return-value]


class PasswordOrKey(asyncssh.SSHServer):
    def begin_auth(self, username: str) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        return username == USER and password == PASSWORD


class SftpTestServer:
    """A real SFTP server on a loopback port, on an event loop in a thread of its own."""

    def __init__(self, root: Path, host_key: asyncssh.SSHKey, client_key: asyncssh.SSHKey
                 ) -> None:
        self.root = root
        self.read_delay = 0.0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        authorized = asyncssh.import_authorized_keys(client_key.export_public_key().decode())

        async def listen() -> asyncssh.SSHAcceptor:
            return await asyncssh.listen(
                "127.0.0.1", 0, server_host_keys=[host_key], authorized_client_keys=authorized,
                server_factory=PasswordOrKey,
                sftp_factory=lambda chan: SlowableSftp(chan, root, self))

        self._acceptor = asyncio.run_coroutine_threadsafe(listen(), self._loop).result(10)
        self.port = self._acceptor.get_port()

    def close(self) -> None:
        async def stop() -> None:
            self._acceptor.close()
            await self._acceptor.wait_closed()

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()


@dataclass
class Keys:
    host: asyncssh.SSHKey
    client: asyncssh.SSHKey
    client_file: Path
    stranger_file: Path


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    directory = tmp_path_factory.mktemp("keys")
    client, stranger = (asyncssh.generate_private_key("ssh-ed25519") for _ in range(2))
    client.write_private_key(directory / "client")
    stranger.write_private_key(directory / "stranger")
    return Keys(asyncssh.generate_private_key("ssh-ed25519"), client, directory / "client",
                directory / "stranger")


@dataclass
class Remote:
    server: SftpTestServer
    root: Path
    settings: Settings
    store: Store
    known_hosts: Path
    keys: Keys

    def write(self, name: str, data: bytes) -> Path:
        path = self.root / name
        path.write_bytes(data)
        return path

    def append(self, name: str, data: bytes) -> None:
        with (self.root / name).open("ab") as handle:
            handle.write(data)

    def config(self, **overrides: Any) -> dict[str, Any]:
        values: dict[str, Any] = {
            "name": "web1", "host": "127.0.0.1", "port": self.server.port, "user": USER,
            "key_file": str(self.keys.client_file), "known_hosts": str(self.known_hosts),
            "files": ["/app.log"], "format": "jsonl", "timeout": "5s"}
        values.update(overrides)
        return values

    def puller(self, **overrides: Any) -> SftpPuller:
        server = SftpSourceSettings.model_validate(self.config(**overrides))
        return SftpPuller.from_settings(server, self.settings, self.store)

    def pipeline(self) -> Pipeline:
        return build_pipeline(self.settings, self.store, Inventory.empty())

    def pull(self, **overrides: Any) -> PullSummary:
        return self.puller(**overrides).pull(self.pipeline())

    def events(self) -> list[dict[str, Any]]:
        items = self.store.search(Collection.EVENTS, Query(limit=10_000)).items
        return sorted(items, key=lambda e: (e["log.file.path"], e["@timestamp"]))

    def messages(self) -> list[str]:
        return [e["message"] for e in self.events()]


@pytest.fixture
def remote(tmp_path: Path, keys: Keys) -> Iterator[Remote]:
    root = tmp_path / "remote"
    root.mkdir()
    server = SftpTestServer(root, keys.host, keys.client)
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"[127.0.0.1]:{server.port} "
                           f"{keys.host.export_public_key().decode()}", encoding="utf-8")
    store = open_store(f"sqlite:///{tmp_path / 'soc.db'}")
    try:
        yield Remote(server, root, Settings(base_dir=tmp_path), store, known_hosts, keys)
    finally:
        store.close()
        server.close()


def lines(*numbers: int, size: int = 0) -> bytes:
    """JSON lines with their own times (so their event ids are deterministic), `size` padded."""
    return b"".join(
        json.dumps({"@timestamp": f"2026-03-01T{n // 3600:02d}:{n // 60 % 60:02d}:{n % 60:02d}Z",
                    "message": f"line {n}", "pad": "x" * size}).encode() + b"\n"
        for n in numbers)


def test_a_pull_stores_every_complete_line_with_the_ids_of_a_local_read(
        remote: Remote, tmp_path: Path) -> None:
    content = lines(1, 2, 3)
    remote.write("app.log", content)
    summary = remote.pull()
    assert (summary.files, summary.records, summary.stored, summary.bytes) == (
        1, 3, 3, len(content))
    events = remote.events()
    first = len(lines(1))
    assert [(e["message"], e["log.offset"]) for e in events] == [
        ("line 1", 0), ("line 2", first), ("line 3", 2 * first)]
    assert {(e["log.file.path"], e["observer.name"], e["observer.type"]) for e in events} == {
        ("/app.log", "web1", "sftp")}
    # The same bytes read from a local disk make the same events: one identity for one log.
    local = tmp_path / "copy.log"
    local.write_bytes(content)
    batch = remote.pipeline().prepare(list(read_file(local, parsers.get("jsonl"), 1 << 20)))
    assert sorted(e["event.id"] for e in batch.events) == sorted(e["event.id"] for e in events)
    checkpoint = remote.store.get_checkpoint(f"sftp:{USER}@127.0.0.1:{remote.server.port}"
                                             f":/app.log")
    assert checkpoint == {"identity": content_source(content, complete=False), "generation": 0,
                          "offset": len(content), "size": len(content),
                          "tail": hashlib.blake2b(content, digest_size=8).hexdigest()}


def test_appended_lines_are_read_and_a_partial_last_line_waits(remote: Remote) -> None:
    remote.write("app.log", lines(1, 2))
    assert remote.pull().stored == 2
    remote.append("app.log", lines(3) + b'{"@timestamp": "2026-03-01T00:00:04Z", "mess')
    summary = remote.pull()
    assert (summary.records, summary.stored, summary.bytes) == (1, 1, len(lines(3)))
    remote.append("app.log", b'age": "line 4"}\n')
    assert remote.pull().stored == 1
    again = remote.pull()
    assert (again.unchanged, again.records) == (1, 0)
    assert remote.messages() == ["line 1", "line 2", "line 3", "line 4"]


def test_a_file_whose_first_line_is_not_complete_waits(remote: Remote) -> None:
    remote.write("app.log", b'{"@timestamp": "2026-03-01T00:00:01Z",')
    summary = remote.pull()
    assert (summary.waiting, summary.records) == (1, 0)
    remote.write("app.log", lines(1))
    assert remote.pull().stored == 1


def test_rotation_by_rename_reads_the_rest_of_the_old_file_and_the_new_one(
        remote: Remote, caplog: pytest.LogCaptureFixture) -> None:
    remote.write("app.log", lines(1, 2))
    assert remote.pull(files=["/app.log*"]).stored == 2
    remote.append("app.log", lines(3))
    (remote.root / "app.log").rename(remote.root / "app.log.1")
    remote.write("app.log", lines(4))
    with caplog.at_level(logging.INFO, logger="collectors.sftp"):
        summary = remote.pull(files=["/app.log*"])
    # The renamed file keeps its identity: lines 1 and 2 are known, line 3 is all it adds.
    assert (summary.files, summary.stored, summary.duplicates) == (2, 2, 2)
    assert sorted(remote.messages()) == ["line 1", "line 2", "line 3", "line 4"]
    assert any(r.message.startswith("remote file rotated") for r in caplog.records)


def test_copytruncate_reads_the_new_content_from_its_start(remote: Remote) -> None:
    remote.write("app.log", lines(1, 2, 3))
    assert remote.pull().stored == 3
    remote.write("app.log", lines(10, 11))  # truncated in place, then written again
    summary = remote.pull()
    assert (summary.records, summary.stored) == (2, 2)
    assert sorted(remote.messages()) == ["line 1", "line 10", "line 11", "line 2", "line 3"]


def test_a_file_that_shrinks_or_is_rewritten_under_the_same_first_line(remote: Remote) -> None:
    remote.write("app.log", lines(1, 2, 3, 4))
    assert remote.pull().stored == 4
    # Shrunk, first line unchanged: the lines now at old offsets are new lines, not old ones.
    remote.write("app.log", lines(1, 5))
    summary = remote.pull()
    assert (summary.records, summary.stored) == (2, 2)
    # Rewritten again and grown past the old offset: the bytes before it tell the change.
    remote.write("app.log", lines(1, 6, 7, 8))
    assert remote.pull().stored == 4
    assert sorted(remote.messages()) == sorted(
        ["line 1"] * 3 + ["line 2", "line 3", "line 4", "line 5", "line 6", "line 7", "line 8"])


def test_a_missing_file_is_counted_and_its_checkpoint_kept(
        remote: Remote, caplog: pytest.LogCaptureFixture) -> None:
    remote.write("app.log", lines(1))
    remote.write("other.log", lines(2))
    files = ["/app.log", "/other.log", "/gone/*.log"]
    assert remote.pull(files=files).stored == 2
    puller = remote.puller()
    before = remote.store.get_checkpoint(puller.checkpoint_key("/app.log"))
    (remote.root / "app.log").unlink()
    remote.append("other.log", lines(3))
    with caplog.at_level(logging.WARNING, logger="collectors.sftp"):
        summary = remote.pull(files=files)
    assert (summary.missing, summary.stored) == (2, 1)
    assert remote.store.get_checkpoint(puller.checkpoint_key("/app.log")) == before
    assert {r.path for r in caplog.records if r.message == "remote file missing"} == {  # type: ignore[attr-defined]
        "/app.log", "/gone/*.log"}


def test_a_gzipped_rotated_copy_is_read_whole_once(remote: Remote) -> None:
    remote.write("app.log.2.gz", gzip.compress(lines(1, 2) + b'{"message": "no newline"'))
    summary = remote.pull(files=["/*.gz"])
    assert (summary.files, summary.records, summary.stored, summary.dead_lettered) == (
        1, 3, 2, 1)
    assert remote.pull(files=["/*.gz"]).unchanged == 1


def test_an_unknown_host_key_or_no_known_hosts_is_refused_saying_how_to_add_it(
        remote: Remote) -> None:
    other = asyncssh.generate_private_key("ssh-ed25519")
    remote.known_hosts.write_text(f"[127.0.0.1]:{remote.server.port} "
                                  f"{other.export_public_key().decode()}", encoding="utf-8")
    remote.write("app.log", lines(1))
    with pytest.raises(SftpError) as caught:
        remote.pull()
    message = str(caught.value)
    assert f"{USER}@127.0.0.1:{remote.server.port}: host key refused" in message
    assert f"ssh-keyscan -p {remote.server.port} 127.0.0.1 >> {remote.known_hosts}" in message
    assert remote.store.count(Collection.EVENTS, Query()) == 0
    remote.known_hosts.unlink()
    with pytest.raises(SftpError, match=f"known_hosts file {remote.known_hosts} does not exist; "
                                        f".*ssh-keyscan -p {remote.server.port} 127.0.0.1"):
        remote.pull()


def test_a_wrong_password_or_key_is_refused_and_no_secret_is_logged(
        remote: Remote, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    remote.write("app.log", lines(1))
    monkeypatch.setenv("SFTP_TEST_PASSWORD", "wrong-" + PASSWORD)
    with caplog.at_level(logging.DEBUG):
        with pytest.raises(SftpError) as wrong_password:
            remote.pull(key_file=None, password_env="SFTP_TEST_PASSWORD")
        with pytest.raises(SftpError) as wrong_key:
            remote.pull(key_file=str(remote.keys.stranger_file))
        monkeypatch.setenv("SFTP_TEST_PASSWORD", PASSWORD)
        assert remote.pull(key_file=None, password_env="SFTP_TEST_PASSWORD").stored == 1
    assert str(wrong_password.value) == (
        f"{USER}@127.0.0.1:{remote.server.port}: login refused for user {USER} (tried the "
        f"password in $SFTP_TEST_PASSWORD)")
    assert str(wrong_key.value) == (
        f"{USER}@127.0.0.1:{remote.server.port}: login refused for user {USER} (tried key file "
        f"{remote.keys.stranger_file})")
    assert caplog.records
    for record in caplog.records:
        assert PASSWORD not in record.getMessage()
        assert PASSWORD not in repr(vars(record))


def test_a_server_that_never_answers_times_out(remote: Remote) -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()  # the kernel completes TCP handshakes; nobody ever reads or writes
        started = time.monotonic()
        with pytest.raises(SftpError, match=r"connecting and logging in: no answer within 1 s"):
            remote.pull(port=silent.getsockname()[1], timeout="1s")
        assert time.monotonic() - started < 3


def test_a_read_that_hangs_times_out(remote: Remote) -> None:
    remote.write("app.log", lines(1))
    remote.server.read_delay = 30
    started = time.monotonic()
    with pytest.raises(SftpError, match=r"reading /app.log: no answer within 1 s"):
        remote.pull(timeout="1s")
    assert time.monotonic() - started < 4


PULL_IN_A_CHILD = """
import json, sys
from pathlib import Path
from collectors.sftp import SftpPuller
from soc.config import Settings, SftpSourceSettings
from soc.inventory import Inventory
from soc.pipeline import build_pipeline
from soc.store import open_store
server = SftpSourceSettings.model_validate(json.loads(sys.argv[1]))
settings = Settings(base_dir=Path(sys.argv[2]))
with open_store(sys.argv[3]) as store:
    pipeline = build_pipeline(settings, store, Inventory.empty())
    SftpPuller.from_settings(server, settings, store).pull(pipeline)
"""


def test_killed_while_storing_then_pulled_again_every_line_is_stored_once(
        remote: Remote, tmp_path: Path) -> None:
    count = 8000
    remote.write("app.log", lines(*range(count), size=1000))
    # Slow reads keep the child storing for a while, so the kill lands in the middle.
    remote.server.read_delay = 0.1
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SOC_")}
    child = subprocess.Popen(
        [sys.executable, "-c", PULL_IN_A_CHILD, json.dumps(remote.config()), str(tmp_path),
         remote.store.url], cwd=ROOT, env=environment, start_new_session=True,
        stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        stored = 0
        # Past the first batch, which the child writes itself: its store writer process is busy.
        while stored < 1500 and time.monotonic() < deadline and child.poll() is None:
            time.sleep(0.02)
            stored = remote.store.count(Collection.EVENTS, Query())
    finally:
        # The whole group: the child's store writer process dies with it, as in a crash.
        os.killpg(child.pid, signal.SIGKILL)
        _, stderr = child.communicate(timeout=10)
    assert 1500 <= stored < count, stderr.decode()[-2000:]
    remote.server.read_delay = 0
    summary = remote.pull()
    assert summary.records == count
    assert summary.stored + summary.duplicates == count
    assert remote.store.count(Collection.EVENTS, Query()) == count
    events = remote.store.search(Collection.EVENTS, Query(limit=10_000)).items
    assert sorted(int(e["message"].split()[1]) for e in events) == list(range(count))


def test_scheduled_pulls_run_per_server_and_a_failing_server_stops_no_other(
        remote: Remote, caplog: pytest.LogCaptureFixture) -> None:
    remote.write("app.log", lines(1, 2))
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        dead_port = closed.getsockname()[1]
    servers = [SftpSourceSettings.model_validate(remote.config(every="1h")),
               SftpSourceSettings.model_validate(remote.config(name="down", port=dead_port))]
    settings = remote.settings.model_copy(update={
        "collectors": remote.settings.collectors.model_copy(update={"sftp": servers})})
    scheduler = Scheduler()
    with caplog.at_level(logging.INFO):
        sources = SourceRegistry(remote.store)
        names = schedule_sftp_pulls(scheduler, settings, remote.store, remote.pipeline, sources)
        assert names == ["sftp:web1", "sftp:down"]
        with scheduler:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and not (
                    remote.store.count(Collection.EVENTS, Query()) == 2
                    and "sftp pull failed" in caplog.text):
                time.sleep(0.05)
    failed = [r for r in caplog.records if r.message == "sftp pull failed"]
    assert [(r.server, r.reason.split(": ")[0]) for r in failed] == [  # type: ignore[attr-defined]
        ("down", f"{USER}@127.0.0.1:{dead_port}")]
    assert remote.store.count(Collection.EVENTS, Query()) == 2
    pulled = sources.source("sftp:web1", "sftp").as_json()
    assert (pulled["received"], pulled["parsed"], pulled["dead_lettered"]) == (2, 2, 0)
    assert sources.source("sftp:down", "sftp").received == 0


def test_a_server_needs_a_key_file_or_a_password_variable(tmp_path: Path) -> None:
    config = tmp_path / "soc.yaml"
    config.write_text("collectors:\n  sftp:\n    - {host: h, user: u, files: [/a.log], "
                      "every: 0s}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(config, env={})
    assert str(caught.value).splitlines() == [
        f"{config}:3: collectors.sftp[0].password_env: set key_file or password_env (the name "
        f"of an environment variable holding the password)",
        f"{config}:3: collectors.sftp[0].every: must be longer than zero"]
