"""The rule content shipped in rules/sigma/, run by the engine on log lines in their native formats.

Every shipped rule has a data file in tests/rules/data/shipped/ that fires it and one that does
not (usually a near miss: one event short of a threshold, the wrong order, a filtered case).
Each file goes the way a collector's lines go: its format's parser, the event normaliser, the
inventory's tags (agencies, network.direction, network.policy), then the whole shipped rule set.
What every file raises is asserted exactly (which rules, how many alerts, which lines), so a new
rule that also fires on another rule's data shows up here.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from collectors import parsers
from collectors.files import read_file
from rules.alerts import LEVELS
from rules.engine import RuleEngine
from rules.sigma_rules import SHIPPED_RULES, RuleSet, load_rule_paths
from soc.events import EventNormaliser
from soc.inventory import Inventory, load_inventory
from soc.timeutil import load_zone

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).resolve().parent / "data" / "shipped"
# After the last line of every file (they run from 09:00 to 12:10 in Asia/Ho_Chi_Minh): the
# year of auth.log lines is inferred from it, and no event lies in the future.
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
# The data files' format, by the folder of their log source and their suffix.
FORMATS = {
    ("linux", ".log"): "sshd",
    ("windows", ".jsonl"): "winlog-json",
    ("web", ".log"): "nginx",
    ("network", ".log"): "zeek",
    ("network", ".jsonl"): "jsonl",
    ("dns", ".log"): "zeek",
    ("dns", ".jsonl"): "jsonl",
    ("ids", ".json"): "suricata",
}
LOGSOURCE_FOLDERS = ("windows", "linux", "web", "network", "dns", "ids")
TECHNIQUE = re.compile(r"^attack\.(t\d{4}(?:\.\d{3})?)$")
# ATT&CK tactics as the Sigma v2 tags appendix names them (hyphens, ATT&CK's short names).
TACTICS = frozenset({
    "reconnaissance", "resource-development", "initial-access", "execution", "persistence",
    "privilege-escalation", "defense-evasion", "credential-access", "discovery",
    "lateral-movement", "collection", "command-and-control", "exfiltration", "impact"})


@dataclass(frozen=True)
class Inner:
    """An alert of a silent correlation that another correlation chains: the outer alert
    names the events behind it (`rule` raised on those `lines`) in its event ids."""

    rule: str
    lines: tuple[int, ...]


@dataclass(frozen=True)
class Expected:
    """One alert: the rule (by Sigma name), the data lines of its events, and for correlations
    what `alert.matches` says (the group-by values and the aggregate)."""

    rule: str
    lines: tuple[int | Inner, ...]
    matches: dict[str, Any] | None = None


@dataclass(frozen=True)
class Case:
    """A shipped rule, the file that fires it with every alert it raises, and the file that
    does not fire it with every alert that one raises (usually none)."""

    rule: str
    fires: tuple[Expected, ...]
    quiet: tuple[Expected, ...] = ()


def lines(first: int, last: int, step: int = 1) -> tuple[int, ...]:
    return tuple(range(first, last + 1, step))


def single(rule: str, *numbers: int) -> tuple[Expected, ...]:
    """One detection alert per line."""
    return tuple(Expected(rule, (n,)) for n in numbers)


CASES = [
    # ------------------------------------------------------------------ linux
    Case("ssh_brute_force", (
        Expected("ssh_brute_force", lines(4, 31, 3),
                 {"source.ip": "203.0.113.45", "count": 10}),)),
    Case("ssh_password_spraying", (
        # Five user names reach the threshold; the sixth opens a new window, which stays short.
        Expected("ssh_password_spraying", lines(3, 19, 4),
                 {"source.ip": "198.51.100.23", "distinct.user.name": 5}),)),
    Case("ssh_login_after_failures", (
        Expected("ssh_login_after_failures", (Inner("ssh_repeated_failed_logins", lines(1, 5)), 7),
                 {"source.ip": "185.220.101.7",
                  "rules": ["ssh_repeated_failed_logins", "ssh_successful_login"]}),)),
    # ------------------------------------------------------------------ windows
    Case("win_logon_brute_force", (
        Expected("win_logon_brute_force", lines(2, 11),
                 {"source.ip": "203.0.113.80", "count": 10}),)),
    Case("win_logon_password_spraying", (
        Expected("win_logon_password_spraying", lines(1, 5),
                 {"source.ip": "10.45.101.23", "distinct.user.name": 5}),)),
    Case("win_user_account_created", single("win_user_account_created", 2)),
    Case("win_admin_group_member_added", single("win_admin_group_member_added", 1, 2, 3, 4)),
    Case("win_new_admin_account", (
        Expected("win_user_account_created", (1,)),
        Expected("win_admin_group_member_added", (2,)),
        Expected("win_new_admin_account", (1, 2), {
            "user.target.id": "S-1-5-21-3623811015-3361044348-30300820-1190",
            "rules": ["win_user_account_created", "win_admin_group_member_added"]}),
    ), quiet=(
        # generate: true keeps the two base rules' own alerts; the correlation stays quiet.
        *single("win_user_account_created", 1), *single("win_admin_group_member_added", 2),
        *single("win_user_account_created", 3), *single("win_admin_group_member_added", 4),
    )),
    # Line 1 of each is a Sysmon event 1 (Image, OriginalFileName), line 2 a Security 4688
    # (NewProcessName, no OriginalFileName): both ways a process start is logged.
    Case("win_powershell_encoded_command", single("win_powershell_encoded_command", 1, 2)),
    Case("win_powershell_download_cradle", single("win_powershell_download_cradle", 1, 2)),
    Case("win_powershell_hidden_noprofile", single("win_powershell_hidden_noprofile", 1, 2)),
    Case("win_lolbin_certutil_download", single("win_lolbin_certutil_download", 1, 2)),
    Case("win_lolbin_mshta_remote", single("win_lolbin_mshta_remote", 1, 2)),
    Case("win_lolbin_regsvr32_scriptlet", single("win_lolbin_regsvr32_scriptlet", 1, 2)),
    Case("win_lolbin_rundll32_javascript", single("win_lolbin_rundll32_javascript", 1, 2)),
    Case("win_lolbin_bitsadmin_transfer", single("win_lolbin_bitsadmin_transfer", 1, 2)),
    # ------------------------------------------------------------------ web
    Case("web_sql_injection", single("web_sql_injection", 2, 3, 4, 5)),
    Case("web_path_traversal", single("web_path_traversal", 2, 3, 4, 5)),
    Case("web_webshell_access", single("web_webshell_access", 2, 3, 4)),
    Case("web_scanner_user_agent", single("web_scanner_user_agent", 1, 2, 3, 4)),
    # ------------------------------------------------------------------ network
    Case("net_port_scan_horizontal", (
        Expected("net_port_scan_horizontal", lines(1, 20),
                 {"source.ip": "10.45.105.23", "destination.port": 445,
                  "distinct.destination.ip": 20}),)),
    Case("net_port_scan_vertical", (
        # Twenty-five ports probed: one alert at the twentieth, the rest start a new window.
        Expected("net_port_scan_vertical", lines(1, 20),
                 {"source.ip": "203.0.113.99", "destination.ip": "10.45.1.10",
                  "distinct.destination.port": 20}),)),
    Case("net_icmp_host_sweep", (
        Expected("net_icmp_host_sweep", lines(1, 20),
                 {"source.ip": "10.45.13.50", "distinct.destination.ip": 20}),)),
    Case("net_internal_host_sweep", (
        Expected("net_internal_host_sweep", lines(1, 50),
                 {"source.ip": "10.45.16.77", "distinct.destination.ip": 50}),)),
    Case("net_beaconing", (
        Expected("net_beaconing", lines(1, 60),
                 {"source.ip": "10.45.102.15", "destination.ip": "198.51.100.200",
                  "destination.port": 443, "count": 60}),)),
    Case("net_unapproved_inter_agency_connection",
         single("net_unapproved_inter_agency_connection", 1, 2)),
    Case("net_outbound_smb_rdp_telnet", single("net_outbound_smb_rdp_telnet", 1, 2, 3, 4)),
    # ------------------------------------------------------------------ dns
    # The captured responses (lines 2 and 4) carry the same name and are left out.
    Case("dns_tunnelling_long_label", single("dns_tunnelling_long_label", 1, 3)),
    Case("dns_tunnelling_encoded_labels", single("dns_tunnelling_encoded_labels", 2, 3)),
    Case("dns_tunnelling_many_unique_names", (
        Expected("dns_tunnelling_many_unique_names", lines(1, 30),
                 {"source.ip": "10.45.108.40", "distinct.dns.question.name": 30}),)),
    # ------------------------------------------------------------------ ids
    Case("suricata_high_severity_alert", single("suricata_high_severity_alert", 1, 4)),
]

# Rules that raise nothing of their own in the shipped set (correlations use them, and do not
# say `generate: true`): each alone, with the rules it needs, on a file of the correlation's,
# and the lines it matches there.
BUILDING_BLOCKS = [
    ("ssh_failed_login", (), "linux/ssh_brute_force.fire.log", lines(4, 31, 3)),
    ("ssh_successful_login", (), "linux/ssh_login_after_failures.fire.log", (7,)),
    ("ssh_repeated_failed_logins", ("ssh_failed_login",),
     "linux/ssh_login_after_failures.fire.log", (lines(1, 5),)),
    ("win_failed_remote_logon", (), "windows/win_logon_brute_force.fire.jsonl", lines(2, 11)),
    # The loopback (lines 10-19), console (20-31) and address-less (32-41) failures are left
    # out.
    ("win_failed_remote_logon", (), "windows/win_logon_brute_force.quiet.jsonl", lines(1, 9)),
    # Outbound HTTPS (lines 20-44) is left out.
    ("net_connection_attempt", (), "network/net_port_scan_horizontal.quiet.log", lines(1, 19)),
    ("net_icmp_flow", (), "network/net_icmp_host_sweep.fire.jsonl", lines(1, 22)),
    ("net_flow_to_province", (), "network/net_internal_host_sweep.fire.jsonl", lines(1, 55)),
    ("net_small_outbound_flow", (), "network/net_beaconing.fire.log", lines(1, 60)),
    # The large downloads (three lines in four up to line 94) are left out.
    ("net_small_outbound_flow", (), "network/net_beaconing.quiet.log",
     (*lines(1, 93, 4), *lines(95, 130))),
    ("dns_query_long_first_label", (), "dns/dns_tunnelling_many_unique_names.fire.log",
     lines(1, 30)),
]


@cache
def shipped_documents() -> dict[str, tuple[Path, dict[str, Any]]]:
    """Every shipped rule's YAML document by its Sigma name, with its file."""
    found: dict[str, tuple[Path, dict[str, Any]]] = {}
    for path in sorted(SHIPPED_RULES.rglob("*.yml")):
        for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            found[document["name"]] = (path, document)
    return found


