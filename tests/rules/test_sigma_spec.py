"""The rule engine against the Sigma specification, one test per modifier and condition form.

Expected results come from the specification's own examples: the rules specification
(SigmaHQ/sigma-specification `specification/sigma-rules-specification.md`), the modifiers
appendix (`specification/sigma-appendix-modifiers.md`, v2.1.0) and, where the appendix gives no
worked value, the examples of SigmaHQ's documentation (sigmahq.io, `docs/basics/modifiers.md`,
`docs/basics/conditions.md`). Every test checks an event that must match and a near miss that
must not. Each match is also checked against the rule's index key: the engine tests an event only
against rules whose key admits it, so a key that excluded a matching event would lose the alert.
"""

from __future__ import annotations

import base64
import functools
import textwrap
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from rules.field_view import FieldView
from rules.sigma_rules import DetectionRule, RuleSet, load_rule_text

RULE_ID = "5f0c6f9e-3d2b-4c1a-9e8f-7a6b5c4d3e2f"
WEB = "{category: webserver}"
SECURITY = "{product: windows, service: security}"
PROCESS_CREATION = "{product: windows, category: process_creation}"
# The conditions each logsource adds (rules/logsources.yaml and the ECS Windows pipeline).
LOGSOURCE_FIELDS: dict[str, dict[str, str]] = {
    WEB: {"event.dataset": "nginx.access"},
    SECURITY: {"winlog.channel": "Security"},
    PROCESS_CREATION: {"winlog.channel": "Microsoft-Windows-Sysmon/Operational",
                       "event.category": "process", "event.type": "start"},
}
T = "2026-11-21T03:04:05.000000Z"  # a Saturday: ISO week 47


def b64(data: str | bytes) -> str:
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()


class Rule:
    """One loaded detection rule; calling it with an event's own fields says whether it matches
    (the fields the logsource stands for are added)."""

    def __init__(self, detection: DetectionRule, logsource: str) -> None:
        self.detection = detection
        self.base = LOGSOURCE_FIELDS[logsource]

    def __call__(self, event: Mapping[str, Any]) -> bool:
        full = {**self.base, **event}
        matched = self.detection.matches(full)
        if matched:
            _assert_indexed(self.detection, full)
        return matched

    def explain(self, event: Mapping[str, Any]) -> dict[str, Any]:
        found = self.detection.explain({**self.base, **event})
        return {k: v for k, v in found.items() if k not in self.base}


def _assert_indexed(rule: DetectionRule, event: Mapping[str, Any]) -> None:
    """The rule's index keys must let through every event the rule matches."""
    if rule.keys is None:
        return
    view = FieldView(event)
    for key in rule.keys:
        value = view[key.field]
        values = value if isinstance(value, tuple) else (value,)
        if key.substring and any(k in v for v in values if v for k in key.values):
            return
        if not key.substring and any(v in key.values for v in values):
            return
    raise AssertionError(f"index keys {rule.keys} would skip {event}")


@functools.cache
def _load(text: str, placeholders: tuple[tuple[str, tuple[str, ...]], ...]) -> RuleSet:
    return load_rule_text(text, "spec.yml", {name: list(v) for name, v in placeholders})


def rule_text(detection: str, logsource: str = WEB, rule_id: str = RULE_ID,
              title: str = "spec example") -> str:
    body = textwrap.indent(textwrap.dedent(detection).strip("\n"), "    ")
    return (f"title: {title}\nid: {rule_id}\nlogsource: {logsource}\ndetection:\n{body}\n")


def load(detection: str, logsource: str = WEB,
         placeholders: Mapping[str, Sequence[str]] | None = None) -> RuleSet:
    frozen = tuple(sorted((k, tuple(v)) for k, v in (placeholders or {}).items()))
    return _load(rule_text(detection, logsource), frozen)


def rule(detection: str, logsource: str = WEB,
         placeholders: Mapping[str, Sequence[str]] | None = None) -> Rule:
    ruleset = load(detection, logsource, placeholders)
    assert [str(p) for p in ruleset.errors] == []
    assert len(ruleset.detections) == 1
    return Rule(ruleset.detections[0], logsource)


def reasons(detection: str, logsource: str = WEB,
            placeholders: Mapping[str, Sequence[str]] | None = None) -> list[str]:
    """The errors of a rule the loader skips."""
    ruleset = load(detection, logsource, placeholders)
    assert ruleset.detections == []
    return [p.reason for p in ruleset.errors]


# ---------------------------------------------------------------------------------------------
# Condition grammar ("Condition" in the rules specification)
# ---------------------------------------------------------------------------------------------

THREE = """
    keywords1:
        fieldA: a
    keywords2:
        fieldB: b
    selection1:
        fieldC: c
    condition: {condition}
"""


@pytest.mark.parametrize(("condition", "event", "expected"), [
    # Logical AND/OR: `keywords1 or keywords2`
    ("keywords1 or keywords2", {"fieldA": "a"}, True),
    ("keywords1 or keywords2", {"fieldB": "b"}, True),
    ("keywords1 or keywords2", {"fieldC": "c"}, False),
    ("keywords1 and keywords2", {"fieldA": "a", "fieldB": "b"}, True),
    ("keywords1 and keywords2", {"fieldA": "a"}, False),
    # Negation with 'not': `keywords and not filters`
    ("keywords1 and not keywords2", {"fieldA": "a"}, True),
    ("keywords1 and not keywords2", {"fieldA": "a", "fieldB": "b"}, False),
    ("not keywords1", {}, True),
    ("not keywords1", {"fieldA": "A"}, False),
    # Brackets: `selection1 and (keywords1 or keywords2)`
    ("selection1 and (keywords1 or keywords2)", {"fieldC": "c", "fieldB": "b"}, True),
    ("selection1 and (keywords1 or keywords2)", {"fieldC": "c"}, False),
    ("selection1 and (keywords1 or keywords2)", {"fieldA": "a", "fieldB": "b"}, False),
])
def test_and_or_not_brackets(condition: str, event: dict[str, Any], expected: bool) -> None:
    assert rule(THREE.format(condition=condition))(event) is expected


@pytest.mark.parametrize(("condition", "event", "expected"), [
    # Precedence, least to most binding: or, and, not, x of, ( ): `a or b and c` = a or (b and c)
    ("keywords1 or keywords2 and selection1", {"fieldA": "a"}, True),
    ("keywords1 or keywords2 and selection1", {"fieldB": "b"}, False),
    ("keywords1 or keywords2 and selection1", {"fieldB": "b", "fieldC": "c"}, True),
    ("keywords1 and keywords2 or selection1", {"fieldC": "c"}, True),
    ("keywords1 and keywords2 or selection1", {"fieldA": "a"}, False),
    # `not a and b` = (not a) and b, not not (a and b)
    ("not keywords1 and keywords2", {"fieldB": "b"}, True),
    ("not keywords1 and keywords2", {}, False),
    ("not keywords1 and keywords2", {"fieldA": "a", "fieldB": "b"}, False),
    ("not (keywords1 and keywords2)", {}, True),
    ("not (keywords1 and keywords2)", {"fieldA": "a", "fieldB": "b"}, False),
    # Brackets override: (a or b) and c
    ("(keywords1 or keywords2) and selection1", {"fieldA": "a"}, False),
    ("(keywords1 or keywords2) and selection1", {"fieldA": "a", "fieldC": "c"}, True),
])
def test_operator_precedence(condition: str, event: dict[str, Any], expected: bool) -> None:
    assert rule(THREE.format(condition=condition))(event) is expected


