"""What the payments service refuses, as problems the API answers with (RFC 9457).

PaymentProblem (kit Problem)
├── UnknownPayment        404 unknown_payment: no payment for that order
├── PaymentInProgress     409 payment_in_progress: another request is charging that order now
├── NotRefundable         409 not_refundable: the payment was declined or is still pending
└── ProviderUnavailable   503 provider_unavailable: the provider kept failing on a refund
"""

from __future__ import annotations

from flashsale.kit.problems import Problem


class PaymentProblem(Problem):
    pass


class UnknownPayment(PaymentProblem):
    def __init__(self, order_id: str) -> None:
        super().__init__(404, "unknown_payment", "Unknown payment", f"no payment for order {order_id}")


class PaymentInProgress(PaymentProblem):
    def __init__(self, order_id: str) -> None:
        super().__init__(409, "payment_in_progress", "Payment in progress",
                         f"the payment of order {order_id} is being processed; ask again shortly")


class NotRefundable(PaymentProblem):
    def __init__(self, order_id: str, status: str) -> None:
        super().__init__(409, "not_refundable", "Not refundable",
                         f"the payment of order {order_id} is {status}")


class ProviderUnavailable(PaymentProblem):
    def __init__(self, detail: str) -> None:
        super().__init__(503, "provider_unavailable", "Payment provider unavailable", detail)
