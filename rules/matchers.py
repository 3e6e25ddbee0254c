"""Sigma condition trees (as pySigma parses them) compiled into fast in-process matchers.

A matcher is a function of the event and its `FieldView`, the event's values made ready for
comparison once per event (lower-cased text, tuples for lists), so a thousand rules that test
`process.executable` lower-case it once. Each value type of the Sigma specification compiles
to the cheapest Python operation that gives its meaning: `==`, `in`, `startswith`, `endswith`,
a regular expression only where wildcards sit in the middle.

Compilation also finds what the rule cannot match without: one field and the literal values it
must hold (`IndexKey`), so the engine tests an event only against rules that could match it.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import math
import operator
import re
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from re import _parser as sre_parse  # type: ignore[attr-defined]
from typing import Any

from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.types import (
    CompareOperators,
    SigmaBool,
    SigmaCasedString,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaExists,
    SigmaExpansion,
    SigmaFieldReference,
    SigmaNull,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaString,
    SigmaTimestampPart,
    SpecialChars,
    TimestampPart,
)

from rules.errors import RuleError

Matcher = Callable[[Mapping[str, Any], "FieldView"], bool]
ValueTest = Callable[[Any], bool]

# Keyword searches (a value with no field) look in the message and the raw line, the two fields
# that hold the whole log record.
KEYWORD_FIELDS = ("message", "log.original")
# A virtual field: the last path component of a field's value, lower-case
# ("basename:process.executable" of C:\Windows\System32\CertUtil.exe is certutil.exe).
BASENAME = "basename:"
# Fields whose values hundreds of rules share: an index key on them prunes little.
BROAD_FIELDS = frozenset({"event.dataset", "winlog.channel", "event.category", "event.type",
                          "event.kind", "event.module", "event.outcome"})
_SEPARATORS = ("\\", "/")


class FieldView(dict[str, Any]):
    """An event's values made comparable, computed on first use: lower-case text for scalars,
    a tuple of them for lists, None when absent. Keys are field names or `basename:<field>`."""

    __slots__ = ("event",)

    def __init__(self, event: Mapping[str, Any]) -> None:
        super().__init__()
        self.event = event

    def __missing__(self, key: str) -> Any:
        if key.startswith(BASENAME):
            value = _basename(self[key[len(BASENAME):]])
        else:
            value = comparable(self.event.get(key))
        self[key] = value
        return value


def comparable(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, str):
        return value.lower()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return tuple(comparable(v) for v in value if v is not None and not isinstance(v, dict))
    if isinstance(value, dict):
        return None
    return str(value).lower()


def _basename(value: Any) -> Any:
    if isinstance(value, str):
        return value.rsplit("\\", 1)[-1].rsplit("/", 1)[-1]
    if isinstance(value, tuple):
        return tuple(_basename(v) for v in value)
    return None


@dataclass(frozen=True)
class IndexKey:
    """The rule matches only events whose `field` holds one of `values` (lower-case)."""

    field: str
    values: frozenset[str]
    # True when the key is the whole test (field equals one of the values), not only a
    # necessary part of it: such keys merge into one set lookup.
    exact: bool = dataclasses.field(default=False, compare=False)

    @property
    def rank(self) -> tuple[int, int]:
        # Prefer a specific field, then fewer values: the key that leaves fewest candidates.
        return (self.field in BROAD_FIELDS, len(self.values))


@dataclass(frozen=True)
class Leaf:
    """One field test of a rule, kept to say which fields and values made it match."""

    field: str
    test: ValueTest


@dataclass
class Compiled:
    matcher: Matcher
    key: IndexKey | None
    leaves: list[Leaf]


def compile_condition(node: Any, field_name: Callable[[str], str] = str) -> Compiled:
    """Compile a postprocessed pySigma condition tree. `field_name` maps a rule's field name to
    the event's. RuleError for anything the engine cannot evaluate exactly."""
    leaves: list[Leaf] = []
    matcher, key = _compile(node, field_name, leaves, positive=True)
    return Compiled(matcher, key, leaves)


