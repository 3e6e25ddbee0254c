"""soc/inventory.py: the example inventory, longest-prefix tagging, and consistency errors."""

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
