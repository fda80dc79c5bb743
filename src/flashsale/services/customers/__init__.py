"""The customers service: customer profiles and their credentials (sign-up, sign-in checks,
profile changes with optimistic concurrency).

Where things are:
- use cases: operations.py (profiles), accounts.py (sign-up and sign-in);
- rules, free of I/O: domain.py (profiles), credentials.py (passwords, argon2id); errors.py
  (what the service refuses);
- SQL: store.py;
- HTTP: api.py (profiles; and the problem each refusal is answered with, on every route),
  accounts_api.py (accounts);
- events out: CustomerUpdated (stream CUSTOMERS), written with the change (store.py);
- wiring: app.py.
"""

from flashsale.kit.identity import ServiceIdentity

SERVICE = ServiceIdentity("customers")
