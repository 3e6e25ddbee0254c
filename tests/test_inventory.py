"""soc/inventory.py: the example inventory, longest-prefix tagging, the policy of connections
between agencies, and consistency errors."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from soc.errors import InventoryError
from soc.inventory import Inventory, InventoryFile, load_inventory
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def example() -> Inventory:
    return load_inventory(ROOT / "inventory.yaml")


def test_example_province_shape(example: Inventory) -> None:
    tiers = [a.tier for a in example.data.agencies]
    assert len(example.agencies) == 28
    assert tiers.count("commune") == 12
    assert {a.group for a in example.data.agencies} == {
        "people-committee", "department", "central-agency", "ward", "commune"}
    roles = {asset.role for a in example.data.agencies for s in a.systems for asset in s.assets}
    assert {"public-service-portal", "one-stop-shop", "document-management", "mail",
            "data-integration", "firewall", "router"} <= roles


def test_longest_prefix_wins(example: Inventory) -> None:
    assert example.agency_for_ip("10.45.1.77").id == "000.00.02.H45"   # data centre /24
    assert example.agency_for_ip("10.45.200.9").id == "000.00.00.H45"  # province /16
    assert example.agency_for_ip("10.45.103.4").name == "Phường Nam Hà"
    assert example.agency_for_ip("8.8.8.8") is None
    assert example.agency_for_ip("not an ip") is None


def test_tag_by_host_name_then_addresses(example: Inventory) -> None:
    by_host = {"host.name": "DVC-WEB-01.sonha.gov.vn", "source.ip": "203.0.113.9"}
    example.tag(by_host)
    assert by_host["asset.name"] == "dvc-web-01"
    assert by_host["asset.role"] == "public-service-portal"
    assert by_host["asset.system.level"] == 3
    assert by_host["organization.id"] == "000.00.02.H45"

    by_address = {"source.ip": "203.0.113.9", "destination.ip": "10.45.1.50"}
    example.tag(by_address)
    assert (by_address["asset.name"], by_address["organization.id"]) == ("mail-01",
                                                                         "000.00.02.H45")

    by_network = {"source.ip": "10.45.105.20", "destination.ip": "203.0.113.9"}
    example.tag(by_network)
    assert by_network["organization.name"] == "Xã Tân Lập"
    assert "asset.name" not in by_network

    already = {"organization.id": "G01.00.00.H45", "source.ip": "10.45.105.20"}
    example.tag(already)
    assert already == {"organization.id": "G01.00.00.H45", "source.ip": "10.45.105.20"}


@pytest.mark.parametrize(("source", "destination", "direction", "ends", "inside"), [
    ("203.0.113.9", "10.45.1.50", "inbound", (None, "000.00.02.H45"), "000.00.02.H45"),
    ("10.45.105.20", "8.8.8.8", "outbound", ("000.01.05.H45", None), "000.01.05.H45"),
    ("10.45.105.20", "10.45.105.21", "internal", ("000.01.05.H45", "000.01.05.H45"),
     "000.01.05.H45"),
    ("10.45.105.20", "10.45.1.50", "between_agencies", ("000.01.05.H45", "000.00.02.H45"),
     "000.00.02.H45"),  # the data-centre mail server is an asset: its agency is the event's
    ("203.0.113.9", "8.8.8.8", "external", (None, None), None),
])
def test_both_ends_of_a_flow_are_tagged(example: Inventory, source: str, destination: str,
                                        direction: str, ends: tuple[str | None, str | None],
                                        inside: str | None) -> None:
    flow = {"source.ip": source, "destination.ip": destination}
    example.tag(flow)
    assert flow["network.direction"] == direction
    assert (flow.get("source.organization.id"), flow.get("destination.organization.id")) == ends
    assert flow.get("organization.id") == inside


def test_a_direction_the_source_gave_is_kept(example: Inventory) -> None:
    flow = {"source.ip": "203.0.113.9", "destination.ip": "10.45.1.50",
            "network.direction": "ingress"}
    example.tag(flow)
    assert flow["network.direction"] == "ingress"
    assert flow["destination.organization.id"] == "000.00.02.H45"
    assert "destination.organization.name" not in flow  # the inventory has it


def test_thousands_of_networks() -> None:
    agencies = []
    for i in range(4096):
        agencies.append({"id": f"000.{i // 100:02d}.{i % 100:02d}.H45", "name": f"A{i}",
                         "tier": "commune", "networks": [f"10.{i // 256}.{i % 256}.0/24",
                                                         f"fd00:{i:x}::/48"]})
    agencies.append({"id": "999.99.99.H45", "name": "WAN", "tier": "province",
                     "networks": ["10.0.0.0/8", "10.7.7.128/25"]})
    inventory = Inventory(InventoryFile.model_validate({
        "tiers": [{"id": "province", "name": "P"}, {"id": "commune", "name": "C"}],
        "agencies": agencies}))
    for i in (0, 1234, 4095):
        address = ipaddress.ip_address(f"10.{i // 256}.{i % 256}.77")
        assert inventory.agency_for_ip(str(address)).name == f"A{i}"
        assert inventory.agency_for_ip(f"fd00:{i:x}::1").name == f"A{i}"
    assert inventory.agency_for_ip("10.7.7.200").name == "WAN"
    assert inventory.agency_for_ip("10.200.0.1").name == "WAN"


def test_every_problem_named_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "inventory.yaml"
    path.write_text("""tiers:
  - {id: province, name: Province}
