"""Plain text lines: each line becomes an event's `message`, timed when it was read."""

from __future__ import annotations

from typing import Any

from collectors.parsers import registry


@registry.register("text")
class TextLineParser:
    name = "text"
    timestamp_required = False
    keep_original = True

    def parse(self, raw: bytes) -> dict[str, Any]:
        return {"message": raw.decode("utf-8", "backslashreplace")}
