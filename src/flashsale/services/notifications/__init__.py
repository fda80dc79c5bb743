"""The notifications service: tells the customer what became of each order (paid, completed,
cancelled and why), exactly once per outcome.

Where things are:
- use cases: consumers.py (each order outcome turned into a message; events in: the order
  service's OrderConfirmed, OrderCompleted, OrderCancelled); api.py reads what was sent;
- rules, free of I/O: domain.py (what the customer is told); errors.py (what the service
  refuses; api.py maps each to its problem);
- SQL: store.py;
- HTTP: api.py;
- events out: none;
- wiring: app.py.
"""

from flashsale.kit.identity import ServiceIdentity

SERVICE = ServiceIdentity("notifications")
