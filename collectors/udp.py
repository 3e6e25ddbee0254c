"""UDP listening shared by the syslog and NetFlow listeners: a socket with a large receive
buffer, and the datagrams the kernel dropped for it (read from /proc/net/udp) counted."""

from __future__ import annotations

import logging
import socket
from pathlib import Path
from typing import Any

from soc.sources import SourceCounters

log = logging.getLogger(__name__)


def bound_udp_socket(address: tuple[str, int], buffer_bytes: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    # A large receive buffer absorbs bursts while the loop is busy; the kernel may cap it.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, buffer_bytes)
    sock.bind(address)
    sock.setblocking(False)
    return sock


class KernelDrops:
    """Counts, as dropped, the datagrams the kernel discarded for a full socket buffer."""

    def __init__(self, sock: socket.socket, counters: SourceCounters, what: str) -> None:
        self.inode = _socket_inode(sock)
        self.counters = counters
        self.what = what
        self.seen = _kernel_drops(self.inode)

    def check(self) -> None:
        drops = _kernel_drops(self.inode)
        if drops > self.seen:
            log.warning("the kernel dropped %s: the socket buffer was full", self.what,
                        extra={"dropped": drops - self.seen})
            self.counters.count(dropped=drops - self.seen)
            self.seen = drops


def address_text(address: Any) -> str:
    """`host:port`, or `[v6 host]:port`."""
    host, port = address[0], address[1]
    return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"


def _socket_inode(sock: socket.socket) -> str | None:
    try:
        return Path(f"/proc/self/fd/{sock.fileno()}").readlink().name[len("socket:["):-1]
    except OSError:
        return None


def _kernel_drops(inode: str | None) -> int:
    """Datagrams the kernel dropped for this socket (the last column of /proc/net/udp)."""
    if inode is None:
        return 0
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            with open(table) as lines:
                for line in lines:
                    fields = line.split()
                    if len(fields) > 12 and fields[9] == inode:
                        return int(fields[-1])
        except OSError:
            continue
    return 0
