"""Streaming Sigma correlation: real Sigma YAML parsed by pySigma, events fed by hand."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sigma.collection import SigmaCollection
from sigma.correlations import SigmaCorrelationRule

from rules.correlation import CorrelationEngine, CorrelationRule, compile_correlation
from rules.errors import RuleError

FAILED = "6f1c2a50-7d4e-4c1b-9a0e-000000000001"
SUCCESS = "6f1c2a50-7d4e-4c1b-9a0e-000000000002"
AGENCY = "000.00.12.H45"
BASE = datetime(2026, 11, 21, 3, 0, 0, tzinfo=UTC)

DETECTIONS = f"""
title: SSH failed login
id: {FAILED}
name: ssh_failed
logsource: {{product: linux, service: sshd}}
detection: {{selection: {{event.outcome: failure}}, condition: selection}}
---
title: SSH successful login
id: {SUCCESS}
name: ssh_success
logsource: {{product: linux, service: sshd}}
detection: {{selection: {{event.outcome: success}}, condition: selection}}
"""

CORRELATIONS = """
title: SSH brute force
id: 0e95725d-7320-415d-80f7-0000000000c1
level: high
tags: [attack.credential-access, attack.t1110.001]
correlation:
    type: event_count
    rules: [ssh_failed]
    group-by: [source.ip]
    timespan: 5m
    condition: {gte: 10}
---
title: Password spray
id: 0e95725d-7320-415d-80f7-0000000000c2
correlation:
    type: value_count
    rules: [6f1c2a50-7d4e-4c1b-9a0e-000000000001]
    group-by: [source.ip]
    timespan: 10m
    condition: {field: user.name, gte: 3}
---
title: Few logins
id: 0e95725d-7320-415d-80f7-0000000000c3
correlation:
    type: event_count
    rules: [ssh_success]
    group-by: [host.name]
    timespan: 1h
    condition: {lt: 3}
---
title: Failure and success
id: 0e95725d-7320-415d-80f7-0000000000c4
correlation:
    type: temporal
    rules: [ssh_failed, ssh_success]
    group-by: [user.name]
    timespan: 10m
---
title: Failure then success
id: 0e95725d-7320-415d-80f7-0000000000c5
correlation:
    type: temporal_ordered
    rules: [ssh_failed, 6f1c2a50-7d4e-4c1b-9a0e-000000000002]
    group-by: [user.name]
    timespan: 10m
"""

_ids = itertools.count()


def ts(seconds: float) -> str:
    return (BASE + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def ev(seconds: float, event_id: str | None = None, **fields: Any) -> dict[str, Any]:
    """An event `seconds` after BASE; keyword names use `_` for `.` (source_ip: source.ip)."""
    event = {"@timestamp": ts(seconds), "event.id": event_id or f"e{next(_ids)}",
             "organization.id": AGENCY}
    event.update({name.replace("_", "."): value for name, value in fields.items()})
    return event


def references(collection: SigmaCollection) -> dict[str, str]:
    """Every rule's name and id to its id, as the detection engine builds it."""
    refs: dict[str, str] = {}
    for rule in collection.rules:
        refs[str(rule.id)] = str(rule.id)
        if rule.name:
            refs[rule.name] = str(rule.id)
    return refs


def compile_all(yaml_text: str) -> list[CorrelationRule]:
    collection = SigmaCollection.from_yaml(yaml_text)
    refs = references(collection)
    return [compile_correlation(rule, refs, source="test.yml") for rule in collection.rules
            if isinstance(rule, SigmaCorrelationRule)]


def engine(title: str, yaml_text: str = DETECTIONS + "---" + CORRELATIONS,
           **kwargs: Any) -> CorrelationEngine:
    return CorrelationEngine([r for r in compile_all(yaml_text) if r.info.name == title],
                             **kwargs)


def feed(engine_: CorrelationEngine, items: Iterable[tuple[str, dict[str, Any]]]
         ) -> list[dict[str, Any]]:
    return [alert for rule_id, event in items for alert in engine_.observe(rule_id, event)]


def ids(alerts: Sequence[dict[str, Any]]) -> list[list[str]]:
    return [alert["event.ids"] for alert in alerts]