def _compile(node: Any, field_name: Callable[[str], str], leaves: list[Leaf],
             positive: bool) -> tuple[Matcher, IndexKey | None]:
    if isinstance(node, ConditionAND | ConditionOR):
        parts = [_compile(arg, field_name, leaves, positive) for arg in node.args]
        matchers = tuple(m for m, _ in parts)
        if isinstance(node, ConditionAND):
            keys = [k for _, k in parts if k is not None]
            return _all(matchers), min(keys, key=lambda k: k.rank, default=None)
        return _one_of(matchers, _union_key([k for _, k in parts]))
    if isinstance(node, ConditionNOT):
        inner, _ = _compile(node.args[0], field_name, leaves, not positive)
        return (lambda event, view: not inner(event, view)), None
    if isinstance(node, ConditionFieldEqualsValueExpression):
        return _field_matcher(field_name(node.field), node.value, leaves, positive, field_name)
    if isinstance(node, ConditionValueExpression):
        return _keyword_matcher(node.value, leaves, positive)
    if node is None:  # what pySigma leaves of `1 of x*` when no search identifier is x…
        raise RuleError("an 'of' pattern in the condition matches no search identifier")
    raise RuleError(f"unsupported condition element {type(node).__name__}")


def _all(matchers: tuple[Matcher, ...]) -> Matcher:
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


def _any(matchers: tuple[Matcher, ...]) -> Matcher:
    if len(matchers) == 2:
        first, second = matchers
        return lambda event, view: first(event, view) or second(event, view)

    def some(event: Mapping[str, Any], view: FieldView) -> bool:
        for matcher in matchers:  # noqa: SIM110 (as in _all)
            if matcher(event, view):
                return True
        return False
    return some


def _one_of(matchers: tuple[Matcher, ...], key: IndexKey | None) -> tuple[Matcher, IndexKey | None]:
    """OR of tests; a list of plain values for one field (a logsource's datasets, a rule's
    ports) becomes one set lookup instead of a test per value."""
    if key is not None and key.exact and len(matchers) > 1:
        return _apply(key.field, key.values.__contains__, raw=False), key
    return (_merged(matchers) if len(matchers) > 1 else None) or _any(matchers), key


def _union_key(keys: Sequence[IndexKey | None]) -> IndexKey | None:
    if not keys or any(k is None for k in keys):
        return None
    fields = {k.field for k in keys if k is not None}
    if len(fields) != 1:
        return None
    return IndexKey(fields.pop(), frozenset().union(*(k.values for k in keys if k is not None)),
                    exact=all(k.exact for k in keys if k is not None))


def _field_matcher(field: str, value: Any, leaves: list[Leaf], positive: bool,
                   field_name: Callable[[str], str]) -> tuple[Matcher, IndexKey | None]:
    if isinstance(value, SigmaExpansion):
        parts = [_field_matcher(field, v, leaves, positive, field_name) for v in value.values]
        return _one_of(tuple(m for m, _ in parts), _union_key([k for _, k in parts]))
    if isinstance(value, SigmaFieldReference):
        return _reference_matcher(field, field_name(value.field), value), None
    if isinstance(value, SigmaNull):
        return (lambda event, view: view[field] in (None, "", ())), None
    if isinstance(value, SigmaExists):
        # The specification: exists checks the field's presence, not its value, "be it empty
        # or null" — a field present with None, "" or [] exists.
        wanted = bool(value.exists)
        return (lambda event, view: (field in event) is wanted), None
    test, raw, key_value = _value_test(value)
    if positive:
        leaves.append(Leaf(field, test))
    key = IndexKey(field, frozenset({key_value}), exact=True) if key_value is not None else None
    if isinstance(value, SigmaString) and not raw:
        key = key or _basename_key(field, value)
    return _apply(field, test, raw), key


def _apply(field: str, test: ValueTest, raw: bool) -> Matcher:
    """Run `test` on the field's comparable value (or its raw value for case-sensitive and
    numeric tests); a list matches when any element does."""
    if raw:
        def raw_match(event: Mapping[str, Any], view: FieldView) -> bool:
            value = event.get(field)
            if isinstance(value, list):
                return any(v is not None and test(v) for v in value)
            return value is not None and test(value)
        return raw_match

    def match(event: Mapping[str, Any], view: FieldView) -> bool:
        value = view[field]
        if value.__class__ is str:
            return test(value)
        if value.__class__ is tuple:
            return any(test(v) for v in value)
        return False
    match.field_test = (field, test)  # type: ignore[attr-defined]
    return match


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
                     positive: bool) -> tuple[Matcher, IndexKey | None]:
    values = value.values if isinstance(value, SigmaExpansion) else [value]
    tests = []
    for item in values:
        if isinstance(item, SigmaRegularExpression):  # searched for, so unanchored already
            tests.append((_regex_test(item), True))
            continue
        if not isinstance(item, SigmaString | SigmaNumber):
            raise RuleError(f"keyword searches must be strings, not {type(item).__name__}")
        # A keyword matches anywhere in the record: an implicit *…* around it.
        pattern = SigmaString("*") + _as_string(item) + SigmaString("*")
        if isinstance(item, SigmaCasedString):  # the concatenation lost `cased`
            pattern = SigmaCasedString.from_sigma_string(pattern)
        test, raw, _ = _value_test(pattern)
        tests.append((test, raw))
    matchers = tuple(_apply(name, test, raw) for name in KEYWORD_FIELDS for test, raw in tests)
    if positive:
        leaves.extend(Leaf(name, test) for name in KEYWORD_FIELDS for test, _ in tests)
    return _any(matchers), None


