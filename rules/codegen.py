"""One Python function per rule, generated from its tree of matchers.

A rule compiled to nested closures pays a Python call for every AND, OR and field test —
about six calls per test, most of a rule's cost. Each matcher therefore also carries `code`:
a Python expression over `event` and `view` saying the same thing, with the common tests
inline (`v == c1`, `c2 in v`, `v.endswith(c3)`). The root's expression becomes the body of one
function. Nothing from a rule's text is written into the source: every value, field name and
function the expression uses is a name bound in the function's namespace, so a rule cannot
inject code. The closures stay the reference behaviour and the fallback when generation fails.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

Matcher = Callable[[Mapping[str, Any], Any], bool]


@dataclass(frozen=True)
class Code:
    """A Python expression and the objects it refers to by name."""

    text: str
    names: dict[str, Any] = field(default_factory=dict)


def name(value: Any, names: dict[str, Any]) -> str:
    # Unique among live objects, and `names` keeps them alive while the code exists.
    label = f"c{id(value):x}"
    names[label] = value
    return label


def code_of(matcher: Matcher) -> Code:
    """The matcher's expression, or a call to the matcher itself."""
    found = getattr(matcher, "code", None)
    if found is not None:
        return found
    names: dict[str, Any] = {}
    return Code(f"{name(matcher, names)}(event, view)", names)


def inline(test: Callable[[Any], bool], template: str, *constants: Any,
           many: str | None = None) -> Callable[[Any], bool]:
    """Mark a value test with its expression: `template` in `{v}` (the value, lower-case
    text) and `{0}`, `{1}`… (the constants); `many`, when given, the same test of a tuple of
    values (any of them), which otherwise goes through the test once per value."""
    test.inline = (template, constants, many)  # type: ignore[attr-defined]
    return test


def field_code(field_name: str, test: Callable[[Any], bool], matcher: Matcher) -> Code:
    """A test of a field's comparable value: inline for text, through the test for a list."""
    spec = getattr(test, "inline", None)
    if spec is None:
        return code_of(matcher)
    template, constants, many = spec
    names: dict[str, Any] = {}
    labels = [name(c, names) for c in constants]
    check = template.format(*labels, v="v")
    if many is None:
        many = f"{name(lambda values: any(test(v) for v in values), names)}({{v}})"
    return Code(f"((v := view[{name(field_name, names)}]).__class__ is str and ({check}) "
                f"or v.__class__ is tuple and {many.format(*labels, v='v')})", names)


def joined(matchers: Sequence[Matcher], operator: str) -> Code:
    parts = [code_of(m) for m in matchers]
    names = {k: v for part in parts for k, v in part.names.items()}
    return Code("(" + f" {operator} ".join(p.text for p in parts) + ")", names)


def negated(matcher: Matcher) -> Code:
    inner = code_of(matcher)
    return Code(f"(not {inner.text})", inner.names)


def with_code(matcher: Matcher, code: Code) -> Matcher:
    matcher.code = code  # type: ignore[attr-defined]
    return matcher


def generate(matcher: Matcher) -> Matcher:
    """One function for the whole tree; the tree itself when Python cannot compile it (a
    condition nested deeper than the parser allows)."""
    code = code_of(matcher)
    source = f"def rule(event, view):\n    return bool({code.text})\n"
    namespace = dict(code.names)
    try:
        exec(compile(source, "<sigma rule>", "exec"), namespace)
    except (SyntaxError, RecursionError, MemoryError):
        return matcher
    return namespace["rule"]  # type: ignore[no-any-return]
