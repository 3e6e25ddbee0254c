"""An event's values made comparable (`FieldView`), and the virtual fields computed from them.

A rule's tests compare lower-case text, so the view lower-cases each field an event is tested
on once, on first use, however many rules test it. Virtual fields (`basename:<field>`,
`network/<prefix length>:<field>`) are derived the same way, for the index keys that use them.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator, Mapping
from typing import Any

# A virtual field: the network an address is in, `network/<prefix length>:<field>` (e.g.
# network/24:source.ip of 10.45.1.7 is 4/688768: the address's family and its first 24 bits).
# The slash keeps it apart from ECS's own network.* fields.
NETWORK = "network/"
# A virtual field: the last path component of a field's value, lower-case
# ("basename:process.executable" of C:\Windows\System32\CertUtil.exe is certutil.exe).
BASENAME = "basename:"


class FieldView(dict[str, Any]):
    """An event's values made comparable, computed on first use: lower-case text for scalars,
    a tuple of them for lists, None when absent. Keys are field names or `basename:<field>`."""

    __slots__ = ("event",)

    def __init__(self, event: Mapping[str, Any]) -> None:
        super().__init__()
        self.event = event

    def __missing__(self, key: str) -> Any:
        value = self.event.get(key)
        # The common cases first, inline: this runs for every field every event is tested on.
        if value.__class__ is str:
            value = value.casefold()
        elif value is not None:
            value = comparable(value)
        elif key.startswith(BASENAME):
            value = _basename(self[key[len(BASENAME):]])
        elif key.startswith(NETWORK):
            prefix, _, name = key[len(NETWORK):].partition(":")
            value = _network(self[name], int(prefix))
        self[key] = value
        return value


def source_field(name: str) -> str:
    """The event field a (possibly virtual) field is computed from."""
    if name.startswith(BASENAME):
        return name[len(BASENAME):]
    if name.startswith(NETWORK):
        return name.partition(":")[2]
    return name


def comparable(value: Any) -> Any:
    """Case-folded text (casefold, not lower: ſ is s and ς is σ, as a case-insensitive regular
    expression has them), a tuple of texts for a list (nested lists flattened), None for
    what has no text (absent, a mapping)."""
    if value is None:
        return None
    if isinstance(value, str):
        return value.casefold()
    if value.__class__ is int:
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return tuple(_texts(value))
    if isinstance(value, dict):
        return None
    return str(value).casefold()


def _texts(values: list[Any] | tuple[Any, ...]) -> Iterator[str]:
    for value in values:
        if isinstance(value, list | tuple):
            yield from _texts(value)
        elif value is not None and not isinstance(value, dict):
            yield comparable(value)


def _network(value: Any, prefix: int) -> Any:
    """`family/first bits` of an address (or of each of a list), None for what is not one."""
    if value.__class__ is tuple:
        return tuple(n for n in (_network(v, prefix) for v in value) if n is not None)
    if value.__class__ is not str:
        return None
    for family, bits in ((socket.AF_INET, 32), (socket.AF_INET6, 128)):
        try:
            number = int.from_bytes(socket.inet_pton(family, value))
        except OSError:
            continue
        return f"{bits // 8}/{number >> (bits - prefix)}" if prefix <= bits else None
    return None


def _basename(value: Any) -> Any:
    if isinstance(value, str):
        return value.rsplit("\\", 1)[-1].rsplit("/", 1)[-1]
    if isinstance(value, tuple):
        return tuple(_basename(v) for v in value)
    return None
