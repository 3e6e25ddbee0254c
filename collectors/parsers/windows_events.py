"""Per-event-id enrichment of Windows events: the ECS fields Security and Sysmon events get.

Not a parser (it registers nothing): `collectors.parsers.winlog.winlog_to_ecs` calls `enrich`
once it has copied the event's own fields, with the event's scalar EventData.
"""

from __future__ import annotations

import re
from typing import Any

from soc.errors import NormaliseError
from soc.events import canonical_ip

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
# What Windows writes for "nothing here": the null SID, logon id and GUID stand for no account,
# session or process.
ABSENT = frozenset({"", "-", "S-1-0-0", "0x0", "{00000000-0000-0000-0000-000000000000}"})

_CN = re.compile(r"CN=((?:\\.|[^,\\])+)", re.IGNORECASE)


def process_id(value: Any) -> int | None:
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


def enrich(event_id: int, channel: str, data: dict[str, str], out: dict[str, Any]) -> None:
    """Adds to `out` the ECS fields of a Security or Sysmon event (by its id), the network ones
    of any event, and related.*; `channel` is lower-case, `data` the scalar EventData."""
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
    number = process_id(pid)
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
    if value and value not in ABSENT:
        out[field] = value