def _as_string(value: SigmaString | SigmaNumber) -> SigmaString:
    return value if isinstance(value, SigmaString) else SigmaString(str(value.number))


def _value_test(value: Any) -> tuple[ValueTest, bool, str | None]:
    """(test, whether it takes the raw value, the literal a match requires — for the index)."""
    if isinstance(value, SigmaCasedString):
        return _string_test(value, cased=True), True, None
    if isinstance(value, SigmaString):
        test, literal = _string_test(value, cased=False), _literal(value)
        return test, False, literal
    if isinstance(value, SigmaTimestampPart):
        return _timestamp_part_test(value.timestamp_part, value.number), True, None
    if isinstance(value, SigmaBool):
        wanted = "true" if value.boolean else "false"
        return (lambda v: v == wanted), False, wanted
    if isinstance(value, SigmaNumber):
        text = str(value.number).lower()
        return (lambda v: v == text), False, text
    if isinstance(value, SigmaCompareExpression):
        return _compare_test(value), True, None
    if isinstance(value, SigmaRegularExpression):
        return _regex_test(value), True, None
    if isinstance(value, SigmaCIDRExpression):
        return _cidr_test(value.network), True, None
    raise RuleError(f"unsupported value type {type(value).__name__} ({value})")


def _literal(value: SigmaString) -> str | None:
    # The text itself: to_plain() would escape it again (a\*b for the value a*b).
    parts = value.s
    if not all(isinstance(p, str) for p in parts):
        return None
    return "".join(parts).lower()  # type: ignore[arg-type]


def _basename_key(field: str, value: SigmaString) -> IndexKey | None:
    """`…\\certutil.exe` (an endswith on a path) requires the basename certutil.exe."""
    parts = value.s
    if len(parts) != 2 or parts[0] is not SpecialChars.WILDCARD_MULTI:
        return None
    tail = parts[1]
    if not isinstance(tail, str) or not tail.startswith(_SEPARATORS):
        return None
    name = tail[1:].lower()
    if not name or any(s in name for s in _SEPARATORS):
        return None
    return IndexKey(BASENAME + field, frozenset({name}))


def _string_test(value: SigmaString, cased: bool) -> ValueTest:
    parts = list(value.s)
    if any(not isinstance(p, str | SpecialChars) for p in parts):
        raise RuleError(f"placeholder in '{value.original}' has no values (rules.placeholders)")
    fold = (lambda s: s) if cased else str.lower
    many = SpecialChars.WILDCARD_MULTI
    if all(isinstance(p, str) for p in parts):
        text = fold("".join(parts))  # type: ignore[arg-type]
        return _cased(lambda v: v == text, cased)
    inner = parts[1:-1]
    if all(isinstance(p, str) for p in inner):
        text = fold("".join(inner))  # type: ignore[arg-type]
        if len(parts) == 3 and parts[0] is many and parts[-1] is many:
            if cased:
                return _cased(lambda v: text in v, cased)
            return _contains(text)
    if len(parts) == 2 and parts[1] is many and isinstance(parts[0], str):
        prefix = fold(parts[0])
        return _cased(lambda v: v.startswith(prefix), cased)
    if len(parts) == 2 and parts[0] is many and isinstance(parts[1], str):
        suffix = fold(parts[1])
        return _cased(lambda v: v.endswith(suffix), cased)
    pattern = re.compile("".join(_wildcard_part(p, fold) for p in parts), re.DOTALL)
    return _cased(lambda v: pattern.fullmatch(v) is not None, cased)


def _contains(text: str) -> ValueTest:
    def test(value: str) -> bool:
        return text in value
    test.needle = text  # type: ignore[attr-defined]
    return test


def _wildcard_part(part: str | SpecialChars, fold: Callable[[str], str]) -> str:
    if part is SpecialChars.WILDCARD_MULTI:
        return ".*"
    if part is SpecialChars.WILDCARD_SINGLE:
        return "."
    return re.escape(fold(part))  # type: ignore[arg-type]


