"""API keys: bearer tokens for the operators' API and the national SOC's feed, stored hashed.

A token reads `soc_<key id>_<secret>`: the key id (12 hex characters) names the stored key, so
a check is one lookup by id; the secret is 32 random bytes, URL-safe base64. The store keeps the
SHA-256 of the whole token, never the token, which is shown once when the key is created.

Roles: `viewer < analyst < admin` (each may do what the ones below may), and `feed` for the
national SOC, which reaches only the feed (TAXII) endpoints and is neither above nor below the
others.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from soc.errors import ConflictError, NotFoundError
from soc.store import Collection, Query, Store
from soc.store.query import Filter, Op
from soc.timeutil import format_timestamp, utcnow

log = logging.getLogger("soc.apikeys")


class Role(StrEnum):
    VIEWER = "viewer"
    ANALYST = "analyst"
    ADMIN = "admin"
    FEED = "feed"


ROLES: tuple[str, ...] = tuple(role.value for role in Role)
_RANK = {Role.VIEWER: 1, Role.ANALYST: 2, Role.ADMIN: 3}

PREFIX = "soc_"
_KEY_ID = re.compile(r"[0-9a-f]{12}")
_SECRET_BYTES = 32
# The exact shape of a token: anything else is refused before any hashing or store lookup, so
# a 10 MB header or a non-ASCII one costs nothing.
_TOKEN = re.compile(r"soc_([0-9a-f]{12})_([A-Za-z0-9_-]{43})")
_TOKEN_LENGTH = len(PREFIX) + 12 + 1 + 43
MAX_NAME_LENGTH = 100
# last_used_at is written at most this often per key: not one store write per API request.
TOUCH_EVERY = timedelta(minutes=1)


def allows(role: str, needed: str) -> bool:
    """Whether a key of `role` may do what needs `needed`: viewer < analyst < admin; feed only
    allows feed (an admin key does not reach the feed endpoints, nor a feed key the others)."""
    if role not in ROLES or needed not in ROLES:
        return False
    if Role.FEED in (role, needed):
        return role == needed
    return _RANK[Role(role)] >= _RANK[Role(needed)]


def hash_token(token: str) -> str:
    # Plain SHA-256, not a slow password KDF (bcrypt, scrypt, argon2): a token carries 256 bits
    # from `secrets`, so no guess-and-hash attack on a leaked hash can get anywhere, and a slow
    # KDF would only add its cost to every API request.
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def public(document: dict[str, Any]) -> dict[str, Any]:
    """A key's document without its hash: what may be listed, returned or logged."""
    return {field: value for field, value in document.items() if field != "hash"}


