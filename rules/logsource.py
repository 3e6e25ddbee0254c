"""What a rule's logsource and field names mean for the events here.

pySigma's processing pipelines rename Windows fields (its ECS Windows pipeline, the names
Winlogbeat writes, with a few corrections for what the Sigma rules mean); `rules/logsources.yaml`
says which events a logsource stands for and how the Sigma taxonomy's field names for web,
proxy, DNS, firewall and Zeek logs read in ECS.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from sigma.pipelines.elasticsearch.windows import ecs_windows
from sigma.pipelines.elasticsearch.zeek import ecs_zeek_beats
from sigma.processing.conditions import (
    IncludeFieldCondition,
    LogsourceCondition,
    MatchStringCondition,
)
from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
from sigma.processing.transformations import (
    FieldMappingTransformation,
    SetValueTransformation,
    ValueListPlaceholderTransformation,
)
from sigma.rule import SigmaRule

from rules.errors import RuleError

LOGSOURCES = Path(__file__).resolve().parent / "logsources.yaml"
WINDOWS_RAW_FIELDS = ("User", "IpAddress", "SubjectUserName", "SubjectDomainName",
                      "SubjectUserSid", "WorkstationName", "ParentProcessName")


def ecs_field(name: str) -> str:
    # The ECS pipeline names Elasticsearch's case-insensitive keyword sub-fields; matching here
    # is case-insensitive already, so the field itself is meant.
    return name.removesuffix(".caseless")


@dataclass
class LogsourceMeaning:
    """What a rule's logsource stands for: conditions on events, and the ECS names of the
    Sigma taxonomy's field names for that log (cs-uri-query → url.query)."""

    conditions: list[dict[str, Any]]
    fields: dict[str, str]

    def field(self, name: str) -> str:
        return self.fields.get(name) or ecs_field(name)


def logsource_meaning(sigma: SigmaRule, entries: Sequence[Mapping[str, Any]] | None = None
                      ) -> LogsourceMeaning:
    """The logsource's meaning from rules/logsources.yaml; RuleError when no entry accepts it."""
    logsource = sigma.logsource
    wanted = {"product": logsource.product, "category": logsource.category,
              "service": logsource.service}
    accepted = [e for e in entries or logsource_entries() if _accepts(e["when"], wanted)]
    # An entry naming the rule's values outranks one that accepts any value ("*").
    exact = [e for e in accepted if "*" not in e["when"].values()]
    accepted = exact or accepted
    if not accepted:
        described = ", ".join(f"{k}: {v}" for k, v in wanted.items() if v)
        raise RuleError(f"logsource ({described or 'empty'}) names a log this product does "
                        "not collect (rules/logsources.yaml)")
    # `{service}` in a condition's value: the rule's own (zeek.{service} → zeek.dns).
    names = {key: value.lower() for key, value in wanted.items() if value}
    conditions = [{field: _filled(values, names) for field, values in e["match"].items()}
                  for e in accepted if e.get("match")]
    fields: dict[str, str] = {}
    for entry in accepted:
        fields.update(_field_names(entry.get("fields")))
    return LogsourceMeaning(conditions, fields)


def _filled(values: Any, names: Mapping[str, str]) -> Any:
    if isinstance(values, list):
        return [_filled(v, names) for v in values]
    return str(values).format_map(names) if "{" in str(values) else values


def _field_names(spec: Any) -> dict[str, str]:
    """A logsource entry's `fields`: a mapping, or the name of one pySigma ships."""
    if spec == "ecs_zeek_beats":
        return zeek_field_names()
    return dict(spec or {})


@functools.cache
def zeek_field_names() -> dict[str, str]:
    """Zeek's field names → the ECS names Filebeat (and collectors/parsers/zeek.py) write, from
    pySigma's own mapping; where it lists several, the address (.ip) one."""
    for item in ecs_zeek_beats().items:
        if item.identifier == "zeek_ecs_field_mapping":
            mapping = item.transformation.mapping  # type: ignore[attr-defined]
            return {name: _one_name(target) for name, target in mapping.items()}
    return {}


def _one_name(target: str | list[str]) -> str:
    if isinstance(target, str):
        return target
    return next((t for t in target if t.endswith(".ip")), target[-1])


def sigma_pipeline(placeholders: Mapping[str, Sequence[str]]) -> ProcessingPipeline:
    """pySigma's processing for every rule: `expand` placeholders from soc.yaml, then the ECS
    Windows field names with the corrections below."""
    values = ProcessingPipeline(
        name="rules.placeholders from soc.yaml", priority=10,
        items=[ProcessingItem(ValueListPlaceholderTransformation(),
                              identifier="soc_placeholders")],
        vars={name: list(v) for name, v in placeholders.items()})
    return values + _windows_raw_fields() + ecs_windows() + _initiated_as_text()


def _windows_raw_fields() -> ProcessingPipeline:
    """Windows fields whose Sigma meaning is the EventData text as Windows writes it, where the
    ECS field the pipeline would pick holds something else: `User` is DOMAIN\\name (user.name
    is the name alone), `IpAddress` may be '-' (source.ip is then absent), `SubjectUserName`
    is the subject (user.name is the logon's target on 4624/4625), `ParentProcessName` is a
    full path (process.parent.name is the file name alone)."""
    mapping = {name: f"winlog.event_data.{name}" for name in WINDOWS_RAW_FIELDS}
    return ProcessingPipeline(
        name="Windows fields as written", priority=15,
        items=[ProcessingItem(FieldMappingTransformation(mapping), identifier="windows_raw",
                              rule_conditions=[LogsourceCondition(product="windows")])])


def _initiated_as_text() -> ProcessingPipeline:
    """Sysmon's `Initiated: 'true'` (SigmaHQ writes the text; pySigma's ECS pipeline turns
    only the boolean into network.direction egress) as the direction the parser writes."""
    items = [ProcessingItem(
        SetValueTransformation(value=direction), identifier=f"initiated_text_{text}",
        field_name_conditions=[IncludeFieldCondition(fields=["network.direction"])],
        detection_item_conditions=[MatchStringCondition(cond="all",
                                                        pattern=f"^(?i:{text})$")])
        for text, direction in (("true", "egress"), ("false", "ingress"))]
    return ProcessingPipeline(name="Sysmon Initiated as text", priority=30, items=items)


def logsource_entries() -> list[dict[str, Any]]:
    with LOGSOURCES.open(encoding="utf-8") as handle:
        return list(yaml.safe_load(handle))


def _accepts(when: Mapping[str, Any], wanted: Mapping[str, str | None]) -> bool:
    for key, value in wanted.items():
        expected = when.get(key)
        if expected == "*":
            if value is None:
                return False
        elif (expected or None) != (value.lower() if value else None):
            return False
    return True
