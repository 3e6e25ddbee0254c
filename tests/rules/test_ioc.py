"""Indicator matching: normalisation, each type's match and near miss, expiry by event time,
pruning, the plain-text and CSV loaders, and the alert an indicator hit raises."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from rules.indicators import Indicator, LoadReport, parse_expiry, parse_indicator
from rules.ioc import (
    DOMAIN_FIELDS,
    EMAIL_FIELDS,
    HASH_FIELDS,
    IP_FIELDS,
    RULE_IDS,
    URL_FIELDS,
    IndicatorHit,
    IndicatorSet,
    indicator_alert,
)

MD5 = "d41d8cd98f00b204e9800998ecf8427e"
SHA1 = "da39a3ee5e6b4b0d3255bfef95601890afd80709"
SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
NOW = "2026-11-21T03:00:00.000000Z"


def event(**fields: Any) -> dict[str, Any]:
    """An event at NOW with dotted field names written with `__` for the dots."""
    base: dict[str, Any] = {"@timestamp": NOW, "event.id": "ev-1"}
    return base | {name.replace("__", "."): value for name, value in fields.items()}


def hits_of(indicator: Indicator, name: str, value: Any) -> list[IndicatorHit]:
    return IndicatorSet([indicator]).match({"@timestamp": NOW, name: value})


@pytest.mark.parametrize(("kind", "written", "normal"), [
    ("ipv4", " 203.0.113.9 ", "203.0.113.9"),
    ("ipv6", "2001:DB8:0:0::1", "2001:db8::1"),
    ("cidr", "10.1.2.3/16", "10.1.0.0/16"),
    ("cidr", "2001:DB8::/32", "2001:db8::/32"),
    ("domain", "Evil.Example.", "evil.example"),
    ("domain", "bücher.example", "xn--bcher-kva.example"),
    ("url", "HTTPS://User@Evil.Example:8443/Path?Q=A#F", "https://User@evil.example:8443/Path?Q=A#F"),
    ("md5", MD5.upper(), MD5),
    ("sha1", SHA1.upper(), SHA1),
    ("sha256", SHA256.upper(), SHA256),
    ("email", "Bad.Actor@Evil.Example", "bad.actor@evil.example"),
])
def test_values_are_normalised(kind: str, written: str, normal: str) -> None:
    assert Indicator(kind, written, "feed").value == normal


@pytest.mark.parametrize(("kind", "value", "reason"), [
    ("ipv4", "2001:db8::1", "'2001:db8::1' is not an IPv4 address"),
    ("ipv4", "300.1.2.3", "invalid IP address '300.1.2.3'"),
    ("cidr", "10.0.0.0/33", "invalid CIDR network '10.0.0.0/33'"),
    ("domain", "evil_host.example", "invalid domain name 'evil_host.example'"),
    ("domain", "localhost", "invalid domain name 'localhost'"),
    ("url", "evil.example/path", "invalid URL 'evil.example/path' (expected scheme://host/…)"),
    ("md5", SHA1, f"'{SHA1}' is not a md5 hash (32 hex digits)"),
    ("email", "nobody@", "invalid e-mail address 'nobody@'"),
    ("mutex", "x", "unknown type 'mutex' (expected one of ipv4, ipv6, cidr, domain, url, md5, "
                   "sha1, sha256, email)"),
])
def test_invalid_values_are_refused(kind: str, value: str, reason: str) -> None:
    with pytest.raises(ValueError) as caught:
        Indicator(kind, value, "feed")
    assert str(caught.value) == reason


def test_unknown_level_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown level 'severe'"):
        Indicator("domain", "evil.example", "feed", level="severe")


@pytest.mark.parametrize(("value", "kind"), [
    ("203.0.113.9", "ipv4"), ("2001:db8::1", "ipv6"), ("10.0.0.0/8", "cidr"),
    ("2001:db8::/32", "cidr"), ("evil.example", "domain"), ("http://evil.example/x", "url"),
    ("bad@evil.example", "email"), (MD5, "md5"), (SHA1, "sha1"), (SHA256, "sha256"),
])
def test_type_is_detected_from_the_value(value: str, kind: str) -> None:
    assert parse_indicator(value, source="feed").type == kind


def test_type_aliases() -> None:
    assert parse_indicator("2001:db8::1", "ip", source="f").type == "ipv6"
    assert parse_indicator("203.0.113.9", "IP-DST", source="f").type == "ipv4"
    assert parse_indicator("evil.example", "hostname", source="f").type == "domain"


@pytest.mark.parametrize(("kind", "value", "name", "seen", "hit"), [
    ("ipv4", "203.0.113.9", "destination.ip", "203.0.113.9", True),
    ("ipv4", "203.0.113.9", "destination.ip", "203.0.113.90", False),
    ("ipv4", "203.0.113.9", "source.ip", "::ffff:203.0.113.9", True),
    ("ipv6", "2001:DB8::1", "source.ip", "2001:db8:0::1", True),
    ("ipv6", "2001:db8::1", "source.ip", "2001:DB8:0:0:0:0:0:1", True),
    ("ipv6", "2001:db8::1", "source.ip", "2001:db8::2", False),
    ("cidr", "10.1.0.0/16", "client.ip", "10.1.0.0", True),
    ("cidr", "10.1.0.0/16", "client.ip", "10.1.255.255", True),
    ("cidr", "10.1.0.0/16", "client.ip", "10.0.255.255", False),
    ("cidr", "10.1.0.0/16", "client.ip", "10.2.0.0", False),
    ("cidr", "198.51.100.7/32", "server.ip", "198.51.100.7", True),
    ("cidr", "198.51.100.7/32", "server.ip", "198.51.100.8", False),
    ("cidr", "2001:db8::/32", "server.ip", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", True),
    ("cidr", "2001:db8::/32", "server.ip", "2001:db9::", False),
    ("cidr", "2001:db8::/32", "server.ip", "32.1.13.184", False),  # the same bits, as IPv4
    ("cidr", "0.0.0.0/0", "server.ip", "192.0.2.1", True),
    ("domain", "evil.example", "dns.question.name", "evil.example", True),
    ("domain", "evil.example", "dns.question.name", "a.b.evil.example", True),
    ("domain", "evil.example", "dns.question.name", "A.Evil.Example.", True),
    ("domain", "evil.example", "dns.question.name", "notevil.example", False),
    ("domain", "evil.example", "dns.question.name", "evil.example.com", False),
    ("domain", "b.evil.example", "url.domain", "evil.example", False),
    ("url", "http://evil.example/a?b=1", "url.full", "HTTP://EVIL.example/a?b=1", True),
    ("url", "http://evil.example/a?b=1", "url.full", "http://evil.example/A?b=1", False),
    ("url", "http://evil.example/a?b=1", "url.full", "http://evil.example/a?b=12", False),
    ("md5", MD5, "file.hash.md5", MD5.upper(), True),
    ("md5", MD5, "file.hash.md5", MD5[:-1] + "f", False),
    ("sha1", SHA1, "process.hash.sha1", SHA1, True),
    ("sha256", SHA256, "related.hash", SHA256.upper(), True),
    ("sha256", SHA256, "related.hash", SHA256[1:], False),
    ("email", "bad@evil.example", "user.email", "Bad@Evil.Example", True),
    ("email", "bad@evil.example", "user.email", "bad@evil.example.com", False),
])
def test_each_type_matches_and_a_near_miss_does_not(kind: str, value: str, name: str, seen: str,
                                                    hit: bool) -> None:
    indicator = Indicator(kind, value, "feed")
    assert hits_of(indicator, name, seen) == ([IndicatorHit(indicator, name, seen)] if hit else [])


@pytest.mark.parametrize(("kind", "value", "name", "seen", "matched"), [
    ("ipv4", "203.0.113.9", "related.ip", ["10.0.0.1", "203.0.113.9"], "203.0.113.9"),
    ("ipv6", "2001:db8::1", "dns.resolved_ip", ("192.0.2.1", "2001:DB8::1"), "2001:DB8::1"),
    ("domain", "evil.example", "related.hosts", ["ws-01", "x.evil.example"], "x.evil.example"),
    ("sha256", SHA256, "related.hash", [MD5, SHA256.upper()], SHA256.upper()),
    ("email", "bad@evil.example", "email.to.address", ["ok@gov.example", "Bad@Evil.Example"],
     "Bad@Evil.Example"),
])
def test_list_values_match_by_element(kind: str, value: str, name: str, seen: list[str],
                                      matched: str) -> None:
    indicator = Indicator(kind, value, "feed")
    assert hits_of(indicator, name, seen) == [IndicatorHit(indicator, name, matched)]
    assert hits_of(indicator, name, [v for v in seen if v != matched]) == []


FIELD_CASES = ([(name, "ipv4", "203.0.113.9", "203.0.113.9") for name in IP_FIELDS]
               + [(name, "domain", "evil.example", "x.evil.example") for name in DOMAIN_FIELDS]
               + [(name, "url", "http://evil.example/", "http://evil.example/")
                  for name in URL_FIELDS]
               + [(name, "sha256", SHA256, SHA256) for name in HASH_FIELDS]
               + [(name, "email", "bad@evil.example", "bad@evil.example")
                  for name in EMAIL_FIELDS])


@pytest.mark.parametrize(("name", "kind", "value", "seen"), FIELD_CASES)
def test_every_listed_field_is_checked(name: str, kind: str, value: str, seen: str) -> None:
    indicator = Indicator(kind, value, "feed")
    assert hits_of(indicator, name, seen) == [IndicatorHit(indicator, name, seen)]
    assert hits_of(indicator, name, [seen]) == [IndicatorHit(indicator, name, seen)]


def test_a_type_is_not_looked_for_in_another_types_fields() -> None:
    assert hits_of(Indicator("domain", "evil.example", "f"), "url.full", "evil.example") == []
    assert hits_of(Indicator("ipv4", "203.0.113.9", "f"), "url.domain", "203.0.113.9") == []


def test_hits_are_deduplicated_per_indicator_field_and_value() -> None:
    bad_ip = Indicator("ipv4", "203.0.113.9", "feed")
    network = Indicator("cidr", "203.0.113.0/24", "feed")
    found = IndicatorSet([bad_ip, network]).match(event(
        destination__ip="203.0.113.9", related__ip=["10.0.0.1", "203.0.113.9", "203.0.113.9"]))
    assert found == [
        IndicatorHit(bad_ip, "destination.ip", "203.0.113.9"),
        IndicatorHit(network, "destination.ip", "203.0.113.9"),
        IndicatorHit(bad_ip, "related.ip", "203.0.113.9"),
        IndicatorHit(network, "related.ip", "203.0.113.9"),
    ]


def test_a_domain_and_its_parent_both_hit() -> None:
    parent = Indicator("domain", "evil.example", "feed")
    child = Indicator("domain", "c2.evil.example", "feed")
    found = IndicatorSet([parent, child]).match(event(dns__question__name="x.c2.evil.example"))
    assert found == [IndicatorHit(child, "dns.question.name", "x.c2.evil.example"),
                     IndicatorHit(parent, "dns.question.name", "x.c2.evil.example")]


def test_nested_networks_all_hit() -> None:
    wide = Indicator("cidr", "10.0.0.0/8", "feed")
    narrow = Indicator("cidr", "10.1.2.0/24", "feed")
    other = Indicator("cidr", "10.1.3.0/24", "feed")
    found = IndicatorSet([other, narrow, wide]).match(event(source__ip="10.1.2.3"))
    assert found == [IndicatorHit(wide, "source.ip", "10.1.2.3"),
                     IndicatorHit(narrow, "source.ip", "10.1.2.3")]


def test_one_value_from_two_sources_is_two_indicators_and_a_source_replaces_its_own() -> None:
    indicators = IndicatorSet()
    indicators.add(Indicator("domain", "evil.example", "feed-a", description="old"))
    indicators.add(Indicator("domain", "Evil.Example", "feed-a", description="new"))
    indicators.add(Indicator("domain", "evil.example", "feed-b"))
    assert len(indicators) == 2
    assert sorted((i.source, i.description) for i in indicators) == [
        ("feed-a", "new"), ("feed-b", "")]
    assert len(indicators.match(event(dns__question__name="evil.example"))) == 2


def test_values_that_are_not_text_are_ignored() -> None:
    indicators = IndicatorSet([Indicator("ipv4", "203.0.113.9", "feed"),
                               Indicator("domain", "evil.example", "feed")])
    assert indicators.match(event(source__ip=None, destination__ip=42, related__ip=[None, 7],
                                  dns__question__name={"x": 1}, url__domain="")) == []


def test_an_empty_set_matches_nothing() -> None:
    assert IndicatorSet().match(event(source__ip="203.0.113.9")) == []
    assert len(IndicatorSet()) == 0


def test_expiry_is_judged_by_the_event_time_not_the_clock() -> None:
    # Long past by the clock: replaying 2020's events must still raise what streaming them did.
    indicator = Indicator("domain", "evil.example", "feed",
                          expires=datetime(2020, 1, 2, tzinfo=UTC))
    indicators = IndicatorSet([indicator])

    def at(moment: str) -> list[IndicatorHit]:
        return indicators.match({"@timestamp": moment, "dns.question.name": "evil.example"})

    assert at("2020-01-01T23:59:59.999999Z") == [
        IndicatorHit(indicator, "dns.question.name", "evil.example")]
    assert len(at("2020-01-02T00:00:00.000000Z")) == 1  # expiring at that instant: still in force
    assert at("2020-01-02T00:00:00.000001Z") == []
    assert at(NOW) == []


def test_an_event_without_a_time_is_judged_by_the_clock() -> None:
    expired = Indicator("domain", "evil.example", "feed", expires=datetime(2020, 1, 2, tzinfo=UTC))
    assert IndicatorSet([expired]).match({"dns.question.name": "evil.example"}) == []


def test_naive_and_offset_expiries_are_made_utc() -> None:
    naive = Indicator("domain", "evil.example", "f", expires=datetime(2026, 11, 21, 3))
    assert naive.expires == datetime(2026, 11, 21, 3, tzinfo=UTC)
    assert parse_expiry("2026-11-21T10:00:00+07:00") == datetime(2026, 11, 21, 3, tzinfo=UTC)
    assert parse_expiry("2026-11-21") == datetime(2026, 11, 21, 23, 59, 59, 999999, tzinfo=UTC)
    assert parse_expiry("2026-11-21T03:00") == datetime(2026, 11, 21, 3, tzinfo=UTC)


def test_prune_drops_what_expired_before_now() -> None:
    cutoff = datetime(2026, 11, 21, tzinfo=UTC)
    gone_network = Indicator("cidr", "10.1.0.0/16", "f", expires=datetime(2026, 11, 20, tzinfo=UTC))
    gone_domain = Indicator("domain", "old.example", "f", expires=datetime(2026, 1, 1, tzinfo=UTC))
    at_cutoff = Indicator("domain", "edge.example", "f", expires=cutoff)
    later = Indicator("cidr", "10.2.0.0/16", "f", expires=datetime(2027, 1, 1, tzinfo=UTC))
    forever = Indicator("ipv4", "203.0.113.9", "f")
    indicators = IndicatorSet([gone_network, gone_domain, at_cutoff, later, forever])

    assert indicators.prune(cutoff) == 2
    assert len(indicators) == 3
    assert set(indicators) == {at_cutoff, later, forever}
    old = {"@timestamp": "2026-01-01T00:00:00Z", "source.ip": "10.1.0.1",
           "destination.ip": "10.2.0.1", "dns.question.name": "old.example"}
    assert indicators.match(old) == [IndicatorHit(later, "destination.ip", "10.2.0.1")]
    assert indicators.prune(cutoff) == 0


def test_prune_then_add_keeps_matching() -> None:
    stale = Indicator("domain", "evil.example", "f", expires=datetime(2020, 1, 1, tzinfo=UTC))
    indicators = IndicatorSet([stale])
    indicators.prune(datetime(2026, 1, 1, tzinfo=UTC))
    assert indicators.match(event(dns__question__name="evil.example")) == []
    fresh = Indicator("domain", "evil.example", "f")
    indicators.add(fresh)
    assert indicators.match(event(dns__question__name="evil.example")) == [
        IndicatorHit(fresh, "dns.question.name", "evil.example")]


def test_plain_text_file(tmp_path: Path) -> None:
    path = tmp_path / "bad-hosts.txt"
    path.write_text(
        "# provincial blocklist\n"          # 1
        "\n"                                # 2
        "203.0.113.9\n"                     # 3
        "  Evil.Example.   # C2, seen 2026-11\n"  # 4
        "300.1.2.3\n"                       # 5
        "10.20.0.0/16\n"                    # 6
        "not a domain\n"                    # 7
        f"{MD5.upper()}\n"                  # 8
        "http://evil.example/drop.exe#x\n"  # 9
        "   # indented comment\n"           # 10
        "Phish@Evil.Example\n"              # 11
        "single\n",                         # 12
        encoding="utf-8")
    indicators = IndicatorSet()

    report = indicators.load_file(path)

    assert report == LoadReport(loaded=6, problems=[
        f"{path}:5: invalid IP address '300.1.2.3'",
        f"{path}:7: invalid domain name 'not a domain'",
        f"{path}:12: invalid domain name 'single'",
    ])
    assert sorted((i.type, i.value, i.source) for i in indicators) == [
        ("cidr", "10.20.0.0/16", "bad-hosts.txt"),
        ("domain", "evil.example", "bad-hosts.txt"),
        ("email", "phish@evil.example", "bad-hosts.txt"),
        ("ipv4", "203.0.113.9", "bad-hosts.txt"),
        ("md5", MD5, "bad-hosts.txt"),
        ("url", "http://evil.example/drop.exe#x", "bad-hosts.txt"),
    ]


def test_source_can_be_named(tmp_path: Path) -> None:
    path = tmp_path / "list.txt"
    path.write_text("evil.example\n", encoding="utf-8")
    indicators = IndicatorSet()
    assert indicators.load_file(path, source="national-soc") == LoadReport(1, [])
    assert [i.source for i in indicators] == ["national-soc"]


def test_csv_file(tmp_path: Path) -> None:
    path = tmp_path / "feed.csv"
    path.write_text(
        "# exported from the national SOC\n"                                    # 1
        "Type, Value ,expires,description,level,source\n"                       # 2
        "domain,c2.evil.example,2026-12-31,\"Cobalt Strike, team server\",critical,\n"  # 3
        "ipv4,203.0.113.9,2026-12-31T10:00:00+07:00,,,\n"                       # 4
        ",198.51.100.0/24,2026-12-31T10:00:00,scanner net,medium,cert-feed\n"   # 5
        "# a comment between rows\n"                                            # 6
        "mutex,Global\\evil,,,,\n"                                              # 7
        "ipv4,evil.example,,,,\n"                                               # 8
        "sha256,abc,,,,\n"                                                      # 9
        "url,http://evil.example/x,2026-13-01,,,\n"                             # 10
        "email,bad@evil.example,,,severe,\n"                                    # 11
        ",,,,,\n"                                                               # 12
        "\n"                                                                    # 13
        "ip,2001:DB8::7,,,low\n",                                               # 14
        encoding="utf-8")
    indicators = IndicatorSet()

    report = indicators.load_file(path)

    assert report.problems == [
        f"{path}:7: unknown type 'mutex' (expected one of ipv4, ipv6, cidr, domain, url, md5, "
        f"sha1, sha256, email)",
        f"{path}:8: invalid IP address 'evil.example'",
        f"{path}:9: 'abc' is not a sha256 hash (64 hex digits)",
        f"{path}:10: bad expiry date '2026-13-01' (expected ISO 8601, e.g. 2026-12-31 or "
        f"2026-12-31T18:00:00Z)",
        f"{path}:11: unknown level 'severe' (expected one of informational, low, medium, high, "
        f"critical)",
    ]
    assert report.loaded == 4
    assert sorted(indicators, key=lambda i: i.value) == [
        Indicator("cidr", "198.51.100.0/24", "cert-feed",
                  datetime(2026, 12, 31, 10, tzinfo=UTC), "scanner net", "medium"),
        Indicator("ipv6", "2001:db8::7", "feed.csv", None, "", "low"),
        Indicator("ipv4", "203.0.113.9", "feed.csv",
                  datetime(2026, 12, 31, 3, tzinfo=UTC), "", "high"),
        Indicator("domain", "c2.evil.example", "feed.csv",
                  datetime(2026, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
                  "Cobalt Strike, team server", "critical"),
    ]


def test_csv_with_a_quoted_multiline_cell_reports_the_row_start(tmp_path: Path) -> None:
    path = tmp_path / "feed.csv"
    path.write_text('value,description\n"evil.example","two\nlines"\nbad value,x\n',
                    encoding="utf-8")
    report = IndicatorSet().load_file(path)
    assert report == LoadReport(1, [f"{path}:4: invalid domain name 'bad value'"])


def test_commas_without_a_value_column_are_plain_text(tmp_path: Path) -> None:
    path = tmp_path / "list.txt"
    path.write_text("evil.example,c2\nother.example\n", encoding="utf-8")
    indicators = IndicatorSet()
    assert indicators.load_file(path) == LoadReport(
        1, [f"{path}:1: invalid domain name 'evil.example,c2'"])


def test_an_unreadable_file_raises_oserror(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        IndicatorSet().load_file(tmp_path / "missing.txt")
    with pytest.raises(OSError):
        IndicatorSet().load_file(tmp_path)


def test_undecodable_bytes_spoil_only_their_line(tmp_path: Path) -> None:
    path = tmp_path / "list.txt"
    path.write_bytes(b"evil.example\n\xff\xfe.example\n203.0.113.9\n")
    report = IndicatorSet().load_file(path)
    assert report.loaded == 2
    assert report.problems == [f"{path}:2: invalid domain name '\ufffd\ufffd.example'"]


def test_rule_ids_are_fixed_per_type() -> None:
    # Stored alerts carry these: changing them would split one rule's history in two.
    assert RULE_IDS["domain"] == "1999ea36-9e20-56b1-bd06-fddb90cab75b"
    assert RULE_IDS["ipv4"] == "2dc4736f-3f0f-5c4d-bb07-a503f4172668"
    assert len(set(RULE_IDS.values())) == 9


def test_indicator_alert() -> None:
    indicator = Indicator("domain", "evil.example", "national-soc", description="APT C2",
                          level="critical")
    seen = event(dns__question__name="a.evil.example", source__ip="10.1.2.3",
                 organization__id="000.00.12.H45")
    alert = indicator_alert(IndicatorHit(indicator, "dns.question.name", "a.evil.example"), seen)

    assert alert == {
        "id": "07badf65ea3138419785ad3c34ef1473",
        "@timestamp": NOW,
        "event.kind": "alert",
        "rule.id": "1999ea36-9e20-56b1-bd06-fddb90cab75b",
        "rule.name": "Known-bad domain indicator",
        "rule.level": "critical",
        "rule.type": "indicator",
        "rule.tags": ["attack.command_and_control"],
        "threat.technique.id": [],
        "event.ids": ["ev-1"],
        "alert.first_seen": NOW,
        "alert.event_count": 1,
        "alert.matches": {"dns.question.name": "a.evil.example"},
        "alert.group_key": "source.ip=10.1.2.3|organization.id=000.00.12.H45",
        "alert.agencies": ["000.00.12.H45"],
        "message": "Known-bad domain evil.example from national-soc in dns.question.name "
                   "(a.evil.example)",
        "organization.id": "000.00.12.H45",
        "source.ip": "10.1.2.3",
        "threat.indicator.type": "domain",
        "threat.indicator.value": "evil.example",
        "threat.indicator.provider": "national-soc",
        "threat.indicator.description": "APT C2",
    }


def test_alert_without_description_and_with_the_value_as_seen() -> None:
    indicator = Indicator("ipv4", "203.0.113.9", "list.txt")
    alert = indicator_alert(IndicatorHit(indicator, "destination.ip", "203.0.113.9"),
                            event(destination__ip="203.0.113.9"))
    assert "threat.indicator.description" not in alert
    assert alert["message"] == "Known-bad ipv4 203.0.113.9 from list.txt in destination.ip"
    assert alert["rule.level"] == "high"


def test_alert_ids_differ_per_indicator_and_event_only() -> None:
    parent = Indicator("domain", "evil.example", "feed-a")
    child = Indicator("domain", "c2.evil.example", "feed-a")
    same_value_other_feed = Indicator("domain", "evil.example", "feed-b")
    first = event(dns__question__name="c2.evil.example", url__domain="c2.evil.example")
    second = first | {"event.id": "ev-2"}

    def alert_id_of(indicator: Indicator, seen: dict[str, Any], name: str) -> str:
        return indicator_alert(IndicatorHit(indicator, name, "c2.evil.example"), seen)["id"]

    ids = {alert_id_of(parent, first, "dns.question.name"),
           alert_id_of(child, first, "dns.question.name"),
           alert_id_of(parent, second, "dns.question.name")}
    assert len(ids) == 3
    # One indicator in two fields, or listed by two feeds, is one alert for the event.
    assert alert_id_of(parent, first, "url.domain") == alert_id_of(
        parent, first, "dns.question.name")
    assert alert_id_of(same_value_other_feed, first, "dns.question.name") == alert_id_of(
        parent, first, "dns.question.name")
