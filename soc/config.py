"""Settings: `soc.yaml` parsed into typed sections, with defaults and SOC_* environment overrides.

Order of precedence: defaults, then the YAML file (`--config`, `SOC_CONFIG`, or `./soc.yaml` when
present), then environment variables named `SOC_<SECTION>_<KEY>` (e.g. `SOC_STORE_URL`).
Relative paths are read against the directory of the config file (or the working directory).
"""

from __future__ import annotations

import os
import types
from collections.abc import Mapping
from datetime import timedelta, tzinfo
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Union, get_args, get_origin

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ByteSize,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)

from soc.errors import ConfigError
from soc.timeutil import load_zone, parse_duration
from soc.yamlfile import YamlDocument, YamlFileError, describe_location, load_yaml

Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
ENV_PREFIX = "SOC_"
NOT_SETTINGS = {"SOC_CONFIG", "SOC_ES_URL"}


def parse_address(value: str) -> tuple[str, int]:
    """`host:port` or `[v6]:port` to (host, port); ValueError when malformed."""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"expected host:port such as 127.0.0.1:8000, got {value!r}")
    return host.strip("[]"), int(port)


def _check_address(value: str) -> str:
    parse_address(value)
    return value


Address = Annotated[str, BeforeValidator(lambda v: _check_address(str(v)))]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StoreSettings(Section):
    url: str = "sqlite:///var/soc.db"


class ApiSettings(Section):
    listen: Address = "127.0.0.1:8000"


class TlsListenerSettings(Section):
    listen: Address = "127.0.0.1:6514"
    cert_file: Path
    key_file: Path


class SyslogSettings(Section):
    udp: Address | None = "127.0.0.1:5514"
    tcp: Address | None = "127.0.0.1:5514"
    tls: TlsListenerSettings | None = None
    format: str = "syslog"
    # A TCP or TLS sender silent this long is disconnected (it reconnects when it has news).
    idle_timeout: Duration = timedelta(minutes=10)
    # A TLS client that has not finished its handshake by then is dropped.
    handshake_timeout: Duration = timedelta(seconds=10)
    # Asked of the kernel for the UDP socket; bursts beyond it are dropped (and counted).
    udp_buffer: ByteSize = Field(ByteSize(8 << 20), ge=65536)


class NetflowSettings(Section):
    udp: Address | None = "127.0.0.1:2055"
    # Asked of the kernel for the UDP socket; bursts beyond it are dropped (and counted).
    udp_buffer: ByteSize = Field(ByteSize(8 << 20), ge=65536)
    # v9/IPFIX templates not refreshed for this long are forgotten (RFC 6728 templateLifeTime).
    template_timeout: Duration = timedelta(minutes=30)
    # Data sets that come before their template wait this long, and at most this many per
    # exporter; then they are dropped (and counted).
    pending_timeout: Duration = timedelta(minutes=1)
    pending_sets: int = Field(1000, ge=0)
    # 1-in-N packet sampling of exporters that do not state theirs; 1 means not sampled.
    sampling_rate: int = Field(1, ge=1)


class FileSourceSettings(Section):
    path: str  # a file or a glob
    format: str = "auto"


class SftpSourceSettings(Section):
    """One server whose log files are pulled over SFTP on a schedule."""

    # observer.name of its events and the name in logs and job lists; the host when not set.
    name: str | None = None
    host: str
    port: int = Field(22, ge=1, le=65535)
    user: str
    key_file: Path | None = None
    # The name of an environment variable holding the password: soc.yaml never holds secrets.
    password_env: str | None = Field(None, validate_default=True)
    # Host keys are always verified; None reads ~/.ssh/known_hosts.
    known_hosts: Path | None = None
    files: list[str] = Field(min_length=1)  # remote paths or globs (*, ?, [..])
    format: str = "auto"
    every: Duration = timedelta(minutes=5)
    # For connecting and logging in, and for each SFTP request: a hung server cannot hang a pull.
    timeout: Duration = timedelta(seconds=30)

    @field_validator("password_env")
    @classmethod
    def _has_credentials(cls, value: str | None, info: Any) -> str | None:
        if not value and info.data.get("key_file") is None:
            raise ValueError("set key_file or password_env (the name of an environment "
                             "variable holding the password)")
        return value

    @field_validator("every", "timeout")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("must be longer than zero")
        return value

    @property
    def label(self) -> str:
        return self.name or self.host


class CaptureSettings(Section):
    interface: str
    bpf: str | None = None


class CollectorsSettings(Section):
    syslog: SyslogSettings = SyslogSettings()
    netflow: NetflowSettings = NetflowSettings()
    files: list[FileSourceSettings] = []
    sftp: list[SftpSourceSettings] = []
    capture: list[CaptureSettings] = []