def rule_id(name: str) -> str:
    return str(shipped_documents()[name][1]["id"])


@cache
def shipped_rules() -> RuleSet:
    return load_rule_paths([SHIPPED_RULES])


@cache
def inventory() -> Inventory:
    return load_inventory(ROOT / "inventory.yaml")


@cache
def ingest(relative: str) -> tuple[dict[str, Any], ...]:
    """The normalised, tagged events of a data file, as the pipeline would make them."""
    path = DATA / relative
    parser = parsers.get(FORMATS[(path.parent.name, path.suffix)])
    if hasattr(parser, "clock"):
        parser.clock = lambda: NOW  # type: ignore[attr-defined]
    normaliser = EventNormaliser(load_zone("Asia/Ho_Chi_Minh"), timedelta(days=1))
    events = []
    for record in read_file(path, parser, 1 << 20):
        # A data line that does not parse is a broken test, not a case for the rules.
        assert record.error is None, f"{relative}: {record.error}"
        event = normaliser.normalise(record, now=NOW)
        inventory().tag(event)
        events.append(event)
    return tuple(events)


def run(ruleset: RuleSet, relative: str) -> list[dict[str, Any]]:
    """Every alert the rules raise on a file: streamed, then the windows closed at its end."""
    engine = RuleEngine(ruleset)
    events = [dict(event) for event in ingest(relative)]  # tagged copies: the engine may add
    return engine.detect(events) + engine.flush()


