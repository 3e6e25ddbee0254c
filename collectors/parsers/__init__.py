"""Message parsers, one module per format, found by name: `parsers.get("jsonl")`."""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any, Protocol

from soc.plugins import Registry


class Parser(Protocol):
    """Turns one raw record into a (nested or dotted) ECS mapping, or raises ParseError."""

    name: str
    # False for formats that carry no time of their own: the receive time stands in.
    timestamp_required: bool
    # False when the parsed fields are the whole record (JSON): no log.original copy is kept.
    keep_original: bool

    def parse(self, raw: bytes) -> dict[str, Any]: ...


registry: Registry[type[Parser]] = Registry("format")


def get(name: str) -> Parser:
    """A parser instance for a format name; ConfigError listing the known names otherwise."""
    return registry.get(name)()


def names() -> list[str]:
    return registry.names()


def _register_builtins() -> None:
    # Every module of this package registers its parsers on import: a new format is one new
    # module, with no list to keep in step.
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")


_register_builtins()

__all__ = ["Parser", "get", "names", "registry"]
