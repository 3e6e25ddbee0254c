"""The ECS fields of PowerShell events, as Winlogbeat's powershell module writes them
(x-pack/winlogbeat/module/powershell/ingest/powershell.yml and powershell_operational.yml), and
so where pySigma's ECS Windows pipeline looks for the names ps_script, ps_module and ps_classic_*
rules use. Not a parser: windows_events.enrich calls `powershell` with the scalar EventData.

- Microsoft-Windows-PowerShell/Operational (and PowerShell 7's PowerShellCore/Operational):
  4104 script blocks, 4103 module logging (its ContextInfo is `Key = Value` lines), 4105/4106.
- Windows PowerShell (the classic log): 400/403 engine start/stop, 600 provider start, 800
  pipeline execution; their fields are `Key=Value` lines inside one unnamed <Data> (param3, or
  param2 in 800).
"""

from __future__ import annotations

from typing import Any

from collectors.parsers.windows_common import account, file_path, set_field, set_number

OPERATIONAL_CHANNELS = frozenset({"microsoft-windows-powershell/operational",
                                  "powershellcore/operational"})
CLASSIC_CHANNEL = "windows powershell"
CHANNELS = OPERATIONAL_CHANNELS | {CLASSIC_CHANNEL}

# Event data names (ContextInfo's without their spaces) → the fields Winlogbeat renames them to.
_TEXT = {
    "HostId": "process.entity_id", "HostID": "process.entity_id",
    "HostApplication": "process.command_line", "HostName": "process.title",
    "HostVersion": "powershell.process.executable_version",
    "EngineVersion": "powershell.engine.version",
    "NewEngineState": "powershell.engine.new_state",
    "PreviousEngineState": "powershell.engine.previous_state",
    "NewProviderState": "powershell.provider.new_state", "ProviderName": "powershell.provider.name",
    "PipelineId": "powershell.pipeline_id", "PipelineID": "powershell.pipeline_id",
    "RunspaceId": "powershell.runspace_id", "RunspaceID": "powershell.runspace_id",
    "ShellID": "powershell.id", "CommandLine": "powershell.command.value",
    "CommandName": "powershell.command.name", "CommandPath": "powershell.command.path",
    "CommandType": "powershell.command.type",
    "ScriptBlockId": "powershell.file.script_block_id",
    "ScriptBlockText": "powershell.file.script_block_text",
}
_NUMBERS = {"SequenceNumber": "event.sequence", "MessageNumber": "powershell.sequence",
            "MessageTotal": "powershell.total", "DetailSequence": "powershell.sequence",
            "DetailTotal": "powershell.total"}
# The keys of 4103's ContextInfo (spaces removed) and of the classic events' data text.
_CONTEXT_KEYS = frozenset({"Severity", "HostName", "HostVersion", "HostID", "HostApplication",
                           "EngineVersion", "RunspaceID", "PipelineID", "CommandName",
                           "CommandType", "ScriptName", "CommandPath", "SequenceNumber", "User",
                           "ConnectedUser", "ShellID"})
_CLASSIC_KEYS = frozenset({"NewEngineState", "PreviousEngineState", "NewProviderState",
                           "ProviderName", "SequenceNumber", "HostName", "HostVersion", "HostId",
                           "HostApplication", "EngineVersion", "RunspaceId", "PipelineId",
                           "CommandName", "CommandType", "ScriptName", "CommandPath",
                           "CommandLine", "DetailTotal", "DetailSequence", "UserId"})
# event.type by event id (Winlogbeat: engine or command start and stop; everything else info).
_TYPES = {400: "start", 403: "end", 4105: "start", 4106: "end"}


def powershell(event_id: int, channel: str, data: dict[str, str],
               out: dict[str, Any]) -> tuple[tuple[str, ...], tuple[str, ...], None, None]:
    """Adds the ECS fields of one PowerShell event to `out`; returns its event.category and
    event.type (Winlogbeat's powershell module sets no event.action)."""
    if channel == CLASSIC_CHANNEL:
        fields = _classic(event_id, data, out)
    else:
        fields = _operational(event_id, data, out)
    for name, field in _TEXT.items():
        set_field(out, field, fields.get(name))
    for name, field in _NUMBERS.items():
        set_number(out, field, fields.get(name))
    file_path(out, fields.get("ScriptName") or fields.get("Path"))
    return ("process",), (_TYPES.get(event_id, "info"),), None, None


def _operational(event_id: int, data: dict[str, str], out: dict[str, Any]) -> dict[str, str]:
    fields = dict(data)
    if event_id == 4103:
        fields.update(key_values(data.get("ContextInfo"), _CONTEXT_KEYS))
        # Winlogbeat parses the Payload into powershell.command.invocation_details; pySigma's
        # pipeline sends ps_module rules' Payload to the script block text field, so it goes
        # there too, else those rules never match.
        if "ScriptBlockText" not in fields:
            set_field(out, "powershell.file.script_block_text", data.get("Payload"))
    set_field(out, "user.id", out.get("winlog.user.identifier"))
    account(out, "user", fields.get("User"))
    if fields.get("ConnectedUser"):
        # A remote session: the user who connected acts; the session's own user is where.
        account(out, "source.user", fields["ConnectedUser"])
        for key in ("name", "domain"):
            if f"user.{key}" in out:
                out[f"destination.user.{key}"] = out.pop(f"user.{key}")
            if f"source.user.{key}" in out:
                out[f"user.{key}"] = out[f"source.user.{key}"]
    return fields


def _classic(event_id: int, data: dict[str, str], out: dict[str, Any]) -> dict[str, str]:
    params = [data[name] for name in sorted(
        (key for key in data if key.startswith("param") and key[5:].isdecimal()),
        key=lambda key: int(key[5:]))]
    if params and "Data" not in data:
        # The unnamed <Data> elements, under the name Sigma's ps_classic rules use (Data|contains),
        # which the pipeline sends to winlog.event_data.Data.
        out["winlog.event_data.Data"] = params
    text = data.get("param2" if event_id == 800 else "param3")
    fields = {**data, **key_values(text, _CLASSIC_KEYS)}
    account(out, "user", fields.get("UserId"))
    return fields


def key_values(text: str | None, keys: frozenset[str]) -> dict[str, str]:
    """The `Key=Value` (or `Key = Value`) lines of a PowerShell data text, by key without its
    spaces. Only the known keys start a field: a line that starts none continues the value
    before it (a host application or command line of several lines), and empty values are left
    out."""
    fields: dict[str, str] = {}
    current = None
    for line in (text or "").splitlines():
        key, equals, value = line.strip().partition("=")
        key = "".join(key.split())
        if equals and key in keys:
            current = key
            fields[key] = value.strip()
        elif current and line.strip():
            fields[current] = f"{fields[current]}\n{line.strip()}".strip()
    return {key: value for key, value in fields.items() if value}
