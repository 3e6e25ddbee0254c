"""Streaming Sigma correlation rules: event_count, value_count, value_sum, value_avg, temporal and
temporal_ordered, evaluated in-process over the detection matches of the event stream.

pySigma parses the rules; `compile_correlation` turns one `SigmaCorrelationRule` into a
`CorrelationRule`, and a `CorrelationEngine` is told, event by event, which detection rule
matched. Only event time counts (never the wall clock), so replaying a file raises exactly the
alerts that streaming it live did, with the same ids.

Windows, per (correlation rule, group-by values):
- a condition that can only become true as events arrive (gt, gte, and a temporal expression
  without `not`) is checked on every event over the events of the last `timespan` (sliding);
  when it holds, one alert is raised and the group starts afresh;
- any other condition (lt, lte, eq, neq, value_avg, `not`) is checked once, when the window that
  opened at the group's first event closes: an event of any group past its end, or `flush()`.
Memory stays bounded: closed windows are evicted (a heap of window ends, swept as the watermark,
the latest event time seen, moves on), at most `max_groups` windows are open, and each window
keeps at most 100 event ids and its sliding counts per second of event time.
"""

from __future__ import annotations

import heapq
import operator
from collections import OrderedDict, deque
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sigma.correlations import (
    CorrelationConditionAND,
    CorrelationConditionItem,
    CorrelationConditionNOT,
    SigmaCorrelationRule,
    SigmaExtendedCorrelationCondition,
    SigmaRuleReference,
)

from rules.alerts import RuleInfo, build_alert, group_key
from rules.correlation_state import (
    CountState,
    DistinctState,
    OrderedState,
    SumState,
    WindowState,
    hashable,
)
from rules.errors import RuleError

KEPT_EVENTS = 100  # event ids an alert names; the count stays exact beyond it
_CHAIN_DEPTH = 8  # correlations of correlations, deeper than any real chain
_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "gt": operator.gt, "gte": operator.ge, "lt": operator.lt,
    "lte": operator.le, "eq": operator.eq, "neq": operator.ne,
}
_TYPES = ("event_count", "value_count", "value_sum", "value_avg", "temporal", "temporal_ordered")
Expression = Callable[[Collection[str]], bool]


@dataclass(frozen=True)
class CorrelationRule:
    """One compiled correlation: what it observes and when it fires."""

    info: RuleInfo
    rule_ids: tuple[str, ...]
    generate: bool
    labels: tuple[str, ...]  # the references as written, aligned with rule_ids, for messages
    timespan: float  # seconds
    timespan_text: str
    op: str  # gt, gte, lt, lte, eq, neq ("expression" for an extended temporal condition)
    threshold: float
    value_field: str | None = None
    expression: Expression | None = None
    sliding: bool = False  # checked on every event (see module docstring) rather than at close
    fields: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # group-by per rule id
    compare: Callable[[Any, Any], bool] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "compare", _OPS.get(self.op, operator.eq))

    def group_fields(self, rule_id: str) -> tuple[str, ...]:
        return self.fields.get(rule_id, self.info.group_by)

    def new_state(self) -> WindowState:
        kind = self.info.type
        if kind == "event_count":
            return CountState(self.sliding)
        if kind == "value_count":
            return DistinctState(self.sliding, self.value_field, int(self.threshold) + 1)
        if kind == "temporal":
            return DistinctState(self.sliding, None, len(self.rule_ids))
        if kind in ("value_sum", "value_avg"):
            return SumState(self.sliding, self.value_field or "", kind == "value_avg")
        return OrderedState(self.sliding, self.rule_ids, self.timespan)

    def fires(self, state: WindowState) -> bool:
        if self.expression is not None:
            return self.expression(state.seen())
        value = state.value()
        return value is not None and self.compare(value, self.threshold)


