"""Safe YAML loading that remembers where each key and value stands, so errors name a line."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


@dataclass(frozen=True)
class YamlDocument:
    """A parsed YAML file: its data and its node tree, so a path into the data maps to a line."""

    path: Path
    data: Any
    root: yaml.Node | None

    def line_of(self, location: Sequence[str | int], at_key: bool = False) -> int | None:
        """The 1-based line of the deepest node reached by `location` (keys and list indices);
        with `at_key`, the line of the last key itself rather than of its value."""
        node = self.root
        line = node.start_mark.line + 1 if node is not None else None
        for index, step in enumerate(location):
            node = _child(node, step, at_key and index == len(location) - 1)
            if node is None:
                break
            line = node.start_mark.line + 1
        return line

    def where(self, location: Sequence[str | int], at_key: bool = False) -> str:
        """`file:line` for a location, or just the file when the line is unknown."""
        line = self.line_of(location, at_key)
        return f"{self.path}:{line}" if line else str(self.path)


def _child(node: yaml.Node | None, step: str | int, want_key: bool) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if key.value == str(step):
                # An empty value has no position of its own: report the key's line.
                empty = isinstance(value, yaml.ScalarNode) and not value.value
                return key if want_key or empty else value
        return None
    if isinstance(node, yaml.SequenceNode) and isinstance(step, int) and step < len(node.value):
        return node.value[step]
    return None


class YamlFileError(ValueError):
    """A YAML file is missing, unreadable or malformed; the message names file and line."""


def load_yaml(path: Path, what: str = "file") -> YamlDocument:
    """Read and parse a YAML file with the safe loader; YamlFileError says what went wrong."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise YamlFileError(f"{path}: {what} not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise YamlFileError(f"{path}: cannot read {what}: {exc}") from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise YamlFileError(f"{path}{line}: invalid YAML: {problem}") from None
    return YamlDocument(path=path, data=data, root=root)


def describe_location(location: Sequence[str | int]) -> str:
    """`agencies[3].networks[0]` from ('agencies', 3, 'networks', 0)."""
    text = ""
    for step in location:
        if isinstance(step, int):
            text += f"[{step}]"
        else:
            text += f".{step}" if text else str(step)
    return text or "(top level)"