agencies:
  - id: 000.00.01.H45
    name: A
    tier: province
    parent: 000.00.09.H45
    networks: [10.1.0.0/16]
  - id: 000.00.01.H45
    name: B
    tier: district
    networks: [10.1.0.0/16]
  - id: bad-id
    name: C
    tier: province
    systems:
      - {id: s1, name: S, type: mail, level: 3, owner: 000.00.77.H45}
""", encoding="utf-8")
    with pytest.raises(InventoryError) as caught:
        load_inventory(path)
    assert str(caught.value).splitlines() == [
        f"{path}:9: agencies[1]: duplicate agency id '000.00.01.H45'",
        f"{path}:7: agencies[0].parent: unknown parent agency '000.00.09.H45'",
        f"{path}:11: agencies[1].tier: unknown tier 'district' (tiers: ['province'])",
        f"{path}:13: agencies[2].id: 'bad-id' does not match id_pattern "
        r"^[0-9A-Z]{3}\.[0-9A-Z]{2}\.[0-9A-Z]{2}\.[A-Z][0-9]{2}$",
        f"{path}:17: agencies[2].systems[0].owner: unknown agency '000.00.77.H45'",
        f"{path}:12: agencies[1].networks[0]: network 10.1.0.0/16 is already declared by "
        f"agency '000.00.01.H45'",
    ]


def test_schema_errors_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "inventory.yaml"
    path.write_text("tiers: []\nagencies:\n  - id: 000.00.01.H45\n    name: A\n"
                    "    tier: x\n    networks: [10.0.0.300/24]\n    colour: red\n",
                    encoding="utf-8")
    with pytest.raises(InventoryError) as caught:
        load_inventory(path)
    lines = str(caught.value).splitlines()
    assert lines[0] == (f"{path}:6: agencies[0].networks[0]: '10.0.0.300/24' is not a network "
                        f"in CIDR form ('10.0.0.300/24' does not appear to be an IPv4 or IPv6 "
                        f"network)")
    assert lines[-1] == f"{path}:7: agencies[0].colour: Extra inputs are not permitted"


def test_parent_cycle_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "inventory.yaml"
    path.write_text("tiers: [{id: t, name: T}]\nagencies:\n"
                    "  - {id: 000.00.01.H45, name: A, tier: t, parent: 000.00.02.H45}\n"
                    "  - {id: 000.00.02.H45, name: B, tier: t, parent: 000.00.01.H45}\n",
                    encoding="utf-8")
    with pytest.raises(InventoryError, match=r"parent chain of '000\.00\.01\.H45' loops"):
        load_inventory(path)


# Connections between agencies: network.policy.

POLICY_INVENTORY = """tiers: [{id: province, name: Province}, {id: commune, name: Commune}]
groups: [{id: department, name: Dept}, {id: ward, name: Ward}, {id: commune, name: Commune}]
agencies:
  - id: 000.00.01.H45
    name: A
    tier: province
    group: department
    networks: [10.1.0.0/16]
    systems:
      - {id: portal, name: Portal, type: public-service-portal, level: 3,
         assets: [{name: portal-01, role: public-service-portal, addresses: [10.1.0.10]}]}
      - {id: mail, name: Mail, type: mail, level: 3,
         assets: [{name: mail-01, role: mail, addresses: [10.1.0.25]}]}
  - {id: 000.00.02.H45, name: B, tier: province, group: department, networks: [10.2.0.0/16]}
  - {id: 000.01.01.H45, name: C, tier: commune, group: ward, networks: [10.3.0.0/16]}
  - {id: 000.01.02.H45, name: D, tier: commune, group: commune, networks: [10.4.0.0/16]}
  - {id: 000.01.03.H45, name: E, tier: commune, group: commune, networks: [10.5.0.0/16]}
