"""Loading Sigma rules: files and directories → pySigma → ECS field names → compiled rules.

pySigma parses every rule (YAML documents, detection and correlation rules). Windows rules get
pySigma's own ECS Windows pipeline (the field names Winlogbeat writes, which is what the
Windows parsers here write too); every rule gets the condition its logsource stands for, from
`rules/logsources.yaml`. A rule that cannot be loaded — invalid YAML, an unknown modifier, a
regular expression that could backtrack catastrophically, a logsource nothing collects, a
duplicate id — is a `RuleProblem` naming the file and line, and the other rules load.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from sigma.conditions import ConditionAND, ConditionFieldEqualsValueExpression, ConditionOR
from sigma.correlations import SigmaCorrelationRule
from sigma.exceptions import SigmaError
from sigma.modifiers import SigmaWideModifier, modifier_mapping
from sigma.rule import (
    SigmaDetection,
    SigmaDetectionItem,
    SigmaDetections,
    SigmaLogSource,
    SigmaRule,
)
from sigma.types import SigmaString

from rules.alerts import LEVELS, RuleInfo
from rules.correlation import compile_correlation
from rules.errors import RuleError
from rules.field_view import FieldView
from rules.index_keys import Keys
from rules.logsource import (
    ecs_field,
    logsource_entries,
    logsource_meaning,
    sigma_pipeline,
)
from rules.matchers import Compiled, compile_condition

# The specification names `utf16le` with `wide` as its alias; pySigma 1.5.1 knows only `wide`.
modifier_mapping.setdefault("utf16le", SigmaWideModifier)
# pySigma 1.5.1 writes utf16's byte-order mark as the UTF-8 bytes EF BB BF instead of FF FE, so
# such a rule could never match: it is refused by name rather than silently mis-evaluated.
REFUSED_MODIFIERS = {"utf16": "the utf16 modifier (UTF-16 with a byte-order mark) is encoded "
                              "wrongly by pySigma 1.5.1; use utf16le (wide) or utf16be"}

SHIPPED_RULES = Path(__file__).resolve().parent / "sigma"
RULE_SUFFIXES = (".yml", ".yaml")
# ECS top-level field sets and the vendor sets the collectors write: a field outside them is
# probably a typo or a field of a log this product does not collect (a warning, not an error).
KNOWN_FIELD_SETS = frozenset({
    "@timestamp", "agent", "as", "asset", "client", "cloud", "container", "data_stream",
    "destination", "dll", "dns", "ecs", "email", "error", "event", "file", "flow", "fortinet",
    "group", "host", "http", "iptables", "labels", "log", "message", "netflow", "network",
    "observer", "organization", "package", "process", "registry", "related", "rule", "server",
    "service", "source", "suricata", "system", "tags", "threat", "tls", "url", "user",
    "user_agent", "vulnerability", "winlog", "zeek", "powershell", "sysmon"})


@dataclass(frozen=True)
class RuleProblem:
    """A rule skipped (`error`) or loaded with a doubt (`warning`), and why."""

    source: str
    line: int | None
    reason: str
    rule_id: str | None = None
    severity: str = "error"

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line else self.source
        rule = f" rule {self.rule_id}" if self.rule_id else ""
        return f"{where}:{rule} {self.severity}: {self.reason}"


@dataclass
class DetectionRule:
    info: RuleInfo
    document: dict[str, Any]
    compiled: Compiled
    enabled: bool = True
    name: str | None = None

    @property
    def id(self) -> str:
        return self.info.id

    @property
    def keys(self) -> Keys:
        return self.compiled.keys

    def matches(self, event: Mapping[str, Any], view: FieldView | None = None) -> bool:
        return self.compiled.matcher(event, view if view is not None else FieldView(event))

    def explain(self, event: Mapping[str, Any]) -> dict[str, Any]:
        """The event's values of the fields whose tests it passed: why the rule matched."""
        view = FieldView(event)
        found: dict[str, Any] = {}
        for leaf in self.compiled.leaves:
            if leaf.field in found:
                continue
            value = event.get(leaf.field)
            candidates = value if isinstance(value, list) else [value]
            comparable = view[leaf.field]
            tested = comparable if isinstance(comparable, tuple) else (comparable,)
            for original, text in zip(candidates, tested, strict=False):
                if text is not None and _passes(leaf.test, original, text):
                    found[leaf.field] = original
                    break
        return found


