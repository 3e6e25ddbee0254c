"""Index keys: what a rule cannot match without, so the engine tests an event only against
rules that could match it.

A key is one field and the literal values it must hold (or, for a substring key, contain). A
plain value is its own key, a wildcard string or a regular expression gives its longest literal
run, a CIDR range its network; an AND needs the keys of any one of its parts, an OR those of all
its parts together.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass
from re import _parser as sre_parse  # type: ignore[attr-defined]
from typing import Any

from sigma.types import SigmaRegularExpression, SigmaString, SpecialChars

from rules.field_view import BASENAME, NETWORK

# Substring keys shorter than this are no key at all (they are in nearly every value); from
# LONG_SUBSTRING on they rank with specific values' keys.
MIN_SUBSTRING = 3
LONG_SUBSTRING = 5
# Fields whose values hundreds of rules share: an index key on them prunes little.
BROAD_FIELDS = frozenset({"event.dataset", "winlog.channel", "event.category", "event.type",
                          "event.kind", "event.module", "event.outcome"})
_SEPARATORS = ("\\", "/")


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


def best_keys(options: Sequence[Keys]) -> Keys:
    """AND: any one part's keys will do; the part whose weakest key is strongest."""
    known = [keys for keys in options if keys is not None]
    if not known:
        return None
    best = min(known, key=lambda keys: (max(k.rank for k in keys),
                                        sum(len(k.values) for k in keys)))
    # Only a part of the test now: an OR of such ANDs must not become a set lookup.
    return tuple(dataclasses.replace(k, exact=False) for k in best)


def union_keys(options: Sequence[Keys]) -> Keys:
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


def string_keys(field: str, value: SigmaString) -> Keys:
    """What a wildcard string requires: `…\\certutil.exe` (an endswith on a path) the basename
    certutil.exe; otherwise its longest literal run as a substring (case-folded: a cased
    match contains it too)."""
    parts = value.s
    if len(parts) == 2 and parts[0] is SpecialChars.WILDCARD_MULTI and isinstance(parts[1], str):
        tail = parts[1]
        name = tail[1:].casefold()
        if tail.startswith(_SEPARATORS) and name and not any(s in name for s in _SEPARATORS):
            return (IndexKey(BASENAME + field, frozenset({name})),)
    runs = [p.casefold() for p in parts if isinstance(p, str)]
    longest = max(runs, key=len, default="")
    if len(longest) < MIN_SUBSTRING:
        return None
    return (IndexKey(field, frozenset({longest}), substring=True),)


def regex_keys(field: str, value: SigmaRegularExpression) -> Keys:
    """A regular expression's longest run of literal text that every match contains (outside
    alternatives, optional parts and repetitions), as a substring key — case-folded, as the
    values it is looked up in are."""
    flags = 0
    for flag in value.flags:
        flags |= SigmaRegularExpression.sigma_to_python_flags[flag]
    try:
        tree = sre_parse.parse(str(value.regexp), flags)
    except re.error:
        return None
    runs = [run.casefold() for run in _literal_runs(tree)]
    if tree.state.flags & re.IGNORECASE:
        # Ignoring case, `re` also equates i with ı and İ, and many letters outside ASCII with
        # others no case folding joins: only ASCII text without i is a sound key.
        runs = [piece for run in runs for piece in re.split(r"[^\x00-\x7f]|i", run)]
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


def network_key(field: str, network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> Keys:
    bits, prefix = network.max_prefixlen, network.prefixlen
    first = int(network.network_address) >> (bits - prefix)
    return (IndexKey(f"{NETWORK}{prefix}:{field}", frozenset({f"{bits // 8}/{first}"})),)
