"""The inventory service: the only owner of stock. It grants short holds synchronously (a hold
is one short local transaction, or a 409), turns a confirmed order's hold into a permanent
deduction, gives units back when a hold is released, expires or its order is cancelled, and writes
off what the warehouse lost (revoking holds and deductions it can no longer honour).

Where things are:
- use cases: operations.py `Inventory` (reserve, release, expire, receive, adjust, purchase
  limits; confirm_order_txn / cancel_order_txn for the order service's events);
- rules, free of I/O: domain.py (stock levels, holds, write-off policy); errors.py (what can go
  wrong, in the domain's words; api.py maps each to its problem);
- SQL: store/ (sql.py the statements, holds.py taking stock, batched.py and whole_batch.py the
  coalesced holds of one hot product, limits.py, writeoff.py, tables.py);
- HTTP: api.py (docs/contract.md#inventory), hot_path.py (`POST /inventory/reserve` in front of
  FastAPI);
- events in: consumers.py (OrderConfirmed, OrderCancelled from the order service);
  events out: events.py (Stock*, Reservation*; stream INVENTORY);
- background: sweeper.py (expired holds), gauges.py (stock gauges);
- wiring: app.py; settings: settings.py.

Where a hold is granted: `POST /inventory/reserve` (hot_path.py) calls `Inventory.reserve`, which
takes stock one of three ways, each a unit of work of its own: `store/holds.py` `hold_all_txn` (all
or nothing, one conditional UPDATE per line), `hold_partial_txn` (as much of each line as there
is), or, for concurrent holds of one product, a coalesced batch (`store/batched.py`; on PostgreSQL
a batch in which every hold fits is ONE statement, `store/whole_batch.py`).
"""

from flashsale.kit.identity import ServiceIdentity

SERVICE = ServiceIdentity("inventory")
