"""The bench's baseline: the inventory service taking a hold the seed's way, lock then write.

`python -m bench.naive_inventory` serves the inventory service (settings from FLASHSALE_*, as
`python -m flashsale.services.inventory`) with one difference: an all-or-nothing hold reads the
stock rows with `SELECT ... FOR UPDATE`, decides in Python, then writes. Twice the statements of the
service's own conditional UPDATE, and the row lock held across the extra round trip: that is what
bench/holds.py measures the service's strategies against. It is correct (it never sells a unit
twice: tests/service/test_inventory_naive_strategy.py), only slower; it lives here, not in the
service, because nothing but the bench runs it.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from flashsale.kit.service import run_service
from flashsale.services.inventory.app import create_app
from flashsale.services.inventory.domain import Reservation
from flashsale.services.inventory.errors import OutOfStock
from flashsale.services.inventory.settings import InventorySettings
from flashsale.services.inventory.store.holds import CONDITIONAL, Levels, hold_all_txn
from flashsale.services.inventory.store.sql import lock_stock_txn, refusal_txn

MODULE = "bench.naive_inventory"


async def hold_locked_txn(conn: AsyncConnection, wanted: Reservation) -> Levels:
    """An all-or-nothing hold the seed's way: lock the stock rows (on SQLite the write transaction
    is already exclusive, and the clause is not rendered), decide in Python, then write."""
    locked = await lock_stock_txn(conn, (line.product_id for line in wanted.lines))
    for line in wanted.lines:
        found = locked.get(line.product_id)
        if found is None or found.level.available < line.quantity:
            raise await refusal_txn(conn, wanted, OutOfStock(line.product_id, line.quantity))
    # The rows are locked and every line fits: the moves below cannot be refused for stock, and
    # the limits are counted exactly as on the service's own path.
    return await hold_all_txn(conn, wanted)


def main() -> None:
    settings = InventorySettings(hold_strategy=CONDITIONAL)  # no coalescing: every hold takes the path above
    run_service(lambda: create_app(settings, hold_all=hold_locked_txn), settings)


if __name__ == "__main__":
    main()