connections:
  - {from: 000.00.02.H45, to: 000.00.01.H45, ports: [25, 587]}
  - {from_group: ward, to: 000.00.02.H45, ports: []}
  - {from_tier: commune, to_system: portal, ports: [443]}
  - {from: "*", to_system: mail, ports: [993], transport: tcp}
  - {from: 000.00.01.H45, to_group: commune, ports: [53], transport: udp}
  - {from: 000.00.01.H45, to_tier: commune, ports: [22]}
  - {from: 000.00.01.H45, to_tier: commune, ports: [22, 3389], transport: tcp}
"""


@pytest.fixture(scope="module")
def policies(tmp_path_factory: pytest.TempPathFactory) -> Inventory:
    path = tmp_path_factory.mktemp("policy") / "inventory.yaml"
    path.write_text(POLICY_INVENTORY, encoding="utf-8")
    return load_inventory(path)


@pytest.mark.parametrize(("source", "destination", "port", "transport", "policy"), [
    # an agency to another agency, on the entry's ports only, and in that direction only
    ("10.2.0.5", "10.1.7.7", 587, "tcp", "allowed"),
    ("10.2.0.5", "10.1.7.7", 25, None, "allowed"),
    ("10.2.0.5", "10.1.7.7", 443, "tcp", "denied"),
    ("10.1.7.7", "10.2.0.5", 25, "tcp", "denied"),
    # a group to an agency, any port (empty list), even with no port at all
    ("10.3.0.5", "10.2.0.5", 3389, "tcp", "allowed"),
    ("10.3.0.5", "10.2.0.5", None, "icmp", "allowed"),
    ("10.4.0.5", "10.2.0.5", 3389, "tcp", "denied"),  # group commune, not ward: no entry
    # a tier to a system: the system's asset addresses, not the rest of its agency's network
    ("10.4.0.5", "10.1.0.10", 443, "tcp", "allowed"),
    ("10.3.0.5", "10.1.0.10", "443", "tcp", "allowed"),  # a port sent as text
    ("10.4.0.5", "10.1.0.11", 443, "tcp", "denied"),
    ("10.4.0.5", "10.1.0.10", 80, "tcp", "denied"),
    # "*" to a system, with a transport
    ("10.5.0.5", "10.1.0.25", 993, "tcp", "allowed"),
    ("10.2.0.5", "10.1.0.25", 993, "TCP", "allowed"),
    ("10.5.0.5", "10.1.0.25", 993, "udp", "denied"),
    ("10.5.0.5", "10.1.0.25", 993, None, "denied"),
    # an agency to a group and to a tier; entries for the same pair add up
    ("10.1.7.7", "10.4.0.5", 53, "udp", "allowed"),
    ("10.1.7.7", "10.3.0.5", 53, "udp", "denied"),  # ward, not commune
    ("10.1.7.7", "10.3.0.5", 22, "udp", "allowed"),
    ("10.1.7.7", "10.5.0.5", 3389, "tcp", "allowed"),
    ("10.1.7.7", "10.5.0.5", 3389, "udp", "denied"),
    # no entry at all between two communes
    ("10.4.0.5", "10.5.0.5", 445, "tcp", "denied"),
    ("10.4.0.5", "10.5.0.5", None, None, "denied"),
])
def test_policy_of_connections_between_agencies(policies: Inventory, source: str,
                                                destination: str, port: int | str | None,
                                                transport: str | None, policy: str) -> None:
    flow: dict[str, object] = {"source.ip": source, "destination.ip": destination}
    if port is not None:
        flow["destination.port"] = port
    if transport is not None:
        flow["network.transport"] = transport
    policies.tag(flow)
    assert flow["network.direction"] == "between_agencies"
    assert flow["network.policy"] == policy
    policies.tag(flow)  # tagged again (e.g. replayed): the same verdict, from the cache
    assert flow["network.policy"] == policy


@pytest.mark.parametrize(("source", "destination", "direction"), [
    ("10.4.0.5", "10.4.0.6", "internal"),
    ("203.0.113.9", "10.1.0.10", "inbound"),
    ("10.4.0.5", "8.8.8.8", "outbound"),
    ("203.0.113.9", "8.8.8.8", "external"),
])
def test_no_policy_unless_between_agencies(policies: Inventory, source: str, destination: str,
                                           direction: str) -> None:
    flow = {"source.ip": source, "destination.ip": destination, "destination.port": 443}
    policies.tag(flow)
    assert flow["network.direction"] == direction
    assert "network.policy" not in flow


def test_no_policy_when_the_source_gave_the_direction(policies: Inventory) -> None:
    flow = {"source.ip": "10.4.0.5", "destination.ip": "10.5.0.5", "destination.port": 445,
            "network.direction": "egress"}
    policies.tag(flow)
    assert flow["network.direction"] == "egress"
    assert "network.policy" not in flow


def test_no_connections_means_every_connection_between_agencies_is_denied() -> None:
    inventory = Inventory(InventoryFile.model_validate({
        "tiers": [{"id": "t", "name": "T"}],
        "agencies": [{"id": f"000.00.0{i}.H45", "name": f"A{i}", "tier": "t",
                      "networks": [f"10.{i}.0.0/16"]} for i in (1, 2)]}))
    flow = {"source.ip": "10.1.0.1", "destination.ip": "10.2.0.1", "destination.port": 443}
    inventory.tag(flow)
    assert flow["network.policy"] == "denied"


def test_from_every_agency_to_every_agency_is_one_entry_per_agency() -> None:
    agencies = [{"id": f"000.{i // 100:02d}.{i % 100:02d}.H45", "name": f"A{i}", "tier": "t",
                 "networks": [f"10.{i // 256}.{i % 256}.0/24"]} for i in range(4096)]
    inventory = Inventory(InventoryFile.model_validate({
        "tiers": [{"id": "t", "name": "T"}], "agencies": agencies,
        "connections": [{"from": "*", "to": "*", "ports": [123], "transport": "udp"}]}))
    assert sum(len(reach) for reach in inventory._reach.values()) == 4096
    flow = {"source.ip": "10.0.1.1", "destination.ip": "10.15.255.1", "destination.port": 123,
            "network.transport": "udp"}
    inventory.tag(flow)
    assert (flow["source.organization.id"], flow["network.policy"]) == ("000.00.01.H45",
                                                                        "allowed")


@pytest.mark.parametrize(("source", "destination", "port", "policy"), [
    ("10.45.105.20", "10.45.106.30", 445, "denied"),    # commune to another commune: SMB
    ("10.45.105.20", "10.45.1.10", 443, "allowed"),     # commune to the public service portal
    ("10.45.105.20", "10.45.1.10", 22, "denied"),       # … but not its SSH
    ("10.45.101.20", "10.45.1.60", 443, "allowed"),     # ward to the data-integration platform
    ("10.45.41.20", "10.45.1.60", 443, "denied"),       # central agency: not to that platform
    ("10.45.16.20", "10.45.1.50", 587, "allowed"),      # department to official e-mail
    ("10.45.10.20", "10.45.43.25", 25, "allowed"),      # People's Committee office to any mail
    ("10.45.12.20", "10.45.43.25", 25, "denied"),       # … a department may not
])
def test_example_connections(example: Inventory, source: str, destination: str, port: int,
                             policy: str) -> None:
    flow = {"source.ip": source, "destination.ip": destination, "destination.port": port,
            "network.transport": "tcp"}
    example.tag(flow)
    assert (flow["network.direction"], flow["network.policy"]) == ("between_agencies", policy)


def test_connection_references_are_checked(tmp_path: Path) -> None:
    path = tmp_path / "inventory.yaml"
    path.write_text("""tiers: [{id: province, name: P}]