class ApiKeyService:
    """Create, verify, revoke and list the API keys held in `Collection.API_KEYS`."""

    def __init__(self, store: Store, clock: Callable[[], datetime] = utcnow) -> None:
        self.store = store
        self.clock = clock

    def create(self, name: str, role: str, actor: str = "system") -> tuple[dict[str, Any], str]:
        """A new key: its stored document (hash included) and the token, to show once.

        ValueError for an unknown role, a bad name, or a name an active key already has.
        """
        name = _checked_name(name)
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r} (expected one of {', '.join(ROLES)})")
        now = format_timestamp(self.clock())
        # The duplicate check and the insert share one write transaction: on SQLite it holds
        # the database's write lock, so two `soc apikey create` runs cannot both pass the check.
        with self.store.transaction():
            if self._active_by_name(name) is not None:
                raise ValueError(f"an API key named {name!r} already exists (revoke it first, "
                                 f"or choose another name)")
            while True:
                key_id = secrets.token_hex(6)
                token = f"{PREFIX}{key_id}_{secrets.token_urlsafe(_SECRET_BYTES)}"
                document = {"id": key_id, "@timestamp": now, "name": name, "role": role,
                            "hash": hash_token(token), "created_at": now, "revoked_at": None,
                            "last_used_at": None}
                if self.store.put(Collection.API_KEYS, [document]).stored:
                    break  # else a 48-bit id collided with an existing key: draw again
            self._audit(actor, "apikey.create", key_id, role, now)
        log.info("api key created", extra={"key_id": key_id, "key_name": name, "role": role,
                                           "actor": actor})
        return document, token

    def verify(self, token: object) -> dict[str, Any] | None:
        """The key (without its hash) a token belongs to, or None: for a malformed, unknown,
        wrong or revoked token. Never raises on bad input."""
        if not isinstance(token, str) or len(token) != _TOKEN_LENGTH or not token.isascii():
            return None
        match = _TOKEN.fullmatch(token)
        if match is None:
            return None
        try:
            stored = self.store.get(Collection.API_KEYS, match.group(1))
        except NotFoundError:
            return None
        document = stored.document
        expected = document.get("hash")
        if not isinstance(expected, str) or not hmac.compare_digest(
                hash_token(token).encode("ascii"), expected.encode("ascii", "replace")):
            return None
        if document.get("revoked_at") is not None:
            return None
        return public(self._touch(document, stored.version))

    def revoke(self, name_or_id: str, actor: str) -> dict[str, Any]:
        """Revoke the key with that id, or the active key with that name; returns it (without
        its hash). Revoking a revoked key changes nothing. NotFoundError when there is none."""
        with self.store.transaction():
            found = self._find(name_or_id)
            if found is None:
                raise NotFoundError(f"no API key with id or name {name_or_id!r}")
            document, version = found
            if document.get("revoked_at") is not None:
                return public(document)
            now = format_timestamp(self.clock())
            document = {**document, "revoked_at": now}
            self.store.replace(Collection.API_KEYS, document, version)
            self._audit(actor, "apikey.revoke", document["id"], document["role"], now)
        log.info("api key revoked", extra={"key_id": document["id"],
                                           "key_name": document["name"], "actor": actor})
        return public(document)

    def list(self) -> list[dict[str, Any]]:
        """Every key, revoked ones included, oldest first, without hashes."""
        keys: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            page = self.store.search(Collection.API_KEYS, Query(
                sort="@timestamp", order="asc", limit=1000, cursor=cursor))
            keys.extend(public(document) for document in page.items)
            if page.next_cursor is None:
                return keys
            cursor = page.next_cursor

    def _find(self, name_or_id: str) -> tuple[dict[str, Any], str] | None:
        if _KEY_ID.fullmatch(name_or_id):
            try:
                stored = self.store.get(Collection.API_KEYS, name_or_id)
            except NotFoundError:
                pass
            else:
                return stored.document, stored.version
        document = self._active_by_name(name_or_id)
        if document is None:
            return None
        stored = self.store.get(Collection.API_KEYS, document["id"])
        return stored.document, stored.version

    def _active_by_name(self, name: str) -> dict[str, Any] | None:
        page = self.store.search(Collection.API_KEYS, Query(
            filters=[Filter(field="name", value=name), Filter(field="revoked_at", op=Op.MISSING)],
            limit=1))
        return page.items[0] if page.items else None

    def _touch(self, document: dict[str, Any], version: str) -> dict[str, Any]:
        """Record the use of a key, at most once per TOUCH_EVERY; best effort."""
        now = self.clock()
        last = document.get("last_used_at")
        if isinstance(last, str) and last > format_timestamp(now - TOUCH_EVERY):
            return document
        touched = {**document, "last_used_at": format_timestamp(now)}
        try:
            self.store.replace(Collection.API_KEYS, touched, version)
        except (ConflictError, NotFoundError):
            # Another request touched (or an admin revoked) it at the same moment: that
            # request's write stands. The check above already passed on a consistent read.
            return document
        return touched

    def _audit(self, actor: str, action: str, target: str, role: str, stamp: str) -> None:
        self.store.put(Collection.AUDIT, [{"id": uuid.uuid4().hex, "@timestamp": stamp,
                                           "actor": actor, "action": action, "target": target,
                                           "to": role}])


def _checked_name(name: object) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValueError("an API key needs a name")
    name = name.strip()
    if len(name) > MAX_NAME_LENGTH:
        raise ValueError(f"an API key name is at most {MAX_NAME_LENGTH} characters")
    if not name.isprintable():
        raise ValueError(f"API key name {name!r} holds control characters")
    if _KEY_ID.fullmatch(name):
        # `soc apikey revoke` takes a name or an id: a name shaped like an id would be ambiguous.
        raise ValueError(f"API key name {name!r} looks like a key id (12 hex characters)")
    return name
