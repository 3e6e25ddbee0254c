"""Detection rules as Elasticsearch queries, for stores that run rules as scheduled searches.

pySigma's Elasticsearch backend converts the rule as written (its own ECS Windows pipeline
gives the field names); the logsource's condition from rules/logsources.yaml is added the same
way the in-process engine adds it, so both forms select the same events.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

from sigma.backends.elasticsearch import ESQLBackend, LuceneBackend
from sigma.collection import SigmaCollection
from sigma.exceptions import SigmaError
from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
from sigma.processing.transformations import (
    AddConditionTransformation,
    FieldMappingTransformation,
)
from sigma.rule import SigmaRule

from rules.errors import RuleError
from rules.logsource import logsource_meaning, sigma_pipeline
from rules.sigma_rules import DetectionRule

QueryForm = Literal["lucene", "esql"]


def to_elasticsearch(rule: DetectionRule, form: QueryForm = "lucene",
                     placeholders: Mapping[str, Sequence[str]] | None = None) -> str:
    """The rule as one Lucene query string (or an ES|QL query); RuleError if the backend
    cannot express it."""
    sigma = SigmaRule.from_dict(rule.document)
    meaning = logsource_meaning(sigma)
    items = [ProcessingItem(AddConditionTransformation(dict(match)),
                            identifier=f"logsource_{number}")
             for number, match in enumerate(meaning.conditions)]
    if meaning.fields:
        items.append(ProcessingItem(FieldMappingTransformation(meaning.fields),
                                    identifier="taxonomy_fields"))
    logsource = ProcessingPipeline(name="soc logsources", priority=5, items=items)
    backend_class = LuceneBackend if form == "lucene" else ESQLBackend
    backend = backend_class(processing_pipeline=logsource + sigma_pipeline(placeholders or {}))
    try:
        queries = backend.convert(SigmaCollection([sigma]))
    except (SigmaError, NotImplementedError) as exc:
        # NotImplementedError: what the backend cannot express (ES|QL has no keyword search).
        raise RuleError(f"cannot be expressed as an Elasticsearch query: {exc}") from exc
    return " OR ".join(f"({q})" for q in queries) if len(queries) > 1 else str(queries[0])
