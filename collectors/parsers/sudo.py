"""sudo and su messages to ECS: commands run through sudo and its refusals, user switches by su
(util-linux, shadow and BSD wordings), and the pam_unix lines of both.

The user who acts is `user.name` and the one become `user.effective.name`. The terminal has no
ECS field (`process.tty` holds device numbers, not names): it goes to `system.auth.sudo.tty`,
Filebeat's name for it, and to `system.auth.su.tty` alike.

There is no "sudo" line format: sudo's syslog lines are in auth.log, which the "sshd" and
"syslog" formats read whole; sudo's own log file (`Defaults logfile`) wraps each record over
several lines at 80 columns, which no line format can take apart.
"""

from __future__ import annotations

import re
from typing import Any

from collectors.parsers.syslog import (
    AUTH_DATASET,
    add_users,
    auth_event,
    key_values,
    parse_pam,
    programs,
)

_SUDO = re.compile(r"\s*(\S+) : (.*)")
_SU = re.compile(r"(FAILED SU )?\(to ([^)\s]+)\) (\S+) on (\S+)")
_SU_SHADOW = re.compile(r"(Successful|FAILED) su for (\S+) by (\S+)")
_SU_BSD = re.compile(r"'su ?(\S*)' failed for (\S+) on (\S+)")


@programs.register("sudo")
def parse_sudo(message: str) -> dict[str, Any]:
    """`user : [refusal ;] TTY=… ; PWD=… ; USER=… ; COMMAND=…`, or a pam_unix line."""
    found = parse_pam(message) if message.startswith("pam_unix(") else _command(message)
    return found or {"event.dataset": AUTH_DATASET}


def _command(message: str) -> dict[str, Any] | None:
    match = _SUDO.fullmatch(message)
    if match is None or "COMMAND=" not in match.group(2):
        return None
    user, rest = match.groups()
    # COMMAND comes last and its arguments may hold " ; ": split only what precedes it.
    head, _, command = rest.partition("COMMAND=")
    first = head.partition(" ; ")[0]
    refusal = None if "=" in first else first.strip()
    values = key_values(head, " ; ")
    if refusal is None:
        fields = auth_event("sudo_command", "process", "start", "success")
    else:
        # A wrong password is an authentication failure; "user NOT in sudoers" or "command not
        # allowed" is a refused process start.
        category = "authentication" if "password" in refusal else "process"
        fields = auth_event("sudo_command", category, "info", "failure")
        fields["event.reason"] = refusal
    add_users(fields, user, values.get("USER"))
    fields["process.command_line"] = command.strip()
    if values.get("PWD"):
        fields["process.working_directory"] = values["PWD"]
    if values.get("TTY"):
        fields["system.auth.sudo.tty"] = values["TTY"]
    return fields


@programs.register("su")
def parse_su(message: str) -> dict[str, Any]:
    """`(to root) alice on pts/0`, `FAILED SU (to root) …`, shadow's and BSD's wordings, or a
    pam_unix line."""
    if message.startswith("pam_unix("):
        return parse_pam(message) or {"event.dataset": AUTH_DATASET}
    tty = None
    if (match := _SU.fullmatch(message)) is not None:
        failed, target, user, tty = match.groups()
    elif (match := _SU_SHADOW.fullmatch(message)) is not None:
        verdict, target, user = match.groups()
        failed = verdict == "FAILED"
    elif (match := _SU_BSD.fullmatch(message)) is not None:
        target, user, tty = match.groups()
        target, failed = target or "root", True
    else:
        return {"event.dataset": AUTH_DATASET}
    if failed:
        fields = auth_event("su_switch", "authentication", "info", "failure")
    else:
        fields = auth_event("su_switch", "authentication", "start", "success")
    add_users(fields, user, target)
    if tty and tty != "none":
        fields["system.auth.su.tty"] = tty
    return fields