# The DEWMODE example of sigmahq.io's conditions page, with a filter pair for `not 1 of`.
PATTERNS = """
    selection1:
        c-uri|contains|all:
            - '?dwn='
            - '&fn='
            - '.html?'
    selection2:
        c-uri|contains|all:
            - '&dwn='
            - '?fn='
            - '.html?'
    filter_local:
        c-ip: 127.0.0.1
    filter_scanner:
        cs-user-agent|contains: nessus
    condition: {condition}
"""
DWN = {"c-uri": "/human.aspx?dwn=x&fn=a.html?"}
FN = {"c-uri": "/human.aspx?fn=a.html?&dwn=x"}
DWN_AND_FN = {"c-uri": "/h.aspx?dwn=1&fn=a.html?&dwn=2?fn=b"}


@pytest.mark.parametrize(("condition", "event", "expected"), [
    ("1 of selection*", DWN, True),
    ("1 of selection*", FN, True),
    ("1 of selection*", {"c-uri": "/human.aspx?dwn=x"}, False),
    ("any of selection*", FN, True),
    ("any of selection*", {"c-uri": "/index.html?"}, False),
    ("all of selection*", DWN_AND_FN, True),
    ("all of selection*", DWN, False),
    # `1 of selection* and not 1 of filter*`: `x of` binds tighter than `not`
    ("1 of selection* and not 1 of filter*", DWN, True),
    ("1 of selection* and not 1 of filter*", {**DWN, "source.ip": "127.0.0.1"}, False),
    ("1 of selection* and not 1 of filter*", {**DWN, "user_agent.original": "Nessus SOAP"}, False),
    ("1 of selection* and not 1 of filter*", {**DWN, "source.ip": "10.0.0.9"}, True),
    # the pattern's `*` may stand anywhere
    ("1 of *_local", {"source.ip": "127.0.0.1"}, True),
    ("1 of *_local", {"cs-user-agent": "nessus"}, False),
])
def test_one_of_all_of_pattern(condition: str, event: dict[str, Any], expected: bool) -> None:
    assert rule(PATTERNS.format(condition=condition))(event) is expected


THEM = """
    selection_a:
        fieldA: a
    selection_b:
        fieldB: b
    _example:
        fieldC: c
    condition: {condition}
"""


@pytest.mark.parametrize(("condition", "event", "expected"), [
    ("1 of them", {"fieldA": "a"}, True),
    ("1 of them", {"fieldB": "b"}, True),
    ("any of them", {"fieldB": "b"}, True),
    # "A search identifier `_example` wouldn't be included"
    ("1 of them", {"fieldC": "c"}, False),
    ("all of them", {"fieldA": "a", "fieldB": "b"}, True),
    ("all of them", {"fieldA": "a", "fieldC": "c"}, False),
    ("not 1 of them", {"fieldC": "c"}, True),
    ("not 1 of them", {"fieldB": "b"}, False),
])
def test_one_of_all_of_them(condition: str, event: dict[str, Any], expected: bool) -> None:
    assert rule(THEM.format(condition=condition))(event) is expected


def test_condition_list_is_or() -> None:
    # "The condition can be a list ... They are logically linked with OR."
    listed = rule("""
        selection_a:
            fieldA: a
        selection_b:
            fieldB: b
        condition:
            - selection_a
            - selection_b
    """)
    assert listed({"fieldA": "a"}) is True
    assert listed({"fieldB": "b"}) is True
    assert listed({"fieldA": "b", "fieldB": "a"}) is False


# ---------------------------------------------------------------------------------------------
# Lists, maps, lists of maps
# ---------------------------------------------------------------------------------------------

def test_map_is_and_and_list_is_or() -> None:
    # "matches on EventLog 'Security' and ( Event ID 517 or Event ID 1102 )"
    selection = rule("""
        selection:
            EventLog: Security
            EventID:
                - 517
                - 1102
        condition: selection
    """, SECURITY)
    base = {"winlog.event_data.EventLog": "Security"}
    assert selection({**base, "event.code": "517"}) is True
    assert selection({**base, "event.code": 1102}) is True
    assert selection({**base, "event.code": "4624"}) is False
    assert selection({"event.code": "517"}) is False


def test_map_of_four_fields() -> None:
    # "Matches on Eventlog 'Security' and Event ID 4679 and TicketOptions 0x40810000 and
    # TicketEncryption 0x17"
    selection = rule("""
        selection:
            EventLog: Security
            EventID: 4769
            TicketOptions: '0x40810000'
            TicketEncryption: '0x17'
        condition: selection
    """, SECURITY)
    event = {"winlog.event_data.EventLog": "Security", "event.code": "4769",
             "winlog.event_data.TicketOptions": "0x40810000",
             "winlog.event_data.TicketEncryption": "0x17"}
    assert selection(event) is True
    assert selection({**event, "winlog.event_data.TicketEncryption": "0x12"}) is False
    assert selection({**event, "winlog.channel": "System"}) is False
    assert selection.explain(event) == {
        "winlog.event_data.EventLog": "Security", "event.code": "4769",
        "winlog.event_data.TicketOptions": "0x40810000",
        "winlog.event_data.TicketEncryption": "0x17"}


def test_list_of_maps_is_or() -> None:
    # "matches an image value ending with example.exe or an executable with a description
    # containing the string Test executable"
    selection = rule(r"""
        selection:
            - Image|endswith: '\\example.exe'
            - Description|contains: 'Test executable'
        condition: selection
    """, PROCESS_CREATION)
    assert selection({"process.executable": "C:\\Temp\\EXAMPLE.exe"}) is True
    assert selection({"process.pe.description": "a test executable build"}) is True
    assert selection({"process.executable": "C:\\Temp\\myexample.exe"}) is False
    assert selection({"process.pe.description": "Test"}) is False


def test_simple_rule_example_is_case_insensitive() -> None:
    # The specification's "Whoami Execution" example; "All values are treated as
    # case-insensitive strings."
    whoami = rule(r"""
        selection:
            Image: 'C:\Windows\System32\whoami.exe'
        condition: selection
    """, PROCESS_CREATION)
    assert whoami({"process.executable": "c:\\windows\\system32\\WHOAMI.EXE"}) is True
    assert whoami({"process.executable": "C:\\Windows\\System32\\whoami.exe"}) is True
    assert whoami({"process.executable": "C:\\Windows\\SysWOW64\\whoami.exe"}) is False
    assert whoami({"process.executable": "C:\\Windows\\System32\\whoami.exe",
                   "event.type": "end"}) is False


