"""The tests Sigma values compile to: functions of one field value, True when it matches.

Each value type of the Sigma specification becomes the cheapest Python operation that gives its
meaning: `==`, `in`, `startswith`, `endswith` (marked for `codegen` to inline), a regular
expression only where wildcards sit in the middle. Regular expressions that can backtrack
catastrophically are refused.
"""

from __future__ import annotations

import ipaddress
import math
import re
import socket
from collections.abc import Callable
from datetime import datetime
from re import _parser as sre_parse  # type: ignore[attr-defined]
from typing import Any

from sigma.types import (
    CompareOperators,
    SigmaBool,
    SigmaCasedString,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaString,
    SigmaTimestampPart,
    SpecialChars,
    TimestampPart,
)

from rules.codegen import inline
from rules.errors import RuleError

ValueTest = Callable[[Any], bool]


def value_test(value: Any) -> tuple[ValueTest, bool, str | None]:
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
        return regex_test(value), True, None
    if isinstance(value, SigmaCIDRExpression):
        return _cidr_test(value.network), True, None
    raise RuleError(f"unsupported value type {type(value).__name__} ({value})")


def _literal(value: SigmaString) -> str | None:
    # The text itself: to_plain() would escape it again (a\*b for the value a*b).
    parts = value.s
    if not all(isinstance(p, str) for p in parts):
        return None
    return "".join(parts).casefold()  # type: ignore[arg-type]


def _string_test(value: SigmaString, cased: bool) -> ValueTest:
    parts = list(value.s)
    if any(not isinstance(p, str | SpecialChars) for p in parts):
        raise RuleError(f"placeholder in '{value.original}' has no values (rules.placeholders)")
    fold = (lambda s: s) if cased else str.casefold
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


def regex_test(value: SigmaRegularExpression) -> ValueTest:
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
