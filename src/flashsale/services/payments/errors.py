"""What the payments service refuses, as problems the API answers with (RFC 9457).

PaymentProblem (kit Problem)
├── UnknownPayment        404 unknown_payment: no payment for that order
├── PaymentInProgress     409 payment_in_progress: another request is authorising that order now
├── NotCapturable         409 not_capturable: declined, voided, refunded, still pending, or being voided
├── NotRefundable         409 not_refundable: declined or still pending (nothing was taken)
└── ProviderUnavailable   503 payments_provider_unavailable: the provider kept failing on a
                          capture, void or refund; nothing was recorded, ask again later

Not a problem but a bug: domain.LedgerViolation (an entry breaking the ledger's rules) rolls its
transaction back and surfaces as a 500. provider.ProviderError is the provider adapter's failure;
the operations translate it (a decline for an authorisation, ProviderUnavailable otherwise).
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
                         f"the payment of order {order_id} is being authorised; ask again shortly")


class NotCapturable(PaymentProblem):
    def __init__(self, order_id: str, status: str, pending_step: str | None = None) -> None:
        state = status if pending_step is None else f"{status} with a {pending_step} under way"
        super().__init__(409, "not_capturable", "Not capturable",
                         f"the payment of order {order_id} is {state} and cannot be captured", paymentStatus=status)


class NotRefundable(PaymentProblem):
    def __init__(self, order_id: str, status: str) -> None:
        super().__init__(409, "not_refundable", "Not refundable",
                         f"the payment of order {order_id} is {status}: nothing was taken", paymentStatus=status)


class ProviderUnavailable(PaymentProblem):
    def __init__(self, detail: str) -> None:
        super().__init__(503, "payments_provider_unavailable", "Payment provider unavailable", detail)
