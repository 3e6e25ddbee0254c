"""Per-event-id enrichment of Windows events: the ECS fields Security, Sysmon and PowerShell
events get, as Winlogbeat's security, sysmon and powershell modules write them, so that what was
written for Winlogbeat data (and pySigma's ECS Windows pipeline, which maps rules to it) reads
ours too.

Not a parser (it registers nothing): `collectors.parsers.winlog.winlog_to_ecs` calls `enrich`
once it has copied the event's own fields, with the event's scalar EventData. Sysmon and
PowerShell have modules of their own (windows_sysmon.py, windows_powershell.py).
"""

from __future__ import annotations

import re
from typing import Any

from collectors.parsers.windows_common import ip, process, set_field
from collectors.parsers.windows_powershell import CHANNELS as POWERSHELL_CHANNELS
from collectors.parsers.windows_powershell import powershell
from collectors.parsers.windows_sysmon import SYSMON_EVENTS, Categorisation, sysmon

__all__ = ["LOGON_TYPES", "SECURITY_EVENTS", "SYSMON_EVENTS", "enrich"]

SECURITY_CHANNEL = "security"
SYSMON_CHANNEL = "microsoft-windows-sysmon/operational"

# (event.category, event.type, event.action, outcome when no audit keyword says) as Winlogbeat's
# security module sets them.
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

# Events whose account is the Target* one (the Subject is the service that logged it).
_TARGET_ACCOUNT = frozenset({4624, 4625, 4634, 4647, 4768, 4769, 4771, 4776})
_GROUP_MEMBERSHIP = frozenset({4728, 4732, 4756})

LOGON_TYPES = {"0": "System", "2": "Interactive", "3": "Network", "4": "Batch", "5": "Service",
               "7": "Unlock", "8": "NetworkCleartext", "9": "NewCredentials",
               "10": "RemoteInteractive", "11": "CachedInteractive",
               "12": "CachedRemoteInteractive", "13": "CachedUnlock"}
_CN = re.compile(r"CN=((?:\\.|[^,\\])+)", re.IGNORECASE)


# Service types of 4697 (the SERVICE_* bits of the service's type, as Microsoft's 4697 page
# names them); another value is kept as it is.
SERVICE_TYPES = {"0x1": "Kernel Driver", "0x2": "File System Driver", "0x8": "Recognizer Driver",
                 "0x10": "Win32 Own Process", "0x20": "Win32 Share Process",
                 "0x50": "User Own Process", "0x60": "User Share Process",
                 "0x110": "Interactive Own Process", "0x120": "Interactive Share Process"}


def enrich(event_id: int, channel: str, data: dict[str, str], out: dict[str, Any]) -> None:
    """Adds to `out` the ECS fields of a Security, Sysmon or PowerShell event (by its id), the
    network ones of any event, and related.*; `channel` is lower-case, `data` the scalar
    EventData."""
    known: Categorisation | None = None
    if channel == SECURITY_CHANNEL:
        known = SECURITY_EVENTS.get(event_id)
        _security(event_id, data, out)
    elif channel == SYSMON_CHANNEL:
        known = SYSMON_EVENTS.get(event_id)
        sysmon(event_id, data, out)
    elif channel in POWERSHELL_CHANNELS:
        known = powershell(event_id, channel, data, out)
    if known:
        _categorise(known, out)
    _network(data, out)
    _related(out)


def _categorise(known: Categorisation, out: dict[str, Any]) -> None:
    categories, types, action, outcome = known
    if categories:
        out["event.category"] = list(categories)
    if types:
        out["event.type"] = list(types)
    if action:
        out["event.action"] = action
    if outcome and "event.outcome" not in out:
        out["event.outcome"] = outcome


