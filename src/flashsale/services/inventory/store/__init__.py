"""The inventory's store: the only code that touches its tables (`tables.py`).

The statements live in `sql.py` (stock moves, reservations), `holds.py` (taking stock),
`batched.py` and `whole_batch.py` (coalesced holds: a batch of one product's holds per
transaction), `limits.py` (purchase limits) and `writeoff.py` (revocations), each inside the
caller's unit of work; the use cases that open those units are operations.py's `Inventory`.
"""

from __future__ import annotations

from flashsale.services.inventory.store.sql import ProductStock
from flashsale.services.inventory.store.tables import metadata

__all__ = ["ProductStock", "metadata"]
