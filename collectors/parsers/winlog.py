"""Windows event logs as JSON lines (Winlogbeat, or NXLog's `to_json()`), mapped to ECS.

`winlog_to_ecs` is the one mapping of a Windows event to ECS. It takes the event in Winlogbeat's
`winlog` shape, which the NXLog reader here and the EVTX reader (collectors/evtx.py) build too,
so an event means the same whichever way it arrived. Every EventData field is kept under
`winlog.event_data.<Name>`, where pySigma's ECS Windows pipeline sends the rule fields it does
not rename; Security, Sysmon and PowerShell events get the ECS fields Winlogbeat's modules write
too (collectors/parsers/windows_events.py, windows_sysmon.py, windows_powershell.py).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import orjson

from collectors.parsers import registry
from collectors.parsers.jsonl import JsonLinesParser
from collectors.parsers.windows_common import ABSENT, process_id
from collectors.parsers.windows_events import enrich
from soc.errors import ParseError
from soc.events import flatten, unflatten

LEVELS = ("information", "critical", "error", "warning", "information", "verbose")
# The standard keyword bits of winmeta.xml, named as Event Viewer and Winlogbeat name them.
KEYWORDS = ((0x10000000000000, "Audit Failure"), (0x20000000000000, "Audit Success"),
            (0x40000000000000, "Correlation Hint"), (0x80000000000000, "Classic"))

# NXLog im_msvistalog's own fields → Winlogbeat `winlog` keys; every other field of an NXLog
# record is EventData (or UserData) that NXLog lifted to the top level.
NXLOG_FIELDS = {
    "Channel": "channel", "EventID": "event_id", "SourceName": "provider_name",
    "ProviderGuid": "provider_guid", "Hostname": "computer_name", "RecordNumber": "record_id",
    "Keywords": "keywords", "Version": "version", "Task": "task", "Category": "task",
    "OpcodeValue": "opcode", "Opcode": "opcode", "ActivityID": "activity_id",
    "RelatedActivityID": "related_activity_id", "ProcessID": "process.pid",
    "ThreadID": "process.thread.id", "UserID": "user.identifier", "AccountName": "user.name",
    "Domain": "user.domain", "AccountType": "user.type", "Severity": "level",
}
# NXLog's record of its own reading (when, by which module) and fields it derives from others.
NXLOG_IGNORED = frozenset({"EventTime", "@timestamp", "Message", "EventReceivedTime",
                           "SourceModuleName", "SourceModuleType", "SeverityValue", "EventType",
                           "ERROR_EVT_UNRESOLVED"})
NXLOG_AUDIT = {"AUDIT_SUCCESS": "Audit Success", "AUDIT_FAILURE": "Audit Failure"}
_NXLOG_LEVELS = {"info": "information", "debug": "verbose"}


@registry.register("winlog-json")
class WinlogJsonParser:
    """One Windows event per line, as Winlogbeat or NXLog `to_json()` writes it."""

    name = "winlog-json"
    timestamp_required = True
    keep_original = False

    def __init__(self) -> None:
        self._json = JsonLinesParser()

    def parse(self, raw: bytes) -> dict[str, Any]:
        document = self._json.parse(raw)
        if "winlog" in document or any(key.startswith("winlog.") for key in document):
            return _from_winlogbeat(flatten(document))
        return _from_nxlog(document)


def _from_winlogbeat(flat: dict[str, Any]) -> dict[str, Any]:
    for part in ("winlog.event_data", "winlog.user_data"):
        if part in flat:
            raise ParseError(f"{part}: expected an object, got {type(flat[part]).__name__}")
    winlog = unflatten({key[7:]: value for key, value in flat.items()
                        if key.startswith("winlog.")})
    if "event_id" not in winlog and "event.code" in flat:
        winlog["event_id"] = flat["event.code"]
    if "level" not in winlog and "log.level" in flat:
        winlog["level"] = flat["log.level"]
    # The beat's own metadata and ECS version describe the shipper, not the event; the data
    # fields are written anew from `winlog` below.
    kept = {key: value for key, value in flat.items()
            if not key.startswith(("@metadata.", "winlog.event_data.", "winlog.user_data."))
            and key != "ecs.version"}
    kept.update(winlog_to_ecs(winlog, flat.get("@timestamp"), flat.get("message")))
    return kept


def _from_nxlog(document: dict[str, Any]) -> dict[str, Any]:
    # In NXLOG_FIELDS' order, so the rendered Category and Opcode win over the numbers.
    system = {target: document[key] for key, target in NXLOG_FIELDS.items() if key in document}
    if "keywords" not in system and document.get("EventType") in NXLOG_AUDIT:
        system["keywords"] = [NXLOG_AUDIT[document["EventType"]]]
    winlog = unflatten(system)
    winlog["event_data"] = {key: value for key, value in document.items()
                            if key not in NXLOG_FIELDS and key not in NXLOG_IGNORED}
    timestamp = document.get("EventTime", document.get("@timestamp"))
    return winlog_to_ecs(winlog, timestamp, document.get("Message"))


def winlog_to_ecs(winlog: Mapping[str, Any], timestamp: Any,
                  message: Any = None) -> dict[str, Any]:
    """The flat ECS fields of one Windows event given in Winlogbeat's `winlog` shape.

    Reads channel, event_id (required), provider_name, provider_guid, computer_name, record_id,
    event_data, user_data, task, opcode, keywords, version, level, activity_id,
    related_activity_id, process.pid, process.thread.id and user.*; ParseError when the event
    id is missing or not a number, or a part has the wrong shape.
    """
    event_id = _integer(winlog.get("event_id"), "event id")
    if event_id is None:
        raise ParseError("no event id (winlog.event_id, event.code or EventID)")
    if not 0 <= event_id <= 0xFFFF:
        raise ParseError(f"event id {event_id} is out of range (0-65535)")
    out: dict[str, Any] = {"@timestamp": timestamp, "winlog.event_id": event_id,
                           "event.code": str(event_id)}
    channel = _scalar(winlog.get("channel"))
    if channel:
        out["winlog.channel"] = channel
        out["event.dataset"] = dataset(channel)
    provider = _scalar(winlog.get("provider_name"))
    if provider:
        out["winlog.provider_name"] = out["event.provider"] = provider
    computer = _scalar(winlog.get("computer_name"))
    if computer:
        out["winlog.computer_name"] = out["host.name"] = computer
    record = _integer(winlog.get("record_id"), "record id")
    if record is not None:
        out["winlog.record_id"] = record
    for key in ("provider_guid", "task", "opcode", "activity_id", "related_activity_id"):
        value = _scalar(winlog.get(key))
        if value:
            out[f"winlog.{key}"] = value
    _copy_system(winlog, out)
    if isinstance(message, str) and message:
        out["message"] = message
    data = _event_data(winlog.get("event_data"), out)
    user_data = winlog.get("user_data")
    if user_data is not None:
        if not isinstance(user_data, dict):
            raise ParseError(f"user_data: expected an object, got {type(user_data).__name__}")
        for key, value in flatten(user_data).items():
            out[f"winlog.user_data.{key}"] = value
        # UserData events (1102's LogFileCleared) carry what EventData would: read both.
        data = {**_usable(user_data), **data}
    enrich(event_id, (channel or "").lower(), data, out)
    return out


def dataset(channel: str) -> str:
    """`windows.<log>`: the channel, lower-case, without the Microsoft-Windows- prefix and the
    /Operational suffix (Security → windows.security, Sysmon's → windows.sysmon)."""
    name = channel.lower().removeprefix("microsoft-windows-").removesuffix("/operational")
    return "windows." + (re.sub(r"[^a-z0-9]+", "_", name).strip("_") or "unknown")


def _copy_system(winlog: Mapping[str, Any], out: dict[str, Any]) -> None:
    version = winlog.get("version")
    if isinstance(version, int) or (isinstance(version, str) and version.isdecimal()):
        out["winlog.version"] = int(version)
    keywords = _keywords(winlog.get("keywords"))
    if keywords:
        out["winlog.keywords"] = keywords
        if "Audit Failure" in keywords:
            out["event.outcome"] = "failure"
        elif "Audit Success" in keywords:
            out["event.outcome"] = "success"
    level = _level(winlog.get("level"))
    if level:
        out["log.level"] = level
    process = winlog.get("process")
    if isinstance(process, dict):
        pid = process_id(process.get("pid"))
        if pid is not None:
            out["winlog.process.pid"] = pid
        thread = process.get("thread")
        if isinstance(thread, dict) and (tid := process_id(thread.get("id"))) is not None:
            out["winlog.process.thread.id"] = tid
    user = winlog.get("user")
    if isinstance(user, dict):
        for key in ("identifier", "name", "domain", "type"):
            value = _scalar(user.get(key))
            if value and value not in ABSENT:
                out[f"winlog.user.{key}"] = value


def _event_data(value: Any, out: dict[str, Any]) -> dict[str, str]:
    """Writes every field as text (as the event's XML has it, and Winlogbeat writes it: one
    type per field whatever the source); returns the scalar ones, for the enrichments."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ParseError(f"event_data: expected an object, got {type(value).__name__}")
    for key, item in value.items():
        out[f"winlog.event_data.{key}"] = _text(item)
    return _usable(value)


def _usable(fields: Mapping[str, Any]) -> dict[str, str]:
    usable = {}
    for key, item in fields.items():
        if isinstance(item, str | int | float):
            text = _text(item)
            if text not in ABSENT:
                usable[key] = text
    return usable


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def _scalar(value: Any) -> str | None:
    return _text(value) if isinstance(value, str | int | float) else None


def _integer(value: Any, name: str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdecimal():
        return int(value)
    raise ParseError(f"{name} {_text(value)[:40]!r} is not a number")


def _keywords(value: Any) -> list[str]:
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    if isinstance(value, str):
        try:
            value = int(value, 0)
        except ValueError:
            return [value] if value else []
    if isinstance(value, int) and not isinstance(value, bool):
        return [name for bit, name in KEYWORDS if value & bit]
    return []


def _level(value: Any) -> str | None:
    if isinstance(value, int) and 0 <= value < len(LEVELS):
        return LEVELS[value]
    if isinstance(value, str) and value:
        if value.isdecimal():
            return _level(int(value))
        lower = value.lower()
        return _NXLOG_LEVELS.get(lower, lower)
    return None
