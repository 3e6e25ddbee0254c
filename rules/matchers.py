"""Sigma condition trees (as pySigma parses them) compiled into fast in-process matchers.

A matcher is a function of the event and its `FieldView` (`rules.field_view`), the event's values
made ready for comparison once per event, so a thousand rules that test `process.executable`
lower-case it once. Each field test runs a value test (`rules.value_tests`) on the field's value;
AND, OR and NOT join them, an OR of plain values for one field becomes one set lookup, and
`codegen` turns the whole tree into one Python function.

Compilation also collects the index keys of each part the condition ANDs together
(`rules.index_keys`): what the rule cannot match without, so the engine tests an event only
against rules that could match it.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.types import (
    SigmaCasedString,
    SigmaCIDRExpression,
    SigmaExists,
    SigmaExpansion,
    SigmaFieldReference,
    SigmaNull,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaString,
)

from rules.codegen import field_code, generate, inline, joined, negated, with_code
from rules.errors import RuleError
from rules.field_view import FieldView
from rules.index_keys import (
    IndexKey,
    Keys,
    best_keys,
    network_key,
    regex_keys,
    string_keys,
    union_keys,
)
from rules.value_tests import ValueTest, regex_test, value_test

Matcher = Callable[[Mapping[str, Any], FieldView], bool]

# Keyword searches (a value with no field) look in the message and the raw line, the two fields
# that hold the whole log record.
KEYWORD_FIELDS = ("message", "log.original")


@dataclass(frozen=True)
class Leaf:
    """One field test of a rule, kept to say which fields and values made it match."""

    field: str
    test: ValueTest


@dataclass
class Compiled:
    matcher: Matcher
    # The keys of each part the whole condition ANDs together: any one of them will do as
    # the rule's index key, so the index can pick the one fewest other rules share.
    options: tuple[tuple[IndexKey, ...], ...]
    leaves: list[Leaf]

    @property
    def keys(self) -> Keys:
        """The option that looks most selective by itself."""
        return best_keys(self.options)


def compile_condition(node: Any, field_name: Callable[[str], str] = str) -> Compiled:
    """Compile a postprocessed pySigma condition tree. `field_name` maps a rule's field name to
    the event's. RuleError for anything the engine cannot evaluate exactly."""
    leaves: list[Leaf] = []
    parts = [_compile(part, field_name, leaves, positive=True) for part in _conjuncts(node)]
    matcher = parts[0][0] if len(parts) == 1 else _all(tuple(m for m, _ in parts))
    options = tuple(keys for _, keys in parts if keys is not None)
    return Compiled(generate(matcher), options, leaves)


def _conjuncts(node: Any) -> list[Any]:
    """The parts a condition ANDs together at its top (nested ANDs flattened)."""
    if isinstance(node, ConditionAND):
        return [part for arg in node.args for part in _conjuncts(arg)]
    return [node]


def _compile(node: Any, field_name: Callable[[str], str], leaves: list[Leaf],
             positive: bool) -> tuple[Matcher, Keys]:
    if isinstance(node, ConditionAND | ConditionOR):
        parts = [_compile(arg, field_name, leaves, positive) for arg in node.args]
        matchers = tuple(m for m, _ in parts)
        if isinstance(node, ConditionAND):
            return _all(matchers), best_keys([k for _, k in parts])
        return _one_of(matchers, union_keys([k for _, k in parts]))
    if isinstance(node, ConditionNOT):
        inner, _ = _compile(node.args[0], field_name, leaves, not positive)
        return with_code(lambda event, view: not inner(event, view), negated(inner)), None
    if isinstance(node, ConditionFieldEqualsValueExpression):
        return _field_matcher(field_name(node.field), node.value, leaves, positive, field_name)
    if isinstance(node, ConditionValueExpression):
        return _keyword_matcher(node.value, leaves, positive)
    if node is None:  # what pySigma leaves of `1 of x*` when no search identifier is x…
        raise RuleError("an 'of' pattern in the condition matches no search identifier")
    raise RuleError(f"unsupported condition element {type(node).__name__}")


