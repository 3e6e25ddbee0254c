"""The inventory: agencies, their networks, information systems and assets, the connections
between agencies that are allowed, and event tagging.

Tiers and groups are data from `inventory.yaml`: since the 2025 reform a province runs on two
tiers (province, commune/ward), and nothing here assumes any chain of levels.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    StringConstraints,
    ValidationError,
    model_validator,
)

from soc.errors import InventoryError
from soc.yamlfile import YamlFileError, describe_location, load_yaml

if TYPE_CHECKING:
    from soc.config import Settings

log = logging.getLogger(__name__)


def _network(value: Any) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        return ipaddress.ip_network(str(value))
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a network in CIDR form ({exc})") from None


def _address(value: Any) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    try:
        return ipaddress.ip_address(str(value))
    except ValueError:
        raise ValueError(f"{value!r} is not an IP address") from None


# Plain validators rather than pydantic's IP unions, whose errors name every union member.
Network = Annotated[ipaddress.IPv4Network | ipaddress.IPv6Network, PlainValidator(_network)]
IpAddress = Annotated[ipaddress.IPv4Address | ipaddress.IPv6Address, PlainValidator(_address)]

# Electronic identifiers of agencies in the national document-exchange format (e.g. 000.00.12.H45).
DEFAULT_ID_PATTERN = r"^[0-9A-Z]{3}\.[0-9A-Z]{2}\.[0-9A-Z]{2}\.[A-Z][0-9]{2}$"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Contact(_Model):
    name: str | None = None
    email: str | None = None
    phone: str | None = None


class Asset(_Model):
    name: str
    role: str
    hostnames: list[str] = []
    addresses: list[IpAddress] = []


class InformationSystem(_Model):
    id: str
    name: str
    type: str
    level: int = Field(ge=1, le=5, description="approved security level 1–5")
    owner: str | None = None
    operator: str | None = None
    assets: list[Asset] = []


class Agency(_Model):
    id: str
    name: str
    tier: str
    group: str | None = None
    parent: str | None = None
    contact: Contact | None = None
    networks: list[Network] = []
    systems: list[InformationSystem] = []


class Term(_Model):
    id: str
    name: str


# Strict: YAML gives ports as integers, and a lax int would take `true` for port 1.
Port = Annotated[int, Field(strict=True, ge=1, le=65535)]
# ECS network.transport is the IANA protocol keyword in lower case (tcp, udp, icmp, sctp, …).
Transport = Annotated[str, StringConstraints(strip_whitespace=True, to_lower=True,
                                             pattern=r"^[a-z0-9][a-z0-9.+-]*$")]

ANY = "*"
# Pairs of agencies (and destination systems) whose merged connection rules are kept.
PAIR_CACHE_SIZE = 65536
SOURCE_KEYS = ("from", "from_group", "from_tier")
DESTINATION_KEYS = ("to", "to_group", "to_tier", "to_system")
# The ports a connection allows: destination port (None: any port) → transports (None: any).
PortRule = dict[int | None, frozenset[str] | None]


class Connection(_Model):
    """One kind of connection between agencies that is allowed: from whom (exactly one of
    from, from_group, from_tier), to what (exactly one of to, to_group, to_tier, to_system),
    on which destination ports (none: any) and transport (none: any)."""

    from_: str | None = Field(None, alias="from")
    from_group: str | None = None
    from_tier: str | None = None
    to: str | None = None
    to_group: str | None = None
    to_tier: str | None = None
    to_system: str | None = None
    ports: list[Port] = []
    transport: Transport | None = None
    description: str | None = None

    @model_validator(mode="after")
    def _one_selector_each_side(self) -> Connection:
        for side, keys in (("source", SOURCE_KEYS), ("destination", DESTINATION_KEYS)):
            given = [key for key in keys if self.selector(key) is not None]
            if len(given) != 1:
                names = ", ".join(keys)
                found = f"got {', '.join(given)}" if given else "got none"
                raise ValueError(f"a connection names its {side} with exactly one of "
                                 f"{names} ({found})")
        return self

    def selector(self, key: str) -> str | None:
        """The value of `from`, `to_system`, … by its name in the file."""
        return self.from_ if key == "from" else getattr(self, key)

    def side(self, keys: tuple[str, ...]) -> tuple[str, str]:
        """(key, value) of the one selector given among `keys`."""
        return next((key, value) for key in keys
                    if (value := self.selector(key)) is not None)


class InventoryFile(_Model):
    province: Term | None = None
    id_pattern: str = DEFAULT_ID_PATTERN
    tiers: list[Term] = []
    groups: list[Term] = []
    agencies: list[Agency] = []
    connections: list[Connection] = []


@dataclass(frozen=True, slots=True)
class AssetRef:
    agency: Agency
    system: InformationSystem
    asset: Asset


class Inventory:
    """Lookups from addresses and host names to agencies and assets; tags events in place."""

    def __init__(self, data: InventoryFile) -> None:
        self.data = data
        self.agencies = {agency.id: agency for agency in data.agencies}
        self._assets_by_address: dict[str, AssetRef] = {}
        self._assets_by_host: dict[str, AssetRef] = {}
        self._networks: dict[int, dict[int, dict[int, Agency]]] = {4: {}, 6: {}}
        for agency in data.agencies:
            for network in agency.networks:
                by_length = self._networks[network.version].setdefault(network.prefixlen, {})
                by_length[int(network.network_address)] = agency
            for system in agency.systems:
                for asset in system.assets:
                    ref = AssetRef(agency, system, asset)
                    for address in asset.addresses:
                        self._assets_by_address[str(address)] = ref
                    for host in (asset.name, *asset.hostnames):
                        self._assets_by_host.setdefault(host.lower(), ref)
        # Longest prefix first: the most specific network wins.
        self._lengths = {v: sorted(t, reverse=True) for v, t in self._networks.items()}
        self.agency_for_ip = lru_cache(maxsize=65536)(self._agency_for_ip)
        self._index_connections(data)

    def _index_connections(self, data: InventoryFile) -> None:
        """Precompute the allowed connections so that judging a flow is a few dict lookups.

        Sources are expanded to agency ids here; destinations keep their selector and a flow
        looks itself up under each key its destination answers to (agency, group, tier, "*",
        and the system of the asset it reaches). Expanding both sides would make one
        `from: "*", to: "*"` entry cost a table entry per pair of agencies.
        """
        self._reach: dict[str, dict[str, PortRule]] = {}
        self._destination_keys = {a.id: _destination_keys(a) for a in data.agencies}
        self._system_keys = {address: f"system:{ref.system.id}"
                             for address, ref in self._assets_by_address.items()}
        every = [a.id for a in data.agencies]
        for connection in data.connections:
            kind, value = connection.side(SOURCE_KEYS)
            if kind == "from":
                sources = every if value == ANY else [value]
            else:
                attribute = "group" if kind == "from_group" else "tier"
                sources = [a.id for a in data.agencies if getattr(a, attribute) == value]
            key = _destination_key(*connection.side(DESTINATION_KEYS))
            transports = None if connection.transport is None else frozenset(
                {connection.transport})
            ports: PortRule = {port: transports for port in connection.ports} or {
                None: transports}
            for source in sources:
                _merge(self._reach.setdefault(source, {}).setdefault(key, {}), ports)
        self._pair_rules: dict[tuple[str, str, str | None], PortRule] = {}

    @classmethod
    def empty(cls) -> Inventory:
        return cls(InventoryFile())

    def _agency_for_ip(self, text: str) -> Agency | None:
        # inet_pton, not ipaddress: five times faster, and outside addresses (each one new to
        # the cache) reach this for every flow that crosses the province's border.
        try:
            packed, version = socket.inet_pton(socket.AF_INET, text), 4
        except OSError:
            try:
                packed, version = socket.inet_pton(socket.AF_INET6, text.partition("%")[0]), 6
            except OSError:
                return None
        value, bits = int.from_bytes(packed, "big"), len(packed) * 8
        tables = self._networks[version]
        for length in self._lengths[version]:
            agency = tables[length].get(value >> (bits - length) << (bits - length))
            if agency is not None:
                return agency
        return None

    def asset_for_host(self, name: str) -> AssetRef | None:
        name = name.lower()
        return self._assets_by_host.get(name) or self._assets_by_host.get(name.split(".", 1)[0])

    def asset_for_ip(self, text: str) -> AssetRef | None:
        return self._assets_by_address.get(text)

    def tag(self, event: dict[str, Any]) -> None:
        """Tag an event with the agency and asset it belongs to, and each end of a connection
        with its agency.

        asset.* and organization.* come from the host name, else from the first of host.ip,
        source.ip and destination.ip that the inventory knows: for a flow, that is its inside
        end. source.organization.id and destination.organization.id name each end's agency,
        and network.direction says how the connection crosses the province's networks; for a
        connection between agencies, network.policy says whether `connections:` allows it.
        """
        ref = None
        host = event.get("host.name")
        if host.__class__ is str:
            ref = self.asset_for_host(host)
        addresses = _addresses(event)
        for address in addresses if ref is None else ():
            ref = self.asset_for_ip(address)
            if ref is not None:
                break
        if ref is not None:
            event["asset.name"] = ref.asset.name
            event["asset.role"] = ref.asset.role
            event["asset.system.id"] = ref.system.id
            event["asset.system.name"] = ref.system.name
            event["asset.system.level"] = ref.system.level
        ends = self._tag_ends(event)
        if "organization.id" in event:
            return
        agency = ref.agency if ref else None
        for address in addresses if agency is None else ():
            agency = ends[address] if address in ends else self.agency_for_ip(address)
            if agency is not None:
                break
        if agency is not None:
            event["organization.id"] = agency.id
            event["organization.name"] = agency.name

    def _tag_ends(self, event: dict[str, Any]) -> dict[str, Agency | None]:
        """source/destination.organization.id and network.direction; the agencies found, by
        address."""
        source, destination = event.get("source.ip"), event.get("destination.ip")
        if source.__class__ is not str or destination.__class__ is not str:
            return {}
        inside = self.agency_for_ip(source), self.agency_for_ip(destination)
        # Ids only at the ends: the names are the inventory's (the event's own agency keeps its
        # name in organization.name), and two more names per flow made events a fifth larger.
        if inside[0] is not None:
            event["source.organization.id"] = inside[0].id
        if inside[1] is not None:
            event["destination.organization.id"] = inside[1].id
        if "network.direction" not in event:
            direction = event["network.direction"] = _direction(*inside)
            if direction == "between_agencies":
                # Always the inventory's verdict, even over a value the source sent: rules
                # that look for connections the inventory does not allow depend on it.
                event["network.policy"] = self.policy(inside[0], inside[1], event)
        return {source: inside[0], destination: inside[1]}

    def policy(self, source: Agency, destination: Agency, event: dict[str, Any]) -> str:
        """"allowed" when some entry of `connections:` lets the source agency reach the
        destination (its agency, group, tier, or the system of the asset at destination.ip) on
        destination.port and network.transport; "denied" otherwise."""
        system = self._system_keys.get(event.get("destination.ip"))
        pair = (source.id, destination.id, system)
        rule = self._pair_rules.get(pair)
        if rule is None:
            rule = self._pair_rule(pair)
        if not rule:
            return "denied"
        port = event.get("destination.port")
        if port.__class__ is not int:
            # JSON sources may send the port as text; anything else matches only entries
            # that allow every port.
            try:
                port = int(port) if port.__class__ is str else None
            except ValueError:
                port = None
        # The entries for this port, then those for any port. False: none; None: any transport.
        for transports in (rule.get(port, False), rule.get(None, False)):
            if transports is None or (transports and _transport(event) in transports):
                return "allowed"
        return "denied"

    def _pair_rule(self, pair: tuple[str, str, str | None]) -> PortRule:
        """Every port the entries allow from one agency to another (and to one system in it),
        merged once and kept: flows repeat the same few pairs, so most cost one lookup."""
        source, destination, system = pair
        reach = self._reach.get(source, {})
        merged: PortRule = {}
        for key in (*self._destination_keys[destination], system):
            if key in reach:
                _merge(merged, reach[key])
        if len(self._pair_rules) >= PAIR_CACHE_SIZE:
            self._pair_rules.clear()  # bounded; refilling costs a few lookups per pair
        self._pair_rules[pair] = merged
        return merged


def _direction(source: Agency | None, destination: Agency | None) -> str:
    """ECS network.direction from the agencies of the two ends (None: outside the province);
    `between_agencies` is ours: ECS has no value for traffic from one agency to another."""
    if source is None:
        return "external" if destination is None else "inbound"
    if destination is None:
        return "outbound"
    return "internal" if source is destination else "between_agencies"


def _destination_key(kind: str, value: str) -> str:
    """The key under which an entry's destination selector is indexed; prefixed, because a
    group, a tier and a system may share a name."""
    if kind == "to":
        return ANY if value == ANY else f"agency:{value}"
    return f"{kind.removeprefix('to_')}:{value}"


def _destination_keys(agency: Agency) -> tuple[str, ...]:
    """Every key a connection entry can name this agency by, as a destination."""
    keys = [f"agency:{agency.id}", f"tier:{agency.tier}", ANY]
    if agency.group is not None:
        keys.insert(1, f"group:{agency.group}")
    return tuple(keys)


def _merge(rule: PortRule, ports: PortRule) -> None:
    """Add the ports of `ports` to `rule`, in place."""
    for port, transports in ports.items():
        if port not in rule:
            rule[port] = transports
        else:
            known = rule[port]
            rule[port] = None if known is None or transports is None else known | transports


def _transport(event: dict[str, Any]) -> str | None:
    """network.transport in lower case, as ECS and the entries spell it; read only when an
    entry asks for a transport."""
    transport = event.get("network.transport")
    return transport.lower() if transport.__class__ is str else None


def _addresses(event: dict[str, Any]) -> list[str]:
    """host.ip, then source.ip and destination.ip: the addresses that place an event."""
    found = [ip for ip in event.get("host.ip") or () if ip.__class__ is str]
    for name in ("source.ip", "destination.ip"):
        value = event.get(name)
        if value.__class__ is str:
            found.append(value)
    return found


DEFAULT_INVENTORY = "inventory.yaml"


def open_inventory(settings: Settings) -> Inventory:
    """The configured inventory; with none configured and no ./inventory.yaml, an empty one."""
    path = settings.resolve(settings.inventory)
    if not path.exists() and str(settings.inventory) == DEFAULT_INVENTORY:
        log.warning("no inventory file: events will not be tagged with agencies",
                    extra={"path": str(path)})
        return Inventory.empty()
    return load_inventory(path)


def load_inventory(path: Path) -> Inventory:
    """Load and check inventory.yaml; InventoryError lists every problem with its file and line."""
    try:
        document = load_yaml(path, "inventory file")
    except YamlFileError as exc:
        raise InventoryError(str(exc)) from None
    try:
        data = InventoryFile.model_validate(document.data or {})
    except ValidationError as exc:
        problems = [f"{document.where(e['loc'])}: {describe_location(e['loc'])}: "
                    f"{e['msg'].removeprefix('Value error, ')}" for e in exc.errors()]
        raise InventoryError("\n".join(problems)) from None
    problems = [f"{document.where(loc)}: {describe_location(loc)}: {message}"
                for loc, message in _consistency_problems(data)]
    if problems:
        raise InventoryError("\n".join(problems))
    return Inventory(data)


def _consistency_problems(data: InventoryFile) -> Iterable[tuple[tuple, str]]:
    try:
        id_pattern = re.compile(data.id_pattern)
    except re.error as exc:
        yield ("id_pattern",), f"not a valid regular expression: {exc}"
        id_pattern = re.compile(DEFAULT_ID_PATTERN)
    agency_ids = {a.id for a in data.agencies}
    yield from _duplicates(("agencies",), [a.id for a in data.agencies], "agency id")
    yield from _agency_problems(data, agency_ids, id_pattern)
    yield from _network_problems(data)
    yield from _asset_problems(data)
    yield from _connection_problems(data, agency_ids)


def _duplicates(location: tuple, values: list[str], what: str) -> Iterable[tuple[tuple, str]]:
    seen: set[str] = set()
    for index, value in enumerate(values):
        if value in seen:
            yield (*location, index), f"duplicate {what} {value!r}"
        seen.add(value)


def _agency_problems(data: InventoryFile, agency_ids: set[str],
                     id_pattern: re.Pattern) -> Iterable[tuple[tuple, str]]:
    tiers = {t.id for t in data.tiers}
    groups = {g.id for g in data.groups}
    parents = {a.id: a.parent for a in data.agencies}
    for index, agency in enumerate(data.agencies):
        here = ("agencies", index)
        if not id_pattern.match(agency.id):
            yield (*here, "id"), f"{agency.id!r} does not match id_pattern {data.id_pattern}"
        if agency.tier not in tiers:
            yield (*here, "tier"), f"unknown tier {agency.tier!r} (tiers: {sorted(tiers)})"
        if agency.group is not None and agency.group not in groups:
            yield (*here, "group"), f"unknown group {agency.group!r} (groups: {sorted(groups)})"
        if agency.parent is not None and agency.parent not in agency_ids:
            yield (*here, "parent"), f"unknown parent agency {agency.parent!r}"
        elif _has_cycle(agency.id, parents):
            yield (*here, "parent"), f"parent chain of {agency.id!r} loops back to itself"
        for s_index, system in enumerate(agency.systems):
            for role in ("owner", "operator"):
                value = getattr(system, role)
                if value is not None and value not in agency_ids:
                    yield (*here, "systems", s_index, role), f"unknown agency {value!r}"


def _has_cycle(start: str, parents: dict[str, str | None]) -> bool:
    seen = {start}
    current = parents.get(start)
    while current is not None:
        if current in seen:
            return True
        seen.add(current)
        current = parents.get(current)
    return False


def _network_problems(data: InventoryFile) -> Iterable[tuple[tuple, str]]:
    owners: dict[Network, int] = {}
    for index, agency in enumerate(data.agencies):
        for n_index, network in enumerate(agency.networks):
            owner = owners.setdefault(network, index)
            if owner != index:
                yield ("agencies", index, "networks", n_index), (
                    f"network {network} is already declared by agency "
                    f"{data.agencies[owner].id!r}")


def _asset_problems(data: InventoryFile) -> Iterable[tuple[tuple, str]]:
    addresses: dict[IpAddress, str] = {}
    system_ids: set[str] = set()
    for index, agency in enumerate(data.agencies):
        for s_index, system in enumerate(agency.systems):
            here = ("agencies", index, "systems", s_index)
            if system.id in system_ids:
                yield (*here, "id"), f"duplicate system id {system.id!r}"
            system_ids.add(system.id)
            for a_index, asset in enumerate(system.assets):
                for ip_index, address in enumerate(asset.addresses):
                    owner = addresses.setdefault(address, asset.name)
                    if owner != asset.name:
                        yield (*here, "assets", a_index, "addresses", ip_index), (
                            f"address {address} already belongs to asset {owner!r}")


def _connection_problems(data: InventoryFile,
                         agency_ids: set[str]) -> Iterable[tuple[tuple, str]]:
    """Every agency, group, tier and system a `connections:` entry names must exist: a typo
    would otherwise allow nothing and mark legitimate traffic denied."""
    known = {
        "agency": agency_ids,
        "group": {g.id for g in data.groups},
        "tier": {t.id for t in data.tiers},
        "system": {s.id for a in data.agencies for s in a.systems},
    }
    for index, connection in enumerate(data.connections):
        here = ("connections", index)
        for key in (*SOURCE_KEYS, *DESTINATION_KEYS):
            value = connection.selector(key)
            if value is None or (key in ("from", "to") and value == ANY):
                continue
            what = key.partition("_")[2] or "agency"
            if value not in known[what]:
                listed = "" if what == "agency" else f" ({what}s: {sorted(known[what])})"
                yield (*here, key), f"unknown {what} {value!r}{listed}"
        if connection.from_ not in (None, ANY) and connection.from_ == connection.to:
            yield (*here, "to"), (f"from and to are the same agency {connection.to!r}: traffic "
                                  f"inside one agency is internal, never between agencies")