def compile_correlation(rule: SigmaCorrelationRule, references: Mapping[str, str],
                        source: str = "") -> CorrelationRule:
    """The engine's form of `rule`; `references` maps every rule name and id a correlation may
    name (detection rules, and correlations to chain) to that rule's id."""
    title = rule.title or rule.name or str(rule.id)
    kind = str(rule.type)
    if kind not in _TYPES:
        raise RuleError(f"correlation {title!r}: type {kind!r} is not supported")
    rule_id = str(rule.id) if rule.id else rule.name
    if not rule_id:
        raise RuleError(f"correlation {title!r} has neither an id nor a name")
    cond = rule.condition
    extended = isinstance(cond, SigmaExtendedCorrelationCondition)
    written = ([r.reference for r in rule.rules] if rule.rules is not None
               else cond.get_referenced_rules() if extended else [])  # type: ignore[union-attr]
    alias_refs = [ref.reference for alias in rule.aliases for ref in alias.mapping]
    missing = [name for name in dict.fromkeys(written + alias_refs) if name not in references]
    if missing:
        raise RuleError(f"correlation {title!r} references unknown rule(s): {', '.join(missing)}")
    if not written:
        raise RuleError(f"correlation {title!r} references no rules")
    group_by = tuple(rule.group_by or ())
    info = RuleInfo(id=rule_id, name=title, type=kind, source=source, group_by=group_by,
                    level=rule.level.name.lower() if rule.level else "medium",
                    tags=tuple(str(tag) for tag in rule.tags),
                    description=rule.description or "", author=rule.author or "")
    common: dict[str, Any] = {
        "info": info, "rule_ids": tuple(str(references[name]) for name in written),
        "generate": bool(rule.generate), "labels": tuple(written),
        "timespan": float(rule.timespan.seconds), "timespan_text": rule.timespan.spec,
        "fields": _alias_fields(rule, references, group_by),
    }
    if isinstance(cond, SigmaExtendedCorrelationCondition):
        if kind != "temporal":
            raise RuleError(f"correlation {title!r}: an expression condition needs type temporal")
        test, positive = _expression(cond.parsed, references)
        return CorrelationRule(**common, op="expression", threshold=0, expression=test,
                               sliding=positive)
    op = cond.op.name.lower()
    value_field = cond.fieldref
    if isinstance(value_field, list):
        if len(value_field) != 1:
            raise RuleError(f"correlation {title!r}: condition needs exactly one field")
        value_field = value_field[0]
    # An average can fall as well as rise, so it is only judged over a whole window.
    sliding = op in ("gt", "gte") and kind != "value_avg"
    return CorrelationRule(**common, op=op, threshold=cond.count, value_field=value_field,
                           sliding=sliding)