def event_ids(relative: str, numbers: Iterable[int | Inner]) -> list[str]:
    """The event ids of data lines (1-based), and those behind inner alerts."""
    events = ingest(relative)
    found = []
    for number in numbers:
        if isinstance(number, Inner):
            found += event_ids(relative, number.lines)
        else:
            found.append(events[number - 1]["event.id"])
    return found


def described(alerts: list[dict[str, Any]]) -> list[tuple[str, list[str]]]:
    """(Sigma name of the rule, event ids) of each alert."""
    names = {str(document["id"]): name for name, (_, document) in shipped_documents().items()}
    return [(names.get(a["rule.id"], a["rule.id"]), a["event.ids"]) for a in alerts]


def check(alerts: list[dict[str, Any]], expected: Iterable[Expected], relative: str) -> None:
    wanted = list(expected)
    assert described(alerts) == [
        (e.rule, event_ids(relative, e.lines)) for e in wanted]
    for alert, want in zip(alerts, wanted, strict=True):
        if want.matches is not None:
            assert alert["alert.matches"] == want.matches
        # The alert carries the rule's own level and ATT&CK techniques.
        document = shipped_documents()[want.rule][1]
        assert alert["rule.level"] == document["level"]
        assert alert["threat.technique.id"] == [
            m.group(1).upper() for tag in document.get("tags", ())
            if (m := TECHNIQUE.match(tag))]


