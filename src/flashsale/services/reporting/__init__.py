"""The reporting service: keeps every producer's events in its own store, exactly once, and
answers sales reports per product over time. It announces nothing.

Where things are:
- use cases: consumers.py (every event kept); api.py (the reports);
- rules, free of I/O: domain.py (what is kept of each event, the reports' arithmetic);
- SQL: store.py (the projection's tables), queries.py (the reports);
- events in: every stream; events out: none;
- wiring: app.py.
"""

from flashsale.kit.identity import ServiceIdentity

SERVICE = ServiceIdentity("reporting")
