"""The shipping service: schedules a paid order's shipment once and cancels it once, refusing what
cannot be shipped.

Where things are:
- use cases: operations.py `Shipments`;
- rules, free of I/O: domain.py; errors.py (what the service refuses; api.py maps each to its
  problem);
- SQL: store.py;
- HTTP: api.py (internal: the order service's saga calls it; admins mark products shippable),
  hot_routes.py (a shipment scheduled, in front of the app: kit.front_routes);
- events out: ShipmentScheduled, ShipmentCancelled (stream SHIPPING), written with the change (store.py);
- wiring: app.py.
"""

from flashsale.kit.identity import ServiceIdentity

SERVICE = ServiceIdentity("shipping")
