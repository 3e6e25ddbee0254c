"""API keys: soc/apikeys.py (the store side) and soc/apikey_commands.py (`soc apikey ...`)."""

from __future__ import annotations

import argparse
import getpass
import hashlib
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from soc.apikey_commands import add_apikey_commands
from soc.apikeys import ApiKeyService, allows
from soc.config import Settings
from soc.errors import NotFoundError
from soc.store import Collection, Query, Store, open_store
from tests.conftest import run_soc

START = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def service(sqlite_store: Store, clock: Clock) -> ApiKeyService:
    return ApiKeyService(sqlite_store, clock=clock)


def _audit(store: Store) -> list[dict[str, Any]]:
    entries = store.search(Collection.AUDIT, Query(order="asc")).items
    return [{k: v for k, v in entry.items() if k != "id"} for entry in entries]


def test_create_stores_the_hash_and_returns_the_token_once(service: ApiKeyService,
                                                           sqlite_store: Store) -> None:
    document, token = service.create("wallboard", "viewer", actor="cli:tester")

    key_id = document["id"]
    assert len(key_id) == 12 and int(key_id, 16) >= 0
    assert token.startswith(f"soc_{key_id}_")
    assert len(token) == 60  # soc_ + 12 + _ + 43 (32 bytes urlsafe base64, unpadded)
    assert document == {"id": key_id, "@timestamp": "2026-03-01T08:00:00.000000Z",
                        "name": "wallboard", "role": "viewer",
                        "hash": hashlib.sha256(token.encode()).hexdigest(),
                        "created_at": "2026-03-01T08:00:00.000000Z", "revoked_at": None,
                        "last_used_at": None}
    stored = sqlite_store.get(Collection.API_KEYS, key_id).document
    assert stored == document


def test_the_token_is_nowhere_in_the_store_file(service: ApiKeyService, sqlite_store: Store,
                                                tmp_path: Path) -> None:
    document, token = service.create("national", "feed")
    service.verify(token)
    service.revoke("national", actor="cli:tester")
    sqlite_store.close()
    secret = token.split("_", 2)[2]

    data = b"".join(path.read_bytes() for path in tmp_path.glob("soc.db*"))
    assert document["hash"].encode() in data
    assert secret.encode() not in data
    assert token.encode() not in data


def test_verify_answers_the_key_with_its_role_and_no_hash(service: ApiKeyService,
                                                          clock: Clock) -> None:
    document, token = service.create("analyst-1", "analyst")
    clock.now = START + timedelta(hours=1)

    key = service.verify(token)

    assert key == {"id": document["id"], "@timestamp": "2026-03-01T08:00:00.000000Z",
                   "name": "analyst-1", "role": "analyst",
                   "created_at": "2026-03-01T08:00:00.000000Z", "revoked_at": None,
                   "last_used_at": "2026-03-01T09:00:00.000000Z"}


def test_last_used_is_written_at_most_once_a_minute(service: ApiKeyService, clock: Clock,
                                                    sqlite_store: Store) -> None:
    document, token = service.create("ops", "admin")
    service.verify(token)
    clock.now = START + timedelta(seconds=30)
    assert service.verify(token)["last_used_at"] == "2026-03-01T08:00:00.000000Z"
    clock.now = START + timedelta(minutes=2)
    assert service.verify(token)["last_used_at"] == "2026-03-01T08:02:00.000000Z"
    stored = sqlite_store.get(Collection.API_KEYS, document["id"])
    assert stored.document["last_used_at"] == "2026-03-01T08:02:00.000000Z"


def test_wrong_secret_is_refused(service: ApiKeyService) -> None:
    _, token = service.create("wallboard", "viewer")
    prefix, secret = token[:17], token[17:]
    other = ("A" if secret[0] != "A" else "B") + secret[1:]

    assert service.verify(prefix + other) is None
    assert service.verify(token + "x") is None
    assert service.verify(token[:-1]) is None
    # The right secret under another (unknown) id.
    assert service.verify(f"soc_{'0' * 12}_{secret}") is None


@pytest.mark.parametrize("token", [
    "", "soc_", "soc_zz_x", "x" * 10_000_000, "soc_" + "é" * 56, "sọc_0123456789ab_" + "a" * 43,
    "Bearer soc_0123456789ab_" + "a" * 43, "soc_0123456789AB_" + "a" * 43,
    "soc_0123456789ab-" + "a" * 43, "soc_0123456789ab_" + "a" * 42 + "=",
    "soc_0123456789ab_" + "a" * 42 + "\x00", None, 12, b"soc_0123456789ab_" + b"a" * 43,
])
def test_malformed_tokens_are_none_and_never_raise(service: ApiKeyService, token: Any) -> None:
    service.create("wallboard", "viewer")
    assert service.verify(token) is None


