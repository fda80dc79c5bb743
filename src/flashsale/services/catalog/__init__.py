"""The catalog service: decides what is for sale (products, prices, sale windows) and shows each
product with its availability, a read model fed by the inventory's stock facts and reconciled
against the inventory.

Where things are:
- use cases: operations.py (replace or change a product); reconcile.py (the availability model
  against the inventory's stock);
- rules, free of I/O: domain.py; errors.py (what the service refuses; api.py maps each to its
  problem);
- SQL: store.py;
- HTTP: api.py, hot_routes.py (the products batch, in front of the app: kit.front_routes);
  clients.py (its one call out: the inventory's stock listing);
- events in: consumers.py (the inventory's Stock* and Reservation* facts);
  events out: ProductUpdated (stream CATALOG), written with the change (store.py);
- wiring: app.py; settings: settings.py.
"""

from flashsale.kit.identity import ServiceIdentity

SERVICE = ServiceIdentity("catalog")
