"""collectors/parsers/sshd.py: OpenSSH's messages and the "sshd" (auth.log) line format."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from collectors.parsers.sshd import parse_sshd
from soc.errors import ParseError
from tests.collectors.parsers.test_syslog import ingest, parse

ATTACKER = "203.0.113.7"


def login(outcome: str, kind: str, user: str, address: str, port: int,
          method: str) -> dict[str, Any]:
    return {"event.dataset": "system.auth", "event.action": "ssh_login",
            "event.category": ["authentication"], "event.type": [kind],
            "event.outcome": outcome, "system.auth.ssh.method": method, "user.name": user,
            "related.user": [user], "source.ip": address, "related.ip": [address],
            "source.port": port}


@pytest.mark.parametrize(("message", "expected"), [
    ("Accepted publickey for admin from 10.45.1.5 port 51234 ssh2: RSA "
     "SHA256:4hXqq5JnB+Jt9R0hNGEvMXzL3m8uK5nE0xIYpU1bGxQ",
     login("success", "start", "admin", "10.45.1.5", 51234, "publickey") | {
         "system.auth.ssh.signature": "RSA SHA256:4hXqq5JnB+Jt9R0hNGEvMXzL3m8uK5nE0xIYpU1bGxQ"}),
    ("Accepted password for alice from 10.45.1.20 port 60022 ssh2",
     login("success", "start", "alice", "10.45.1.20", 60022, "password")),
    ("Accepted keyboard-interactive/pam for bob from 2001:db8:0:0::5 port 40022 ssh2",
     login("success", "start", "bob", "2001:db8::5", 40022, "keyboard-interactive/pam")),
    ("Failed password for root from 203.0.113.7 port 40000 ssh2",
     login("failure", "info", "root", ATTACKER, 40000, "password")),
    ("Failed password for invalid user oracle from 203.0.113.7 port 40002 ssh2",
     login("failure", "info", "oracle", ATTACKER, 40002, "password") | {
         "event.reason": "invalid user"}),
    ("Failed none for invalid user admin from 203.0.113.7 port 40004 ssh2",
     login("failure", "info", "admin", ATTACKER, 40004, "none") | {
         "event.reason": "invalid user"}),
])
def test_logins(message: str, expected: dict[str, Any]) -> None:
    assert parse_sshd(message) == expected


def test_a_host_name_is_a_domain_not_an_ip() -> None:
    # sshd logs the client's name when UseDNS is on; source.ip must stay an address.
    fields = parse_sshd("Failed password for root from scanner.example.net port 40000 ssh2")
    assert fields["source.domain"] == "scanner.example.net"
    assert "source.ip" not in fields and "related.ip" not in fields


@pytest.mark.parametrize(("message", "expected"), [
    ("Invalid user oracle from 203.0.113.7 port 40002",
     {"event.action": "ssh_invalid_user", "event.category": ["authentication"],
      "event.type": ["info"], "event.outcome": "failure", "user.name": "oracle",
      "related.user": ["oracle"], "source.ip": ATTACKER, "related.ip": [ATTACKER],
      "source.port": 40002}),
    # OpenSSH before 7.5 logged no port.
    ("Invalid user test from 198.51.100.9",
     {"event.action": "ssh_invalid_user", "event.category": ["authentication"],
      "event.type": ["info"], "event.outcome": "failure", "user.name": "test",
      "related.user": ["test"], "source.ip": "198.51.100.9", "related.ip": ["198.51.100.9"]}),
    ("error: maximum authentication attempts exceeded for root from 203.0.113.7 port 40020 ssh2 "
     "[preauth]",
     {"event.action": "ssh_max_auth_attempts", "event.category": ["authentication"],
      "event.type": ["info"], "event.outcome": "failure", "user.name": "root",
      "related.user": ["root"], "source.ip": ATTACKER, "related.ip": [ATTACKER],
      "source.port": 40020}),
    ("error: maximum authentication attempts exceeded for invalid user admin from 203.0.113.7 "
     "port 40022 ssh2 [preauth]",
     {"event.action": "ssh_max_auth_attempts", "event.category": ["authentication"],
      "event.type": ["info"], "event.outcome": "failure", "event.reason": "invalid user",
      "user.name": "admin", "related.user": ["admin"], "source.ip": ATTACKER,
      "related.ip": [ATTACKER], "source.port": 40022}),
])
def test_invalid_users_and_too_many_attempts(message: str, expected: dict[str, Any]) -> None:
    assert parse_sshd(message) == {"event.dataset": "system.auth"} | expected


def disconnect(category: str, address: str, port: int, **more: Any) -> dict[str, Any]:
    return {"event.dataset": "system.auth", "event.action": "ssh_disconnect",
            "event.category": [category], "event.type": ["end"], "source.ip": address,
            "related.ip": [address], "source.port": port} | more


@pytest.mark.parametrize(("message", "expected"), [
    ("Connection closed by invalid user oracle 203.0.113.7 port 40002 [preauth]",
     disconnect("authentication", ATTACKER, 40002, **{"user.name": "oracle",
                                                        "related.user": ["oracle"]})),
    ("Connection closed by authenticating user root 203.0.113.7 port 40010 [preauth]",
     disconnect("authentication", ATTACKER, 40010, **{"user.name": "root",
                                                        "related.user": ["root"]})),
    ("Connection closed by 203.0.113.7 port 40012 [preauth]",
     disconnect("authentication", ATTACKER, 40012)),
    ("Disconnected from invalid user oracle 203.0.113.7 port 40002 [preauth]",
     disconnect("authentication", ATTACKER, 40002, **{"user.name": "oracle",
                                                        "related.user": ["oracle"]})),
    ("Disconnected from user admin 10.45.1.5 port 51234",
     disconnect("session", "10.45.1.5", 51234, **{"user.name": "admin",
                                                   "related.user": ["admin"]})),
    ("Received disconnect from 10.45.1.5 port 51234:11: disconnected by user",
     disconnect("session", "10.45.1.5", 51234, **{"event.reason": "disconnected by user"})),
    ("Received disconnect from 203.0.113.7 port 40002:11: Bye Bye [preauth]",
     disconnect("authentication", ATTACKER, 40002, **{"event.reason": "Bye Bye"})),
])
def test_disconnects(message: str, expected: dict[str, Any]) -> None:
    assert parse_sshd(message) == expected


@pytest.mark.parametrize(("message", "expected"), [
    ("pam_unix(sshd:session): session opened for user admin(uid=0) by (uid=0)",
     {"event.action": "pam_session_opened", "event.category": ["session"],
      "event.type": ["start"], "event.outcome": "success", "user.name": "admin",
      "user.id": "0", "related.user": ["admin"], "system.auth.pam.service": "sshd"}),
    ("pam_unix(sshd:session): session closed for user admin",
     {"event.action": "pam_session_closed", "event.category": ["session"],
      "event.type": ["end"], "user.name": "admin", "related.user": ["admin"],
      "system.auth.pam.service": "sshd"}),
    ("pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= "
     "rhost=203.0.113.7  user=root",
     {"event.action": "pam_auth_failure", "event.category": ["authentication"],
      "event.type": ["info"], "event.outcome": "failure", "user.name": "root",
      "related.user": ["root"], "source.ip": ATTACKER, "related.ip": [ATTACKER],
      "system.auth.pam.service": "sshd"}),
])
def test_pam_lines(message: str, expected: dict[str, Any]) -> None:
    assert parse_sshd(message) == {"event.dataset": "system.auth"} | expected


@pytest.mark.parametrize("message", [
    "Server listening on 0.0.0.0 port 22.",
    "Accepted publickey for admin from 10.45.1.5 po",  # truncated
    "Invalid user",
    "Connection closed by",
    "Received disconnect from 10.45.1.5 port",
    "pam_unix(sshd:auth): check pass; user unknown",
    "error: kex_exchange_identification: Connection closed by remote host",
    "",
])
def test_other_and_truncated_messages_keep_only_the_dataset(message: str) -> None:
    assert parse_sshd(message) == {"event.dataset": "system.auth"}


def test_through_the_syslog_header() -> None:
    fields = parse(b"<86>1 2026-11-22T10:00:00+07:00 web1 sshd-session 2211 - - Invalid user "
                   b"caf\xe9 from 203.0.113.7 port 40002")
    assert fields["event.action"] == "ssh_invalid_user"
    assert fields["user.name"] == "caf\\xe9"  # invalid UTF-8 stays visible
    assert fields["process.pid"] == 2211 and fields["log.syslog.facility.name"] == "authpriv"


@pytest.mark.parametrize(("raw", "reason"), [
    (b"\xff\xfe\xfd\x00\x00", "no syslog header: expected <PRI>, a time such as "
     "'Oct 11 22:14:15' or an ISO 8601 time at the start, got "
     "'\\\\xff\\\\xfe\\\\xfd\\x00\\x00'"),
    (b"<999>Nov 22 10:00:00 web1 sshd[1]: Accepted password for a from 10.0.0.1 port 1 ssh2",
     "PRI <999> is out of range: facility × 8 + severity is at most 191"),
])
def test_bad_lines(raw: bytes, reason: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse(raw, "sshd")
    assert str(caught.value) == reason


def test_auth_log_end_to_end(tmp_path: Path) -> None:
    path = tmp_path / "auth.log"
    path.write_bytes(
        b"Nov 22 09:58:01 web1 sshd[2210]: Failed password for invalid user oracle from "
        b"203.0.113.7 port 40002 ssh2\n"
        b"Nov 22 09:58:03 web1 sshd[2212]: Accepted publickey for admin from 10.45.1.5 port "
        b"51234 ssh2: ED25519 SHA256:Wq0yb2zYQbN0jx6HcI1Ea8W5Lq3Kz9uPz2cQ1n7r0bM\n"
        b"Nov 22 09:58:03 web1 sshd[2212]: pam_unix(sshd:session): session opened for user "
        b"admin(uid=0) by (uid=0)\n"
        b"Nov 22 09:59:10 web1 sudo:    admin : TTY=pts/0 ; PWD=/root ; USER=root ; "
        b"COMMAND=/usr/bin/systemctl restart nginx\n"
        b"Nov 22 09:59:30 web1 CRON[3001]: pam_unix(cron:session): session closed for user "
        b"root\n"
        b"Nov 22 09:5\n")
    events, errors = ingest(path, "sshd")
    assert [(e["@timestamp"], e["event.dataset"], e.get("event.action")) for e in events] == [
        ("2026-11-22T02:58:01.000000Z", "system.auth", "ssh_login"),
        ("2026-11-22T02:58:03.000000Z", "system.auth", "ssh_login"),
        ("2026-11-22T02:58:03.000000Z", "system.auth", "pam_session_opened"),
        ("2026-11-22T02:59:10.000000Z", "system.auth", "sudo_command"),
        ("2026-11-22T02:59:30.000000Z", "system.auth", None),  # another program: still auth
    ]
    assert events[0]["source.ip"] == ATTACKER and events[0]["event.outcome"] == "failure"
    assert events[1]["system.auth.ssh.signature"] == (
        "ED25519 SHA256:Wq0yb2zYQbN0jx6HcI1Ea8W5Lq3Kz9uPz2cQ1n7r0bM")
    assert events[1]["host.name"] == "web1" and events[1]["process.pid"] == 2212
    assert events[3]["user.effective.name"] == "root"
    assert errors == ["no syslog header: expected <PRI>, a time such as 'Oct 11 22:14:15' or "
                      "an ISO 8601 time at the start, got 'Nov 22 09:5'"]
