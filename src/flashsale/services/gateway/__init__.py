"""The gateway: the public edge (backend for frontend). It signs customers up and in, checks that
every caller owns what it asks for, composes reads from the services behind it and degrades
gracefully when one of them is slow or down. It owns no data.

Where things are:
- routes: api_public.py (sign-up, sign-in, products), api_orders.py (a customer's own orders,
  profile, notifications), api_admin.py (admin), pages.py and views.py (the storefront);
- who is calling: auth.py, tokens.py; guards: edge.py (body size, rate limits), door.py and
  sold_out.py (buy attempts and payments answered at the door, a sold-out crowd refused there;
  placing.py: how the door and the routes ask the order service), freshness.py (read-your-writes);
- composed reads: compose.py, copies.py and profiles.py (what they keep), polls.py (a buyer's
  read of their order at the door); the services behind it: upstream.py; errors.py;
- events in: feed.py (the inventory's facts that give units back, the customers' profile
  changes); events out: none;
- wiring: app.py; settings: settings.py.
"""

from flashsale.kit.identity import ServiceIdentity

SERVICE = ServiceIdentity("gateway")
