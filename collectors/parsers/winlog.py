"""Windows event logs as JSON lines (Winlogbeat, or NXLog's `to_json()`), mapped to ECS.

`winlog_to_ecs` is the one mapping of a Windows event to ECS. It takes the event in Winlogbeat's
`winlog` shape, which the NXLog reader here and the EVTX reader (collectors/evtx.py) build too,
so an event means the same whichever way it arrived. Every EventData field is kept under
`winlog.event_data.<Name>`, where pySigma's ECS Windows pipeline sends the rule fields it does
not rename; the Security and Sysmon events operators care about get the usual ECS fields too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import orjson

from collectors.parsers import registry
from collectors.parsers.jsonl import JsonLinesParser
from soc.errors import NormaliseError, ParseError
from soc.events import canonical_ip, flatten, unflatten

SECURITY_CHANNEL = "security"
SYSMON_CHANNEL = "microsoft-windows-sysmon/operational"

Categorisation = tuple[tuple[str, ...], tuple[str, ...], str, str | None]

# (event.category, event.type, event.action, outcome when no audit keyword says) as Winlogbeat's
# security and sysmon modules set them, so what was written for Winlogbeat data reads ours too.
SECURITY_EVENTS: dict[int, Categorisation] = {
    1102: (("iam",), ("admin", "change"), "audit-log-cleared", "success"),
    4624: (("authentication",), ("start",), "logged-in", "success"),
    4625: (("authentication",), ("start",), "logon-failed", "failure"),
    4634: (("authentication",), ("end",), "logged-out", "success"),
    4647: (("authentication",), ("end",), "logged-out", "success"),
    4648: (("authentication",), ("start",), "logged-in-explicit", "success"),
    4672: (("iam",), ("admin",), "logged-in-special", "success"),
    4688: (("process",), ("start",), "created-process", "success"),
    4697: (("iam", "configuration"), ("admin", "change"), "service-installed", "success"),
    4698: (("iam", "configuration"), ("creation", "admin"), "scheduled-task-created", "success"),
    4720: (("iam",), ("user", "creation"), "added-user-account", "success"),
    4726: (("iam",), ("user", "deletion"), "deleted-user-account", "success"),
    4728: (("iam",), ("group", "change"), "added-member-to-group", "success"),
    4732: (("iam",), ("group", "change"), "added-member-to-group", "success"),
    4740: (("iam",), ("user", "change"), "locked-out-user-account", "success"),
    4756: (("iam",), ("group", "change"), "added-member-to-group", "success"),
    4768: (("authentication",), ("start",), "kerberos-authentication-ticket-requested", None),
    4769: (("authentication",), ("start",), "kerberos-service-ticket-requested", None),
    4771: (("authentication",), ("start",), "kerberos-preauth-failed", "failure"),
    4776: (("authentication",), ("start",), "credential-validated", None),
}
SYSMON_EVENTS: dict[int, Categorisation] = {
    1: (("process",), ("start",), "Process creation", None),
    3: (("network",), ("start", "connection", "protocol"), "Network connection", None),
    5: (("process",), ("end",), "Process terminated", None),
    11: (("file",), ("creation",), "FileCreate", None),
    22: (("network",), ("connection", "protocol", "info"), "DNSEvent (DNS query)", None),
}

# Events whose account is the Target* one (the Subject is the service that logged it).
_TARGET_ACCOUNT = frozenset({4624, 4625, 4634, 4647, 4768, 4769, 4771, 4776})
_GROUP_MEMBERSHIP = frozenset({4728, 4732, 4756})
# Sysmon events whose Hashes are of the process image; the others' are of a file.
_PROCESS_HASHES = frozenset({1, 23, 24, 25, 26})

LOGON_TYPES = {"0": "System", "2": "Interactive", "3": "Network", "4": "Batch", "5": "Service",
               "7": "Unlock", "8": "NetworkCleartext", "9": "NewCredentials",
               "10": "RemoteInteractive", "11": "CachedInteractive",
               "12": "CachedRemoteInteractive", "13": "CachedUnlock"}
LEVELS = ("information", "critical", "error", "warning", "information", "verbose")
# The standard keyword bits of winmeta.xml, named as Event Viewer and Winlogbeat name them.
KEYWORDS = ((0x10000000000000, "Audit Failure"), (0x20000000000000, "Audit Success"),
            (0x40000000000000, "Correlation Hint"), (0x80000000000000, "Classic"))
# What Windows writes for "nothing here": the null SID, logon id and GUID stand for no account,
# session or process.
_ABSENT = frozenset({"", "-", "S-1-0-0", "0x0", "{00000000-0000-0000-0000-000000000000}"})

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

_CN = re.compile(r"CN=((?:\\.|[^,\\])+)", re.IGNORECASE)


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
    _enrich(event_id, (channel or "").lower(), data, out)
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
        pid = _pid(process.get("pid"))
        if pid is not None:
            out["winlog.process.pid"] = pid
        thread = process.get("thread")
        if isinstance(thread, dict) and (tid := _pid(thread.get("id"))) is not None:
            out["winlog.process.thread.id"] = tid
    user = winlog.get("user")
    if isinstance(user, dict):
        for key in ("identifier", "name", "domain", "type"):
            value = _scalar(user.get(key))
            if value and value not in _ABSENT:
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
            if text not in _ABSENT:
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


def _pid(value: Any) -> int | None:
    """Security events write process ids in hex (0x1fc), Sysmon in decimal; 0 is no process."""
    if isinstance(value, int) and not isinstance(value, bool):
        number: int | None = value
    elif isinstance(value, str):
        text = value.strip().lower()
        try:
            number = int(text, 16) if text.startswith("0x") else int(text)
        except ValueError:
            number = None
    else:
        number = None
    return number if number and number > 0 else None


def _ip(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return canonical_ip(value)
    except NormaliseError:
        return None


def _port(value: str | None) -> int | None:
    # Windows writes 0 where no port applies (a local logon).
    number = int(value) if value and value.isdecimal() else 0
    return number if 0 < number < 65536 else None


def _enrich(event_id: int, channel: str, data: dict[str, str], out: dict[str, Any]) -> None:
    if channel == SECURITY_CHANNEL:
        known = SECURITY_EVENTS.get(event_id)
        _security(event_id, data, out)
    elif channel == SYSMON_CHANNEL:
        known = SYSMON_EVENTS.get(event_id)
        _sysmon(event_id, data, out)
    else:
        known = None
    if known:
        categories, types, action, outcome = known
        out["event.category"] = list(categories)
        out["event.type"] = list(types)
        out["event.action"] = action
        if outcome and "event.outcome" not in out:
            out["event.outcome"] = outcome
    _network(data, out)
    related = [out[key] for key in ("source.ip", "destination.ip") if key in out]
    related += out.get("dns.resolved_ip", [])
    if related:
        out["related.ip"] = list(dict.fromkeys(related))
    users = [out[key] for key in ("user.name", "user.target.name") if key in out]
    if users:
        out["related.user"] = list(dict.fromkeys(users))


def _security(event_id: int, data: dict[str, str], out: dict[str, Any]) -> None:
    target = event_id in _TARGET_ACCOUNT
    _account(data, "Target" if target else "Subject", "user", out)
    if event_id in (4648, 4720, 4726):
        _account(data, "Target", "user.target", out)
    elif event_id == 4740:
        # 4740's TargetDomainName is the caller computer: where the bad passwords came from.
        _set(out, "user.target.name", data.get("TargetUserName"))
        _set(out, "user.target.id", data.get("TargetSid"))
        _set(out, "source.domain", data.get("TargetDomainName"))
    elif event_id in _GROUP_MEMBERSHIP:
        _set(out, "group.name", data.get("TargetUserName"))
        _set(out, "group.domain", data.get("TargetDomainName"))
        _set(out, "group.id", data.get("TargetSid"))
        _set(out, "user.target.id", data.get("MemberSid"))
        member = _CN.match(data.get("MemberName", ""))
        if member:
            _set(out, "user.target.name", re.sub(r"\\(.)", r"\1", member.group(1)))
    logon = data.get("TargetLogonId" if target else "SubjectLogonId")
    _set(out, "winlog.logon.id", logon or data.get("SubjectLogonId"))
    if event_id == 4688:
        _process(out, "process", data.get("NewProcessName"), data.get("NewProcessId"))
        _set(out, "process.command_line", data.get("CommandLine"))
        _process(out, "process.parent", data.get("ParentProcessName"), data.get("ProcessId"))
    else:
        _process(out, "process", data.get("ProcessName"), data.get("ProcessId"))


def _sysmon(event_id: int, data: dict[str, str], out: dict[str, Any]) -> None:
    _process(out, "process", data.get("Image"), data.get("ProcessId"))
    _set(out, "process.entity_id", data.get("ProcessGuid"))
    user = data.get("User")
    if user:
        domain, _, name = user.rpartition("\\")
        _set(out, "user.name", name)
        _set(out, "user.domain", domain)
    _set(out, "rule.name", data.get("RuleName"))
    if event_id == 1:
        _set(out, "process.command_line", data.get("CommandLine"))
        _set(out, "process.working_directory", data.get("CurrentDirectory"))
        _process(out, "process.parent", data.get("ParentImage"), data.get("ParentProcessId"))
        _set(out, "process.parent.entity_id", data.get("ParentProcessGuid"))
        _set(out, "process.parent.command_line", data.get("ParentCommandLine"))
        for name, key in (("FileVersion", "file_version"), ("Description", "description"),
                          ("Product", "product"), ("Company", "company"),
                          ("OriginalFileName", "original_file_name")):
            _set(out, f"process.pe.{key}", data.get(name))
    elif event_id == 3:
        _set(out, "network.transport", (data.get("Protocol") or "").lower())
        if data.get("Initiated") in ("true", "false"):
            out["network.direction"] = "egress" if data["Initiated"] == "true" else "ingress"
        if data.get("SourceIsIpv6") in ("true", "false"):
            out["network.type"] = "ipv6" if data["SourceIsIpv6"] == "true" else "ipv4"
    elif event_id == 11:
        path = data.get("TargetFilename")
        if path:
            directory, _, name = path.rpartition("\\")
            out["file.path"] = path
            _set(out, "file.name", name)
            _set(out, "file.directory", directory)
    elif event_id == 22:
        _set(out, "dns.question.name", data.get("QueryName"))
        out["network.protocol"] = "dns"
        resolved = [ip for part in (data.get("QueryResults") or "").split(";")
                    if (ip := _ip(part.strip()))]
        if resolved:
            out["dns.resolved_ip"] = resolved
    _hashes(data.get("Hashes") or data.get("Hash"),
            "process" if event_id in _PROCESS_HASHES else "file", out)


def _network(data: dict[str, str], out: dict[str, Any]) -> None:
    """Addresses under the EventData names pySigma's ECS pipeline maps, whatever the event."""
    for name, field in (("IpAddress", "source.ip"), ("SourceIp", "source.ip"),
                        ("SourceAddress", "source.ip"), ("ClientAddress", "source.ip"),
                        ("DestinationIp", "destination.ip"), ("DestAddress", "destination.ip")):
        address = _ip(data.get(name))
        if address:
            out[field] = address
    for name, field in (("IpPort", "source.port"), ("SourcePort", "source.port"),
                        ("DestinationPort", "destination.port"), ("DestPort", "destination.port")):
        port = _port(data.get(name))
        if port:
            out[field] = port
    for name, field in (("WorkstationName", "source.domain"), ("SourceHostname", "source.domain"),
                        ("DestinationHostname", "destination.domain")):
        _set(out, field, data.get(name))
    if "LogonType" in data:
        out["winlog.logon.type"] = LOGON_TYPES.get(data["LogonType"], data["LogonType"])