groups: [{id: department, name: D}]
agencies:
  - {id: 000.00.01.H45, name: A, tier: province, group: department,
     systems: [{id: portal, name: Portal, type: public-service-portal, level: 3}]}
connections:
  - {from: 000.00.09.H45, to: 000.00.01.H45, ports: [25]}
  - {from_group: departments, to_system: portl, ports: [443]}
  - {from_tier: commune, to_group: ward}
  - {from: "*", to: 000.00.77.H45}
  - {from: 000.00.01.H45, to: 000.00.01.H45}
""", encoding="utf-8")
    with pytest.raises(InventoryError) as caught:
        load_inventory(path)
    assert str(caught.value).splitlines() == [
        f"{path}:7: connections[0].from: unknown agency '000.00.09.H45'",
        f"{path}:8: connections[1].from_group: unknown group 'departments' "
        f"(groups: ['department'])",
        f"{path}:8: connections[1].to_system: unknown system 'portl' (systems: ['portal'])",
        f"{path}:9: connections[2].from_tier: unknown tier 'commune' (tiers: ['province'])",
        f"{path}:9: connections[2].to_group: unknown group 'ward' (groups: ['department'])",
        f"{path}:10: connections[3].to: unknown agency '000.00.77.H45'",
        f"{path}:11: connections[4].to: from and to are the same agency '000.00.01.H45': "
        f"traffic inside one agency is internal, never between agencies",
    ]


def test_connection_shape_is_checked(tmp_path: Path) -> None:
    path = tmp_path / "inventory.yaml"
    path.write_text("""tiers: []
agencies: []
connections:
  - {to: 000.00.01.H45, ports: [25]}
  - {from: "*", to: "*", to_system: mail}
  - {from: "*", to: "*", ports: [0, https]}
  - {from: "*", to: "*", transport: t c p}
  - {form: "*", to: "*"}
""", encoding="utf-8")
    with pytest.raises(InventoryError) as caught:
        load_inventory(path)
    assert str(caught.value).splitlines() == [
        f"{path}:4: connections[0]: a connection names its source with exactly one of from, "
        f"from_group, from_tier (got none)",
        f"{path}:5: connections[1]: a connection names its destination with exactly one of to, "
        f"to_group, to_tier, to_system (got to, to_system)",
        f"{path}:6: connections[2].ports[0]: Input should be greater than or equal to 1",
        f"{path}:6: connections[2].ports[1]: Input should be a valid integer",
        f"{path}:7: connections[3].transport: String should match pattern "
        f"'^[a-z0-9][a-z0-9.+-]*$'",
        f"{path}:8: connections[4].form: Extra inputs are not permitted",
    ]