class RulesSettings(Section):
    # Extra rule directories, loaded recursively (*.yml, *.yaml); the shipped rules always load.
    paths: list[Path] = []
    # Rule ids that are loaded (and validated) but never evaluated.
    disabled: list[str] = []
    # Values of the Sigma `expand` modifier's placeholders, e.g. {admins: [root, administrator]}.
    placeholders: dict[str, list[str]] = {}
    # Indicator files (text, one value per line, or CSV with a header) matched against events.
    indicators: list[Path] = []
    # Correlation windows kept open at once (groups × rules); the oldest is dropped beyond it.
    max_groups: int = Field(100_000, ge=100)


class IncidentsSettings(Section):
    class SlaTarget(Section):
        """How soon an incident of one severity must be acknowledged and resolved."""

        acknowledge: Duration
        resolve: Duration

    # Severities from lowest to highest; the SLA table has one entry for each.
    SEVERITIES: ClassVar[tuple[str, ...]] = ("informational", "low", "medium", "high",
                                             "critical")
    DEFAULT_SLA: ClassVar[dict[str, SlaTarget]] = {
        "critical": SlaTarget(acknowledge=timedelta(minutes=15), resolve=timedelta(hours=4)),
        "high": SlaTarget(acknowledge=timedelta(hours=1), resolve=timedelta(hours=8)),
        "medium": SlaTarget(acknowledge=timedelta(hours=4), resolve=timedelta(hours=24)),
        "low": SlaTarget(acknowledge=timedelta(hours=8), resolve=timedelta(hours=72)),
        "informational": SlaTarget(acknowledge=timedelta(hours=24), resolve=timedelta(days=7)),
    }

    # An alert joins the open incident of its rule and grouping key seen this recently.
    group_window: Duration = timedelta(hours=1)
    # Per severity; a severity left out keeps its default, so soc.yaml can name only changes.
    sla: dict[str, SlaTarget] = Field(default_factory=lambda: dict(IncidentsSettings.DEFAULT_SLA))
    # How often `soc serve` checks open incidents against their deadlines.
    sla_check_interval: Duration = timedelta(minutes=1)

    @field_validator("group_window")
    @classmethod
    def _positive_window(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("must be longer than zero")
        return value

    @field_validator("sla")
    @classmethod
    def _complete_sla(cls, value: dict[str, SlaTarget]) -> dict[str, SlaTarget]:
        unknown = sorted(set(value) - set(cls.SEVERITIES))
        if unknown:
            raise ValueError(f"unknown severity {unknown[0]!r} (expected one of "
                             f"{', '.join(cls.SEVERITIES)})")
        for level, target in value.items():
            if target.acknowledge <= timedelta(0) or target.resolve < target.acknowledge:
                raise ValueError(f"{level}: acknowledge must be longer than zero and no "
                                 f"longer than resolve")
        return {**cls.DEFAULT_SLA, **value}


class RegulationSettings(Section):
    profile: str = "vn-2026"


class ScanSettings(Section):
    name: str
    cron: str
    agencies: list[str] = []


class FeedSettings(Section):
    pass


class PipelineSettings(Section):
    # Records waiting for the pipeline in `soc serve`; beyond it TCP senders wait, UDP drops.
    max_queued: int = Field(100_000, ge=1000)
    # A batch in `soc serve` is stored at the latest this long after its first record came.
    flush_interval: Duration = timedelta(milliseconds=500)
    # How often tailed files are checked for new lines, and source counters saved.
    poll_interval: Duration = timedelta(seconds=1)
    # Small batches stay in the CPU cache while they are normalised; the store writer commits
    # the batches that queue up behind each other together, up to commit_size records.
    batch_size: int = Field(500, ge=1, le=100_000)
    commit_size: int = Field(20_000, ge=1, le=1_000_000)
    max_record_bytes: ByteSize = Field(ByteSize(1 << 20), ge=1024)
    # Clocks drift and appliances are misconfigured; past this, a timestamp is a defect, not news.
    max_future: Duration = timedelta(days=1)


class LogSettings(Section):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "text"] = "auto"


class Settings(Section):
    store: StoreSettings = StoreSettings()
    timezone: str = "Asia/Ho_Chi_Minh"
    inventory: Path = Path("inventory.yaml")
    api: ApiSettings = ApiSettings()
    collectors: CollectorsSettings = CollectorsSettings()
    rules: RulesSettings = RulesSettings()
    incidents: IncidentsSettings = IncidentsSettings()
    regulation: RegulationSettings = RegulationSettings()
    scans: list[ScanSettings] = []
    feed: FeedSettings = FeedSettings()
    pipeline: PipelineSettings = PipelineSettings()
    log: LogSettings = LogSettings()
    # Where relative paths are read from; not a key of soc.yaml.
    base_dir: Path = Field(default_factory=Path.cwd, exclude=True)
    config_file: Path | None = Field(default=None, exclude=True)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        load_zone(value)
        return value

    def zone(self) -> tzinfo:
        return load_zone(self.timezone)

    def resolve(self, path: Path | str) -> Path:
        """A configured path made absolute against the config file's directory."""
        path = Path(path).expanduser()
        return path if path.is_absolute() else self.base_dir / path

    def store_url(self) -> str:
        """store.url with a relative SQLite path made absolute (sqlite:///rel, sqlite:////abs)."""
        url = self.store.url
        prefix = "sqlite:///"
        if url.startswith(prefix) and not url.startswith(prefix + "/"):
            rest = url[len(prefix):]
            if rest != ":memory:":
                return prefix + str(self.resolve(rest))
        return url


