"""Helpers the per-channel enrichments of Windows events share (windows_events.py,
windows_sysmon.py, windows_powershell.py). Not a parser: it registers nothing."""

from __future__ import annotations

from typing import Any

from soc.errors import NormaliseError
from soc.events import canonical_ip

# What Windows writes for "nothing here": the null SID, logon id and GUID stand for no account,
# session or process.
ABSENT = frozenset({"", "-", "S-1-0-0", "0x0", "{00000000-0000-0000-0000-000000000000}"})


def process_id(value: Any) -> int | None:
    """Security events write process ids in hex (0x1fc), Sysmon in decimal; 0 is no process."""
    if isinstance(value, int) and not isinstance(value, bool):
        number: int | None = value
    elif isinstance(value, str):
        text = value.strip().lower()
        try:
            number = int(text, 16) if text.startswith("0x") else int(text)
        except ValueError:
            number = None
    else:
        number = None
    return number if number and number > 0 else None


def ip(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return canonical_ip(value)
    except NormaliseError:
        return None


def set_field(out: dict[str, Any], field: str, value: str | None) -> None:
    if value and value not in ABSENT:
        out[field] = value


def set_number(out: dict[str, Any], field: str, value: str | None) -> None:
    """A decimal count or sequence number (Winlogbeat converts these to long)."""
    if value and value.strip().isdecimal():
        out[field] = int(value)


def set_bool(out: dict[str, Any], field: str, value: str | None) -> None:
    """Windows writes booleans as the text true/false (any case); anything else is left out."""
    text = (value or "").strip().lower()
    if text in ("true", "false"):
        out[field] = text == "true"


def process(out: dict[str, Any], prefix: str, executable: str | None, pid: str | None) -> None:
    if executable:
        out[f"{prefix}.executable"] = executable
        out[f"{prefix}.name"] = executable.rpartition("\\")[2]
    number = process_id(pid)
    if number is not None:
        out[f"{prefix}.pid"] = number


def file_path(out: dict[str, Any], path: str | None) -> None:
    """file.path, and (as Winlogbeat's "Adds file information" step) file.name, .directory and
    .extension when the path has a directory."""
    if not path or path in ABSENT:
        return
    out["file.path"] = path
    directory, slash, name = path.rpartition("\\")
    if not slash:
        return
    out["file.directory"] = directory
    set_field(out, "file.name", name)
    stem, dot, extension = name.rpartition(".")
    if dot and stem and extension:
        out["file.extension"] = extension


def account(out: dict[str, Any], prefix: str, value: str | None) -> None:
    """`DOMAIN\\name` (Sysmon's User, PowerShell's UserId) as <prefix>.domain and .name."""
    domain, _, name = (value or "").rpartition("\\")
    set_field(out, f"{prefix}.name", name)
    set_field(out, f"{prefix}.domain", domain)


def hashes(value: str | None, owner: str, out: dict[str, Any]) -> None:
    """Sysmon's `SHA1=…,MD5=…,IMPHASH=…`: lower-case, all-zero (not computed) ones left out."""
    found = []
    for pair in (value or "").split(","):
        kind, _, digest = pair.partition("=")
        kind, digest = kind.strip().lower(), digest.strip().lower()
        if not kind or not digest or not digest.strip("0"):
            continue
        out[f"{owner}.pe.imphash" if kind == "imphash" else f"{owner}.hash.{kind}"] = digest
        found.append(digest)
    if found:
        out["related.hash"] = found
