"""OpenSSH's sshd messages (logins, invalid users, disconnects, PAM sessions) to ECS, and the
"sshd" line format: auth.log read with the syslog parser, so its sudo and su lines parse too.

ECS has no field for the SSH authentication method: it goes to `system.auth.ssh.method` (and
the key's type and fingerprint to `system.auth.ssh.signature`), the names of Filebeat's system
module, whose `system.auth` dataset name these events share, so queries written for it work.
"""

from __future__ import annotations

import re
from typing import Any

from collectors.parsers import registry
from collectors.parsers.syslog import (
    AUTH_DATASET,
    SyslogParser,
    add_endpoint,
    add_users,
    auth_event,
    parse_pam,
    programs,
)

_LOGIN = re.compile(
    r"(Accepted|Failed) (\S+) for (invalid user )?(.*?) from (\S+) port (\d+)(?: ssh2)?"
    r"(?:: (.*))?")
_INVALID_USER = re.compile(r"Invalid user (.*?) from (\S+)(?: port (\d+))?")
_CLOSED = re.compile(
    r"(?:Connection closed by|Disconnected from) (?:(invalid |authenticating )?user (.*?) )?"
    r"(\S+?)(?: port (\d+))?( \[preauth\])?")
_RECEIVED_DISCONNECT = re.compile(
    r"Received disconnect from (\S+?)(?: port (\d+))?: ?(\d+): ?(.*?)( \[preauth\])?")
_MAX_ATTEMPTS = re.compile(
    r"error: maximum authentication attempts exceeded for (invalid user )?(.*?) from (\S+) "
    r"port (\d+)(?: ssh2)?(?: \[preauth\])?")


@programs.register("sshd")
@programs.register("sshd-session")  # OpenSSH 9.8 moved the per-connection log lines here
def parse_sshd(message: str) -> dict[str, Any]:
    """The ECS fields of one sshd message; only the dataset for messages not recognised."""
    first = message.partition(" ")[0]
    if first in ("Accepted", "Failed"):
        found = _login(message)
    elif first == "Invalid":
        found = _invalid_user(message)
    elif first in ("Connection", "Disconnected"):
        found = _closed(message)
    elif first == "Received":
        found = _received_disconnect(message)
    elif first == "error:":
        found = _max_attempts(message)
    elif first.startswith("pam_unix("):
        found = parse_pam(message)
    else:
        found = None
    return found or {"event.dataset": AUTH_DATASET}


def _login(message: str) -> dict[str, Any] | None:
    match = _LOGIN.fullmatch(message)
    if match is None:
        return None
    verdict, method, invalid, user, address, port, signature = match.groups()
    if verdict == "Accepted":
        fields = auth_event("ssh_login", "authentication", "start", "success")
    else:
        fields = auth_event("ssh_login", "authentication", "info", "failure")
    if invalid:
        fields["event.reason"] = "invalid user"
    fields["system.auth.ssh.method"] = method
    if signature:
        fields["system.auth.ssh.signature"] = signature
    add_users(fields, user)
    add_endpoint(fields, "source", address, port)
    return fields


def _invalid_user(message: str) -> dict[str, Any] | None:
    match = _INVALID_USER.fullmatch(message)
    if match is None:
        return None
    user, address, port = match.groups()
    fields = auth_event("ssh_invalid_user", "authentication", "info", "failure")
    add_users(fields, user)
    add_endpoint(fields, "source", address, port)
    return fields


def _closed(message: str) -> dict[str, Any] | None:
    # Only a logged-in session ends in a session event; a close before or during
    # authentication ([preauth], an invalid or authenticating user) ends an authentication.
    # No outcome: the line says the connection ended, not whether anything succeeded.
    match = _CLOSED.fullmatch(message)
    if match is None:
        return None
    state, user, address, port, preauth = match.groups()
    category = "authentication" if state or preauth else "session"
    fields = auth_event("ssh_disconnect", category, "end")
    add_users(fields, user)
    add_endpoint(fields, "source", address, port)
    return fields


def _received_disconnect(message: str) -> dict[str, Any] | None:
    match = _RECEIVED_DISCONNECT.fullmatch(message)
    if match is None:
        return None
    address, port, _, reason, preauth = match.groups()
    fields = auth_event("ssh_disconnect", "authentication" if preauth else "session", "end")
    if reason:
        fields["event.reason"] = reason
    add_endpoint(fields, "source", address, port)
    return fields


def _max_attempts(message: str) -> dict[str, Any] | None:
    match = _MAX_ATTEMPTS.fullmatch(message)
    if match is None:
        return None
    invalid, user, address, port = match.groups()
    fields = auth_event("ssh_max_auth_attempts", "authentication", "info", "failure")
    if invalid:
        fields["event.reason"] = "invalid user"
    add_users(fields, user)
    add_endpoint(fields, "source", address, port)
    return fields


@registry.register("sshd")
class SshdLogParser(SyslogParser):
    """auth.log and secure files (`--format sshd`): syslog lines, each program's own fields."""

    name = "sshd"

    def parse(self, raw: bytes) -> dict[str, Any]:
        # Every line of the auth log is an authentication event (as Filebeat's system/auth
        # fileset has it), whichever program wrote it: pkexec, polkitd, systemd-logind…
        fields = super().parse(raw)
        if fields.get("event.dataset") == "syslog":
            fields["event.dataset"] = AUTH_DATASET
        return fields