def test_compiled_rule_carries_what_alerts_need() -> None:
    rule = next(r for r in compile_all(DETECTIONS + "---" + CORRELATIONS)
                if r.info.name == "Failure then success")
    assert rule.rule_ids == (FAILED, SUCCESS)
    assert rule.info.id == "0e95725d-7320-415d-80f7-0000000000c5"
    assert rule.info.type == "temporal_ordered"
    assert rule.info.group_by == ("user.name",)
    assert rule.info.source == "test.yml"
    assert rule.generate is False
    brute = next(r for r in compile_all(DETECTIONS + "---" + CORRELATIONS)
                 if r.info.name == "SSH brute force")
    assert (brute.info.level, brute.info.tags) == (
        "high", ("attack.credential-access", "attack.t1110.001"))
    assert brute.info.techniques == ("T1110.001",)


def test_event_count_gte_fires_once_per_window_and_group() -> None:
    eng = engine("SSH brute force")
    attacker = [ev(i * 10, f"a{i}", source_ip="203.0.113.7", user_name="root")
                for i in range(12)]
    other = [ev(i * 10 + 1, f"o{i}", source_ip="198.51.100.9") for i in range(9)]
    alerts = feed(eng, [(FAILED, e) for pair in zip(attacker, other, strict=False)
                        for e in pair] + [(FAILED, e) for e in attacker[9:]])
    assert len(alerts) == 1
    alert = alerts[0]
    assert alert["rule.id"] == "0e95725d-7320-415d-80f7-0000000000c1"
    assert alert["rule.type"] == "event_count"
    assert alert["rule.level"] == "high"
    assert alert["message"] == "SSH brute force: 10 events from source.ip=203.0.113.7 within 5m"
    assert alert["alert.matches"] == {"source.ip": "203.0.113.7", "count": 10}
    assert alert["event.ids"] == [f"a{i}" for i in range(10)]
    assert alert["alert.event_count"] == 10
    assert alert["alert.group_key"] == f"source.ip=203.0.113.7|organization.id={AGENCY}"
    assert alert["alert.first_seen"] == ts(0)
    assert alert["@timestamp"] == ts(90)
    assert alert["source.ip"] == "203.0.113.7"
    assert alert["threat.technique.id"] == ["T1110.001"]
    # The window started afresh: a0..a9 fired, a10 and a11 (and 9 from the other ip) do not.
    assert eng.open_windows == 2


def test_event_count_not_raised_when_events_are_spread_beyond_timespan() -> None:
    eng = engine("SSH brute force")
    alerts = feed(eng, [(FAILED, ev(i * 40, source_ip="203.0.113.7")) for i in range(30)])
    assert alerts == []


def test_event_count_slides_old_events_out() -> None:
    eng = engine("SSH brute force")
    early = [ev(i, f"x{i}", source_ip="203.0.113.7") for i in range(9)]  # t = 0..8
    late = [ev(305, f"y{i}", source_ip="203.0.113.7") for i in range(6)]  # all at t = 305
    alerts = feed(eng, [(FAILED, e) for e in early + late])
    # At t=305 the 5m window [5, 305] holds x5..x8 and y0..y5: x0..x4 slid out of it.
    assert ids(alerts) == [[f"x{i}" for i in range(5, 9)] + [f"y{i}" for i in range(6)]]
    assert alerts[0]["alert.first_seen"] == ts(5)


def test_value_count_counts_distinct_values() -> None:
    eng = engine("Password spray")
    users = ["alice", "bob", "alice", None, "bob", "carol", "dave"]
    events = [ev(i * 30, f"s{i}", source_ip="192.0.2.50", **({"user_name": u} if u else {}))
              for i, u in enumerate(users)]
    alerts = feed(eng, [(FAILED, e) for e in events])
    assert len(alerts) == 1
    assert alerts[0]["alert.matches"] == {"source.ip": "192.0.2.50", "distinct.user.name": 3}
    assert alerts[0]["alert.event_count"] == 6
    assert alerts[0]["event.ids"] == [f"s{i}" for i in range(6)]
    assert alerts[0]["message"] == (
        "Password spray: 3 distinct user.name from source.ip=192.0.2.50 within 10m")