# ---------------------------------------------------------------------------------------------
# Keyword searches ("Keywords search"): no field; the engine searches message and log.original
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("event", "expected"), [
    ({"message": "mimikatz # event::clear"}, True),
    ({"log.original": "<13>host mimikatz EVENT::DROP"}, True),
    ({"message": "event::list", "log.original": "event::list"}, False),
    ({"url.path": "/event::clear"}, False),  # other fields are not searched
    ({}, False),
])
def test_keywords_are_or(event: dict[str, Any], expected: bool) -> None:
    keywords = rule("""
        mimikatz_keywords:
            - 'event::clear'
            - 'event::drop'
        condition: mimikatz_keywords
    """)
    assert keywords(event) is expected


@pytest.mark.parametrize(("event", "expected"), [
    ({"message": "Set-OabVirtualDirectory -ExternalUrl https://x"}, True),
    ({"message": "set-oabvirtualdirectory -externalurl https://x"}, True),
    ({"message": "Set-OabVirtualDirectory -InternalUrl https://x"}, False),
    ({"message": "Set-Mailbox -ExternalUrl https://x"}, False),
])
def test_keywords_all_is_and(event: dict[str, Any], expected: bool) -> None:
    # `'|all':` gives "OabVirtualDirectory" and " -ExternalUrl "
    keywords = rule("""
        keywords_cmdlet:
            '|all':
                - 'OabVirtualDirectory'
                - ' -ExternalUrl '
        condition: keywords_cmdlet
    """)
    assert keywords(event) is expected


def test_keywords_numbers_wildcards_cased_and_regex() -> None:
    numbers = rule("""
        keywords:
            - 4738
            - 'pass*word'
        condition: keywords
    """)
    assert numbers({"message": "event 4738 logged"}) is True
    assert numbers({"message": "PASS-the-WORD"}) is True
    assert numbers({"message": "event 473 logged"}) is False
    cased = rule("""
        keywords:
            '|cased':
                - 'EvilService'
        condition: keywords
    """)
    assert cased({"message": "started EvilService"}) is True
    assert cased({"message": "started evilservice"}) is False
    regex = rule("""
        keywords:
            '|re':
                - 'Evil[0-9]+'
        condition: keywords
    """)
    assert regex({"log.original": "x Evil42 y"}) is True
    assert regex({"log.original": "x evil42 y"}) is False


# ---------------------------------------------------------------------------------------------
# Special field values and field existence
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("event", "expected"), [
    ({"event.code": "4738"}, False),  # PasswordLastSet absent: the filter (null) applies
    ({"event.code": "4738", "winlog.event_data.PasswordLastSet": ""}, False),
    ({"event.code": "4738", "winlog.event_data.PasswordLastSet": None}, False),
    ({"event.code": "4738", "winlog.event_data.PasswordLastSet": "%%1794"}, True),
    ({"event.code": "4624", "winlog.event_data.PasswordLastSet": "%%1794"}, False),
])
def test_null_value_example(event: dict[str, Any], expected: bool) -> None:
    # "To get an expression that say `not null` you have to create another selection and negate
    # it in the condition."
    not_null = rule("""
        selection:
            EventID: 4738
        filter:
            PasswordLastSet: null
        condition: selection and not filter
    """, SECURITY)
    assert not_null(event) is expected


@pytest.mark.parametrize(("event", "null", "empty"), [
    ({}, True, False),
    ({"fieldA": None}, True, False),
    ({"fieldA": ""}, True, True),
    ({"fieldA": []}, True, False),
    ({"fieldA": "x"}, False, False),
    ({"fieldA": 0}, False, False),
    ({"fieldA": ["x"]}, False, False),
])
def test_null_and_empty_value(event: dict[str, Any], null: bool, empty: bool) -> None:
    # "An empty value is defined with '' / A null value is defined with null"; the engine reads
    # null as absent or empty.
    assert rule("sel:\n    fieldA: null\ncondition: sel")(event) is null
    assert rule("sel:\n    fieldA: ''\ncondition: sel")(event) is empty


@pytest.mark.parametrize(("event", "expected"), [
    ({"event.code": "4738", "winlog.event_data.PasswordLastSet": "%%1794"}, True),
    # "this check only verifies the presence of a field, not its value, be it empty or null"
    ({"event.code": "4738", "winlog.event_data.PasswordLastSet": ""}, True),
    ({"event.code": "4738", "winlog.event_data.PasswordLastSet": None}, True),
    ({"event.code": "4738", "winlog.event_data.PasswordLastSet": []}, True),
    ({"event.code": "4738"}, False),
    ({"event.code": "4739", "winlog.event_data.PasswordLastSet": "x"}, False),
])
def test_exists_true_example(event: dict[str, Any], expected: bool) -> None:
    exists = rule("""
        selection:
            EventID: 4738
            PasswordLastSet|exists: true
        condition: selection
    """, SECURITY)
    assert exists(event) is expected


@pytest.mark.parametrize(("event", "expected"), [
    ({}, True),
    ({"fieldA": "x"}, False),
    ({"fieldA": ""}, False),
    ({"fieldA": None}, False),
    ({"fieldB": "x"}, True),
])
def test_exists_false(event: dict[str, Any], expected: bool) -> None:
    assert rule("sel:\n    fieldA|exists: false\ncondition: sel")(event) is expected


# ---------------------------------------------------------------------------------------------
# Wildcards and escaping
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "event_value", "expected"), [
    # "`progA.exe or progB.exe or ...` will be `prog?.exe`"
    ("prog?.exe", "progA.exe", True),
    ("prog?.exe", "PROGB.EXE", True),
    ("prog?.exe", "prog.exe", False),
    ("prog?.exe", "progAB.exe", False),
    # "`antivirus_V1.exe or antivirus_V21.2.1.exe or ...` will be `antivirus_V*.exe`"
    ("antivirus_V*.exe", "antivirus_V1.exe", True),
    ("antivirus_V*.exe", "antivirus_V21.2.1.exe", True),
    ("antivirus_V*.exe", "antivirus_V.exe", True),
    ("antivirus_V*.exe", "antivirus_V1.exe.bak", False),
    ("antivirus_V*.exe", "my_antivirus_V1.exe", False),
    ("*needle*", "hay\nNEEDLE\nstack", True),  # * spans newlines
    ("a*b?c", "a\nxxbyc", True),
    ("a*b?c", "abc", False),
    ("*", "", True),  # any value, even empty...
    ("*", 0, True),
])
def test_wildcards(value: str, event_value: Any, expected: bool) -> None:
    assert rule(f"sel:\n    fieldA: '{value}'\ncondition: sel")({"fieldA": event_value}) \
        is expected


