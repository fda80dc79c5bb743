"""What the notifications service refuses, in the domain's words (no HTTP: api.py answers each).

NotificationError
└── MissingFilter   a listing named neither a customer nor an order

The service only reads over HTTP; everything it records comes from events, and an event it
cannot use is either skipped (no customer to tell) or retried and dead-lettered by the bus.
"""

from __future__ import annotations


class NotificationError(Exception):
    pass


class MissingFilter(NotificationError):
    def __init__(self) -> None:
        super().__init__("give customerId or orderId: notifications are listed per customer or per order")