def test_lt_condition_fires_when_the_window_closes() -> None:
    eng = engine("Few logins")
    quiet = [ev(0, "q0", host_name="web01"), ev(600, "q1", host_name="web01")]
    busy = [ev(10 + i, f"b{i}", host_name="mail01") for i in range(3)]
    assert feed(eng, [(SUCCESS, e) for e in quiet + busy]) == []
    assert eng.open_windows == 2
    # web01's window ends at 3600 (inclusive); mail01's at 3610: an event at 3605 closes one.
    alerts = eng.observe(SUCCESS, ev(3605, "n0", host_name="db01"))
    assert ids(alerts) == [["q0", "q1"]]
    assert alerts[0]["alert.matches"] == {"host.name": "web01", "count": 2}
    assert alerts[0]["message"] == "Few logins: 2 events from host.name=web01 within 1h"
    assert eng.open_windows == 2  # mail01 (3 events: no alert when it closes) and db01
    assert ids(eng.flush()) == [["n0"]]
    assert eng.open_windows == 0


def test_temporal_fires_in_any_order() -> None:
    eng = engine("Failure and success")
    alerts = feed(eng, [(SUCCESS, ev(0, "ok", user_name="alice")),
                        (FAILED, ev(5, "ko-bob", user_name="bob")),
                        (FAILED, ev(60, "ko", user_name="alice"))])
    assert ids(alerts) == [["ok", "ko"]]
    assert alerts[0]["alert.matches"] == {"user.name": "alice",
                                          "rules": ["ssh_failed", "ssh_success"]}
    assert alerts[0]["message"] == (
        "Failure and success: rules ssh_failed, ssh_success matched from user.name=alice "
        "within 10m")


def test_temporal_needs_all_rules_within_timespan() -> None:
    eng = engine("Failure and success")
    assert feed(eng, [(SUCCESS, ev(0, user_name="alice")),
                      (FAILED, ev(601, user_name="alice"))]) == []


def test_temporal_ordered_needs_the_written_order() -> None:
    eng = engine("Failure then success")
    wrong = [(SUCCESS, ev(0, "s0", user_name="alice")), (FAILED, ev(10, "f0", user_name="alice"))]
    assert feed(eng, wrong) == []
    right = [(FAILED, ev(20, "f", user_name="bob")), (SUCCESS, ev(30, "s", user_name="bob"))]
    alerts = feed(eng, right)
    assert ids(alerts) == [["f", "s"]]
    assert alerts[0]["message"].endswith("matched in order from user.name=bob within 10m")
    # alice's failure (t=10) followed by a success does complete her sequence.
    assert ids(feed(eng, [(SUCCESS, ev(40, "s1", user_name="alice"))])) == [["s0", "f0", "s1"]]


ALIASES = """
title: Internal error
id: 9a3f0c1e-0000-4000-8000-000000000001
name: internal_error
logsource: {category: webserver}
detection: {selection: {http.response.status_code: 500}, condition: selection}
---
title: New network connection
id: 9a3f0c1e-0000-4000-8000-000000000002
name: new_network_connection
logsource: {category: network_connection}
detection:
    selection: {event.category: network, event.type: connection, event.outcome: success}
    condition: selection
---
title: Error then connection back
id: 9a3f0c1e-0000-4000-8000-0000000000c1
correlation:
    type: temporal
    rules: [internal_error, new_network_connection]
    group-by: [internal_ip, remote_ip]
    timespan: 10s
    aliases:
        internal_ip:
            internal_error: destination.ip
            new_network_connection: source.ip
        remote_ip:
            internal_error: source.ip
            new_network_connection: destination.ip
"""


