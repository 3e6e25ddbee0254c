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

from rules.codegen import field_code, generate, inline, joined, negated, with_code
from rules.errors import RuleError

Matcher = Callable[[Mapping[str, Any], "FieldView"], bool]
ValueTest = Callable[[Any], bool]

# Keyword searches (a value with no field) look in the message and the raw line, the two fields
# that hold the whole log record.
KEYWORD_FIELDS = ("message", "log.original")
# A virtual field: the network an address is in, `network/<prefix length>:<field>` (e.g.
# network/24:source.ip of 10.45.1.7 is 4/688768: the address's family and its first 24 bits).
# The slash keeps it apart from ECS's own network.* fields.
NETWORK = "network/"
# A virtual field: the last path component of a field's value, lower-case
# ("basename:process.executable" of C:\Windows\System32\CertUtil.exe is certutil.exe).
BASENAME = "basename:"
# Substring keys shorter than this are no key at all (they are in nearly every value); from
# LONG_SUBSTRING on they rank with specific values' keys.
MIN_SUBSTRING = 3
LONG_SUBSTRING = 5
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
        value = self.event.get(key)
        # The common cases first, inline: this runs for every field every event is tested on.
        if value.__class__ is str:
            value = value.lower()
        elif value is not None:
            value = comparable(value)
        elif key.startswith(BASENAME):
            value = _basename(self[key[len(BASENAME):]])
        elif key.startswith(NETWORK):
            prefix, _, name = key[len(NETWORK):].partition(":")
            value = _network(self[name], int(prefix))
        self[key] = value
        return value


def source_field(name: str) -> str:
    """The event field a (possibly virtual) field is computed from."""
    if name.startswith(BASENAME):
        return name[len(BASENAME):]
    if name.startswith(NETWORK):
        return name.partition(":")[2]
    return name


def comparable(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, str):
        return value.lower()
    if value.__class__ is int:
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return tuple(comparable(v) for v in value if v is not None and not isinstance(v, dict))
    if isinstance(value, dict):
        return None
    return str(value).lower()


def _network(value: Any, prefix: int) -> Any:
    """`family/first bits` of an address (or of each of a list), None for what is not one."""
    if value.__class__ is tuple:
        return tuple(n for n in (_network(v, prefix) for v in value) if n is not None)
    if value.__class__ is not str:
        return None
    for family, bits in ((socket.AF_INET, 32), (socket.AF_INET6, 128)):
        try:
            number = int.from_bytes(socket.inet_pton(family, value))
        except OSError:
            continue
        return f"{bits // 8}/{number >> (bits - prefix)}" if prefix <= bits else None
    return None


