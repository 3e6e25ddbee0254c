"""The error a rule that cannot be loaded raises: its message is the reason the operator sees."""

from __future__ import annotations


class RuleError(ValueError):
    """A rule that is invalid or uses something the engine does not support; it is skipped."""