def _alias_fields(rule: SigmaCorrelationRule, references: Mapping[str, str],
                  group_by: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    """Per observed rule id, the event field behind each group-by name (aliases resolved)."""
    names: dict[str, dict[str, str]] = {}
    for alias in rule.aliases:
        for ref, field_name in alias.mapping.items():
            names.setdefault(str(references[ref.reference]), {})[alias.alias] = field_name
    return {rid: tuple(mapping.get(g, g) for g in group_by) for rid, mapping in names.items()}


def _expression(node: CorrelationConditionItem | SigmaRuleReference,
                references: Mapping[str, str]) -> tuple[Expression, bool]:
    """A test over the set of rule ids seen, and whether it can only turn true as rules match
    (no `not`), which decides sliding versus whole-window evaluation."""
    if isinstance(node, SigmaRuleReference):
        rule_id = str(references[node.reference])
        return (lambda seen: rule_id in seen), True
    parts = [_expression(arg, references) for arg in node.args]  # type: ignore[arg-type]
    tests = [test for test, _ in parts]
    if isinstance(node, CorrelationConditionNOT):
        return (lambda seen: not tests[0](seen)), False
    positive = all(p for _, p in parts)
    if isinstance(node, CorrelationConditionAND):
        return (lambda seen: all(t(seen) for t in tests)), positive
    return (lambda seen: any(t(seen) for t in tests)), positive


class _Window:
    __slots__ = ("kept", "last", "last_kept", "latest", "seq", "state")

    def __init__(self, seq: int, state: WindowState, t: float) -> None:
        self.seq, self.state, self.latest = seq, state, t  # latest: newest event time
        self.kept: deque[tuple[float, dict[str, Any]]] = deque()  # (time, slim event)
        self.last: Mapping[str, Any] = {}  # the newest event, whole: the alert's context
        self.last_kept = False


class CorrelationEngine:
    """Feeds detection matches to correlation rules; `observe` returns the alerts they raise."""

    def __init__(self, rules: Sequence[CorrelationRule], max_groups: int = 100_000) -> None:
        self._rules = tuple(rules)
        self.max_groups = max_groups
        self.dropped = 0
        self._targets: dict[str, list[tuple[int, CorrelationRule, tuple[str, ...]]]] = {}
        for index, rule in enumerate(self._rules):
            for rule_id in dict.fromkeys(rule.rule_ids):
                entry = (index, rule, rule.group_fields(rule_id))
                self._targets.setdefault(rule_id, []).append(entry)
        # Correlations referenced by one with `generate: false` are building blocks (Sigma):
        # they feed the chain but raise no alert of their own.
        # As for detection rules (rules.engine): one referencing correlation that asks for
        # them is enough to keep their alerts.
        wanted = {rid for rule in self._rules if rule.generate for rid in rule.rule_ids}
        self._quiet = {rid for rule in self._rules for rid in rule.rule_ids} - wanted
        self._windows: OrderedDict[tuple[Any, ...], _Window] = OrderedDict()  # oldest first
        self._ends: list[tuple[float, int, tuple[Any, ...]]] = []  # heap: (end, seq, key)
        self._seq = 0
        self._watermark = float("-inf")

    @property
    def open_windows(self) -> int:
        return len(self._windows)

    def observe(self, rule_id: str, event: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Detection rule `rule_id` matched `event`: the alerts this raises (or closes)."""
        alerts = self._observe(rule_id, event)
        return self._chain(alerts, 0) if alerts else alerts

    def advance(self, event: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Event time reached `event`'s, whatever matched it: close the windows that end
        before it (a window that fires on closing must not wait for its own rules' next match)."""
        return self.observe("", event)

    def flush(self) -> list[dict[str, Any]]:
        """End of stream: close every window, raising what closing windows raise."""
        alerts: list[dict[str, Any]] = []
        while self._windows and self._ends:  # chains may open windows as others close
            alerts += self._chain(self._sweep(float("inf")), 0)
        self._windows.clear()
        self._ends.clear()
        return alerts

    def _observe(self, rule_id: str, event: Mapping[str, Any]) -> list[dict[str, Any]]:
        t = _event_time(event.get("@timestamp"), self._watermark)
        alerts: list[dict[str, Any]] = []
        if t > self._watermark:
            self._watermark = t
            if self._ends and self._ends[0][0] < t:
                alerts = self._sweep(t)
        for index, rule, fields in self._targets.get(rule_id, ()):
            alert = self._add(index, rule, fields, rule_id, t, event)
            if alert is not None:
                alerts.append(alert)
        return alerts

    def _add(self, index: int, rule: CorrelationRule, fields: tuple[str, ...], rule_id: str,
             t: float, event: Mapping[str, Any]) -> dict[str, Any] | None:
        key = (index, *map(event.get, fields))
        if None in key:
            # A missing group-by field groups under the empty value, like group_key renders it,
            # so such events still correlate (with each other) instead of vanishing.
            key = tuple("" if v is None else v for v in key)
        try:
            window = self._windows.get(key)
        except TypeError:  # a list value (multi-valued field): group by its tuple
            key = tuple(hashable(v) for v in key)
            window = self._windows.get(key)
        if window is None:
            window = self._open(key, rule, t)
        state, kept = window.state, window.kept
        if rule.sliding:
            cutoff = t - rule.timespan
            state.expire(cutoff)
            while kept and kept[0][0] < cutoff:
                kept.popleft()
        state.add(t, rule_id, event)
        window.last = event
        window.last_kept = len(kept) < KEPT_EVENTS
        if window.last_kept:
            kept.append((t, {"event.id": event.get("event.id"),
                             "@timestamp": event.get("@timestamp"),
                             "organization.id": event.get("organization.id"),
                             # A chained correlation's alert: the events behind it.
                             "event.ids": event.get("event.ids")}))
        if t > window.latest:
            window.latest = t
        if rule.sliding and rule.fires(state):
            del self._windows[key]  # one alert per window and group; the next one starts afresh
            return _alert(rule, key, window)
        return None

    def _open(self, key: tuple[Any, ...], rule: CorrelationRule, t: float) -> _Window:
        if len(self._windows) >= self.max_groups:
            self._windows.popitem(last=False)  # its heap entry goes stale and is skipped
            self.dropped += 1
        self._seq += 1
        window = self._windows[key] = _Window(self._seq, rule.new_state(), t)
        heapq.heappush(self._ends, (t + rule.timespan, self._seq, key))
        return window

    def _sweep(self, watermark: float) -> list[dict[str, Any]]:
        """Close the windows that end before `watermark`, in end order (so replays agree)."""
        alerts: list[dict[str, Any]] = []
        ends = self._ends
        while ends and ends[0][0] < watermark:
            _, seq, key = heapq.heappop(ends)
            window = self._windows.get(key)
            if window is None or window.seq != seq:
                continue  # already fired, dropped or replaced
            rule = self._rules[key[0]]
            if rule.sliding:
                # A sliding window lives until its newest event has slid out; it had its
                # chance to fire on every event, so closing it raises nothing.
                end = window.latest + rule.timespan
                if end >= watermark:
                    heapq.heappush(ends, (end, seq, key))
                    continue
            del self._windows[key]
            if not rule.sliding and rule.fires(window.state):
                alerts.append(_alert(rule, key, window))
        return alerts

    def _chain(self, alerts: list[dict[str, Any]], depth: int) -> list[dict[str, Any]]:
        """Feed correlation alerts to the correlations that reference them (Sigma chains)."""
        if not alerts or depth >= _CHAIN_DEPTH:
            return alerts
        out: list[dict[str, Any]] = []
        for alert in alerts:
            rule_id = alert["rule.id"]
            if rule_id not in self._quiet:
                out.append(alert)
            if rule_id in self._targets:
                event = {**alert, **alert["alert.matches"], "event.id": alert["id"]}
                out += self._chain(self._observe(rule_id, event), depth + 1)
        return out


def _alert(rule: CorrelationRule, key: tuple[Any, ...], window: _Window) -> dict[str, Any]:
    info, state = rule.info, window.state
    groups = dict(zip(info.group_by, key[1:], strict=True))
    aggregate, text = _describe(rule, state)
    slims = [slim for _, slim in window.kept]
    events = (slims[:-1] if window.last_kept else slims[:KEPT_EVENTS - 1]) + [window.last]
    if info.group_by:
        where = {**groups, "organization.id": window.last.get("organization.id")}
        gkey = group_key(where, info.group_by)
        text += " from " + ", ".join(f"{k}={v}" for k, v in groups.items())
    else:
        gkey = group_key(window.last)
    return build_alert(info, events, {**groups, **aggregate}, key=gkey,
                       message=f"{info.name}: {text} within {rule.timespan_text}",
                       extra={"alert.event_count": int(state.count)})


def _describe(rule: CorrelationRule, state: WindowState) -> tuple[dict[str, Any], str]:
    """The aggregate for `alert.matches` and its words for the message."""
    kind, name, value = rule.info.type, rule.value_field, state.value()
    if kind == "event_count":
        return {"count": value}, f"{value} events"
    if kind == "value_count":
        return {f"distinct.{name}": value}, f"{value} distinct {name}"
    if kind == "value_sum":
        return {f"sum.{name}": value}, f"sum of {name} {value:g}"
    if kind == "value_avg":
        return {f"avg.{name}": value}, f"average {name} {value:g}"
    seen = state.seen()
    labels = list(dict.fromkeys(label for rid, label in zip(rule.rule_ids, rule.labels,
                                                           strict=True) if rid in seen))
    order = " in order" if kind == "temporal_ordered" else ""
    return {"rules": labels}, f"rules {', '.join(labels)} matched{order}"


def _event_time(stamp: Any, default: float) -> float:
    """Epoch seconds of `@timestamp`; an event without a readable one happens at the
    watermark, so it joins open windows without moving time on."""
    try:
        moment = datetime.fromisoformat(stamp)  # 3.11 reads the trailing Z itself
    except (TypeError, ValueError):
        if not isinstance(stamp, datetime):
            return default
        moment = stamp
    if moment.tzinfo is None:  # ECS times are UTC
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()