def _network_key(field: str, network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> Keys:
    bits, prefix = network.max_prefixlen, network.prefixlen
    first = int(network.network_address) >> (bits - prefix)
    return (IndexKey(f"{NETWORK}{prefix}:{field}", frozenset({f"{bits // 8}/{first}"})),)


def _basename(value: Any) -> Any:
    if isinstance(value, str):
        return value.rsplit("\\", 1)[-1].rsplit("/", 1)[-1]
    if isinstance(value, tuple):
        return tuple(_basename(v) for v in value)
    return None


@dataclass(frozen=True)
class IndexKey:
    """The rule matches only events whose `field` holds one of `values` (lower-case), or, for a
    `substring` key, contains one of them."""

    field: str
    values: frozenset[str]
    substring: bool = False
    # True when the key is the whole test (field equals one of the values), not only a
    # necessary part of it: such keys merge into one set lookup.
    exact: bool = dataclasses.field(default=False, compare=False)

    @property
    def rank(self) -> int:
        # A specific value beats a substring (short ones are common), which beats a value many
        # rules share (a dataset, a channel): the key that leaves fewest candidates.
        if self.field in BROAD_FIELDS:
            return 3
        if self.substring:
            return 1 if min(map(len, self.values)) >= LONG_SUBSTRING else 2
        return 0


# A rule matches only events that satisfy one of its keys (any-of); None: every event.
Keys = tuple[IndexKey, ...] | None


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
        return _best_keys(self.options)


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
            return _all(matchers), _best_keys([k for _, k in parts])
        return _one_of(matchers, _union_keys([k for _, k in parts]))
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


def _best_keys(options: Sequence[Keys]) -> Keys:
    """AND: any one part's keys will do; the part whose weakest key is strongest."""
    known = [keys for keys in options if keys is not None]
    if not known:
        return None
    best = min(known, key=lambda keys: (max(k.rank for k in keys),
                                        sum(len(k.values) for k in keys)))
    # Only a part of the test now: an OR of such ANDs must not become a set lookup.
    return tuple(dataclasses.replace(k, exact=False) for k in best)


def _union_keys(options: Sequence[Keys]) -> Keys:
    """OR: a match satisfies one part, so it satisfies one of the parts' keys (merged by field
    and kind); a part without keys leaves the whole without."""
    if not options or any(keys is None for keys in options):
        return None
    merged: dict[tuple[str, bool], IndexKey] = {}
    for key in (k for keys in options if keys is not None for k in keys):
        seen = merged.get((key.field, key.substring))
        merged[(key.field, key.substring)] = key if seen is None else IndexKey(
            key.field, seen.values | key.values, key.substring, exact=seen.exact and key.exact)
    return tuple(merged.values())


def _field_matcher(field: str, value: Any, leaves: list[Leaf], positive: bool,
                   field_name: Callable[[str], str]) -> tuple[Matcher, Keys]:
    if isinstance(value, SigmaExpansion):
        parts = [_field_matcher(field, v, leaves, positive, field_name) for v in value.values]
        return _one_of(tuple(m for m, _ in parts), _union_keys([k for _, k in parts]))
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
    if key_value is not None:
        keys: Keys = (IndexKey(field, frozenset({key_value}), exact=True),)
    elif isinstance(value, SigmaCIDRExpression):
        keys = _network_key(field, value.network)
    elif isinstance(value, SigmaRegularExpression):
        keys = _regex_keys(field, value)
    else:
        keys = _string_keys(field, value) if isinstance(value, SigmaString) else None
    return _apply(field, test, raw), keys


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
            tests.append((_regex_test(item), True))
            options.append(None)
            continue
        if not isinstance(item, SigmaString | SigmaNumber):
            raise RuleError(f"keyword searches must be strings, not {type(item).__name__}")
        # A keyword matches anywhere in the record: an implicit *…* around it.
        pattern = SigmaString("*") + _as_string(item) + SigmaString("*")
        if isinstance(item, SigmaCasedString):  # the concatenation lost `cased`
            pattern = SigmaCasedString.from_sigma_string(pattern)
        test, raw, _ = _value_test(pattern)
        tests.append((test, raw))
        options += [_string_keys(name, pattern) for name in KEYWORD_FIELDS]
    matchers = tuple(_apply(name, test, raw) for name in KEYWORD_FIELDS for test, raw in tests)
    if positive:
        leaves.extend(Leaf(name, test) for name in KEYWORD_FIELDS for test, _ in tests)
    return _any(matchers), _union_keys(options)


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
        return inline(lambda v: v == wanted, "{v} == {0}", wanted, many="{0} in {v}"), False, \
            wanted
    if isinstance(value, SigmaNumber):
        text = str(value.number).lower()
        return inline(lambda v: v == text, "{v} == {0}", text, many="{0} in {v}"), False, text
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


def _string_keys(field: str, value: SigmaString) -> Keys:
    """What a wildcard string requires: `…\\certutil.exe` (an endswith on a path) the basename
    certutil.exe; otherwise its longest literal run as a substring (case-folded: a cased
    match contains it too)."""
    parts = value.s
    if len(parts) == 2 and parts[0] is SpecialChars.WILDCARD_MULTI and isinstance(parts[1], str):
        tail = parts[1]
        name = tail[1:].lower()
        if tail.startswith(_SEPARATORS) and name and not any(s in name for s in _SEPARATORS):
            return (IndexKey(BASENAME + field, frozenset({name})),)
    runs = [p.lower() for p in parts if isinstance(p, str)]
    longest = max(runs, key=len, default="")
    if len(longest) < MIN_SUBSTRING:
        return None
    return (IndexKey(field, frozenset({longest}), substring=True),)


def _string_test(value: SigmaString, cased: bool) -> ValueTest:
    parts = list(value.s)
    if any(not isinstance(p, str | SpecialChars) for p in parts):
        raise RuleError(f"placeholder in '{value.original}' has no values (rules.placeholders)")
    fold = (lambda s: s) if cased else str.lower
    many = SpecialChars.WILDCARD_MULTI
    if all(isinstance(p, str) for p in parts):
        text = fold("".join(parts))  # type: ignore[arg-type]
        if cased:
            return _cased(lambda v: v == text, cased)
        return inline(lambda v: v == text, "{v} == {0}", text, many="{0} in {v}")
    inner = parts[1:-1]
    if all(isinstance(p, str) for p in inner):
        text = fold("".join(inner))  # type: ignore[arg-type]
        if len(parts) == 3 and parts[0] is many and parts[-1] is many:
            if cased:
                return _cased(lambda v: text in v, cased)
            return _contains(text)
    if len(parts) == 2 and parts[1] is many and isinstance(parts[0], str):
        prefix = fold(parts[0])
        if cased:
            return _cased(lambda v: v.startswith(prefix), cased)
        return inline(lambda v: v.startswith(prefix), "{v}.startswith({0})", prefix)
    if len(parts) == 2 and parts[0] is many and isinstance(parts[1], str):
        suffix = fold(parts[1])
        if cased:
            return _cased(lambda v: v.endswith(suffix), cased)
        return inline(lambda v: v.endswith(suffix), "{v}.endswith({0})", suffix)
    pattern = re.compile("".join(_wildcard_part(p, fold) for p in parts), re.DOTALL)
    return _cased(lambda v: pattern.fullmatch(v) is not None, cased)


def _contains(text: str) -> ValueTest:
    def test(value: str) -> bool:
        return text in value
    test.needle = text  # type: ignore[attr-defined]
    return inline(test, "{0} in {v}", text)


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


def _regex_keys(field: str, value: SigmaRegularExpression) -> Keys:
    """A regular expression's longest run of literal text that every match contains (outside
    alternatives, optional parts and repetitions), as a substring key — case-folded, as the
    values it is looked up in are."""
    try:
        tree = sre_parse.parse(str(value.regexp))
    except re.error:
        return None
    runs = [run.lower() for run in _literal_runs(tree)]
    longest = max(runs, key=len, default="")
    if len(longest) < MIN_SUBSTRING:
        return None
    return (IndexKey(field, frozenset({longest}), substring=True),)


def _literal_runs(tree: Any) -> list[str]:
    runs, current = [], ""
    for op, argument in tree:
        if op is sre_parse.LITERAL:
            current += chr(argument)
        elif op is sre_parse.SUBPATTERN:
            inner = _literal_runs(argument[-1])
            # A group's text joins the text around it only when it is all literal.
            if len(inner) == 1 and all(o is sre_parse.LITERAL for o, _ in argument[-1]):
                current += inner[0]
            else:
                runs += [current, *inner]
                current = ""
        else:
            runs.append(current)
            current = ""
    return [*runs, current]


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
