"""The checkout saga's plan: which step comes next, given the steps already taken. Pure.

Forward steps, in order (each one's compensation in brackets):

    hold ─▶ payment ─▶ stock ─▶ capture ─▶ shipment ─▶ (order COMPLETED)
    [release_hold] [refund_payment]  [refund_payment] [cancel_shipment]

- `hold` is taken before the order exists and is recorded with it;
- `payment` (authorise) runs when the customer pays; `stock` is the inventory's
  ReservationConfirmed (the hold became a deduction); `capture` takes the authorised money;
  `shipment` books the parcel. Then the order is COMPLETED.

When something fails for good (a declined card, an expired or revoked hold, stock the inventory
could not deduct, a shipment refused, a customer's cancel) the saga turns to COMPENSATING and
undoes what was done in reverse: cancel_shipment, refund_payment (a void when nothing was captured
yet), release_hold, and last cancel_order (the order becomes CANCELLED with its reason, and its
OrderCancelled makes the inventory reverse a deduction). A step found STARTED but not DONE was cut
off by a crash: its remote effect may or may not have happened, so it is compensated all the same
(every compensation is safe when there is nothing to undo), and an in-doubt payment is first asked
again (authorise is idempotent per order) so that the refund knows what to give back.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

# Saga states
RUNNING = "RUNNING"
COMPENSATING = "COMPENSATING"
COMPLETED = "COMPLETED"
COMPENSATED = "COMPENSATED"
NEEDS_ATTENTION = "NEEDS_ATTENTION"  # a step kept failing: parked for an operator, never dropped
ACTIVE_STATES = (RUNNING, COMPENSATING)

# Steps, in the order they are shown
HOLD = "hold"
PAYMENT = "payment"
STOCK = "stock"
CAPTURE = "capture"
SHIPMENT = "shipment"
CANCEL_SHIPMENT = "cancel_shipment"
REFUND_PAYMENT = "refund_payment"
RELEASE_HOLD = "release_hold"
CANCEL_ORDER = "cancel_order"
FORWARD_STEPS = (HOLD, PAYMENT, STOCK, CAPTURE, SHIPMENT)
COMPENSATION_STEPS = (CANCEL_SHIPMENT, REFUND_PAYMENT, RELEASE_HOLD, CANCEL_ORDER)
STEPS = FORWARD_STEPS + COMPENSATION_STEPS

# Step statuses
STARTED = "STARTED"
DONE = "DONE"
SKIPPED = "SKIPPED"

# Outcomes worth naming
AUTHORISED = "AUTHORISED"
DECLINED = "DECLINED"
REFUSED = "REFUSED"  # the shipment was refused (an unshippable product)
DEDUCTED = "DEDUCTED"  # the stock step: the inventory turned the hold into a deduction


@dataclass(frozen=True)
class StepRecord:
    status: str
    outcome: str | None = None


Steps = Mapping[str, StepRecord]


class Next(enum.Enum):
    WAIT = "wait"  # nothing to do until the customer pays or the inventory reports
    RESOLVE_PAYMENT = "resolve_payment"  # a payment cut off mid-call: ask again (idempotent)
    CAPTURE = CAPTURE
    SHIPMENT = SHIPMENT
    CANCEL_SHIPMENT = CANCEL_SHIPMENT
    REFUND_PAYMENT = REFUND_PAYMENT
    RELEASE_HOLD = RELEASE_HOLD
    CANCEL_ORDER = CANCEL_ORDER
    FINISHED = "finished"


def _status(steps: Steps, name: str) -> str | None:
    record = steps.get(name)
    return None if record is None else record.status


def _done(steps: Steps, name: str) -> bool:
    return _status(steps, name) in (DONE, SKIPPED)


def _touched(steps: Steps, name: str) -> bool:
    """Started at least: its remote effect may exist."""
    return _status(steps, name) is not None and _status(steps, name) != SKIPPED


def _shipment_may_exist(steps: Steps) -> bool:
    record = steps.get(SHIPMENT)
    return record is not None and record.status != SKIPPED and record.outcome != REFUSED


def payment_authorised(steps: Steps) -> bool:
    record = steps.get(PAYMENT)
    return record is not None and record.status == DONE and record.outcome == AUTHORISED


def next_step(state: str, steps: Steps) -> Next:
    """What the saga does next in `state`, given its recorded steps."""
    if state == RUNNING:
        return _next_forward(steps)
    if state == COMPENSATING:
        return _next_compensation(steps)
    return Next.FINISHED


def _next_forward(steps: Steps) -> Next:
    if _status(steps, PAYMENT) == STARTED:
        return Next.RESOLVE_PAYMENT
    if not _done(steps, STOCK) or not payment_authorised(steps):
        return Next.WAIT
    if not _done(steps, CAPTURE):
        return Next.CAPTURE
    if not _done(steps, SHIPMENT):
        return Next.SHIPMENT
    return Next.FINISHED


def _next_compensation(steps: Steps) -> Next:
    if _status(steps, PAYMENT) == STARTED:
        return Next.RESOLVE_PAYMENT
    if _shipment_may_exist(steps) and not _done(steps, CANCEL_SHIPMENT):
        return Next.CANCEL_SHIPMENT
    if (payment_authorised(steps) or _touched(steps, CAPTURE)) and not _done(steps, REFUND_PAYMENT):
        return Next.REFUND_PAYMENT
    if _touched(steps, HOLD) and not _done(steps, RELEASE_HOLD):
        return Next.RELEASE_HOLD
    if not _done(steps, CANCEL_ORDER):
        return Next.CANCEL_ORDER
    return Next.FINISHED


# The steps that call another service, each checkpointed as STARTED before its call. The
# shipment is booked right after the capture, with no commit between: the two are begun together,
# and one commit records both outcomes (and the order COMPLETED).
_CHECKPOINTED_FIRST = {Next.CAPTURE: (CAPTURE, SHIPMENT), Next.SHIPMENT: (SHIPMENT,),
                       Next.CANCEL_SHIPMENT: (CANCEL_SHIPMENT,), Next.REFUND_PAYMENT: (REFUND_PAYMENT,),
                       Next.RELEASE_HOLD: (RELEASE_HOLD,)}


def checkpoints_first(step: Next) -> tuple[str, ...]:
    """The steps to checkpoint as STARTED before `step` runs (its remote calls), the first being
    `step`'s own; none for a payment in doubt (asked again under its own STARTED) and for
    cancelling the order (local)."""
    return _CHECKPOINTED_FIRST.get(step, ())


def money_given_back(steps: Steps) -> bool:
    """Whether the compensation returned money the customer had given (authorised or captured)."""
    record = steps.get(REFUND_PAYMENT)
    return record is not None and record.status == DONE and record.outcome in ("VOIDED", "REFUNDED")


def retry_delay_s(attempts: int, base_s: float, cap_s: float) -> float:
    """Exponential backoff between attempts of a failing step (the jitter is the caller's)."""
    return float(min(cap_s, base_s * (2 ** max(0, attempts - 1))))