def _account(data: dict[str, str], role: str, prefix: str, out: dict[str, Any]) -> None:
    _set(out, f"{prefix}.name", data.get(f"{role}UserName"))
    _set(out, f"{prefix}.domain", data.get(f"{role}DomainName"))
    _set(out, f"{prefix}.id", data.get(f"{role}UserSid") or data.get(f"{role}Sid"))


def _process(out: dict[str, Any], prefix: str, executable: str | None, pid: str | None) -> None:
    if executable:
        out[f"{prefix}.executable"] = executable
        out[f"{prefix}.name"] = executable.rpartition("\\")[2]
    number = _pid(pid)
    if number is not None:
        out[f"{prefix}.pid"] = number


def _hashes(value: str | None, owner: str, out: dict[str, Any]) -> None:
    """Sysmon's `SHA1=…,MD5=…,IMPHASH=…`: lower-case, all-zero (not computed) ones left out."""
    found = []
    for pair in (value or "").split(","):
        kind, _, digest = pair.partition("=")
        kind, digest = kind.strip().lower(), digest.strip().lower()
        if not kind or not digest or not digest.strip("0"):
            continue
        out[f"{owner}.pe.imphash" if kind == "imphash" else f"{owner}.hash.{kind}"] = digest
        found.append(digest)
    if found:
        out["related.hash"] = found


def _set(out: dict[str, Any], field: str, value: str | None) -> None:
    if value and value not in _ABSENT:
        out[field] = value
