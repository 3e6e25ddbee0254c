"""The aggregates a correlation window keeps: `WindowState` and one subclass per aggregate, the
event count, the distinct values or rules seen, the numeric sum or average, and the rules
matched in order.

rules.correlation gives each (correlation rule, group-by values) window one, feeds it the
window's events and judges the rule's condition on its value.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Collection, Mapping
from typing import Any


class WindowState:
    """A window's aggregate. Sliding states forget what is older than the cutoff; the event
    count and numeric sum are kept per second of event time, so a flood costs at most one
    bucket per second of the timespan (and a sum may hold up to a second more than it)."""

    __slots__ = ("buckets", "count", "numbers", "total")

    def __init__(self, sliding: bool) -> None:
        self.buckets: deque[list[float]] | None = deque() if sliding else None
        self.count = self.numbers = 0
        self.total = 0.0

    def add(self, t: float, rule_id: str, event: Mapping[str, Any]) -> None:
        self.tally(t, None)

    def tally(self, t: float, number: float | None) -> None:
        self.count += 1
        has = number is not None
        if has:
            self.numbers += 1
            self.total += number  # type: ignore[operator]
        if self.buckets is None:
            return
        second = t // 1
        if self.buckets and self.buckets[-1][0] == second:
            last = self.buckets[-1]
            last[1] += 1
            last[2] += has
            last[3] += number or 0.0
        else:
            self.buckets.append([second, 1, has, number or 0.0])

    def expire(self, cutoff: float) -> None:
        buckets = self.buckets
        while buckets and buckets[0][0] + 1 <= cutoff:
            _, count, numbers, total = buckets.popleft()
            self.count -= int(count)
            self.numbers -= int(numbers)
            self.total -= total

    def value(self) -> float | None:
        return self.count

    def seen(self) -> Collection[str]:
        return ()


class CountState(WindowState):
    """event_count: a sliding count is exact (one time per event, at most threshold + 1)."""

    __slots__ = ("times",)

    def __init__(self, sliding: bool) -> None:
        super().__init__(False)
        self.times: deque[float] | None = deque() if sliding else None

    def add(self, t: float, rule_id: str, event: Mapping[str, Any]) -> None:
        self.count += 1
        if self.times is not None:
            self.times.append(t)

    def expire(self, cutoff: float) -> None:
        times = self.times
        while times and times[0] < cutoff:
            times.popleft()
            self.count -= 1


class DistinctState(WindowState):
    """value_count (distinct values of a field; events without it add none) and temporal
    (which rules matched, in any order): each key with the last time it was seen."""

    __slots__ = ("cap", "name", "values")

    def __init__(self, sliding: bool, name: str | None, cap: int) -> None:
        super().__init__(sliding)
        self.name, self.cap = name, cap  # name None: the key is the rule id
        # Least recently seen first, so sliding expiry pops from the front.
        self.values: OrderedDict[Any, float] = OrderedDict()

    def add(self, t: float, rule_id: str, event: Mapping[str, Any]) -> None:
        self.tally(t, None)
        key = rule_id if self.name is None else hashable(event.get(self.name))
        if key is None:
            return
        if self.buckets is not None:
            self.values[key] = t
            self.values.move_to_end(key)
        elif len(self.values) < self.cap:  # past the cap, lt/lte/eq/neq cannot change
            self.values[key] = t

    def expire(self, cutoff: float) -> None:
        super().expire(cutoff)
        values = self.values
        while values and next(iter(values.values())) < cutoff:
            values.popitem(last=False)

    def value(self) -> float | None:
        return len(self.values)

    def seen(self) -> Collection[str]:
        return self.values


class SumState(WindowState):
    """value_sum / value_avg of a numeric field (events without a number add nothing)."""

    __slots__ = ("average", "name")

    def __init__(self, sliding: bool, name: str, average: bool) -> None:
        super().__init__(sliding)
        self.name, self.average = name, average

    def add(self, t: float, rule_id: str, event: Mapping[str, Any]) -> None:
        try:
            number: float | None = float(event.get(self.name))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            number = None
        self.tally(t, number)

    def value(self) -> float | None:
        if not self.average:
            return self.total
        return self.total / self.numbers if self.numbers else None


class OrderedState(WindowState):
    """temporal_ordered: `start[i]` is the latest start time of a sequence that has matched
    steps 0..i in order (the latest start leaves the most time for the rest)."""

    __slots__ = ("rule_ids", "span", "start", "steps")

    def __init__(self, sliding: bool, rule_ids: tuple[str, ...], span: float) -> None:
        super().__init__(sliding)
        self.rule_ids, self.span = rule_ids, span
        self.start: list[float | None] = [None] * len(rule_ids)
        # Last step first, so one event never advances two steps of the same sequence.
        self.steps = {rid: [i for i in reversed(range(len(rule_ids))) if rule_ids[i] == rid]
                      for rid in rule_ids}

    def add(self, t: float, rule_id: str, event: Mapping[str, Any]) -> None:
        self.tally(t, None)
        start = self.start
        for i in self.steps.get(rule_id, ()):
            begun = t if i == 0 else start[i - 1]
            if begun is not None and t - begun <= self.span:
                start[i] = begun if start[i] is None else max(start[i], begun)  # type: ignore

    def expire(self, cutoff: float) -> None:
        super().expire(cutoff)
        self.start = [s if s is not None and s >= cutoff else None for s in self.start]

    def value(self) -> float | None:
        return next((i + 1 for i in reversed(range(len(self.start)))
                     if self.start[i] is not None), 0)

    def seen(self) -> Collection[str]:
        return self.rule_ids[:int(self.value() or 0)]


def hashable(value: Any) -> Any:
    """`value` usable as a dict key: a list (a multi-valued field) becomes a tuple."""
    return tuple(value) if isinstance(value, list) else value
