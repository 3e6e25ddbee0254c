"""The ECS fields of Sysmon events (Microsoft-Windows-Sysmon/Operational), as Winlogbeat's sysmon
module writes them (x-pack/winlogbeat/module/sysmon/ingest/sysmon.yml), and so where pySigma's
ECS Windows pipeline looks for the EventData names rules use. Not a parser: windows_events.enrich
calls `sysmon` with the event's scalar EventData.
"""

from __future__ import annotations

import re
from typing import Any

from collectors.parsers.windows_common import (
    account,
    file_path,
    hashes,
    ip,
    process,
    process_id,
    set_bool,
    set_field,
)

Categorisation = tuple[tuple[str, ...], tuple[str, ...], str | None, str | None]

_PROCESS = ("process",)
_FILE = ("file",)
_REGISTRY = ("configuration", "registry")
# (event.category, event.type, event.action, event.outcome) of each event id, as Winlogbeat's
# sysmon module sets them (24 has no category, 255 no type).
SYSMON_EVENTS: dict[int, Categorisation] = {
    1: (_PROCESS, ("start",), "Process creation", None),
    2: (_FILE, ("change",), "A process changed a file creation time", None),
    3: (("network",), ("start", "connection", "protocol"), "Network connection", None),
    4: (_PROCESS, ("change",), "Sysmon service state changed", None),
    5: (_PROCESS, ("end",), "Process terminated", None),
    6: (("driver",), ("start",), "Driver loaded", None),
    7: (_PROCESS, ("change",), "Image loaded", None),
    8: (_PROCESS, ("change",), "CreateRemoteThread", None),
    9: (_PROCESS, ("access",), "RawAccessRead", None),
    10: (_PROCESS, ("access",), "ProcessAccess", None),
    11: (_FILE, ("creation",), "FileCreate", None),
    12: (_REGISTRY, ("change",), "RegistryEvent (Object create and delete)", None),
    13: (_REGISTRY, ("change",), "RegistryEvent (Value Set)", None),
    14: (_REGISTRY, ("change",), "RegistryEvent (Key and Value Rename)", None),
    15: (_FILE, ("access",), "FileCreateStreamHash", None),
    16: (("configuration",), ("change",), "ServiceConfigurationChange", None),
    17: (_FILE, ("creation",), "PipeEvent (Pipe Created)", None),
    18: (_FILE, ("access",), "PipeEvent (Pipe Connected)", None),
    19: (_PROCESS, ("info",), "WmiEvent (WmiEventFilter activity detected)", None),
    20: (_PROCESS, ("change",), "WmiEvent (WmiEventConsumer activity detected)", None),
    21: (_PROCESS, ("access",), "WmiEvent (WmiEventConsumerToFilter activity detected)", None),
    22: (("network",), ("connection", "protocol", "info"), "DNSEvent (DNS query)", None),
    23: (_FILE, ("deletion",), "FileDelete (File Delete archived)", None),
    24: ((), ("change",), "ClipboardChange (New content in the clipboard)", None),
    25: (_PROCESS, ("change",), "ProcessTampering (Process image change)", None),
    26: (_FILE, ("deletion",), "FileDeleteDetected (File Delete logged)", None),
    27: (_FILE, ("creation",), "FileBlockExecutable", "failure"),
    28: (_FILE, ("deletion",), "FileBlockShredding", None),
    29: (_FILE, ("creation",), "FileExecutableDetected", None),
    255: (_PROCESS, (), "Error", "failure"),
}

# Whose Hashes an event carries: the process image's, or the file's (driver, image, stream).
_PROCESS_HASHES = frozenset({1, 23, 24, 25, 26})
_FILE_HASHES = frozenset({6, 7, 15, 29})
_REGISTRY_EVENTS = frozenset({12, 13, 14})
# The version resource of the image: the process's in 1, the loaded module's in 7 (image load).
_PE = (("FileVersion", "file_version"), ("Description", "description"), ("Product", "product"),
       ("Company", "company"), ("OriginalFileName", "original_file_name"))
_PE_OWNER = {1: "process", 7: "file"}
_HIVES = {"HKEY_CLASSES_ROOT": "HKCR", "HKCR": "HKCR", "HKEY_CURRENT_CONFIG": "HKCC",
          "HKCC": "HKCC", "HKEY_CURRENT_USER": "HKCU", "HKCU": "HKCU", "HKEY_DYN_DATA": "HKDD",
          "HKDD": "HKDD", "HKEY_LOCAL_MACHINE": "HKLM", "HKLM": "HKLM",
          "HKEY_PERFORMANCE_DATA": "HKPD", "HKPD": "HKPD", "HKEY_USERS": "HKU", "HKU": "HKU"}
_DWORD = re.compile(r"DWORD \((0x[0-9A-F]{8})\)", re.IGNORECASE)
_QWORD = re.compile(r"QWORD \((0x[0-9A-F]{8})-(0x[0-9A-F]{8})\)", re.IGNORECASE)


