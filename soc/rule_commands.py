"""The `soc rules list|validate|test` commands: what is loaded, what is wrong, what matches.

Part of the command line's composition root (with soc/cli.py): it brings the rule engine and
the collectors' readers together, which the core packages never import.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson

from collectors import parsers
from collectors.inputs import FILE_FORMATS, read_paths
from soc.config import Settings
from soc.errors import NormaliseError
from soc.events import EventNormaliser
from soc.inventory import open_inventory
from soc.progress import Progress
from soc.timeutil import format_timestamp, utcnow

SettingsOf = Callable[[argparse.Namespace], Settings]


def add_rule_commands(commands: Any, common: argparse.ArgumentParser,
                      settings_of: SettingsOf) -> None:
    rules = commands.add_parser("rules", help="list, validate and try detection rules")
    rule_commands = rules.add_subparsers(title="commands", metavar="COMMAND", required=True)
    listing = rule_commands.add_parser("list", parents=[common],
                                       help="the rules soc.yaml loads, enabled or not")
    listing.add_argument("--json", action="store_true", help="one JSON rule per line")
    listing.set_defaults(run=lambda args: _list(args, settings_of(args)))
    validate = rule_commands.add_parser("validate", parents=[common],
                                        help="check rule files; exit 1 if any rule is skipped")
    validate.add_argument("paths", nargs="+", metavar="PATH", type=Path,
                          help="rule files or directories (read recursively)")
    validate.set_defaults(run=lambda args: _validate(args, settings_of(args)))
    test = rule_commands.add_parser("test", parents=[common],
                                    help="show which events a rule matches, and why")
    test.add_argument("rule", metavar="RULE", help="a rule file, or the id of a loaded rule")
    test.add_argument("--events", required=True, action="append", metavar="FILE",
                      help="events to try (any format `soc ingest` reads; repeatable)")
    test.add_argument("--format", default="auto",
                      choices=sorted([*parsers.names(), *FILE_FORMATS]))
    test.add_argument("--json", action="store_true", help="one JSON alert per line")
    test.set_defaults(run=lambda args: _test(args, settings_of(args)))


def _list(args: argparse.Namespace, settings: Settings) -> int:
    from rules.engine import load_rules

    ruleset = load_rules(settings)
    rows = [{"id": r.id, "title": r.info.name, "level": r.info.level, "type": "detection",
             "enabled": r.enabled, "source": r.info.source} for r in ruleset.detections]
    rows += [{"id": c.info.id, "title": c.info.name, "level": c.info.level, "type": c.info.type,
              "enabled": True, "source": c.info.source} for c in ruleset.correlations]
    for row in rows:
        if args.json:
            print(orjson.dumps(row).decode())
        else:
            state = "" if row["enabled"] else "  (disabled)"
            print(f"{row['id']}  {row['level']:<13} {row['type']:<16} {row['title']}{state}")
    if not args.json:
        print(f"{len(rows)} rules, {len(ruleset.errors)} skipped", file=sys.stderr)
    return 0


def _validate(args: argparse.Namespace, settings: Settings) -> int:
    from rules.sigma_rules import load_rule_paths

    ruleset = load_rule_paths(args.paths, settings.rules.placeholders)
    for problem in ruleset.problems:
        print(problem)
    loaded = len(ruleset.detections) + len(ruleset.correlations)
    print(f"{loaded} rules loaded, {len(ruleset.errors)} skipped", file=sys.stderr)
    return 1 if ruleset.errors else 0


def _test(args: argparse.Namespace, settings: Settings) -> int:
    from rules.engine import RuleEngine, load_rules
    from rules.sigma_rules import load_rule_paths

    path = Path(args.rule)
    if path.exists():
        ruleset = load_rule_paths([path], settings.rules.placeholders)
        for problem in ruleset.problems:
            print(problem, file=sys.stderr)
    else:
        ruleset = load_rules(settings)
        ruleset.detections = [r for r in ruleset.detections if r.id == args.rule
                              or any(args.rule == c.info.id and r.id in c.rule_ids
                                     for c in ruleset.correlations)]
        ruleset.correlations = [c for c in ruleset.correlations if c.info.id == args.rule]
    if not ruleset.detections:
        print(f"soc: error: no rule {args.rule} to test", file=sys.stderr)
        return 2
    engine = RuleEngine(ruleset, max_groups=settings.rules.max_groups)
    matched = 0
    for event in _events(args, settings):
        for rule in ruleset.detections:
            if rule.matches(event):
                matched += 1
                _show_match(rule.info.name, event, rule.explain(event), args.json)
        for alert in engine.detect([event]):
            if alert["rule.type"] != "detection":
                _show_alert(alert, args.json)
    for alert in engine.flush():
        _show_alert(alert, args.json)
    print(f"{matched} events matched", file=sys.stderr)
    return 0


def _events(args: argparse.Namespace, settings: Settings) -> Iterator[dict[str, Any]]:
    """The events of the files, normalised and tagged as ingest would, not stored."""
    normaliser = EventNormaliser(settings.zone(), settings.pipeline.max_future)
    inventory = open_inventory(settings)
    failures: list[str] = []
    now = utcnow()
    for record in read_paths(args.events, args.format, settings.pipeline.max_record_bytes,
                             "rules-test", failures, Progress(enabled=False)):
        if record.error is not None:
            print(f"skipped record at {record.position}: {record.error}", file=sys.stderr)
            continue
        try:
            event = normaliser.normalise(record, now, format_timestamp(now))
        except NormaliseError as exc:
            print(f"skipped record at {record.position}: {exc}", file=sys.stderr)
            continue
        inventory.tag(event)
        yield event
    for failure in failures:
        print(f"soc: error: {failure}", file=sys.stderr)


def _show_match(title: str, event: dict[str, Any], matches: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(orjson.dumps({"rule.name": title, "event.id": event.get("event.id"),
                            "@timestamp": event.get("@timestamp"), "matches": matches}).decode())
        return
    why = ", ".join(f"{name}={value!r}" for name, value in matches.items())
    print(f"{event.get('@timestamp')}  {event.get('event.id')}  {title}: {why}")


def _show_alert(alert: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(orjson.dumps(alert).decode())
        return
    print(f"{alert['@timestamp']}  ALERT {alert['rule.name']}: {alert['message']} "
          f"({alert['alert.event_count']} events)")
