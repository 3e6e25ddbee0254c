"""The alert document every kind of rule raises: detection, correlation and indicator hits.

An alert is a flat dict with dotted names, like an event: it names its rule, the events behind
it, the field values that matched and the agency and asset they touch, so an operator can see
why it fired without rerunning anything. Its id is a hash of the rule and the events, so a
replayed file raises nothing twice.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# Sigma's levels are the product's severities, one for one.
LEVELS = ("informational", "low", "medium", "high", "critical")

# Fields copied from the (last) event into the alert: who and what it is about.
CONTEXT_FIELDS = (
    "organization.id", "organization.name", "source.organization.id",
    "destination.organization.id", "asset.name", "asset.role", "asset.system.id",
    "asset.system.name", "host.name", "source.ip", "destination.ip", "user.name",
    "event.dataset",
)
# Where the grouping key comes from when a rule does not say (no correlation group-by).
DEFAULT_GROUP_FIELDS = ("source.ip", "host.name", "user.name")

# Ids named in one alert; a correlation over a flood counts every event but names these.
MAX_EVENT_IDS = 1000

_TECHNIQUE = re.compile(r"^attack\.(t\d{4}(?:\.\d{3})?)$", re.IGNORECASE)


@dataclass(frozen=True)
class RuleInfo:
    """What an alert says about the rule that raised it."""

    id: str
    name: str
    level: str = "medium"
    type: str = "detection"
    tags: tuple[str, ...] = ()
    description: str = ""
    source: str = ""
    # The Detection Rule License (SigmaHQ's rules) asks that what is made from a match keeps
    # the rule's author.
    author: str = ""
    group_by: tuple[str, ...] = ()
    techniques: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        found = (_TECHNIQUE.match(tag) for tag in self.tags)
        object.__setattr__(self, "techniques",
                           tuple(m.group(1).upper() for m in found if m))


def group_key(event: Mapping[str, Any], fields: Sequence[str] = ()) -> str:
    """`field=value|…` over the rule's group-by fields (else the first of source address, host,
    user the event has), always ending with the agency: what incidents group alerts by."""
    if fields:
        parts = [f"{name}={_text(event.get(name))}" for name in fields]
    else:
        parts = next(([f"{name}={_text(event[name])}"] for name in DEFAULT_GROUP_FIELDS
                      if event.get(name) not in (None, "")), [])
    if not any(p.startswith("organization.id=") for p in parts):
        parts.append(f"organization.id={_text(event.get('organization.id'))}")
    return "|".join(parts)


def build_alert(rule: RuleInfo, events: Sequence[Mapping[str, Any]],
                matches: Mapping[str, Any], key: str | None = None,
                message: str | None = None, extra: Mapping[str, Any] | None = None
                ) -> dict[str, Any]:
    """The alert document for `events` (oldest first; at least one) matched by `rule`."""
    last = events[-1]
    event_ids = _event_ids(events)
    alert: dict[str, Any] = {
        "id": alert_id(rule.id, event_ids),
        "@timestamp": last.get("@timestamp"),
        "event.kind": "alert",
        "rule.id": rule.id,
        "rule.name": rule.name,
        "rule.level": rule.level,
        "rule.type": rule.type,
        "rule.tags": list(rule.tags),
        "threat.technique.id": list(rule.techniques),
        "event.ids": event_ids,
        "alert.first_seen": events[0].get("@timestamp"),
        "alert.event_count": len(events),
        "alert.matches": dict(matches),
        "alert.group_key": key if key is not None else group_key(last, rule.group_by),
        "message": message or rule.name,
    }
    if rule.source:
        alert["rule.source"] = rule.source
    if rule.author:
        alert["rule.author"] = rule.author
    for name in CONTEXT_FIELDS:
        value = last.get(name)
        if value not in (None, ""):
            alert[name] = value
    agencies = _distinct(e.get("organization.id") for e in events)
    if agencies:
        alert["alert.agencies"] = agencies
    if extra:
        alert.update(extra)
    return alert


def _event_ids(events: Sequence[Mapping[str, Any]]) -> list[str]:
    """The ids of the events behind the alert; an alert of a chained correlation stands for
    the events behind it, so an operator reaches them from the final alert."""
    ids: list[str] = []
    for event in events:
        behind = event.get("event.ids")
        ids += [str(i) for i in behind] if behind else [str(event.get("event.id", ""))]
    return ids[:MAX_EVENT_IDS]


def alert_id(rule_id: str, event_ids: Iterable[str]) -> str:
    digest = hashlib.blake2b(digest_size=16)
    digest.update(rule_id.encode())
    for event_id in event_ids:
        digest.update(b"\0" + event_id.encode())
    return digest.hexdigest()


def _distinct(values: Iterable[Any]) -> list[str]:
    return list(dict.fromkeys(str(v) for v in values if v not in (None, "")))


def _text(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return "" if value is None else str(value)
