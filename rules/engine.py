"""The rule engine the pipeline calls: events in, alerts out.

Each rule is filed under what it cannot match without — values of a field (an event code, an
executable's file name), text a field must contain (a command-line fragment, a regular
expression's literal part), the network an address must be in — choosing, among its ANDed
parts, the one fewest other rules share. For an event the engine looks up the fields it has and
tests only the rules filed under its values (about one rule per event with 2,000 rules), plus
the few that have no such key.
Matches feed the correlation windows and the alerts of detection rules; indicators are matched
on every event. State (correlation windows) lives as long as the engine: one per `soc serve`,
one per `soc ingest` run.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import ahocorasick

from rules.alerts import build_alert
from rules.correlation import CorrelationEngine
from rules.field_view import FieldView, source_field
from rules.index_keys import IndexKey, Keys
from rules.ioc import IndicatorSet, indicator_alert
from rules.sigma_rules import SHIPPED_RULES, DetectionRule, RuleProblem, RuleSet, load_rule_paths
from soc.config import Settings

log = logging.getLogger(__name__)
# Problems logged one by one at start-up; the rest are counted (`soc rules validate` lists all).
LOGGED_PROBLEMS = 20


class RuleIndex:
    """Enabled detection rules filed under their index keys: literal values by field in dicts,
    substrings by field in an Aho-Corasick automaton (pyahocorasick: every pattern found in
    one pass in C, overlapping ones too, where a regular expression alternation would report
    only one of two overlapping literals)."""

    def __init__(self, rules: Sequence[DetectionRule]) -> None:
        self.rules = list(rules)
        self.by_field: dict[str, dict[str, list[int]]] = {}
        self.unkeyed: list[int] = []
        substrings: dict[str, dict[str, list[int]]] = {}
        chosen = _choose_keys(self.rules)
        for number, keys in enumerate(chosen):
            if keys is None:
                self.unkeyed.append(number)
                continue
            for key in keys:
                table = substrings if key.substring else self.by_field
                values = table.setdefault(key.field, {})
                for value in key.values:
                    values.setdefault(value, []).append(number)
        self.by_substring = {name: _automaton(values) for name, values in substrings.items()}
        # Per event field, the index fields computed from it (itself, its basename, its
        # networks…): an event is looked up only for the fields it has.
        self._by_source: dict[str, list[tuple[str, Any, bool]]] = {}
        for name, values in self.by_field.items():
            self._by_source.setdefault(source_field(name), []).append((name, values, False))
        for name, automaton in self.by_substring.items():
            self._by_source.setdefault(name, []).append((name, automaton, True))
        # A lookup per indexed field beats intersecting the event's keys with them (a set
        # built per event).
        self._sources = list(self._by_source.items())

    def candidates(self, view: FieldView) -> list[DetectionRule]:
        """The rules that could match the event of `view`, in load order."""
        rules = self.rules
        return [rules[number] for number in self.numbers(view)]

    def numbers(self, view: FieldView) -> list[int]:
        """`candidates` as positions in `rules`."""
        numbers, event = set(self.unkeyed), view.event
        for source, tables in self._sources:
            if source not in event:
                continue
            for name, table, substring in tables:
                value = view[name]
                for item in (value,) if value.__class__ is str else value or ():
                    if substring:
                        for _, found in table.iter(item):
                            numbers.update(found)
                    else:
                        found = table.get(item)
                        if found:
                            numbers.update(found)
        return sorted(numbers) if len(numbers) > 1 else list(numbers)


# How often, roughly, a key's field holds its value in events, by the key's rank: a shared
# value (a dataset) is in most events, a short substring in many.
_RANK_WEIGHT = (1, 1, 5, 20)


def _choose_keys(rules: Sequence[DetectionRule]) -> list[Keys]:
    """Each rule's index key: of the keys its condition offers, the one whose values fewest
    rules share (weighted by how common such values are in events) — forty SSH rules all
    needing process.name sshd are better filed under what else each of them needs."""
    shared: Counter[tuple[str, bool, str]] = Counter(
        (key.field, key.substring, value) for rule in rules for option in rule.compiled.options
        for key in option for value in key.values)

    def cost(option: tuple[IndexKey, ...]) -> int:
        return sum(_RANK_WEIGHT[key.rank] * shared[(key.field, key.substring, value)]
                   for key in option for value in key.values)

    return [min(rule.compiled.options, key=cost) if rule.compiled.options else None
            for rule in rules]


def _automaton(values: Mapping[str, list[int]]) -> ahocorasick.Automaton:
    automaton = ahocorasick.Automaton()
    for value, numbers in values.items():
        automaton.add_word(value, tuple(numbers))
    automaton.make_automaton()
    return automaton


class RuleEngine:
    def __init__(self, ruleset: RuleSet, indicators: IndicatorSet | None = None,
                 max_groups: int = 100_000) -> None:
        enabled = [r for r in ruleset.detections if r.enabled]
        self.index = RuleIndex(enabled)
        self.rules = enabled
        self._matchers = [rule.compiled.matcher for rule in self.index.rules]
        self.indicators = indicators if indicators is not None and len(indicators) else None
        self.correlations = CorrelationEngine(ruleset.correlations, max_groups)
        observed = {rule_id for c in ruleset.correlations for rule_id in c.rule_ids}
        # Sigma: rules a correlation refers to raise no alerts of their own unless one of those
        # correlations says `generate: true`.
        wanted = {rule_id for c in ruleset.correlations if c.generate for rule_id in c.rule_ids}
        self._observed = observed
        self._silent = observed - wanted
        # `soc serve` feeds one engine from every collector's pipeline: correlation windows
        # span sources (a failed VPN logon, then a firewall accept), so they share its state.
        self._lock = threading.Lock()

    def detect(self, events: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """The alerts these events raise, in event order (correlation state carries over)."""
        with self._lock:
            return self._detect(events)

    def _detect(self, events: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        alerts: list[dict[str, Any]] = []
        numbers, observed, silent = self.index.numbers, self._observed, self._silent
        rules, matchers = self.index.rules, self._matchers
        for event in events:
            view = FieldView(event)
            try:
                found = numbers(view)
            except Exception:
                # A value shape no test foresaw must cost this event's detection, never the
                # batch's: the events around it are still tested and stored.
                log.exception("rule index failed on an event", extra=_about(event))
                continue
            for number in found:
                try:
                    if not matchers[number](event, view):
                        continue
                except Exception:
                    log.exception("rule failed on an event",
                                  extra={**_about(event), "rule": rules[number].id})
                    continue
                rule = rules[number]
                if rule.id not in silent:
                    alerts.append(build_alert(rule.info, [event], rule.explain(event)))
                if rule.id in observed:
                    alerts += self.correlations.observe(rule.id, event)
            if self.indicators is not None:
                alerts += [indicator_alert(hit, event) for hit in self.indicators.match(event)]
        if events and self._observed:
            # Once a batch, not per event: closing is only late by a batch, never wrong, as
            # each match closes what ended before it first.
            alerts += self.correlations.advance(events[-1])
        return alerts

    def flush(self) -> list[dict[str, Any]]:
        """End of the stream: the alerts of correlation windows that close with it."""
        with self._lock:
            return self.correlations.flush()


def _about(event: Mapping[str, Any]) -> dict[str, Any]:
    return {"event_id": event.get("event.id"), "dataset": event.get("event.dataset")}


def load_rules(settings: Settings) -> RuleSet:
    """The shipped rules and those of `rules.paths`, with `rules.disabled` switched off."""
    paths = [SHIPPED_RULES, *(settings.resolve(p) for p in settings.rules.paths)]
    return load_rule_paths(paths, settings.rules.placeholders, settings.rules.disabled)


def load_indicators(settings: Settings) -> tuple[IndicatorSet, list[str]]:
    """The indicators of `rules.indicators`, and the problems of their files."""
    indicators, problems = IndicatorSet(), []
    for path in settings.rules.indicators:
        resolved = settings.resolve(path)
        try:
            problems += indicators.load_file(resolved).problems
        except OSError as exc:
            problems.append(f"{resolved}: cannot read: {exc.strerror or exc}")
    return indicators, problems


def build_engine(settings: Settings) -> RuleEngine:
    """The engine soc.yaml describes; what could not be loaded is logged and skipped."""
    ruleset = load_rules(settings)
    indicators, indicator_problems = load_indicators(settings)
    _log_problems(ruleset.problems, indicator_problems)
    engine = RuleEngine(ruleset, indicators, settings.rules.max_groups)
    log.info("rules loaded", extra={
        "detection_rules": len(engine.rules), "correlation_rules": len(ruleset.correlations),
        "skipped": len(ruleset.errors), "indicators": len(indicators)})
    return engine


def _log_problems(problems: Sequence[RuleProblem], indicator_problems: Sequence[str]) -> None:
    lines = [str(p) for p in problems if p.severity == "error"] + list(indicator_problems)
    for line in lines[:LOGGED_PROBLEMS]:
        log.warning("rule skipped: %s", line)
    if len(lines) > LOGGED_PROBLEMS:
        log.warning("%d more rules or indicators skipped; `soc rules validate` lists them",
                    len(lines) - LOGGED_PROBLEMS)