def _passes(test: Any, original: Any, text: Any) -> bool:
    # A leaf's test takes either the raw or the comparable form; either passing is a match.
    try:
        return bool(test(text)) or bool(test(original))
    except (TypeError, AttributeError):
        return False


@dataclass
class RuleSet:
    detections: list[DetectionRule] = field(default_factory=list)
    correlations: list[Any] = field(default_factory=list)
    problems: list[RuleProblem] = field(default_factory=list)

    @property
    def errors(self) -> list[RuleProblem]:
        return [p for p in self.problems if p.severity == "error"]


@dataclass
class _Document:
    source: str
    line: int
    content: Any


class RuleLoader:
    """Turns rule documents into a RuleSet; one loader per load (it tracks ids seen)."""

    def __init__(self, placeholders: Mapping[str, Sequence[str]] | None = None,
                 disabled: Iterable[str] = ()) -> None:
        self.pipeline = sigma_pipeline(placeholders or {})
        self.logsources = logsource_entries()
        self.disabled = set(disabled)
        self.result = RuleSet()
        self._seen: dict[str, str] = {}
        self._correlations: list[tuple[_Document, SigmaCorrelationRule]] = []
        self._logsources_of: dict[str, SigmaLogSource] = {}

    def add_paths(self, paths: Iterable[Path]) -> None:
        for path in paths:
            files = sorted(p for p in path.rglob("*") if p.suffix in RULE_SUFFIXES) \
                if path.is_dir() else [path]
            if not path.exists():
                self._problem(str(path), None, "no such file or directory")
            for file in files:
                self.add_file(file)

    def add_file(self, path: Path) -> None:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            self._problem(str(path), None, f"cannot read: {exc}")
            return
        self.add_text(text, str(path))

    def add_text(self, text: str, source: str) -> None:
        try:
            documents = list(_documents(text, source))
        except yaml.YAMLError:
            # One broken document must not hide the rules after it: read the text again one
            # `---`-separated piece at a time, each failing on its own.
            documents = []
            for offset, piece in _pieces(text):
                try:
                    documents += _documents(piece, source, offset)
                except yaml.YAMLError as exc:
                    mark = getattr(exc, "problem_mark", None)
                    self._problem(source, mark.line + 1 + offset if mark else offset + 1,
                                  f"invalid YAML: {exc}")
        for document in documents:
            self._add_document(document)

    def finish(self) -> RuleSet:
        """Compile the correlations now that every rule they may reference is known."""
        references: dict[str, str] = {}
        for rule in self.result.detections:
            references[rule.id] = rule.id
            if rule.name:
                references[rule.name] = rule.id
        # Correlations may build on correlations (Sigma chains): they are referable too.
        for _, sigma in self._correlations:
            rule_id = str(sigma.id) if sigma.id else sigma.name
            for reference in (str(sigma.id) if sigma.id else None, sigma.name):
                if reference and rule_id:
                    references[reference] = rule_id
        for document, sigma in self._correlations:
            try:
                self._map_correlation_fields(sigma)
                compiled = compile_correlation(sigma, references, document.source)
            except (RuleError, SigmaError) as exc:
                self._problem(document.source, document.line, str(exc), str(sigma.id or ""))
                continue
            self.result.correlations.append(compiled)
        self._correlations = []
        return self.result

    def _add_document(self, document: _Document) -> None:
        content = document.content
        if not isinstance(content, dict):
            self._problem(document.source, document.line, "a rule must be a YAML mapping")
            return
        rule_id = str(content.get("id") or "")
        if rule_id and rule_id in self._seen:
            self._problem(document.source, document.line,
                          f"duplicate rule id (first at {self._seen[rule_id]})", rule_id)
            return
        if "action" in content or "filter" in content:
            self._problem(document.source, document.line, "Sigma global/repeat actions and "
                          "meta-filters are not supported; write each rule whole", rule_id)
            return
        try:
            if "correlation" in content:
                self._add_correlation(document, content)
            else:
                self._add_detection(document, content)
        except (RuleError, SigmaError) as exc:
            self._problem(document.source, document.line, str(exc), rule_id or None)
            return
        except (TypeError, ValueError, AttributeError, KeyError) as exc:
            # pySigma lets some malformed values through as Python errors (an id that is a
            # number, a list where a mapping belongs); one rule's shape must not stop a load.
            self._problem(document.source, document.line,
                          f"malformed rule ({type(exc).__name__}: {exc})", rule_id or None)
            return
        if rule_id:
            self._seen[rule_id] = f"{document.source}:{document.line}"

    def _add_correlation(self, document: _Document, content: dict[str, Any]) -> None:
        sigma = SigmaCorrelationRule.from_dict(content, collect_errors=True)
        _raise_first(sigma.errors)
        self.pipeline.apply(sigma)
        self._correlations.append((document, sigma))

    def _add_detection(self, document: _Document, content: dict[str, Any]) -> None:
        _refuse_modifiers(content.get("detection"))
        sigma = SigmaRule.from_dict(content, collect_errors=True)
        _raise_first(sigma.errors)
        meaning = logsource_meaning(sigma, self.logsources)
        self.pipeline.apply(sigma)
        conditions = [c.parsed for c in sigma.detection.parsed_condition]
        tree = conditions[0] if len(conditions) == 1 else ConditionOR(conditions)
        if meaning.conditions:
            # The rule's own tests first: they fail sooner than its logsource's, which the
            # index has mostly checked already.
            extra = [_match_condition(match) for match in meaning.conditions]
            tree = ConditionAND([tree, *extra])
        compiled = compile_condition(tree, meaning.field)
        info = rule_info(sigma, document.source)
        for name in sorted({leaf.field for leaf in compiled.leaves}):
            if name.split(".", 1)[0] not in KNOWN_FIELD_SETS:
                self._problem(document.source, document.line, f"field '{name}' is written by "
                              "no collector; the rule matches only events that carry it",
                              info.id, "warning")
        self.result.detections.append(DetectionRule(
            info, content, compiled, info.id not in self.disabled,
            str(content["name"]) if content.get("name") else None))
        self._logsources_of[info.id] = sigma.logsource
        if content.get("name"):
            self._logsources_of[str(content["name"])] = sigma.logsource

    def _map_correlation_fields(self, sigma: SigmaCorrelationRule) -> None:
        """A correlation's fields are named as its rules name them (TargetUserName): rename
        them as those rules' fields were (winlog.event_data.TargetUserName)."""
        aliases = {alias.alias for alias in sigma.aliases}
        first = next((self._logsources_of[r.reference] for r in sigma.rules or ()
                      if r.reference in self._logsources_of), None)
        if first is not None and sigma.group_by:
            sigma.group_by = [name if name in aliases else self._field_in(first, name)
                              for name in sigma.group_by]
        condition = sigma.condition
        if first is not None and isinstance(getattr(condition, "fieldref", None), str):
            condition.fieldref = self._field_in(first, condition.fieldref)
        for alias in sigma.aliases:
            for reference, name in list(alias.mapping.items()):
                logsource = self._logsources_of.get(reference.reference)
                if logsource is not None:
                    alias.mapping[reference] = self._field_in(logsource, name)

    def _field_in(self, logsource: SigmaLogSource, name: str) -> str:
        """What the field `name` becomes in a rule of that logsource (pipeline, taxonomy)."""
        probe = SigmaRule(title="field", logsource=logsource, detection=SigmaDetections(
            {"probe": SigmaDetection([SigmaDetectionItem(name, [], [SigmaString("x")])])},
            ["probe"]))
        self.pipeline.apply(probe)
        items = probe.detection.detections["probe"].detection_items
        mapped = getattr(items[0], "field", None) or name if items else name
        try:
            return logsource_meaning(probe, self.logsources).field(mapped)
        except RuleError:
            return ecs_field(mapped)


    def _problem(self, source: str, line: int | None, reason: str, rule_id: str | None = None,
                 severity: str = "error") -> None:
        self.result.problems.append(RuleProblem(source, line, reason, rule_id, severity))