def test_wildcard_needs_the_field() -> None:
    star = rule("sel:\n    fieldA: '*'\ncondition: sel")
    assert star({"fieldA": "x"}) is True
    assert star({}) is False  # ...but not an absent field


@pytest.mark.parametrize(("value", "event_value", "expected"), [
    # "A wildcard has to be escaped to be handled as a plain character. eg: `\*`, `\?`."
    (r"a\*b", "a*b", True),
    (r"a\*b", "axxb", False),
    (r"a\?b", "a?b", True),
    (r"a\?b", "axb", False),
    # "Plain backslash not followed by a wildcard can be expressed as single `\` or double
    # backslash `\\`."
    (r"C:\Windows\x", "C:\\Windows\\x", True),
    (r"C:\\Windows\\x", "C:\\Windows\\x", True),
    (r"C:\\Windows\\x", "C:\\\\Windows\\\\x", False),
    # "The backslash before a wildcard has to be escaped to handle the value as a backslash
    # followed by a wildcard: `\\*`."
    (r"C:\Windows\\*", "C:\\Windows\\System32", True),
    (r"C:\Windows\\*", "C:\\Windows", False),
    # "Three backslashes are necessary to escape both, the backslash and the wildcard and
    # handle them as plain values: `\\\*`."
    (r"C:\Windows\\\*", "C:\\Windows\\*", True),
    (r"C:\Windows\\\*", "C:\\Windows\\System32", False),
    # "`\\\\` results in the plain value `\\`."
    (r"\\\\server\share", "\\\\server\\share", True),
    (r"\\\\server\share", "\\server\\share", False),
])
def test_escaping(value: str, event_value: str, expected: bool) -> None:
    assert rule(f"sel:\n    fieldA: '{value}'\ncondition: sel")({"fieldA": event_value}) \
        is expected


# ---------------------------------------------------------------------------------------------
# Generic modifiers: contains, startswith, endswith, all, cased
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("modifier", "event_value", "expected"), [
    ("contains", "haystack with a NEEDLE in it", True),
    ("contains", "needle", True),
    ("contains", "needl", False),
    ("startswith", "Needle first", True),
    ("startswith", "the needle", False),
    ("endswith", "ends with a needle", True),
    ("endswith", "needle at the start", False),
])
def test_contains_startswith_endswith(modifier: str, event_value: str, expected: bool) -> None:
    # sigmahq.io: `fieldname|contains: needle` → fieldname="*needle*", etc.
    selection = rule(f"sel:\n    fieldname|{modifier}: needle\ncondition: sel")
    assert selection({"fieldname": event_value}) is expected


@pytest.mark.parametrize(("event_value", "expected"), [
    ("/ecp/default.aspx?__VIEWSTATEGENERATOR=B97B4E27&__VIEWSTATE=%2Fw", True),
    ("/ECP/DEFAULT.ASPX?__viewstate=x&__viewstategenerator=y", True),
    ("/ecp/default.aspx?__VIEWSTATEGENERATOR=B97B4E27", False),
    ("/owa/default.aspx?__VIEWSTATEGENERATOR=x&__VIEWSTATE=y", False),
])
def test_contains_all(event_value: str, expected: bool) -> None:
    # sigmahq.io, `all`: web_cve_2020_0688_exchange_exploit.yml
    selection = rule("""
        selection:
            c-uri|contains|all:
                - '/ecp/default.aspx'
                - '__VIEWSTATEGENERATOR='
                - '__VIEWSTATE='
        condition: selection
    """)
    assert selection({"c-uri": event_value}) is expected


def test_all_on_plain_values() -> None:
    both = rule("sel:\n    fieldA|all:\n        - a\n        - b\ncondition: sel")
    assert both({"fieldA": ["a", "B"]}) is True  # a list field can hold both
    assert both({"fieldA": "a"}) is False


@pytest.mark.parametrize(("detection", "event_value", "expected"), [
    ("fieldA|cased: 'CaSe'", "CaSe", True),
    ("fieldA|cased: 'CaSe'", "case", False),
    ("fieldA|cased: 'CaSe'", "CaSex", False),
    ("fieldA|contains|cased: 'CaSe'", "xCaSex", True),
    ("fieldA|contains|cased: 'CaSe'", "xCASEx", False),
    ("fieldA|cased|startswith: 'Ca'", "CaSe", True),
    ("fieldA|cased|startswith: 'Ca'", "caSe", False),
    ("fieldA|cased: 'Ca?e*'", "CaSe it", True),
    ("fieldA|cased: 'Ca?e*'", "cASE it", False),
])
def test_cased(detection: str, event_value: str, expected: bool) -> None:
    # "cased: Values are applied case sensitively. Default Sigma behavior is case-insensitive."
    assert rule(f"sel:\n    {detection}\ncondition: sel")({"fieldA": event_value}) is expected


# ---------------------------------------------------------------------------------------------
# Regular expressions
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("modifiers", "pattern", "event_value", "expected"), [
    # "Regex is matched case-sensitive by default", and searched for (unanchored)
    ("re", "foo.*bar", "xx foo1bar yy", True),
    ("re", "foo.*bar", "xx FOO1BAR yy", False),
    ("re", "foo.bar", "foo\nbar", False),
    ("re", "^bar$", "bar", True),
    ("re", "^bar$", "foo\nbar\nbaz", False),
    ("re", r"\d{3}-\d+", "call 123-4567", True),
    ("re", r"\d{3}-\d+", "call 12-4567", False),
    ("re", "[a-z]+[0-9]", "AB c1", True),
    ("re", "[a-z]+[0-9]", "AB C1", False),
    ("re", "(cmd|powershell)\\.exe", "C:\\powershell.exe", True),
    ("re", "(cmd|powershell)\\.exe", "C:\\pwsh.exe", False),
    (r"re", r"a\*b", "a*b", True),
    (r"re", r"a\*b", "aab", False),
    # `i`: case-insensitive matching
    ("re|i", "foo.*bar", "FOO1Bar", True),
    ("re|i", "foo.*bar", "FOO\nBar", False),
    # `m`: "^ / $ match the start/end of line"
    ("re|m", "^bar$", "foo\nbar\nbaz", True),
    ("re|m", "^bar$", "foo bar baz", False),
    # `s`: "dot (.) matches all characters, including the newline character"
    ("re|s", "foo.bar", "foo\nbar", True),
    ("re|s", "foo.bar", "foobar", False),
    ("re|i|m|s", "^foo.bar$", "x\nFOO\nBAR\ny", True),
    ("re|i|m|s", "^foo.bar$", "x FOO\nBAR y", False),
])
def test_regular_expression(modifiers: str, pattern: str, event_value: str,
                            expected: bool) -> None:
    selection = rule(f"sel:\n    fieldA|{modifiers}: '{pattern}'\ncondition: sel")
    assert selection({"fieldA": event_value}) is expected