def _cased(test: ValueTest, cased: bool) -> ValueTest:
    """Case-sensitive tests get the raw value: compare its text form."""
    if not cased:
        return test
    return lambda v: test(v if isinstance(v, str) else str(v))


_COMPARE: dict[CompareOperators, Callable[[float, float], bool]] = {
    CompareOperators.LT: lambda a, b: a < b,
    CompareOperators.LTE: lambda a, b: a <= b,
    CompareOperators.GT: lambda a, b: a > b,
    CompareOperators.GTE: lambda a, b: a >= b,
    CompareOperators.NEQ: lambda a, b: a != b,
}


def _compare_test(value: SigmaCompareExpression) -> ValueTest:
    operator, limit = _COMPARE[value.op], value.number.number

    def test(v: Any) -> bool:
        number = _number(v)
        return number is not None and operator(number, limit)
    return test


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    # Text that only Python reads as a number ("inf", "NaN", "1_000") is not one in a log.
    return number if math.isfinite(number) and "_" not in str(value) else None


def _regex_test(value: SigmaRegularExpression) -> ValueTest:
    flags = 0
    for flag in value.flags:
        flags |= SigmaRegularExpression.sigma_to_python_flags[flag]
    text = str(value.regexp)
    check_backtracking(text, flags)
    pattern = re.compile(text, flags)
    # Sigma regular expressions are searched for (unanchored) and case-sensitive unless `i`.
    return lambda v: pattern.search(v if isinstance(v, str) else str(v)) is not None


def check_backtracking(text: str, flags: int = 0) -> None:
    """Refuse a regular expression that can backtrack catastrophically (ReDoS): a repetition
    inside a repetition (`(a+)+`, `(\\w*\\s?)*`) or a back-reference. Python's `re` has no time
    limit, so a rule must not be able to stall the pipeline on one crafted log line."""
    try:
        tree = sre_parse.parse(text, flags)
    except re.error as exc:
        raise RuleError(f"invalid regular expression '{text}': {exc}") from exc
    if _nested_repeat(tree, inside=False):
        raise RuleError(f"regular expression '{text}' can backtrack catastrophically "
                        "(a repetition inside a repetition, or a back-reference); rewrite it "
                        "without them")


_REPEATS = {sre_parse.MAX_REPEAT, sre_parse.MIN_REPEAT, getattr(sre_parse, "POSSESSIVE_REPEAT",
                                                                 None)}


def _nested_repeat(tree: Any, inside: bool) -> bool:
    for op, argument in tree:
        if op in _REPEATS:
            _, high, sub = argument
            unbounded = high is sre_parse.MAXREPEAT or high > 16
            if unbounded and inside and len(sub) > 0:
                return True
            if _nested_repeat(sub, inside or unbounded):
                return True
        elif op is sre_parse.GROUPREF:
            return True
        elif op is sre_parse.SUBPATTERN:
            if _nested_repeat(argument[-1], inside):
                return True
        elif op is sre_parse.BRANCH:
            if any(_nested_repeat(branch, inside) for branch in argument[1]):
                return True
        elif op in (sre_parse.ASSERT, sre_parse.ASSERT_NOT) and _nested_repeat(argument[1],
                                                                                  inside):
            return True
    return False


def _cidr_test(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> ValueTest:
    family = socket.AF_INET if network.version == 4 else socket.AF_INET6
    base, mask = int(network.network_address), int(network.netmask)

    def test(v: Any) -> bool:
        try:
            number = int.from_bytes(socket.inet_pton(family, v if isinstance(v, str) else str(v)))
        except OSError:
            return False
        return number & mask == base
    return test


_PARTS: dict[TimestampPart, Callable[[datetime], int]] = {
    TimestampPart.MINUTE: lambda t: t.minute,
    TimestampPart.HOUR: lambda t: t.hour,
    TimestampPart.DAY: lambda t: t.day,
    TimestampPart.WEEK: lambda t: t.isocalendar().week,
    TimestampPart.MONTH: lambda t: t.month,
    TimestampPart.YEAR: lambda t: t.year,
}


def _timestamp_part_test(part: TimestampPart, number: int | float) -> ValueTest:
    extract = _PARTS[part]

    def test(v: Any) -> bool:
        try:
            moment = v if isinstance(v, datetime) else datetime.fromisoformat(str(v))
        except ValueError:
            return False
        return extract(moment) == number
    return test


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