def data_file(case: Case, kind: str) -> str:
    """The relative path of a case's data file (`fire` or `quiet`)."""
    folder = shipped_documents()[case.rule][0].parent.name
    found = sorted((DATA / folder).glob(f"{case.rule}.{kind}.*"))
    assert len(found) == 1, f"{case.rule}: expected one {kind} file in {folder}, got {found}"
    return f"{folder}/{found[0].name}"


# ---------------------------------------------------------------------- the rule files


def test_shipped_rules_load_without_problems() -> None:
    ruleset = shipped_rules()
    assert [str(p) for p in ruleset.problems] == []
    documents = shipped_documents().values()
    correlations = sum(1 for _, d in documents if "correlation" in d)
    assert len(ruleset.correlations) == correlations
    assert len(ruleset.detections) == len(documents) - correlations


def test_every_rule_id_is_a_unique_uuid4() -> None:
    ids = [str(document["id"]) for _, document in shipped_documents().values()]
    assert len(ids) == len(set(ids))
    for value in ids:
        parsed = uuid.UUID(value)
        assert parsed.version == 4 and str(parsed) == value


def test_every_rule_file_is_one_rule_named_after_it_in_its_log_source_folder() -> None:
    # One rule per file, named as the file: an alert's rule is found by name at a glance.
    paths = sorted(SHIPPED_RULES.rglob("*.y*ml"))
    assert len(paths) == len(shipped_documents())
    for name, (path, document) in shipped_documents().items():
        assert path.suffix == ".yml" and path.stem == name
        assert path.parent.parent == SHIPPED_RULES and path.parent.name in LOGSOURCE_FOLDERS
        assert document["author"] == "Provincial SOC"
        assert document["level"] in LEVELS
        assert document["status"] in ("test", "experimental")
        assert document["title"] and document["description"] and document["falsepositives"]
        assert str(document["date"]) == "2026-11-22"
        assert ("correlation" in document) != ("detection" in document)
        assert ("correlation" in document) != ("logsource" in document)


def test_every_rule_but_the_ids_passthrough_names_attack_techniques() -> None:
    # Suricata's signatures span every tactic: the passthrough of its severe alerts has no one
    # technique; each alert event carries the signature's own (threat.technique.id).
    untagged = {"suricata_high_severity_alert"}
    for name, (_, document) in shipped_documents().items():
        tags = document.get("tags", [])
        techniques = [t for t in tags if TECHNIQUE.match(t)]
        assert bool(techniques) == (name not in untagged), name
        tactics = [t.removeprefix("attack.") for t in tags if not TECHNIQUE.match(t)]
        assert set(tactics) <= TACTICS and (tactics or name in untagged), name