def test_aliases_map_group_by_names_to_each_rules_fields() -> None:
    # The specification's field name aliases example.
    eng = engine("Error then connection back", ALIASES)
    error_id = "9a3f0c1e-0000-4000-8000-000000000001"
    conn_id = "9a3f0c1e-0000-4000-8000-000000000002"
    error = ev(0, "err", source_ip="203.0.113.5", destination_ip="10.1.2.3")
    unrelated = ev(2, "conn0", source_ip="10.1.2.3", destination_ip="203.0.113.99")
    back = ev(4, "conn1", source_ip="10.1.2.3", destination_ip="203.0.113.5")
    alerts = feed(eng, [(error_id, error), (conn_id, unrelated), (conn_id, back)])
    assert ids(alerts) == [["err", "conn1"]]
    assert alerts[0]["alert.matches"] == {
        "internal_ip": "10.1.2.3", "remote_ip": "203.0.113.5",
        "rules": ["internal_error", "new_network_connection"]}
    assert alerts[0]["alert.group_key"] == (
        f"internal_ip=10.1.2.3|remote_ip=203.0.113.5|organization.id={AGENCY}")


def test_missing_group_by_field_groups_under_the_empty_value() -> None:
    eng = engine("SSH brute force")
    alerts = feed(eng, [(FAILED, ev(i, f"n{i}")) for i in range(10)])
    assert alerts[0]["alert.matches"] == {"source.ip": "", "count": 10}
    assert alerts[0]["alert.group_key"] == f"source.ip=|organization.id={AGENCY}"


def test_missing_reference_is_a_rule_error_naming_it() -> None:
    # Parsed alone, so pySigma does not resolve it against a collection first.
    broken = SigmaCorrelationRule.from_yaml("""
title: Broken
id: 0e95725d-7320-415d-80f7-0000000000d1
correlation:
    type: temporal
    rules: [ssh_failed, sudo_abuse]
    group-by: [user.name]
    timespan: 5m
""")
    refs = references(SigmaCollection.from_yaml(DETECTIONS))
    with pytest.raises(RuleError, match=r"references unknown rule\(s\): sudo_abuse"):
        compile_correlation(broken, refs)


@pytest.mark.parametrize(("correlation", "reason"), [
    ("type: value_median\n    condition: {field: network.bytes, gte: 5}", "value_median"),
    ("type: temporal_ordered\n    condition: ssh_failed and not ssh_success", "temporal"),
])
def test_unsupported_correlations_are_rule_errors(correlation: str, reason: str) -> None:
    collection = SigmaCollection.from_yaml(DETECTIONS + f"""---
title: Unsupported
id: 0e95725d-7320-415d-80f7-0000000000d2
correlation:
    {correlation}
    rules: [ssh_failed, ssh_success]
    group-by: [user.name]
    timespan: 5m
""")
    with pytest.raises(RuleError, match=reason):
        compile_correlation(collection.rules[-1], references(collection))


def test_max_groups_drops_the_oldest_window() -> None:
    eng = engine("SSH brute force", max_groups=2)
    feed(eng, [(FAILED, ev(i, source_ip=f"192.0.2.{i}")) for i in range(3)])
    assert (eng.open_windows, eng.dropped) == (2, 1)
    # 192.0.2.0 was dropped: 9 more of its events open a new window, short of 10.
    assert feed(eng, [(FAILED, ev(10 + i, source_ip="192.0.2.0")) for i in range(9)]) == []
    assert eng.dropped == 2


def test_windows_are_evicted_once_the_watermark_passes() -> None:
    eng = engine("SSH brute force")
    feed(eng, [(FAILED, ev(i, source_ip=f"192.0.2.{i}")) for i in range(50)])
    assert eng.open_windows == 50
    feed(eng, [(FAILED, ev(200, source_ip="192.0.2.1"))])  # slides, stays open
    assert eng.open_windows == 50
    # Events of any rule move event time on; past 49 + 300 only the t=200 window is left.
    eng.observe(SUCCESS, ev(350))
    assert eng.open_windows == 1
    eng.observe(SUCCESS, ev(501))
    assert eng.open_windows == 0


