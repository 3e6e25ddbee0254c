"""The `soc apikey create|revoke|list` commands: the API's bearer keys, managed from the host.

`create` prints the token once, alone on the last line of stdout (scripts take `tail -n 1`);
what it is goes to stderr. Nothing here prints or logs a key's hash, nor a token after creation.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable
from typing import Any

import orjson

from soc.apikeys import ROLES, ApiKeyService
from soc.config import Settings
from soc.errors import NotFoundError
from soc.store import open_store

SettingsOf = Callable[[argparse.Namespace], Settings]


def add_apikey_commands(commands: Any, common: argparse.ArgumentParser,
                        settings_of: SettingsOf) -> None:
    apikey = commands.add_parser("apikey", help="create, revoke and list the API's keys")
    apikey_commands = apikey.add_subparsers(title="commands", metavar="COMMAND", required=True)
    create = apikey_commands.add_parser(
        "create", parents=[common],
        help="create a key; prints it once, alone on the last line of stdout")
    create.add_argument("name", metavar="NAME", help="who or what the key is for (unique)")
    create.add_argument("--role", required=True, choices=ROLES,
                        help="viewer reads; analyst also triages; admin also manages rules, "
                             "suppressions, keys and the audit log; feed: national SOC, TAXII only")
    create.set_defaults(run=lambda args: _with_service(args, settings_of, _create))
    revoke = apikey_commands.add_parser("revoke", parents=[common],
                                        help="revoke a key: it stops working at once")
    revoke.add_argument("key", metavar="NAME_OR_ID", help="the key's name or its 12-hex id")
    revoke.set_defaults(run=lambda args: _with_service(args, settings_of, _revoke))
    listing = apikey_commands.add_parser("list", parents=[common],
                                         help="the keys, revoked ones included (never secrets)")
    listing.add_argument("--json", action="store_true", help="one JSON key per line")
    listing.set_defaults(run=lambda args: _with_service(args, settings_of, _list))


def _with_service(args: argparse.Namespace, settings_of: SettingsOf,
                  run: Callable[[argparse.Namespace, ApiKeyService], int]) -> int:
    settings = settings_of(args)
    with open_store(settings.store_url()) as store:
        try:
            return run(args, ApiKeyService(store))
        except (ValueError, NotFoundError) as exc:
            print(f"soc: error: {exc}", file=sys.stderr)
            return 1


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (OSError, KeyError):  # no login name, no USER variable, no passwd entry
        return "cli:unknown"


def _create(args: argparse.Namespace, service: ApiKeyService) -> int:
    document, token = service.create(args.name, args.role, actor=_actor())
    print(f"created API key {document['name']!r} (id {document['id']}, role {document['role']}); "
          f"it is shown only now: store it safely", file=sys.stderr)
    sys.stdout.write(token + "\n")
    sys.stdout.flush()
    return 0


def _revoke(args: argparse.Namespace, service: ApiKeyService) -> int:
    key = service.revoke(args.key, actor=_actor())
    print(f"revoked API key {key['name']!r} (id {key['id']}, role {key['role']}) "
          f"at {key['revoked_at']}", file=sys.stderr)
    return 0


def _list(args: argparse.Namespace, service: ApiKeyService) -> int:
    keys = service.list()
    for key in keys:
        if args.json:
            print(orjson.dumps(key).decode())
        else:
            state = f"revoked {key['revoked_at']}" if key["revoked_at"] else "active"
            print(f"{key['id']}  {key['role']:<8} {key['created_at']}  "
                  f"last used {key['last_used_at'] or 'never':<27}  {state:<35} {key['name']}")
    if not args.json:
        active = sum(1 for key in keys if not key["revoked_at"])
        print(f"{len(keys)} keys, {active} active", file=sys.stderr)
    return 0
