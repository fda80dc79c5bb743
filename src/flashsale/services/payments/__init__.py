"""The payments service: authorises an order's payment, captures it, voids or refunds it, each
once whatever the retries, against a provider behind an interface (provider.py: the simulated one
the house runs with).

Where things are:
- use cases: operations.py `Payments`;
- rules, free of I/O: domain.py (what a request means for a payment in a given state);
  retries.py (bounded provider calls); errors.py (what the service refuses; api.py maps each
  to its problem);
- SQL: store/ (`PaymentStore` in __init__.py, book.py the simulated provider's books, tables.py);
- HTTP: api.py (internal: the order service's saga calls it), hot_routes.py (the authorisation
  and the capture, in front of the app: kit.front_routes);
- events out: Payment* (stream PAYMENTS), written with the payment's change (store/__init__.py);
- wiring: app.py; settings: settings.py.
"""

from flashsale.kit.identity import ServiceIdentity

SERVICE = ServiceIdentity("payments")