def test_regular_expression_on_numbers_and_lists() -> None:
    digits = rule("sel:\n    fieldA|re: '^12[0-9]$'\ncondition: sel")
    assert digits({"fieldA": 123}) is True
    assert digits({"fieldA": 1234}) is False
    assert digits({"fieldA": ["x", "125"]}) is True
    assert digits({"fieldA": ["x", "1250"]}) is False


def test_benign_repetition_is_accepted() -> None:
    # The ReDoS guard refuses only nesting; a repeated group of literals loads.
    grouped = rule("sel:\n    fieldA|re: '(ab)+c'\ncondition: sel")
    assert grouped({"fieldA": "ababc"}) is True
    assert grouped({"fieldA": "ac"}) is False


# ---------------------------------------------------------------------------------------------
# cidr ("Supports both IPv4 and IPv6 notations. Example: DestinationIp|cidr: 10.0.0.0/8")
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("network", "address", "expected"), [
    ("10.0.0.0/8", "10.0.0.0", True),
    ("10.0.0.0/8", "10.255.255.255", True),
    ("10.0.0.0/8", "9.255.255.255", False),
    ("10.0.0.0/8", "11.0.0.0", False),
    ("10.0.0.0/8", "10.0.0", False),
    ("10.0.0.0/8", "not an address", False),
    # sigmahq.io: first_ip_address|cidr: 192.0.0.0/8, second_ip_address|cidr: 192.168.0.0/23
    ("192.0.0.0/8", "192.168.7.1", True),
    ("192.0.0.0/8", "193.0.0.1", False),
    ("192.168.0.0/23", "192.168.0.0", True),
    ("192.168.0.0/23", "192.168.1.255", True),
    ("192.168.0.0/23", "192.168.2.0", False),
    ("192.168.0.0/23", "192.167.255.255", False),
    ("192.168.0.7/32", "192.168.0.7", True),
    ("192.168.0.7/32", "192.168.0.8", False),
    # sigmahq.io: ipaddress|cidr: 2a03:2880:f132:83:face:b00c::/96
    ("2a03:2880:f132:83:face:b00c::/96", "2a03:2880:f132:83:face:b00c::", True),
    ("2a03:2880:f132:83:face:b00c::/96", "2a03:2880:f132:83:face:b00c:ffff:ffff", True),
    ("2a03:2880:f132:83:face:b00c::/96", "2A03:2880:F132:0083:FACE:B00C:0:1", True),
    ("2a03:2880:f132:83:face:b00c::/96", "2a03:2880:f132:83:face:b00d::", False),
    ("2a03:2880:f132:83:face:b00c::/96", "2a03:2880:f132:83:face:b00b:ffff:ffff", False),
    ("2a03:2880:f132:83:face:b00c::/96", "192.168.0.1", False),
    ("10.0.0.0/8", "::ffff:10.0.0.1", False),  # an IPv6 address, even IPv4-mapped
])
def test_cidr(network: str, address: str, expected: bool) -> None:
    selection = rule(f"sel:\n    DestinationIp|cidr: '{network}'\ncondition: sel")
    assert selection({"DestinationIp": address}) is expected


def test_cidr_list_and_list_valued_field() -> None:
    private = rule("""
        selection:
            id.orig_h|cidr:
                - '10.0.0.0/8'
                - '172.16.0.0/12'
                - '192.168.0.0/24'
        condition: not selection
    """)
    # sigmahq.io conditions page: "all events where the IP address does not come from an
    # internal network"
    assert private({"id.orig_h": "172.32.0.1"}) is True
    assert private({"id.orig_h": "172.31.255.255"}) is False
    assert private({"id.orig_h": ["8.8.8.8", "192.168.0.200"]}) is False
    assert private({"id.orig_h": ["8.8.8.8", "192.168.1.200"]}) is True


# ---------------------------------------------------------------------------------------------
# Encodings: base64, base64offset, wide/utf16be/utf16
# ---------------------------------------------------------------------------------------------

def test_base64() -> None:
    # "base64: The value is encoded with Base64." (cmd → 63 6d 64 → Y21k)
    exact = rule("sel:\n    fieldA|base64: 'cmd'\ncondition: sel")
    assert exact({"fieldA": "Y21k"}) is True
    assert exact({"fieldA": "Y21kIC9j"}) is False
    inside = rule("sel:\n    fieldA|base64|contains: 'cmd /c'\ncondition: sel")
    assert inside({"fieldA": "run " + b64("cmd /c whoami")}) is True
    assert inside({"fieldA": "run " + b64("cmd /k whoami")}) is False
    # base64 alone finds the text only where it starts the encoded data: base64offset's reason
    assert inside({"fieldA": "run " + b64("x cmd /c whoami")}) is False


# sigmahq.io, `base64 / base64offset`: the nine Splunk output values of
# `fieldname|base64offset|contains: [/bin/bash, /bin/sh, /bin/zsh]`
SHELLS = {"/bin/bash": ("L2Jpbi9iYXNo", "9iaW4vYmFza", "vYmluL2Jhc2"),
          "/bin/sh": ("L2Jpbi9za", "9iaW4vc2", "vYmluL3No"),
          "/bin/zsh": ("L2Jpbi96c2", "9iaW4venNo", "vYmluL3pza")}
SHELL_RULE = """
    selection:
        fieldname|base64offset|contains:
            - /bin/bash
            - /bin/sh
            - /bin/zsh
    condition: selection
"""


@pytest.mark.parametrize("encoded", [v for values in SHELLS.values() for v in values])
def test_base64offset_documented_values(encoded: str) -> None:
    shells = rule(SHELL_RULE)
    assert shells({"fieldname": f"GET /?q={encoded}xyz"}) is True
    assert shells({"fieldname": f"GET /?q={encoded[:-1]}"}) is False


@pytest.mark.parametrize("shift", [0, 1, 2])
@pytest.mark.parametrize("shell", list(SHELLS))
def test_base64offset_three_shifts(shell: str, shift: int) -> None:
    # "There are three variants for shifts by zero to two bytes"
    payload = b64("xyz"[:shift] + shell + " -c 'id'")
    assert SHELLS[shell][shift] in payload
    shells = rule(SHELL_RULE)
    assert shells({"fieldname": payload}) is True
    assert shells({"fieldname": b64("xyz"[:shift] + "/bin/dash -c 'id'")}) is False