def test_replaying_the_same_events_raises_identical_alerts() -> None:
    rules = compile_all(DETECTIONS + "---" + CORRELATIONS)
    stream = sorted(
        [(FAILED, ev(i * 7, source_ip="203.0.113.7", user_name=f"u{i % 4}")) for i in range(40)]
        + [(SUCCESS, ev(100.5 + i, host_name="web01", user_name="u1")) for i in range(2)],
        key=lambda item: item[1]["@timestamp"])

    def run() -> list[dict[str, Any]]:
        eng = CorrelationEngine(rules)
        return feed(eng, stream) + eng.flush()

    first, second = run(), run()
    assert first == second
    # Failures every 7s from one address, users u0..u3 in turn; u1 logs in at 100.5 and 101.5.
    assert Counter(a["rule.name"] for a in first) == {
        "SSH brute force": 4,  # the 10th, 20th, 30th and 40th failure
        "Password spray": 13,  # every 3rd failure brings a 3rd distinct user
        "Failure and success": 2,  # u1's 1st login (after failures); 2nd login + next failure
        "Failure then success": 1,  # only the 1st login follows a failure in a fresh window
        "Few logins": 1,  # web01: 2 logins in its hour, closed by flush
    }
    assert len({a["id"] for a in first}) == len(first)


def test_flood_keeps_100_event_ids_but_counts_all() -> None:
    eng = engine("Few logins", DETECTIONS + "---" + CORRELATIONS.replace("lt: 3", "lt: 5000"))
    assert feed(eng, [(SUCCESS, ev(i * 0.5, f"f{i}", host_name="web01"))
                      for i in range(1000)]) == []
    alerts = eng.flush()
    assert alerts[0]["alert.event_count"] == 1000
    assert alerts[0]["alert.matches"]["count"] == 1000
    assert alerts[0]["event.ids"] == [f"f{i}" for i in range(99)] + ["f999"]


VALUES = DETECTIONS + """---
title: Large upload
id: 0e95725d-7320-415d-80f7-0000000000e1
correlation:
    type: value_sum
    rules: [ssh_success]
    group-by: [user.name]
    timespan: 1m
    condition: {field: network.bytes, gte: 1000}
---
title: Small average
id: 0e95725d-7320-415d-80f7-0000000000e2
correlation:
    type: value_avg
    rules: [ssh_success]
    group-by: [user.name]
    timespan: 1m
    condition: {field: network.bytes, lt: 100}
---
title: Failure without success
id: 0e95725d-7320-415d-80f7-0000000000e3
correlation:
    type: temporal
    rules: [ssh_failed, ssh_success]
    group-by: [user.name]
    timespan: 1m
    condition: ssh_failed and not ssh_success
"""


def test_value_sum_and_value_avg() -> None:
    total = engine("Large upload", VALUES)
    sizes = [400, "350", None, 300]
    events = [ev(i * 10, f"v{i}", user_name="alice", **({"network_bytes": s} if s else {}))
              for i, s in enumerate(sizes)]
    alerts = feed(total, [(SUCCESS, e) for e in events])
    assert alerts[0]["alert.matches"] == {"user.name": "alice", "sum.network.bytes": 1050.0}
    assert alerts[0]["message"] == (
        "Large upload: sum of network.bytes 1050 from user.name=alice within 1m")
    average = engine("Small average", VALUES)
    assert feed(average, [(SUCCESS, e) for e in events]) == []
    small = [ev(i, user_name="bob", network_bytes=b) for i, b in enumerate([10, 20, 60])]
    assert feed(average, [(SUCCESS, e) for e in small]) == []
    closed = average.flush()
    assert [a["alert.matches"] for a in closed] == [{"user.name": "bob", "avg.network.bytes": 30}]


def test_temporal_expression_with_not_is_judged_at_window_close() -> None:
    eng = engine("Failure without success", VALUES)
    feed(eng, [(FAILED, ev(0, "a1", user_name="alice")), (FAILED, ev(1, "b1", user_name="bob")),
               (SUCCESS, ev(30, "b2", user_name="bob"))])
    alerts = eng.observe(FAILED, ev(61, "c1", user_name="carol"))
    assert ids(alerts) == [["a1"]]
    assert alerts[0]["alert.matches"]["rules"] == ["ssh_failed"]


# The Sigma correlation specification's examples, as written there.
SPEC = """
title: Failed logon
id: 5638f7c0-ac70-491d-8465-2a65075e0d86
logsource: {product: windows, service: security}
detection: {selection: {EventID: 4625}, condition: selection}
---
title: Many failed logins
id: 0e95725d-7320-415d-80f7-004da920fc11
correlation:
    type: event_count
    rules:
        - 5638f7c0-ac70-491d-8465-2a65075e0d86
    group-by:
        - ComputerName
    timespan: 1h
    condition:
        gte: 100
---
title: Failed login
id: 0e95725d-7320-415d-80f7-004da920fc12
correlation:
    type: value_count
    rules:
        - 5638f7c0-ac70-491d-8465-2a65075e0d86
    group-by:
        - ComputerName
        - WorkstationName
    timespan: 1d
    condition:
        field: User
        gte: 100
"""
SPEC_FAILED = "5638f7c0-ac70-491d-8465-2a65075e0d86"