def test_correlations_reference_shipped_rules_by_name() -> None:
    documents = shipped_documents()
    for _, document in documents.values():
        for reference in document.get("correlation", {}).get("rules", ()):
            assert reference in documents


def test_every_rule_has_a_case_and_every_data_file_is_used() -> None:
    quiet_by_design = {name for name, *_ in BUILDING_BLOCKS}
    assert {case.rule for case in CASES} | quiet_by_design == set(shipped_documents())
    assert not {case.rule for case in CASES} & quiet_by_design
    used = {data_file(case, kind) for case in CASES for kind in ("fire", "quiet")}
    present = {str(p.relative_to(DATA)) for p in DATA.rglob("*") if p.is_file()}
    assert present == used


# ---------------------------------------------------------------------- the rules at work


@pytest.mark.parametrize("case", CASES, ids=[case.rule for case in CASES])
def test_rule_fires_on_its_data(case: Case) -> None:
    relative = data_file(case, "fire")
    check(run(shipped_rules(), relative), case.fires, relative)


@pytest.mark.parametrize("case", CASES, ids=[case.rule for case in CASES])
def test_rule_stays_quiet_on_its_near_misses(case: Case) -> None:
    relative = data_file(case, "quiet")
    alerts = run(shipped_rules(), relative)
    assert rule_id(case.rule) not in {a["rule.id"] for a in alerts}
    check(alerts, case.quiet, relative)


@pytest.mark.parametrize(("rule", "needs", "relative", "numbers"), BUILDING_BLOCKS,
                         ids=[f"{rule}-{Path(rel).name}" for rule, _, rel, _ in BUILDING_BLOCKS])
def test_building_block_matches_alone(rule: str, needs: tuple[str, ...], relative: str,
                                      numbers: tuple[int | tuple[int, ...], ...]) -> None:
    # Loaded without the correlations that silence it, the rule alerts on what it matches.
    documents = shipped_documents()
    ruleset = load_rule_paths([documents[name][0] for name in (*needs, rule)])
    assert ruleset.problems == []
    alerts = run(ruleset, relative)
    assert {a["rule.id"] for a in alerts} == {rule_id(rule)}
    groups = [n if isinstance(n, tuple) else (n,) for n in numbers]
    assert [a["event.ids"] for a in alerts] == [event_ids(relative, g) for g in groups]


def test_building_blocks_are_silent_in_the_shipped_set() -> None:
    # Every file of every case, through the shipped rules: no alert of a building block.
    silent = {rule_id(name) for name, *_ in BUILDING_BLOCKS}
    for case in CASES:
        for kind in ("fire", "quiet"):
            alerts = run(shipped_rules(), data_file(case, kind))
            assert not silent & {a["rule.id"] for a in alerts}, (case.rule, kind)


def test_alerts_name_the_agency_and_asset_they_touch() -> None:
    # The inventory's tags reach the alert: the SSH brute force on the public service portal's
    # web server belongs to the agency operating it.
    [alert] = run(shipped_rules(), "linux/ssh_brute_force.fire.log")
    assert alert["alert.group_key"] == "source.ip=203.0.113.45|organization.id=000.00.02.H45"
    assert alert["asset.name"] == "dvc-web-01"
    assert alert["asset.system.id"] == "dvc"
    assert alert["alert.event_count"] == 10
    # The denied inter-agency connections: each names the pair of agencies.
    first, second = run(shipped_rules(),
                        "network/net_unapproved_inter_agency_connection.fire.jsonl")
    assert (first["source.organization.id"], first["destination.organization.id"]) == (
        "000.01.05.H45", "000.00.03.H45")
    assert (second["source.organization.id"], second["destination.organization.id"]) == (
        "000.01.01.H45", "000.00.02.H45")
    assert second["asset.name"] == "dvc-db-01"
    # The logsource's condition (a flow dataset) is among what matched.
    assert second["alert.matches"] == {"event.dataset": "netflow.flow",
                                       "network.direction": "between_agencies",
                                       "network.policy": "denied"}