@pytest.mark.parametrize("shift", [0, 1, 2])
def test_wide_base64offset(shift: int) -> None:
    # sigmahq.io, `wide`: `CommandLine|wide|base64offset|contains: "ping"` → cABpAG4AZw,
    # AAaQBuAGcA, wAGkAbgBnA; what PowerShell's -EncodedCommand carries (UTF-16LE).
    ping = rule("""
        selection:
            CommandLine|wide|base64offset|contains: 'ping'
        condition: selection
    """, PROCESS_CREATION)
    encoded = ("cABpAG4AZw", "AAaQBuAGcA", "wAGkAbgBnA")[shift]
    assert ping({"process.command_line": f"powershell -enc x{encoded}x"}) is True
    payload = b64(("a" * shift + "ping 8.8.8.8").encode("utf-16le"))
    assert ping({"process.command_line": f"powershell -enc {payload}"}) is True
    # the same text in UTF-8 is another payload
    assert ping({"process.command_line": b64("a" * shift + "ping 8.8.8.8")}) is False
    assert ping({"process.command_line": b64(("a" * shift + "pong").encode("utf-16le"))}) \
        is False


def test_wide_and_utf16be_base64() -> None:
    # "utf16le: cmd > 63 00 6d 00 64 00" (`wide` is its alias); "utf16be: cmd > 00 63 00 6d 00 64"
    wide = rule("sel:\n    fieldA|wide|base64: 'cmd'\ncondition: sel")
    assert wide({"fieldA": b64(bytes.fromhex("63006d006400"))}) is True
    assert wide({"fieldA": b64("cmd")}) is False
    big = rule("sel:\n    fieldA|utf16be|base64: 'cmd'\ncondition: sel")
    assert big({"fieldA": b64(bytes.fromhex("0063006d0064"))}) is True
    assert big({"fieldA": b64(bytes.fromhex("63006d006400"))}) is False


@pytest.mark.parametrize("shift", [0, 1, 2])
def test_utf16be_base64offset(shift: int) -> None:
    cmd = rule("sel:\n    fieldA|utf16be|base64offset|contains: 'cmd'\ncondition: sel")
    payload = b64(bytes(shift) + bytes.fromhex("0063006d0064") + "/c".encode("utf-16be"))
    assert cmd({"fieldA": payload}) is True
    assert cmd({"fieldA": b64(bytes(shift) + "cmt /c".encode("utf-16be"))}) is False
    assert cmd({"fieldA": b64(bytes(shift) + b"cmd /c")}) is False


def test_utf16_is_refused_rather_than_mis_evaluated() -> None:
    # "utf16: Prepends a byte order mark and encodes UTF16, e.g. cmd > FF FE 63 00 6d 00 64 00";
    # pySigma 1.5.1 writes the mark as EF BB BF, so such a rule could never match.
    assert reasons("sel:\n    fieldA|utf16|base64: 'cmd'\ncondition: sel") == [
        "the utf16 modifier (UTF-16 with a byte-order mark) is encoded wrongly by pySigma 1.5.1; "
        "use utf16le (wide) or utf16be"]


def test_utf16le_is_wide() -> None:
    # The appendix lists `utf16le` with `wide` as its alias.
    little = rule("sel:\n    fieldA|utf16le|base64: 'cmd'\ncondition: sel")
    assert little({"fieldA": b64(bytes.fromhex("63006d006400"))}) is True
    assert little({"fieldA": b64(bytes.fromhex("0063006d0064"))}) is False


def test_encoded_values_are_case_insensitive_unless_cased() -> None:
    # Base64 values are strings like any other: case-insensitive by default, `cased` for exact.
    default = rule("sel:\n    fieldA|base64offset|contains: '/bin/bash'\ncondition: sel")
    assert default({"fieldA": "l2jpbi9iyxno"}) is True
    assert default({"fieldA": "L2Jpbi9iYXN"}) is False
    cased = rule("sel:\n    fieldA|base64offset|contains|cased: '/bin/bash'\ncondition: sel")
    assert cased({"fieldA": "xL2Jpbi9iYXNox"}) is True
    assert cased({"fieldA": "xl2jpbi9iyxnox"}) is False


# ---------------------------------------------------------------------------------------------
# windash: "-, /, – (en dash), — (em dash), and ― (horizontal bar)"
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dash", ["-", "/", "\u2013", "\u2014", "\u2015"])
def test_windash(dash: str) -> None:
    # sigmahq.io: `fieldname|windash|contains: [" -param-name ", " -f "]`
    flags = rule("""
        selection:
            fieldname|windash|contains:
                - ' -param-name '
                - ' -f '
        condition: selection
    """)
    assert flags({"fieldname": f"tool.exe {dash}param-name x"}) is True
    assert flags({"fieldname": f"tool.exe {dash}F x"}) is True
    assert flags({"fieldname": f"tool.exe {dash}param{dash}name x"}) is (dash == "-")
    assert flags({"fieldname": f"tool.exe {dash}{dash}f x"}) is False
    assert flags({"fieldname": "tool.exe param-name f"}) is False
    exact = rule("sel:\n    fieldname|windash: '-enc'\ncondition: sel")
    assert exact({"fieldname": f"{dash}ENC"}) is True
    assert exact({"fieldname": f"+enc{dash}"}) is False


def test_windash_contains_all() -> None:
    both = rule("""
        sel:
            CommandLine|windash|contains|all:
                - ' -a '
                - ' -b '
        condition: sel
    """, PROCESS_CREATION)
    assert both({"process.command_line": "x /a \u2014b y"}) is True
    assert both({"process.command_line": "x /a y"}) is False


# ---------------------------------------------------------------------------------------------
# Numeric modifiers gt, gte, lt, lte and neq
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "gt", "gte", "lt", "lte"), [
    (14, False, False, True, True),
    (15, False, True, False, True),
    (16, True, True, False, False),
    ("14", False, False, True, True),
    ("15", False, True, False, True),
    ("16", True, True, False, False),
    ("14.5", False, False, True, True),
    (15.5, True, True, False, False),
    ([3, 99], True, True, True, True),  # a list: any element
    ("fifteen", False, False, False, False),
    ("", False, False, False, False),
    ("inf", False, False, False, False),
    ("NaN", False, False, False, False),
    (True, False, False, False, False),
    (None, False, False, False, False),
])
def test_compare(value: Any, gt: bool, gte: bool, lt: bool, lte: bool) -> None:
    # sigmahq.io: `fieldname|gt: 15` → fieldname>15, and gte, lt, lte alike
    for op, expected in (("gt", gt), ("gte", gte), ("lt", lt), ("lte", lte)):
        selection = rule(f"sel:\n    fieldname|{op}: 15\ncondition: sel")
        assert selection({"fieldname": value}) is expected, op


def test_compare_with_a_decimal_limit() -> None:
    above = rule("sel:\n    fieldname|gt: 1.5\ncondition: sel")
    assert above({"fieldname": "1.6"}) is True
    assert above({"fieldname": 1.5}) is False


