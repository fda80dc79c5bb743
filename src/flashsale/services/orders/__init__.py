"""The order service: places an order only with a hold from the inventory, takes its payment, and
runs each paid order's checkout saga (deduction, capture, shipment; compensations when a step
fails) to COMPLETED or CANCELLED. Several instances share one database.

Where things are:
- use cases: operations.py `Checkout` (place, pay, cancel: what the buyer asks); saga.py
  `CheckoutSaga` (the saga's steps against the other services; an order becomes COMPLETED in
  `_complete_order`, with the shipment step's outcome); saga_worker.py (runs the sagas that are due);
  reconcile.py (the contact copy);
- rules, free of I/O: domain.py (the order state machine), saga_plan.py (which step comes next),
  pricing.py (where a line's name and price come from); errors.py (what the service refuses;
  api.py maps each to its problem);
- SQL: store/ (orders.py, sagas.py, contacts.py, jobs.py, tables.py);
- HTTP: api.py (docs/contract.md#orders), hot_routes.py (the buyers' reads of an order, in front of
  the app: kit.front_routes); clients.py (its calls to inventory, payments,
  shipping, catalog and customers);
- events in: consumers.py (the inventory's reservation facts; CustomerUpdated);
  events out: OrderCreated, OrderConfirmed, OrderCancelled, OrderCompleted (stream ORDERS),
  written with the order's change (store/orders.py);
- wiring: app.py; settings: settings.py.
"""

from flashsale.kit.identity import ServiceIdentity

SERVICE = ServiceIdentity("orders")
