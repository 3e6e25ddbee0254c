"""collectors/parsers/sudo.py: sudo commands and refusals, su switches, their pam_unix lines."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from collectors.parsers.sudo import parse_su, parse_sudo
from soc.errors import ParseError
from tests.collectors.parsers.test_syslog import ingest, parse


def command(user: str, target: str, line: str, directory: str, tty: str | None = "pts/0",
            refusal: str | None = None, category: str = "process") -> dict[str, Any]:
    fields: dict[str, Any] = {
        "event.dataset": "system.auth", "event.action": "sudo_command",
        "event.category": [category], "event.type": ["start" if refusal is None else "info"],
        "event.outcome": "success" if refusal is None else "failure", "user.name": user,
        "user.effective.name": target, "related.user": [user, target],
        "process.command_line": line, "process.working_directory": directory}
    if tty is not None:
        fields["system.auth.sudo.tty"] = tty
    if refusal is not None:
        fields["event.reason"] = refusal
    return fields


@pytest.mark.parametrize(("message", "expected"), [
    ("   alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; "
     "COMMAND=/usr/bin/systemctl restart nginx",
     command("alice", "root", "/usr/bin/systemctl restart nginx", "/home/alice")),
    ("alice : 3 incorrect password attempts ; TTY=pts/0 ; PWD=/home/alice ; USER=root ; "
     "COMMAND=/usr/bin/cat /etc/shadow",
     command("alice", "root", "/usr/bin/cat /etc/shadow", "/home/alice",
             refusal="3 incorrect password attempts", category="authentication")),
    ("   mallory : user NOT in sudoers ; TTY=pts/1 ; PWD=/tmp ; USER=root ; COMMAND=/bin/bash",
     command("mallory", "root", "/bin/bash", "/tmp", tty="pts/1",
             refusal="user NOT in sudoers")),
    ("alice : command not allowed ; TTY=pts/0 ; PWD=/home/alice ; USER=root ; "
     "COMMAND=/usr/bin/vi /etc/sudoers",
     command("alice", "root", "/usr/bin/vi /etc/sudoers", "/home/alice",
             refusal="command not allowed")),
    # sudo -u; a command line that holds " ; "; sudo 1.9's TSID and ENV before COMMAND.
    ("alice : TTY=pts/3 ; PWD=/srv/portal ; USER=www-data ; COMMAND=/usr/bin/php artisan migrate",
     command("alice", "www-data", "/usr/bin/php artisan migrate", "/srv/portal", tty="pts/3")),
    ("alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/bin/sh -c echo a ; echo b",
     command("alice", "root", "/bin/sh -c echo a ; echo b", "/home/alice")),
    ("alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; TSID=000001 ; ENV=HOME=/root ; "
     "COMMAND=/usr/bin/id",
     command("alice", "root", "/usr/bin/id", "/home/alice")),
])
def test_sudo_commands(message: str, expected: dict[str, Any]) -> None:
    assert parse_sudo(message) == expected


@pytest.mark.parametrize(("message", "expected"), [
    ("pam_unix(sudo:auth): authentication failure; logname=alice uid=1000 euid=0 "
     "tty=/dev/pts/0 ruser=alice rhost=  user=alice",
     {"event.action": "pam_auth_failure", "event.category": ["authentication"],
      "event.type": ["info"], "event.outcome": "failure", "user.name": "alice",
      "related.user": ["alice"], "system.auth.pam.service": "sudo"}),
    ("pam_unix(sudo:session): session opened for user root(uid=0) by alice(uid=1000)",
     {"event.action": "pam_session_opened", "event.category": ["session"],
      "event.type": ["start"], "event.outcome": "success", "user.name": "alice",
      "user.id": "1000", "user.effective.name": "root", "user.effective.id": "0",
      "related.user": ["alice", "root"], "system.auth.pam.service": "sudo"}),
    ("pam_unix(sudo:session): session closed for user root",
     {"event.action": "pam_session_closed", "event.category": ["session"],
      "event.type": ["end"], "user.name": "root", "related.user": ["root"],
      "system.auth.pam.service": "sudo"}),
])
def test_sudo_pam_lines(message: str, expected: dict[str, Any]) -> None:
    assert parse_sudo(message) == {"event.dataset": "system.auth"} | expected


def switch(outcome: str, user: str, target: str, tty: str | None) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "event.dataset": "system.auth", "event.action": "su_switch",
        "event.category": ["authentication"],
        "event.type": ["start" if outcome == "success" else "info"], "event.outcome": outcome,
        "user.name": user, "user.effective.name": target, "related.user": [user, target]}
    if tty is not None:
        fields["system.auth.su.tty"] = tty
    return fields


@pytest.mark.parametrize(("message", "expected"), [
    ("(to root) alice on pts/0", switch("success", "alice", "root", "pts/0")),
    ("FAILED SU (to root) alice on pts/0", switch("failure", "alice", "root", "pts/0")),
    ("(to postgres) alice on none", switch("success", "alice", "postgres", None)),
    # shadow-utils' su (older Debian).
    ("Successful su for root by alice", switch("success", "alice", "root", None)),
    ("FAILED su for root by alice", switch("failure", "alice", "root", None)),
    # RFC 3164 §5.4's example, from BSD su.
    ("'su root' failed for lonvick on /dev/pts/8",
     switch("failure", "lonvick", "root", "/dev/pts/8")),
])
def test_su_switches(message: str, expected: dict[str, Any]) -> None:
    assert parse_su(message) == expected


@pytest.mark.parametrize(("message", "expected"), [
    ("pam_unix(su-l:session): session opened for user postgres(uid=113) by alice(uid=1000)",
     {"event.action": "pam_session_opened", "event.category": ["session"],
      "event.type": ["start"], "event.outcome": "success", "user.name": "alice",
      "user.id": "1000", "user.effective.name": "postgres", "user.effective.id": "113",
      "related.user": ["alice", "postgres"], "system.auth.pam.service": "su-l"}),
    # su asks for the password of the account to become: `user` is root, `ruser` who asked.
    ("pam_unix(su:auth): authentication failure; logname=alice uid=1000 euid=0 tty=pts/0 "
     "ruser=alice rhost=  user=root",
     {"event.action": "pam_auth_failure", "event.category": ["authentication"],
      "event.type": ["info"], "event.outcome": "failure", "user.name": "alice",
      "user.effective.name": "root", "related.user": ["alice", "root"],
      "system.auth.pam.service": "su"}),
])
def test_su_pam_lines(message: str, expected: dict[str, Any]) -> None:
    assert parse_su(message) == {"event.dataset": "system.auth"} | expected


@pytest.mark.parametrize("message", [
    "alice : unable to resolve host web1: Name or service not known",
    "alice : TTY=pts/0 ; PWD=/ho",  # truncated before COMMAND
    "alice",
    "",
    "pam_unix(sudo:auth): conversation failed",
])
def test_other_and_truncated_sudo_messages_keep_only_the_dataset(message: str) -> None:
    assert parse_sudo(message) == {"event.dataset": "system.auth"}


@pytest.mark.parametrize("message", ["FAILED SU (to root) alice on", "(to root", "", "+ pts/0"])
def test_other_and_truncated_su_messages_keep_only_the_dataset(message: str) -> None:
    assert parse_su(message) == {"event.dataset": "system.auth"}


def test_invalid_utf8_and_garbage_through_the_header() -> None:
    fields = parse(b"<86>Nov 22 10:00:00 web1 sudo: b\xf9i : TTY=pts/0 ; PWD=/home/b\xf9i ; "
                   b"USER=root ; COMMAND=/usr/bin/id")
    assert fields["user.name"] == "b\\xf9i"
    assert fields["process.working_directory"] == "/home/b\\xf9i"
    with pytest.raises(ParseError, match=r"^binary data after PRI <86>: control byte 0x1b"):
        parse(b"<86>\x1b[31m sudo: alice : TTY=pts/0")


def test_secure_log_end_to_end(tmp_path: Path) -> None:
    path = tmp_path / "secure"
    path.write_bytes(
        b"Nov 22 09:58:00 app1 sudo[4100]:    alice : TTY=pts/0 ; PWD=/home/alice ; "
        b"USER=root ; COMMAND=/usr/bin/systemctl restart httpd\n"
        b"Nov 22 09:58:00 app1 sudo[4100]: pam_unix(sudo:session): session opened for user "
        b"root(uid=0) by alice(uid=1000)\n"
        b"<85>Nov 22 09:59:00 app1 su[4200]: FAILED SU (to root) mallory on pts/1\n"
        b"<85>1 2026-11-22T09:59:30.5+07:00 app1 su 4201 - - (to root) alice on pts/0\n"
        b"\xff\xfe\x00\x00\n")
    events, errors = ingest(path, "syslog")
    assert [(e["@timestamp"], e["event.action"], e["event.outcome"], e["user.name"],
             e["user.effective.name"]) for e in events] == [
        ("2026-11-22T02:58:00.000000Z", "sudo_command", "success", "alice", "root"),
        ("2026-11-22T02:58:00.000000Z", "pam_session_opened", "success", "alice", "root"),
        ("2026-11-22T02:59:00.000000Z", "su_switch", "failure", "mallory", "root"),
        ("2026-11-22T02:59:30.500000Z", "su_switch", "success", "alice", "root"),
    ]
    assert events[0]["process.command_line"] == "/usr/bin/systemctl restart httpd"
    assert events[0]["process.pid"] == 4100 and events[0]["process.name"] == "sudo"
    assert events[2]["log.syslog.facility.name"] == "authpriv"
    assert {e["event.dataset"] for e in events} == {"system.auth"}
    assert errors == ["no syslog header: expected <PRI>, a time such as 'Oct 11 22:14:15' or "
                      "an ISO 8601 time at the start, got '\\\\xff\\\\xfe\\x00\\x00'"]