def _related(out: dict[str, Any]) -> None:
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
        set_field(out, "user.target.name", data.get("TargetUserName"))
        set_field(out, "user.target.id", data.get("TargetSid"))
        set_field(out, "source.domain", data.get("TargetDomainName"))
    elif event_id in _GROUP_MEMBERSHIP:
        _group_membership(data, out)
    logon = data.get("TargetLogonId" if target else "SubjectLogonId")
    set_field(out, "winlog.logon.id", logon or data.get("SubjectLogonId"))
    if event_id == 4688:
        _process_creation(data, out)
    else:
        process(out, "process", data.get("ProcessName"), data.get("ProcessId"))
    if event_id == 4697:
        _service_installed(data, out)


def _group_membership(data: dict[str, str], out: dict[str, Any]) -> None:
    set_field(out, "group.name", data.get("TargetUserName"))
    set_field(out, "group.domain", data.get("TargetDomainName"))
    set_field(out, "group.id", data.get("TargetSid"))
    set_field(out, "user.target.id", data.get("MemberSid"))
    member = _CN.match(data.get("MemberName", ""))
    if member:
        set_field(out, "user.target.name", re.sub(r"\\(.)", r"\1", member.group(1)))


def _process_creation(data: dict[str, str], out: dict[str, Any]) -> None:
    process(out, "process", data.get("NewProcessName"), data.get("NewProcessId"))
    set_field(out, "process.command_line", data.get("CommandLine"))
    # Winlogbeat's security module writes ParentProcessName (a full path) to
    # process.parent.executable and its last component to process.parent.name; so does this.
    # pySigma's pipeline maps ParentProcessName to process.parent.name, so a SigmaHQ
    # `ParentProcessName|endswith: '\cmd.exe'` finds the bare name there and does not match:
    # a gap of the rule mapping (it would need process.parent.executable), not of the event.
    process(out, "process.parent", data.get("ParentProcessName"), data.get("ProcessId"))


def _service_installed(data: dict[str, str], out: dict[str, Any]) -> None:
    """4697: service.name and service.type. The service file name (its command line, with
    arguments) has no ECS field: it stays winlog.event_data.ServiceFileName, where pySigma's
    pipeline sends ServiceFileName and Elastic's own rules read it."""
    set_field(out, "service.name", data.get("ServiceName"))
    kind = data.get("ServiceType")
    if kind:
        try:
            key = hex(int(kind, 16))  # 0x00000010 and 0x10 alike
        except ValueError:
            key = kind
        out["service.type"] = SERVICE_TYPES.get(key, kind)


def _network(data: dict[str, str], out: dict[str, Any]) -> None:
    """Addresses under the EventData names pySigma's ECS pipeline maps, whatever the event. An
    IpAddress or WorkstationName of `-` (no address) is no field, as in Winlogbeat."""
    for name, field in (("IpAddress", "source.ip"), ("SourceIp", "source.ip"),
                        ("SourceAddress", "source.ip"), ("ClientAddress", "source.ip"),
                        ("DestinationIp", "destination.ip"), ("DestAddress", "destination.ip")):
        address = ip(data.get(name))
        if address:
            out[field] = address
    for name, field in (("IpPort", "source.port"), ("SourcePort", "source.port"),
                        ("DestinationPort", "destination.port"), ("DestPort", "destination.port")):
        port = _port(data.get(name))
        if port:
            out[field] = port
    for name, field in (("WorkstationName", "source.domain"), ("SourceHostname", "source.domain"),
                        ("DestinationHostname", "destination.domain")):
        set_field(out, field, data.get(name))
    if "LogonType" in data:
        out["winlog.logon.type"] = LOGON_TYPES.get(data["LogonType"], data["LogonType"])


def _port(value: str | None) -> int | None:
    # Windows writes 0 where no port applies (a local logon).
    number = int(value) if value and value.isdecimal() else 0
    return number if 0 < number < 65536 else None


def _account(data: dict[str, str], role: str, prefix: str, out: dict[str, Any]) -> None:
    set_field(out, f"{prefix}.name", data.get(f"{role}UserName"))
    set_field(out, f"{prefix}.domain", data.get(f"{role}DomainName"))
    set_field(out, f"{prefix}.id", data.get(f"{role}UserSid") or data.get(f"{role}Sid"))