@pytest.mark.parametrize(("detection", "event", "expected"), [
    # "neq: The field is different from the value. It's can be used with string or number."
    ("fieldA|neq: 15", {"fieldA": 14}, True),
    ("fieldA|neq: 15", {"fieldA": 15}, False),
    ("fieldA|neq: 15", {"fieldA": "15"}, False),
    ("fieldA|neq: abc", {"fieldA": "abd"}, True),
    ("fieldA|neq: abc", {"fieldA": "ABC"}, False),
    ("fieldA|neq:\n        - abc\n        - def", {"fieldA": "ghi"}, True),
    ("fieldA|neq:\n        - abc\n        - def", {"fieldA": "DEF"}, False),
    # negation, as `not`: an absent field is different
    ("fieldA|neq: abc", {}, True),
])
def test_neq(detection: str, event: dict[str, Any], expected: bool) -> None:
    assert rule(f"sel:\n    {detection}\ncondition: sel")(event) is expected


# ---------------------------------------------------------------------------------------------
# fieldref ("compare fields of matched events directly at query/matching time")
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("modifiers", "event", "expected"), [
    ("fieldref", {"fieldA": "Admin", "fieldB": "admin"}, True),
    ("fieldref", {"fieldA": "admin2", "fieldB": "admin"}, False),
    ("fieldref", {"fieldA": "admin"}, False),
    ("fieldref", {"fieldA": ["root", "admin"], "fieldB": "admin"}, True),
    ("fieldref", {"fieldA": "admin", "fieldB": ["root", "ADMIN"]}, True),
    ("fieldref", {"fieldA": ["root"], "fieldB": ["admin"]}, False),
    ("fieldref", {"fieldA": 500, "fieldB": "500"}, True),
    ("fieldref|startswith", {"fieldA": "abcdef", "fieldB": "ABC"}, True),
    ("fieldref|startswith", {"fieldA": "xabc", "fieldB": "abc"}, False),
    ("fieldref|endswith", {"fieldA": "xxABC", "fieldB": "abc"}, True),
    ("fieldref|endswith", {"fieldA": "abcxx", "fieldB": "abc"}, False),
    ("fieldref|contains", {"fieldA": "xxabcxx", "fieldB": "ABC"}, True),
    ("fieldref|contains", {"fieldA": "abc", "fieldB": "abc"}, True),
    ("fieldref|contains", {"fieldA": "xxabxx", "fieldB": "abc"}, False),
    # "Can be combined with the neq modifier."
    ("fieldref|neq", {"fieldA": "abd", "fieldB": "abc"}, True),
    ("fieldref|neq", {"fieldA": "ABC", "fieldB": "abc"}, False),
])
def test_fieldref(modifiers: str, event: dict[str, Any], expected: bool) -> None:
    assert rule(f"sel:\n    fieldA|{modifiers}: fieldB\ncondition: sel")(event) is expected


def test_fieldref_with_mapped_windows_fields() -> None:
    # Both names go through the ECS pipeline: Image and ParentImage.
    same = rule("""
        selection:
            Image|fieldref: ParentImage
        condition: selection
    """, PROCESS_CREATION)
    assert same({"process.executable": "C:\\a.exe", "process.parent.executable": "c:\\A.exe"}) \
        is True
    assert same({"process.executable": "C:\\a.exe", "process.parent.executable": "C:\\b.exe"}) \
        is False


# ---------------------------------------------------------------------------------------------
# expand and placeholders
# ---------------------------------------------------------------------------------------------

def test_expand_to_value_list() -> None:
    # sigmahq.io, `expand`: `user|expand: "%administrator_name%"` with vars
    # administrator_name: Administrator → user="Administrator"
    admin = rule("sel:\n    user|expand: '%administrator_name%'\ncondition: sel",
                 placeholders={"administrator_name": ["Administrator"]})
    assert admin({"user": "administrator"}) is True
    assert admin({"user": "Administrators"}) is False
    servers = rule("sel:\n    host.name|expand: '%Servers%'\ncondition: sel",
                   placeholders={"Servers": ["srv-mail", "srv-portal*"]})
    assert servers({"host.name": "SRV-MAIL"}) is True
    assert servers({"host.name": "srv-portal-02"}) is True
    assert servers({"host.name": "ws-0042"}) is False


@pytest.mark.parametrize(("detection", "event_value", "expected"), [
    # "`field: %name%` handles %name% as literal value."
    ("fieldA: '%name%'", "%name%", True),
    ("fieldA: '%name%'", "x", False),
    # "`field|expand: \%plain%name%` handles %plain as plain value and %name% as placeholder."
    (r"fieldA|expand: '\%plain%name%'", "%plainx", True),
    (r"fieldA|expand: '\%plain%name%'", "%plainy", False),
    (r"fieldA|expand: '\%plain%name%'", "%plain%name%", False),
    ("fieldA|expand|contains: '%name%'", "axb", True),
    ("fieldA|expand|contains: '%name%'", "ayb", False),
    ("fieldA|expand: 'pre-%name%-*'", "PRE-X-post", True),
    ("fieldA|expand: 'pre-%name%-*'", "pre-y-post", False),
])
def test_expand_escapes(detection: str, event_value: str, expected: bool) -> None:
    selection = rule(f"sel:\n    {detection}\ncondition: sel", placeholders={"name": ["x"]})
    assert selection({"fieldA": event_value}) is expected


@pytest.mark.xfail(strict=True, reason="pySigma 1.5.1 reads '\\\\%name%' (an escaped backslash, "
                   "then a placeholder) as an escaped '%': no placeholder after a backslash")
def test_expand_after_a_backslash() -> None:
    home = rule("""
        sel:
            fieldA|expand: 'C:\\Users\\\\%admins%\\\\*'
        condition: sel
    """, placeholders={"admins": ["root"]})
    assert home({"fieldA": "C:\\Users\\root\\Desktop"}) is True


def test_missing_placeholder_value_skips_the_rule() -> None:
    # "If the tool isn't able to handle placeholders, it must reject the rule."
    ruleset = load("sel:\n    user|expand: '%Administrators%'\ncondition: sel",
                   placeholders={"Servers": ["srv"]})
    assert ruleset.detections == []
    assert [str(p) for p in ruleset.errors] == [
        f"spec.yml:1: rule {RULE_ID} error: Placeholder replacement variable 'Administrators' "
        "doesn't exists."]


# ---------------------------------------------------------------------------------------------
# Time modifiers ("it extracts a numeric value from a date"; no timezone conversion)
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("part", "value", "other"), [
    ("minute", 4, 5),
    ("hour", 3, 4),
    ("day", 21, 20),
    ("week", 47, 46),
    ("month", 11, 12),
    ("year", 2026, 2025),
])
def test_timestamp_parts(part: str, value: int, other: int) -> None:
    exact = rule(f"sel:\n    '@timestamp|{part}': {value}\ncondition: sel")
    assert exact({"@timestamp": T}) is True
    assert exact({"@timestamp": datetime(2026, 11, 21, 3, 4, 5, tzinfo=UTC)}) is True
    assert exact({"@timestamp": "not a date"}) is False
    assert exact({}) is False
    near = rule(f"sel:\n    '@timestamp|{part}': {other}\ncondition: sel")
    assert near({"@timestamp": T}) is False
    assert near({"@timestamp": datetime(2026, 11, 21, 3, 4, 5, tzinfo=UTC)}) is False