def load_rule_paths(paths: Iterable[Path], placeholders: Mapping[str, Sequence[str]] | None
                    = None, disabled: Iterable[str] = ()) -> RuleSet:
    """Every rule in these files and directories (recursively, *.yml and *.yaml)."""
    loader = RuleLoader(placeholders, disabled)
    loader.add_paths(paths)
    return loader.finish()


def load_rule_text(text: str, source: str = "<text>",
                   placeholders: Mapping[str, Sequence[str]] | None = None) -> RuleSet:
    """The rules in one YAML text (one or more documents)."""
    loader = RuleLoader(placeholders)
    loader.add_text(text, source)
    return loader.finish()


def rule_info(sigma: SigmaRule | SigmaCorrelationRule, source: str) -> RuleInfo:
    level = sigma.level.name.lower() if sigma.level else "medium"
    rule_id = str(sigma.id) if sigma.id else str(uuid.uuid5(uuid.NAMESPACE_URL,
                                                            f"{source}#{sigma.title}"))
    return RuleInfo(id=rule_id, name=sigma.title or rule_id,
                    level=level if level in LEVELS else "medium",
                    type="detection", tags=tuple(str(t) for t in sigma.tags or ()),
                    description=sigma.description or "", source=source,
                    author=sigma.author or "")