def _all(matchers: tuple[Matcher, ...]) -> Matcher:
    return with_code(_all_closure(matchers), joined(matchers, "and"))


def _any(matchers: tuple[Matcher, ...]) -> Matcher:
    return with_code(_any_closure(matchers), joined(matchers, "or"))


def _all_closure(matchers: tuple[Matcher, ...]) -> Matcher:
    if len(matchers) == 2:
        first, second = matchers
        return lambda event, view: first(event, view) and second(event, view)

    def every(event: Mapping[str, Any], view: FieldView) -> bool:
        # A loop, not all(genexpr): a generator per test costs more than most tests.
        for matcher in matchers:  # noqa: SIM110
            if not matcher(event, view):
                return False
        return True
    return every


def _any_closure(matchers: tuple[Matcher, ...]) -> Matcher:
    if len(matchers) == 2:
        first, second = matchers
        return lambda event, view: first(event, view) or second(event, view)

    def some(event: Mapping[str, Any], view: FieldView) -> bool:
        for matcher in matchers:  # noqa: SIM110 (as in _all)
            if matcher(event, view):
                return True
        return False
    return some


def _one_of(matchers: tuple[Matcher, ...], keys: Keys) -> tuple[Matcher, Keys]:
    """OR of tests; a list of plain values for one field (a logsource's datasets, a rule's
    ports) becomes one set lookup instead of a test per value."""
    if keys is not None and len(keys) == 1 and keys[0].exact and len(matchers) > 1:
        values = keys[0].values
        member = inline(lambda v: v in values, "{v} in {0}", values,
                        many="not {0}.isdisjoint({v})")
        return _apply(keys[0].field, member, raw=False), keys
    return (_merged(matchers) if len(matchers) > 1 else None) or _any(matchers), keys


def _field_matcher(field: str, value: Any, leaves: list[Leaf], positive: bool,
                   field_name: Callable[[str], str]) -> tuple[Matcher, Keys]:
    if isinstance(value, SigmaExpansion):
        parts = [_field_matcher(field, v, leaves, positive, field_name) for v in value.values]
        return _one_of(tuple(m for m, _ in parts), union_keys([k for _, k in parts]))
    if isinstance(value, SigmaFieldReference):
        return _reference_matcher(field, field_name(value.field), value), None
    if isinstance(value, SigmaNull):
        return (lambda event, view: view[field] in (None, "", ())), None
    if isinstance(value, SigmaExists):
        # The specification: exists checks the field's presence, not its value, "be it empty
        # or null" — a field present with None, "" or [] exists.
        wanted = bool(value.exists)
        return (lambda event, view: (field in event) is wanted), None
    test, raw, key_value = value_test(value)
    if positive:
        leaves.append(Leaf(field, test))
    if key_value is not None:
        keys: Keys = (IndexKey(field, frozenset({key_value}), exact=True),)
    elif isinstance(value, SigmaCIDRExpression):
        keys = network_key(field, value.network)
    elif isinstance(value, SigmaRegularExpression):
        keys = regex_keys(field, value)
    else:
        keys = string_keys(field, value) if isinstance(value, SigmaString) else None
    return _apply(field, test, raw), keys


def _apply(field: str, test: ValueTest, raw: bool) -> Matcher:
    """Run `test` on the field's comparable value (or its raw value for case-sensitive and
    numeric tests); a list matches when any element does."""
    if raw:
        def raw_match(event: Mapping[str, Any], view: FieldView) -> bool:
            # Scalars only, as the index sees them: a mapping or a nested list has no text.
            value = event.get(field)
            if isinstance(value, list):
                return any(v is not None and not isinstance(v, dict | list) and test(v)
                           for v in value)
            return value is not None and not isinstance(value, dict) and test(value)
        return raw_match

    def match(event: Mapping[str, Any], view: FieldView) -> bool:
        value = view[field]
        if value.__class__ is str:
            return test(value)
        if value.__class__ is tuple:
            return any(test(v) for v in value)
        return False
    match.field_test = (field, test)  # type: ignore[attr-defined]
    return with_code(match, field_code(field, test, match))