def test_timestamp_part_as_written() -> None:
    # "It is not designed to handle timezone or format conversions": 03:04 at UTC+7 is hour 3.
    night = rule("sel:\n    '@timestamp|hour':\n        - 1\n        - 3\ncondition: sel")
    assert night({"@timestamp": "2026-11-21T03:04:05+07:00"}) is True
    assert night({"@timestamp": datetime(2026, 11, 21, 3, 4,
                                         tzinfo=timezone(timedelta(hours=7)))}) is True
    assert night({"@timestamp": "2026-11-21T02:59:59.999Z"}) is False
    assert night({"@timestamp": "2026-11-21T01:00:00Z"}) is True


# ---------------------------------------------------------------------------------------------
# List-valued event fields: any element matches
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("detection", "values", "expected"), [
    ("fieldA: admin", ["root", "ADMIN"], True),
    ("fieldA: admin", ["root", "administrator"], False),
    ("fieldA|contains: dmi", ["x", "admin"], True),
    ("fieldA|contains: dmi", ["x", "y"], False),
    ("fieldA|startswith: ad", ["root", "admin"], True),
    ("fieldA|endswith: in", ["admin", "root"], True),
    ("fieldA|endswith: in", ["admins", "root"], False),
    ("fieldA: 4624", [4625, 4624], True),
    ("fieldA: 4624", [4625, 46240], False),
    ("fieldA|cased: Admin", ["admin", "Admin"], True),
    ("fieldA|cased: Admin", ["admin", "ADMIN"], False),
])
def test_list_valued_fields(detection: str, values: list[Any], expected: bool) -> None:
    assert rule(f"sel:\n    {detection}\ncondition: sel")({"fieldA": values}) is expected


def test_negated_selection_on_a_list_field() -> None:
    # not (any element is admin)
    none_admin = rule("sel:\n    fieldA: admin\ncondition: not sel")
    assert none_admin({"fieldA": ["root", "guest"]}) is True
    assert none_admin({"fieldA": ["root", "admin"]}) is False


# ---------------------------------------------------------------------------------------------
# Rules the loader refuses: a problem naming the source and the rule's first line; the other
# rules of the same text still load
# ---------------------------------------------------------------------------------------------

GOOD = "selection:\n    url.path: /ok\ncondition: selection"


def _documents(*detections: str) -> str:
    return "---\n".join(
        rule_text(d, rule_id=f"00000000-0000-4000-8000-00000000000{i}", title=f"rule {i}")
        for i, d in enumerate(detections, 1))


@pytest.mark.parametrize(("detection", "reason"), [
    ("selection:\n    url.path|nosuch: /x\ncondition: selection",
     "Unknown modifier 'nosuch'"),
    ("selection:\n    url.path|re: 'a(b'\ncondition: selection",
     "Regular expression 'a(b' is invalid: missing ), unterminated subpattern at position 1"),
    ("selection:\n    url.path|re: '(a+)+$'\ncondition: selection",
     "regular expression '(a+)+$' can backtrack catastrophically (a repetition inside a "
     "repetition, or a back-reference); rewrite it without them"),
    ("selection:\n    url.path|re: '(\\w+\\s?)*$'\ncondition: selection",
     "regular expression '(\\w+\\s?)*$' can backtrack catastrophically (a repetition inside a "
     "repetition, or a back-reference); rewrite it without them"),
    ("selection:\n    url.path|re: '(a)\\1'\ncondition: selection",
     "regular expression '(a)\\1' can backtrack catastrophically (a repetition inside a "
     "repetition, or a back-reference); rewrite it without them"),
    ("selection:\n    url.path: /x\ncondition: selection and nosuch",
     "Detection 'nosuch' not defined in detections"),
    ("selection:\n    url.path: /x\ncondition: selection and",
     "Expected {{{'1' | 'any' | 'all'} 'of' W:(*0-9A-Z_a-z)} | W:(-0-9A-Z_a-z)}, found end of "
     "text  (at char 13), (line:1, col:14)"),
    ("selection:\n    url.path: /x\ncondition: (selection",
     "Unbalanced parentheses or expression syntax error, found end of text  (at char 10), "
     "(line:1, col:11)"),
    ("selection:\n    url.path: /x\ncondition: selection selection",
     "Expected end of text, found 'selection'  (at char 10), (line:1, col:11)"),
    # only `1 of`, `any of` and `all of` exist
    ("selection:\n    url.path: /x\ncondition: 2 of selection*",
     "Expected end of text, found 'of'  (at char 2), (line:1, col:3)"),
    ("selection:\n    url.path: /x\ncondition: selection and not 1 of filter*",
     "an 'of' pattern in the condition matches no search identifier"),
    ("selection:\n    url.path|cidr: 10.1.2.3/8\ncondition: selection",
     "Invalid CIDR expression: 10.1.2.3/8 has host bits set"),
    ("selection:\n    '@timestamp|hour': 'three'\ncondition: selection",
     "Modifier SigmaTimestampHourModifier incompatible to value type of 'three'"),
])
def test_refused_rule_among_good_ones(detection: str, reason: str) -> None:
    ruleset = load_rule_text(_documents(GOOD, detection, GOOD), "rules/web.yml")
    assert [str(p) for p in ruleset.errors] == [
        f"rules/web.yml:9: rule 00000000-0000-4000-8000-000000000002 error: {reason}"]
    assert [d.id for d in ruleset.detections] == [
        "00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000003"]
    assert ruleset.detections[1].matches({"event.dataset": "apache.access", "url.path": "/OK"})


INVALID_YAML = "selection:\n    url.path: [/x\ncondition: selection"


def test_invalid_yaml() -> None:
    ruleset = load_rule_text(_documents(GOOD, INVALID_YAML, GOOD), "rules/web.yml")
    assert len(ruleset.errors) == 1
    problem = ruleset.errors[0]
    # The line is where the YAML parser stopped (the rule's document begins at line 9).
    assert str(problem).startswith(
        "rules/web.yml:15: error: invalid YAML: while parsing a flow sequence")
    assert "expected ',' or ']', but got ':'" in problem.reason
    assert [d.id for d in ruleset.detections][:1] == ["00000000-0000-4000-8000-000000000001"]


def test_rules_after_invalid_yaml_still_load() -> None:
    ruleset = load_rule_text(_documents(GOOD, INVALID_YAML, GOOD), "rules/web.yml")
    assert [d.id for d in ruleset.detections] == [
        "00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000003"]
