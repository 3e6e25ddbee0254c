"""Structured logging: JSON lines when stderr is not a terminal, short text when it is.

Secrets never reach the log: values of keys that look secret are masked, and credentials are
removed from URLs.
"""

from __future__ import annotations

import logging
import re
import sys
import time
from typing import Any

import orjson

SECRET_KEY = re.compile(r"pass|secret|token|api_?key|authorization|credential", re.IGNORECASE)
URL_CREDENTIALS = re.compile(r"(?<=://)[^/@\s]+@")
# Record attributes that are not extra fields; uvicorn adds an ANSI-coloured copy of its message.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "color_message"}


def redact_url(url: str) -> str:
    """`https://user:pw@host` → `https://***@host`."""
    return URL_CREDENTIALS.sub("***@", url)


def _clean(key: str, value: Any) -> Any:
    if SECRET_KEY.search(key):
        return "***"
    if isinstance(value, str):
        return redact_url(value)
    return value


class JsonFormatter(logging.Formatter):
    converter = time.gmtime

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact_url(record.getMessage()),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD:
                entry[key] = _clean(key, value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


class TextFormatter(logging.Formatter):
    converter = time.gmtime

    def format(self, record: logging.LogRecord) -> str:
        extras = " ".join(f"{k}={_clean(k, v)}" for k, v in vars(record).items()
                          if k not in _STANDARD)
        line = f"{record.levelname.lower():7} {record.name}: {redact_url(record.getMessage())}"
        return f"{line} {extras}" if extras else line



def configure_logging(level: str = "info", fmt: str = "auto") -> None:
    """Send the product's logs to stderr in the chosen format (auto: JSON unless a terminal)."""
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if use_json else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Libraries that narrate every connection step and job run: their warnings are enough.
    for chatty in ("asyncssh", "apscheduler"):
        logging.getLogger(chatty).setLevel(max(logging.WARNING, root.level))
