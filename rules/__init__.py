"""The rule engine (Sigma detection and correlation, indicator matching) and the shipped rules."""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    # `rules.to_elasticsearch` without importing pySigma's Elasticsearch backend for every user
    # of the package.
    if name == "to_elasticsearch":
        from rules.elasticsearch import to_elasticsearch

        return to_elasticsearch
    raise AttributeError(name)