def _merged(matchers: tuple[Matcher, ...]) -> Matcher | None:
    """OR of tests on one field's comparable value as one matcher: the value is fetched once
    and, for `contains` lists (SQL injection patterns, command-line fragments), searched with
    `in` directly, not through a function per pattern."""
    pairs = [getattr(m, "field_test", None) for m in matchers]
    if any(pair is None for pair in pairs) or len({pair[0] for pair in pairs}) != 1:
        return None
    field, tests = pairs[0][0], tuple(pair[1] for pair in pairs)
    needles = tuple(getattr(t, "needle", None) for t in tests)
    if None not in needles:
        def contains_any(value: str) -> bool:
            for needle in needles:  # noqa: SIM110 (as in _all)
                if needle in value:
                    return True
            return False
        return _apply(field, contains_any, raw=False)

    def passes_any(value: str) -> bool:
        for test in tests:  # noqa: SIM110 (as in _all)
            if test(value):
                return True
        return False
    return _apply(field, passes_any, raw=False)


def _keyword_matcher(value: Any, leaves: list[Leaf],
                     positive: bool) -> tuple[Matcher, Keys]:
    values = value.values if isinstance(value, SigmaExpansion) else [value]
    tests = []
    options: list[Keys] = []
    for item in values:
        if isinstance(item, SigmaRegularExpression):  # searched for, so unanchored already
            tests.append((regex_test(item), True))
            options.append(None)
            continue
        if not isinstance(item, SigmaString | SigmaNumber):
            raise RuleError(f"keyword searches must be strings, not {type(item).__name__}")
        # A keyword matches anywhere in the record: an implicit *…* around it.
        pattern = SigmaString("*") + _as_string(item) + SigmaString("*")
        if isinstance(item, SigmaCasedString):  # the concatenation lost `cased`
            pattern = SigmaCasedString.from_sigma_string(pattern)
        test, raw, _ = value_test(pattern)
        tests.append((test, raw))
        options += [string_keys(name, pattern) for name in KEYWORD_FIELDS]
    matchers = tuple(_apply(name, test, raw) for name in KEYWORD_FIELDS for test, raw in tests)
    if positive:
        leaves.extend(Leaf(name, test) for name in KEYWORD_FIELDS for test, _ in tests)
    return _any(matchers), union_keys(options)


def _as_string(value: SigmaString | SigmaNumber) -> SigmaString:
    return value if isinstance(value, SigmaString) else SigmaString(str(value.number))


def _reference_matcher(field: str, other: str, value: SigmaFieldReference) -> Matcher:
    """The field's value equals (starts with, ends with, or — both set, as `contains` sets them
    — contains) the other field's value; with lists, any element of each."""
    if value.starts_with and value.ends_with:
        compare: Callable[[str, str], bool] = operator.contains  # theirs in mine
    elif value.starts_with:
        compare = str.startswith
    elif value.ends_with:
        compare = str.endswith
    else:
        compare = operator.eq

    def match(event: Mapping[str, Any], view: FieldView) -> bool:
        mine, theirs = view[field], view[other]
        if mine.__class__ is str and theirs.__class__ is str:
            return compare(mine, theirs)
        return any(compare(m, t) for m in _texts(mine) for t in _texts(theirs))
    return match


def _texts(value: Any) -> tuple[str, ...]:
    if value.__class__ is str:
        return (value,)
    if value.__class__ is tuple:
        return tuple(v for v in value if v.__class__ is str)
    return ()