def _refuse_modifiers(detection: Any) -> None:
    """RuleError for a modifier the engine cannot evaluate faithfully, anywhere in the rule."""
    searches = detection.values() if isinstance(detection, dict) else ()
    for search in searches:
        items = search if isinstance(search, list) else [search]
        for item in items:
            for key in item if isinstance(item, dict) else ():
                for modifier in str(key).split("|")[1:]:
                    if modifier in REFUSED_MODIFIERS:
                        raise RuleError(REFUSED_MODIFIERS[modifier])


def _raise_first(errors: Sequence[Exception]) -> None:
    if errors:
        raise errors[0]


def _documents(text: str, source: str, offset: int = 0) -> Iterator[_Document]:
    """The YAML documents of `text` with the line each starts on (`offset` lines before it)."""
    loader = yaml.SafeLoader(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is not None:
                yield _Document(source, node.start_mark.line + 1 + offset,
                                loader.construct_document(node))
    finally:
        loader.dispose()


def _pieces(text: str) -> Iterator[tuple[int, str]]:
    """(lines before it, text) of each piece between `---` document separators."""
    start, lines = 0, text.splitlines(keepends=True)
    for number, line in enumerate(lines):
        if line.rstrip() == "---":
            yield start, "".join(lines[start:number])
            start = number + 1
    yield start, "".join(lines[start:])


def _match_condition(match: Mapping[str, Any]) -> Any:
    fields = []
    for name, values in match.items():
        listed = values if isinstance(values, list) else [values]
        options = [ConditionFieldEqualsValueExpression(name, SigmaString(str(v))) for v in listed]
        fields.append(options[0] if len(options) == 1 else ConditionOR(options))
    return fields[0] if len(fields) == 1 else ConditionAND(fields)