def load_settings(path: Path | str | None = None,
                  env: Mapping[str, str] | None = None) -> Settings:
    """Settings from defaults, the YAML file and the environment; ConfigError on any problem."""
    env = os.environ if env is None else env
    document = _read_document(path, env)
    data: dict[str, Any] = {}
    if document is not None:
        if document.data is not None and not isinstance(document.data, dict):
            raise ConfigError(f"{document.path}: expected a mapping of sections at the top level")
        data = dict(document.data or {})
    env_locations = _apply_environment(data, env)
    base_dir = document.path.parent.resolve() if document else Path.cwd()
    try:
        return Settings.model_validate(
            {**data, "base_dir": base_dir, "config_file": document.path if document else None})
    except ValidationError as exc:
        raise ConfigError(_explain(exc, document, env_locations)) from None


def _read_document(path: Path | str | None, env: Mapping[str, str]) -> YamlDocument | None:
    chosen = path or env.get("SOC_CONFIG")
    if not chosen:
        default = Path("soc.yaml")
        if not default.exists():
            return None
        chosen = default
    chosen = Path(chosen)
    try:
        return load_yaml(chosen, "config file")
    except YamlFileError as exc:
        raise ConfigError(str(exc)) from None


def _apply_environment(data: dict[str, Any], env: Mapping[str, str]) -> dict[tuple, str]:
    """Overlay SOC_<SECTION>_<KEY> variables on the YAML data; returns location → variable name."""
    applied: dict[tuple, str] = {}
    for name, raw in sorted(env.items()):
        if not name.startswith(ENV_PREFIX) or name in NOT_SETTINGS:
            continue
        found = _locate(Settings, name[len(ENV_PREFIX):].lower())
        if found is None:
            continue
        location, annotation = found
        target = data
        for key in location[:-1]:
            existing = target.get(key)
            target[key] = dict(existing) if isinstance(existing, dict) else {}
            target = target[key]
        target[location[-1]] = raw if _is_text(annotation) else _yaml_scalar(raw)
        applied[location] = name
    return applied


def _locate(model: type[BaseModel], rest: str) -> tuple[tuple[str, ...], Any] | None:
    for field_name, field in model.model_fields.items():
        if field.exclude:
            continue
        if rest == field_name:
            return (field_name,), field.annotation
        nested = _model_of(field.annotation)
        if nested is not None and rest.startswith(field_name + "_"):
            found = _locate(nested, rest[len(field_name) + 1:])
            if found is not None:
                return (field_name, *found[0]), found[1]
    return None


def _model_of(annotation: Any) -> type[BaseModel] | None:
    candidates = get_args(annotation) if get_origin(annotation) in (Union, types.UnionType) else (
        annotation,)
    for candidate in candidates:
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _is_text(annotation: Any) -> bool:
    if get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    if get_origin(annotation) in (Union, types.UnionType):
        return str in get_args(annotation)
    return annotation is str


def _yaml_scalar(raw: str) -> Any:
    try:
        return yaml.safe_load(raw)
    except yaml.YAMLError:
        return raw


def _explain(exc: ValidationError, document: YamlDocument | None,
             env_locations: dict[tuple, str]) -> str:
    lines = []
    for error in exc.errors():
        location = tuple(error["loc"])
        key = describe_location(location)
        variable = next((v for loc, v in env_locations.items() if location[:len(loc)] == loc), None)
        if variable:
            where = f"environment variable {variable}"
        elif document is not None:
            where = document.where(location, at_key=error["type"] == "extra_forbidden")
        else:
            where = "defaults"
        if error["type"] == "extra_forbidden":
            message = f"unknown key {location[-1]!r}{_valid_keys(location[:-1])}"
        else:
            message = error["msg"].removeprefix("Value error, ")
        lines.append(f"{where}: {key}: {message}")
    return "\n".join(lines)


def _valid_keys(parent: tuple) -> str:
    model: type[BaseModel] | None = Settings
    for step in parent:
        if model is None or isinstance(step, int):
            continue
        field = model.model_fields.get(str(step))
        if field is None:
            return ""
        annotation = field.annotation
        if get_origin(annotation) is list:
            annotation = get_args(annotation)[0]
        model = _model_of(annotation)
    if model is None:
        return ""
    names = [n for n, f in model.model_fields.items() if not f.exclude]
    return f" (valid keys: {', '.join(names)})" if names else " (this section takes no keys yet)"
