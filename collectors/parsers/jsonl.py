"""JSON lines: one JSON object per line, ECS (nested or dotted keys) or any other shape.

Objects that are not ECS keep their keys; a time under a usual name (`timestamp`, `time`, …)
becomes `@timestamp`.
"""

from __future__ import annotations

from typing import Any

import orjson

from collectors.parsers import registry
from soc.errors import ParseError

TIME_KEYS = ("timestamp", "time", "ts", "datetime", "date", "EventTime", "eventTime", "@t")


@registry.register("jsonl")
class JsonLinesParser:
    name = "jsonl"
    timestamp_required = True
    keep_original = False

    def parse(self, raw: bytes) -> dict[str, Any]:
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise ParseError(_explain(raw, exc)) from None
        if not isinstance(value, dict):
            raise ParseError(f"expected a JSON object, got {type(value).__name__}")
        if "@timestamp" not in value:
            for key in TIME_KEYS:
                if key in value:
                    value["@timestamp"] = value[key]
                    break
        return value


def _explain(raw: bytes, exc: orjson.JSONDecodeError) -> str:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as bad:
        return f"invalid UTF-8 at byte {bad.start} (JSON text must be UTF-8)"
    return f"invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