def test_revoked_keys_no_longer_verify(service: ApiKeyService, clock: Clock,
                                       sqlite_store: Store) -> None:
    document, token = service.create("wallboard", "viewer")
    clock.now = START + timedelta(days=1)

    revoked = service.revoke("wallboard", actor="cli:tester")

    assert revoked["revoked_at"] == "2026-03-02T08:00:00.000000Z"
    assert "hash" not in revoked
    assert service.verify(token) is None
    stored = sqlite_store.get(Collection.API_KEYS, document["id"]).document
    assert stored["revoked_at"] == "2026-03-02T08:00:00.000000Z"


def test_revoke_by_id_and_revoking_twice_changes_nothing(service: ApiKeyService, clock: Clock,
                                                         sqlite_store: Store) -> None:
    document, _ = service.create("wallboard", "viewer")
    first = service.revoke(document["id"], actor="cli:tester")
    clock.now = START + timedelta(days=1)
    again = service.revoke(document["id"], actor="cli:tester")

    assert again == first
    assert again["revoked_at"] == "2026-03-01T08:00:00.000000Z"
    assert [entry["action"] for entry in _audit(sqlite_store)] == ["apikey.create",
                                                                   "apikey.revoke"]


def test_a_colliding_key_id_is_drawn_again(service: ApiKeyService,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    ids = iter(["0123456789ab", "0123456789ab", "ba9876543210"])
    monkeypatch.setattr("soc.apikeys.secrets.token_hex", lambda _n: next(ids))
    first, _ = service.create("a", "viewer")
    second, token = service.create("b", "viewer")

    assert (first["id"], second["id"]) == ("0123456789ab", "ba9876543210")
    assert service.verify(token)["name"] == "b"


def test_revoke_unknown_is_not_found(service: ApiKeyService) -> None:
    service.create("wallboard", "viewer")
    with pytest.raises(NotFoundError, match="no API key with id or name 'nobody'"):
        service.revoke("nobody", actor="cli:tester")
    with pytest.raises(NotFoundError):
        service.revoke("0123456789ab", actor="cli:tester")
    service.revoke("wallboard", actor="cli:tester")
    with pytest.raises(NotFoundError):  # by name, only active keys are found
        service.revoke("wallboard", actor="cli:tester")


def test_names_are_unique_among_active_keys(service: ApiKeyService) -> None:
    first, _ = service.create("wallboard", "viewer")
    with pytest.raises(ValueError, match="an API key named 'wallboard' already exists"):
        service.create("wallboard", "admin")
    service.revoke("wallboard", actor="cli:tester")

    second, token = service.create("wallboard", "admin")

    assert second["id"] != first["id"]
    assert service.verify(token)["role"] == "admin"


@pytest.mark.parametrize(("name", "role", "message"), [
    ("", "viewer", "needs a name"), ("   ", "viewer", "needs a name"),
    ("x" * 101, "viewer", "at most 100"), ("a\nb", "viewer", "control characters"),
    ("0123456789ab", "viewer", "looks like a key id"), ("ok", "root", "unknown role 'root'"),
])
def test_bad_names_and_roles_are_refused(service: ApiKeyService, sqlite_store: Store, name: str,
                                         role: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        service.create(name, role)
    assert service.list() == []
    assert _audit(sqlite_store) == []


def test_list_hides_hashes(service: ApiKeyService, clock: Clock) -> None:
    a, _ = service.create("a", "viewer")
    clock.now = START + timedelta(minutes=1)
    b, _ = service.create("b", "feed")
    service.revoke("a", actor="cli:tester")

    assert service.list() == [
        {"id": a["id"], "@timestamp": "2026-03-01T08:00:00.000000Z", "name": "a",
         "role": "viewer", "created_at": "2026-03-01T08:00:00.000000Z",
         "revoked_at": "2026-03-01T08:01:00.000000Z", "last_used_at": None},
        {"id": b["id"], "@timestamp": "2026-03-01T08:01:00.000000Z", "name": "b",
         "role": "feed", "created_at": "2026-03-01T08:01:00.000000Z", "revoked_at": None,
         "last_used_at": None},
    ]


def test_audit_entries(service: ApiKeyService, clock: Clock, sqlite_store: Store) -> None:
    document, _ = service.create("national", "feed", actor="cli:alice")
    clock.now = START + timedelta(hours=2)
    service.revoke("national", actor="api:ops")

    assert _audit(sqlite_store) == [
        {"@timestamp": "2026-03-01T08:00:00.000000Z", "actor": "cli:alice",
         "action": "apikey.create", "target": document["id"], "to": "feed"},
        {"@timestamp": "2026-03-01T10:00:00.000000Z", "actor": "api:ops",
         "action": "apikey.revoke", "target": document["id"], "to": "feed"},
    ]


@pytest.mark.parametrize(("role", "needed", "allowed"), [
    ("viewer", "viewer", True), ("viewer", "analyst", False), ("viewer", "admin", False),
    ("analyst", "viewer", True), ("analyst", "analyst", True), ("analyst", "admin", False),
    ("admin", "viewer", True), ("admin", "analyst", True), ("admin", "admin", True),
    ("feed", "feed", True), ("feed", "viewer", False), ("feed", "admin", False),
    ("admin", "feed", False), ("viewer", "feed", False), ("root", "viewer", False),
    ("admin", "root", False), ("", "", False),
])
def test_role_order(role: str, needed: str, allowed: bool) -> None:
    assert allows(role, needed) is allowed


# The commands, through a parser built as soc/cli.py builds it.

def _soc(settings: Settings, *argv: str) -> int:
    common = argparse.ArgumentParser(add_help=False)
    parser = argparse.ArgumentParser(prog="soc")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    add_apikey_commands(commands, common, lambda _args: settings)
    args = parser.parse_args(argv)
    return args.run(args)


def test_command_create_prints_the_key_alone_on_the_last_line(
        settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    assert _soc(settings, "apikey", "create", "wallboard", "--role", "analyst") == 0
    out, err = capsys.readouterr()

    token = out.splitlines()[-1]
    assert out == token + "\n"
    assert "created API key 'wallboard'" in err and "role analyst" in err
    assert token not in err
    with open_store(settings.store_url()) as store:
        key = ApiKeyService(store).verify(token)
        assert (key["name"], key["role"]) == ("wallboard", "analyst")
        assert _audit(store)[0]["actor"] == f"cli:{getpass.getuser()}"


def test_command_list_and_revoke(settings: Settings,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    _soc(settings, "apikey", "create", "wallboard", "--role", "viewer")
    _soc(settings, "apikey", "create", "national", "--role", "feed")
    tokens = capsys.readouterr().out.splitlines()

    assert _soc(settings, "apikey", "revoke", "wallboard") == 0
    assert "revoked API key 'wallboard'" in capsys.readouterr().err

    assert _soc(settings, "apikey", "list", "--json") == 0
    out, _ = capsys.readouterr()
    keys = [orjson.loads(line) for line in out.splitlines()]
    assert [(k["name"], k["role"], k["revoked_at"] is None) for k in keys] == [
        ("wallboard", "viewer", False), ("national", "feed", True)]
    assert all("hash" not in key for key in keys)

    assert _soc(settings, "apikey", "list") == 0
    out, err = capsys.readouterr()
    assert err == "2 keys, 1 active\n"
    assert len(out.splitlines()) == 2 and "national" in out and "revoked" in out
    for token in tokens:
        assert token not in out and token.split("_", 2)[2] not in out


def test_command_revoke_unknown_exits_1(settings: Settings,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert _soc(settings, "apikey", "revoke", "nobody") == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err == "soc: error: no API key with id or name 'nobody'\n"


def test_command_create_duplicate_exits_1(settings: Settings,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    _soc(settings, "apikey", "create", "wallboard", "--role", "viewer")
    capsys.readouterr()
    assert _soc(settings, "apikey", "create", "wallboard", "--role", "viewer") == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and "already exists" in err


def test_command_create_refuses_an_unknown_role(settings: Settings,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        _soc(settings, "apikey", "create", "wallboard", "--role", "root")
    assert exit_info.value.code == 2
    assert "invalid choice: 'root'" in capsys.readouterr().err


def test_soc_apikey_create_through_the_real_command(tmp_path: Path) -> None:
    config = tmp_path / "soc.yaml"
    config.write_text("store: {url: 'sqlite:///soc.db'}\nlog: {format: json}\n",
                      encoding="utf-8")
    created = run_soc("apikey", "create", "wallboard", "--role", "viewer", config=config)
    assert created.returncode == 0, created.stderr
    token = created.stdout.splitlines()[-1]
    assert re.fullmatch(r"soc_[0-9a-f]{12}_[A-Za-z0-9_-]{43}", token)
    with open_store(f"sqlite:///{tmp_path / 'soc.db'}") as store:
        assert ApiKeyService(store).verify(token)["name"] == "wallboard"
    assert run_soc("apikey", "revoke", "nobody", config=config).returncode == 1
