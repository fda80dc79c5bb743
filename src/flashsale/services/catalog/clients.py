"""The catalog's one call out: the inventory's stock listing, walked by reconciliation only.

Product pages never call the inventory (they read the availability read model); only a
reconciliation round does, in pages, to compare and repair. Anything but a 200 is
DependencyUnavailable (503 on the on-demand endpoint), never a stray 500.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from flashsale.kit.clock import ms_from_iso
from flashsale.kit.errors import DependencyUnavailable
from flashsale.kit.http import ServiceClient


@dataclass(frozen=True)
class StockPage:
    """One page of the inventory's stock: `available` per product id, in product id order.

    `as_of_ms` is when the inventory read it; `unpublished_since_ms` the creation time of the
    oldest event the inventory had not yet marked published when it answered (None: none at all;
    a relay marks what it published within a second, kit/outbox.py, so this errs on the side of
    "not yet")."""

    available: dict[str, int]
    next: str | None
    as_of_ms: int | None
    unpublished_since_ms: int | None

    def published_everything_before(self, moment_ms: int) -> bool:
        """Whether every event the inventory created before `moment_ms` was out on the broker
        when this page was read (strictly later: an event of the same millisecond may not be)."""
        return self.unpublished_since_ms is None or self.unpublished_since_ms > moment_ms


class InventoryStock:
    def __init__(self, client: ServiceClient, admin_token: str) -> None:
        self.client = client
        self.admin = {"Authorization": f"Bearer {admin_token}"}

    async def page(self, after: str | None, limit: int) -> StockPage:
        query = urlencode({"limit": limit, **({"after": after} if after is not None else {})})
        response = await self.client.request("GET", f"/inventory?{query}", headers=self.admin)
        if response.status_code != 200:
            raise DependencyUnavailable(self.client.name, f"stock listing answered {response.status_code}")
        body = response.json()
        return StockPage(
            available={str(p["productId"]): int(p["available"]) for p in body["products"]},
            next=body.get("next"),
            as_of_ms=_ms(body.get("asOf")),
            unpublished_since_ms=_ms(body.get("unpublishedSince")),
        )

    async def close(self) -> None:
        await self.client.close()


def _ms(value: Any) -> int | None:
    return None if value is None else ms_from_iso(str(value))
