"""`GET /api/v1/agencies` and `GET /api/v1/assets`: the inventory the events are tagged from.

The inventory is read once per app (`app.state.inventory`, loaded from the settings the first
time a route needs it unless the app was given one). Contacts are left out of the answers.
"""

from __future__ import annotations

import threading
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi import Query as Param

from api.auth import require
from soc.apikeys import Role
from soc.inventory import Agency, Inventory, open_inventory

router = APIRouter(prefix="/api/v1", tags=["inventory"],
                   dependencies=[Depends(require(Role.VIEWER))])

_loading = threading.Lock()


def inventory(request: Request) -> Inventory:
    """The app's inventory, loaded from its settings on first use."""
    state = request.app.state
    with _loading:
        loaded = getattr(state, "inventory", None)
        if loaded is None:
            loaded = state.inventory = open_inventory(state.settings)
    return loaded


Inv = Annotated[Inventory, Depends(inventory)]


@router.get("/agencies")
def list_agencies(inv: Inv,
                  tier: Annotated[str | None, Param(description="only this tier")] = None,
                  group: Annotated[str | None, Param(description="only this group")] = None,
                  ) -> dict[str, Any]:
    """Every agency (in the inventory's order): id, name, tier, group, parent, networks and
    the ids of its information systems."""
    items = [_agency(agency) for agency in inv.data.agencies
             if (tier is None or agency.tier == tier) and (group is None or agency.group == group)]
    return {"items": items, "next_cursor": None}


@router.get("/assets")
def list_assets(inv: Inv,
                agency: Annotated[str | None, Param(description="only this agency's")] = None,
                system: Annotated[str | None, Param(description="only this system's")] = None,
                ) -> dict[str, Any]:
    """Every asset with its agency, information system (and its security level), role,
    host names and addresses."""
    items = [{"name": asset.name, "agency": owner.id, "system": info.id,
              "system_name": info.name, "level": info.level, "role": asset.role,
              "hostnames": list(asset.hostnames),
              "addresses": [str(address) for address in asset.addresses]}
             for owner in inv.data.agencies if agency is None or owner.id == agency
             for info in owner.systems if system is None or info.id == system
             for asset in info.assets]
    return {"items": items, "next_cursor": None}


def _agency(agency: Agency) -> dict[str, Any]:
    return {"id": agency.id, "name": agency.name, "tier": agency.tier, "group": agency.group,
            "parent": agency.parent, "networks": [str(network) for network in agency.networks],
            "systems": [system.id for system in agency.systems]}