def sysmon(event_id: int, data: dict[str, str], out: dict[str, Any]) -> None:
    """Adds the ECS fields of one Sysmon event to `out`."""
    _actor(data, out)
    if event_id == 1:
        _process_creation(data, out)
    elif event_id == 3:
        _connection(data, out)
    elif event_id == 22:
        _dns_query(data, out)
    elif event_id in _REGISTRY_EVENTS:
        _registry(data, out)
    elif event_id == 25 and "message" not in out:
        # Winlogbeat makes the tampering Type ("Image is replaced") the message; a rendered
        # message, when the event came with one, says more and stays.
        set_field(out, "message", data.get("Type"))
    _file(event_id, data, out)
    owner = ("process" if event_id in _PROCESS_HASHES
             else "file" if event_id in _FILE_HASHES else None)
    if owner:
        hashes(data.get("Hashes") or data.get("Hash"), owner, out)
    set_bool(out, "sysmon.file.archived", data.get("Archived"))
    set_bool(out, "sysmon.file.is_executable", data.get("IsExecutable"))


def _actor(data: dict[str, str], out: dict[str, Any]) -> None:
    """The process that acted: Image, or for process access and remote threads (8, 10) the
    Source* one, or for a WMI consumer (20) its Destination (which Winlogbeat and the pipeline
    both take for process.executable); the TargetImage stays winlog.event_data.TargetImage."""
    executable = data.get("Image") or data.get("SourceImage") or data.get("Destination")
    process(out, "process", executable, data.get("ProcessId") or data.get("SourceProcessId"))
    set_field(out, "process.entity_id", data.get("ProcessGuid") or data.get("SourceProcessGuid")
              or data.get("SourceProcessGUID"))
    thread = process_id(data.get("SourceThreadId"))
    if thread is not None:
        out["process.thread.id"] = thread
    account(out, "user", data.get("User"))
    set_field(out, "rule.name", data.get("RuleName"))


def _process_creation(data: dict[str, str], out: dict[str, Any]) -> None:
    set_field(out, "process.command_line", data.get("CommandLine"))
    set_field(out, "process.working_directory", data.get("CurrentDirectory"))
    process(out, "process.parent", data.get("ParentImage"), data.get("ParentProcessId"))
    set_field(out, "process.parent.entity_id", data.get("ParentProcessGuid"))
    set_field(out, "process.parent.command_line", data.get("ParentCommandLine"))


def _connection(data: dict[str, str], out: dict[str, Any]) -> None:
    set_field(out, "network.transport", (data.get("Protocol") or "").lower())
    if data.get("Initiated") in ("true", "false"):
        out["network.direction"] = "egress" if data["Initiated"] == "true" else "ingress"
    if data.get("SourceIsIpv6") in ("true", "false"):
        out["network.type"] = "ipv6" if data["SourceIsIpv6"] == "true" else "ipv4"


def _dns_query(data: dict[str, str], out: dict[str, Any]) -> None:
    set_field(out, "dns.question.name", data.get("QueryName"))
    out["network.protocol"] = "dns"
    resolved = [address for part in (data.get("QueryResults") or "").split(";")
                if (address := ip(part.strip()))]
    if resolved:
        out["dns.resolved_ip"] = resolved


def _file(event_id: int, data: dict[str, str], out: dict[str, Any]) -> None:
    """The file an event is about (created, deleted, streamed, loaded as a driver or module, read
    raw), a named pipe's name, and the signature and version resource of a loaded image."""
    file_path(out, data.get("ImageLoaded") or data.get("Device") or data.get("TargetFilename"))
    set_field(out, "file.name", data.get("PipeName"))
    set_field(out, "file.code_signature.subject_name", data.get("Signature"))
    set_field(out, "file.code_signature.status", data.get("SignatureStatus"))
    set_bool(out, "file.code_signature.signed", data.get("Signed"))
    if data.get("SignatureStatus") == "Valid":
        out["file.code_signature.valid"] = True
    # Winlogbeat reads these from any event but 7 as the process's; only 1 has them (255's
    # Description is the error's, which the pipeline leaves in winlog.event_data).
    owner = _PE_OWNER.get(event_id)
    for name, key in _PE if owner else ():
        set_field(out, f"{owner}.pe.{key}", data.get(name))


def _registry(data: dict[str, str], out: dict[str, Any]) -> None:
    """registry.path (TargetObject) and, as Winlogbeat splits it, hive, key and value (the last
    component of the path); registry.data from Details, what a value set (13) wrote."""
    path = data.get("TargetObject")
    if not path:
        return
    out["registry.path"] = path
    parts = path.rstrip("\\").split("\\")
    hive = _HIVES.get(parts[0].upper())
    if hive:
        out["registry.hive"] = hive
        if len(parts) > 1:
            out["registry.key"] = "\\".join(parts[1:])
    set_field(out, "registry.value", parts[-1])
    written = _registry_data(data.get("Details"))
    if written:
        out["registry.data.strings"] = [written[0]]
        out["registry.data.type"] = written[1]


def _registry_data(details: str | None) -> tuple[str, str] | None:
    """(value, type) of Sysmon's Details, named as Winlogbeat names them: DWORD (0x0000002a) is
    "42" of SZ_DWORD, QWORD (0x00000001-0x00000000) is high and low halves, a text REG_SZ."""
    if not details:
        return None
    if match := _DWORD.fullmatch(details):
        return str(int(match.group(1), 16)), "SZ_DWORD"
    if match := _QWORD.fullmatch(details):
        # Winlogbeat shifts the high half by 8 bits, not 32: a bug not copied here.
        return str((int(match.group(1), 16) << 32) + int(match.group(2), 16)), "SZ_QWORD"
    return details, "REG_BINARY" if details == "Binary Data" else "REG_SZ"
