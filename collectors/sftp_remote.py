"""The asyncio-to-blocking bridge of the SFTP puller: a loop on its own thread, remote byte ranges
as streams, and the errors they raise (collectors/sftp.py re-exports SftpError)."""

from __future__ import annotations

import asyncio
import io
import threading
from collections.abc import Awaitable
from typing import Any, TypeVar

import asyncssh

from soc.errors import SocError

T = TypeVar("T")


class SftpError(SocError):
    """A pull from one server failed as a whole: connection, host key, login or timeout."""


class FileChangedError(Exception):
    """The remote file lost bytes while it was being read: it is read again next pull."""


class Loop:
    """An asyncio loop on a thread of its own: asyncssh speaks asyncio, the pipeline does not.

    The pull runs in the caller's thread and hands each SFTP step to the loop, with a timeout.
    """

    def __init__(self, timeout: float, where: str) -> None:
        self.timeout = timeout
        self.where = where
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="soc-sftp",
                                        daemon=True)
        self._thread.start()

    def run(self, step: Awaitable[T], doing: str) -> T:
        """The result of `step`; SftpError when it takes longer than the timeout."""
        future = asyncio.run_coroutine_threadsafe(asyncio.wait_for(step, self.timeout),
                                                  self._loop)
        try:
            return future.result()
        except TimeoutError:
            raise SftpError(f"{self.where}: {doing}: no answer within {self.timeout:g} s "
                            f"(timeout)") from None

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()


class RemoteStream(io.RawIOBase):
    """Bytes [start, end) of an open remote file as a blocking stream; one SFTP read per call."""

    def __init__(self, loop: Loop, remote: asyncssh.SFTPClientFile, path: str, start: int,
                 end: int) -> None:
        super().__init__()
        self._loop, self._remote, self._path = loop, remote, path
        self._start, self._position, self._end = start, start, end

    def readable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position - self._start

    def readinto(self, buffer: Any) -> int:
        wanted = min(len(buffer), self._end - self._position)
        if wanted <= 0:
            return 0
        data = self._loop.run(self._remote.read(wanted, self._position), f"reading {self._path}")
        if not data:
            raise FileChangedError(f"ended at byte {self._position}, not {self._end}")
        buffer[:len(data)] = data
        self._position += len(data)
        return len(data)

    def readall(self) -> bytes:
        # RawIOBase reads 8 KiB per call; the rest of the window in one request is faster.
        parts = []
        while part := self.read(self._end - self._position):
            parts.append(part)
        return b"".join(parts)
