"""The product's exception types: one root, so callers can catch every known failure at once."""


class SocError(Exception):
    """A failure the product knows how to explain in one line."""


class ConfigError(SocError):
    """soc.yaml (or an environment override) holds a wrong key or value."""


class InventoryError(SocError):
    """inventory.yaml is unreadable or inconsistent; lists every problem found."""


class NormaliseError(SocError):
    """A parsed record cannot become a valid ECS event (its reason goes to the dead letters)."""


class ParseError(SocError):
    """A raw record does not match its declared format."""


class NotARecordError(ParseError):
    """A line its parser took in that is no record: a header such as Zeek's `#fields`. It makes
    no event and no dead letter (a reader that does not know this class dead-letters it)."""


class StoreError(SocError):
    """The store cannot be opened, read or written."""


class StoreFullError(StoreError):
    """The disk (or the configured size cap) is full; nothing of the failed batch was written."""


class ConflictError(StoreError):
    """An update carried a stale version: somebody else changed the document first."""


class NotFoundError(StoreError):
    """No document with that id."""
