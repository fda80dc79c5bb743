"""What the customer is told about each outcome of an order: pure rules, no I/O.

One message per fact the order service announces:
- paid (`OrderConfirmed`) → `order_confirmed`;
- done (`OrderCompleted`) → `order_completed`;
- cancelled (`OrderCancelled`) → `order_cancelled`, or `apology` when the cancellation is the
  business's fault (it could not supply or ship what the customer paid for), which says sorry
  first and, when the money went back, says so.

Messages are plain sentences that name the order and, for a cancellation, why it happened.
"""

from __future__ import annotations

from dataclasses import dataclass

ORDER_CONFIRMED = "order_confirmed"
ORDER_COMPLETED = "order_completed"
ORDER_CANCELLED = "order_cancelled"
APOLOGY = "apology"
KINDS = (ORDER_CONFIRMED, ORDER_COMPLETED, ORDER_CANCELLED, APOLOGY)

PAYMENT_DECLINED = "payment_declined"
HOLD_EXPIRED = "hold_expired"
CUSTOMER_CANCELLED = "customer_cancelled"
STOCK_UNAVAILABLE = "stock_unavailable"
SHIPMENT_FAILED = "shipment_failed"

# Cancellations the customer did nothing to cause: the business owes an apology.
APOLOGY_REASONS = frozenset({STOCK_UNAVAILABLE, SHIPMENT_FAILED})

# Why an order was cancelled, as the end of the sentence "Order X was cancelled ...".
_CANCELLED_BECAUSE = {
    PAYMENT_DECLINED: "because your payment was declined",
    HOLD_EXPIRED: "because it was not paid before the items held for it were released",
    CUSTOMER_CANCELLED: "at your request",
    STOCK_UNAVAILABLE: "because its items are no longer in stock",
    SHIPMENT_FAILED: "because it could not be shipped",
}


@dataclass(frozen=True)
class Message:
    """What one customer is told about one order."""

    kind: str
    order_id: str
    reason: str | None
    text: str


def order_confirmed(order_id: str) -> Message:
    text = f"Your payment for order {order_id} was received and the order is confirmed."
    return Message(ORDER_CONFIRMED, order_id, None, text)


def order_completed(order_id: str) -> Message:
    text = f"Order {order_id} is complete: its items are now yours."
    return Message(ORDER_COMPLETED, order_id, None, text)


def order_cancelled(order_id: str, reason: str, refunded: bool) -> Message:
    """A cancellation; an apology when the reason is the business's fault."""
    because = cancelled_because(reason)
    refund = f" Your payment of order {order_id} has been refunded." if refunded else ""
    if reason in APOLOGY_REASONS:
        text = f"We're sorry — order {order_id} was cancelled {because}.{refund}"
        return Message(APOLOGY, order_id, reason, text)
    return Message(ORDER_CANCELLED, order_id, reason, f"Order {order_id} was cancelled {because}.{refund}")


def cancelled_because(reason: str) -> str:
    """The reason in words; a reason this service does not know yet is still named, not dropped."""
    return _CANCELLED_BECAUSE.get(reason, f"(reason: {reason.replace('_', ' ')})")
