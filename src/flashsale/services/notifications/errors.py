"""What the notifications service refuses, as problems the API answers with (RFC 9457).

NotificationProblem (kit Problem)
└── MissingFilter   422 invalid_request: neither customerId nor orderId was given

The service only reads over HTTP; everything it records comes from events, and an event it
cannot use is either skipped (no customer to tell) or retried and dead-lettered by the bus.
"""

from __future__ import annotations

from flashsale.kit.problems import Problem


class NotificationProblem(Problem):
    pass


class MissingFilter(NotificationProblem):
    def __init__(self) -> None:
        super().__init__(422, "invalid_request", "Invalid request",
                         "give customerId or orderId: notifications are listed per customer or per order")
