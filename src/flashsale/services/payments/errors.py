"""What the payments service refuses, in the domain's words (no HTTP: api.py answers each).

PaymentError
├── UnknownPayment        no payment for that order
├── PaymentInProgress     another request is authorising that order now
├── NotCapturable         declined, voided, refunded, still pending, or being voided
├── NotRefundable         declined or still pending (nothing was taken)
└── ProviderUnavailable   the provider kept failing on a capture, void or refund; nothing was
                          recorded, ask again later

Not a refusal but a bug: domain.LedgerViolation (an entry breaking the ledger's rules) rolls its
transaction back and surfaces as a 500. provider.ProviderError is the provider adapter's failure;
the operations translate it (a decline for an authorisation, ProviderUnavailable otherwise).
"""

from __future__ import annotations


class PaymentError(Exception):
    pass


class UnknownPayment(PaymentError):
    def __init__(self, order_id: str) -> None:
        super().__init__(f"no payment for order {order_id}")
        self.order_id = order_id


class PaymentInProgress(PaymentError):
    def __init__(self, order_id: str) -> None:
        super().__init__(f"the payment of order {order_id} is being authorised; ask again shortly")
        self.order_id = order_id


class NotCapturable(PaymentError):
    def __init__(self, order_id: str, status: str, pending_step: str | None = None) -> None:
        state = status if pending_step is None else f"{status} with a {pending_step} under way"
        super().__init__(f"the payment of order {order_id} is {state} and cannot be captured")
        self.order_id = order_id
        self.payment_status = status


class NotRefundable(PaymentError):
    def __init__(self, order_id: str, status: str) -> None:
        super().__init__(f"the payment of order {order_id} is {status}: nothing was taken")
        self.order_id = order_id
        self.payment_status = status


class ProviderUnavailable(PaymentError):
    def __init__(self, detail: str) -> None:
        super().__init__(detail)