def test_spec_many_failed_logins() -> None:
    eng = engine("Many failed logins", SPEC)
    events = [ev(i * 30, ComputerName="DC01") for i in range(99)]
    assert feed(eng, [(SPEC_FAILED, e) for e in events]) == []
    alerts = eng.observe(SPEC_FAILED, ev(99 * 30, ComputerName="DC01"))
    assert alerts[0]["alert.matches"] == {"ComputerName": "DC01", "count": 100}
    assert len(alerts[0]["event.ids"]) == 100
    # The 2nd hour starts afresh; 99 more within an hour (DC02 too) raise nothing.
    more = [ev(3000 + i, ComputerName=c) for i in range(99) for c in ("DC01", "DC02")]
    assert feed(eng, [(SPEC_FAILED, e) for e in more]) == []


def test_spec_failed_logins_with_many_users() -> None:
    eng = engine("Failed login", SPEC)
    events = [ev(i * 60, ComputerName="DC01", WorkstationName="WS7", User=f"user{i % 120}")
              for i in range(150)]
    alerts = feed(eng, [(SPEC_FAILED, e) for e in events])
    assert len(alerts) == 1
    assert alerts[0]["alert.matches"] == {
        "ComputerName": "DC01", "WorkstationName": "WS7", "distinct.User": 100}
    assert alerts[0]["alert.event_count"] == 100
    assert alerts[0]["message"] == (
        "Failed login: 100 distinct User from ComputerName=DC01, WorkstationName=WS7 within 1d")


CHAIN = """
title: Correlation - Multiple Failed Logins Followed by Successful Login
id: b180ead8-d58f-40b2-ae54-c8940995b9b6
correlation:
    type: temporal_ordered
    rules:
        - multiple_failed_login
        - successful_login
    group-by:
        - User
    timespan: 10m
level: high
---
title: Multiple failed logons
id: a8418a5a-5fc4-46b5-b23b-6c73beb19d41
name: multiple_failed_login
correlation:
    type: event_count
    rules:
        - failed_login
    group-by:
        - User
    timespan: 10m
    condition:
        gte: 10
---
title: Single failed login
id: 53ba33fd-3a50-4468-a5ef-c583635cfa92
name: failed_login
logsource: {product: windows, service: security}
detection: {selection: {EventID: [529, 4625]}, condition: selection}
---
title: Successful login
id: 4d0a2c83-c62c-4ed4-b475-c7e23a9269b8
name: successful_login
logsource: {product: windows, service: security}
detection: {selection: {EventID: [528, 4624]}, condition: selection}
"""


def test_spec_chained_failed_logins_followed_by_successful_login() -> None:
    eng = CorrelationEngine(compile_all(CHAIN))
    failed, success = "53ba33fd-3a50-4468-a5ef-c583635cfa92", "4d0a2c83-c62c-4ed4-b475-c7e23a9269b8"
    stream = [(failed, ev(i * 20, f"f{i}", User="bob")) for i in range(10)]
    stream.append((success, ev(400, "s", User="bob")))
    alerts = feed(eng, stream)
    # generate: false (the default) keeps the inner event_count alert to the chain.
    assert [a["rule.id"] for a in alerts] == ["b180ead8-d58f-40b2-ae54-c8940995b9b6"]
    alert = alerts[0]
    assert alert["rule.level"] == "high"
    assert alert["alert.matches"] == {
        "User": "bob", "rules": ["multiple_failed_login", "successful_login"]}
    # The inner alert is not stored: the final one names the events behind it instead.
    assert alert["event.ids"] == [f"f{i}" for i in range(10)] + ["s"]
    assert alert["alert.first_seen"] == ts(180)  # the inner alert's time: its 10th failure
