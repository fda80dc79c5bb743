"""Payment rules: what a repeated charge request means, what may be refunded, what the ledger says.

A payment belongs to exactly one order. It starts PENDING while the provider is being asked and
ends APPROVED or DECLINED; an APPROVED payment may later become REFUNDED. The ledger records
money movements (AUTHORISED, CAPTURED, REFUNDED) and never lets refunds exceed captures.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

PENDING = "PENDING"
APPROVED = "APPROVED"
DECLINED = "DECLINED"
REFUNDED = "REFUNDED"
FINAL = frozenset({APPROVED, DECLINED, REFUNDED})

AUTHORISED = "AUTHORISED"
CAPTURED = "CAPTURED"
REFUND_ENTRY = "REFUNDED"

# A PENDING payment older than this was left by a process that died mid-charge: take it over.
# It is well above the longest provider call (timeouts included), so a live charge is never doubled.
STALE_PENDING_MS = 30_000

PROVIDER_ERROR = "provider_error"


class Claim(enum.Enum):
    """What to do with a charge request, given the payment already stored for that order."""

    START = "start"              # no payment yet: create it and charge
    REPLAY = "replay"            # finished: answer with the stored outcome, never charge again
    IN_PROGRESS = "in_progress"  # another request is charging right now
    TAKE_OVER = "take_over"      # a charge was abandoned: charge again (same idempotency key)


def claim(status: str | None, updated_at_ms: int, now_ms: int) -> Claim:
    if status is None:
        return Claim.START
    if status in FINAL:
        return Claim.REPLAY
    if now_ms - updated_at_ms < STALE_PENDING_MS:
        return Claim.IN_PROGRESS
    return Claim.TAKE_OVER


def outcome_status(approved: bool) -> str:
    return APPROVED if approved else DECLINED


def charge_entries(status: str) -> tuple[str, ...]:
    """Ledger entries a final charge outcome writes: the simulated provider captures at once."""
    return (AUTHORISED, CAPTURED) if status == APPROVED else ()


class Refund(enum.Enum):
    REFUND = "refund"
    ALREADY_REFUNDED = "already_refunded"
    NOT_REFUNDABLE = "not_refundable"
    UNKNOWN = "unknown"


def refund(status: str | None) -> Refund:
    if status is None:
        return Refund.UNKNOWN
    if status == REFUNDED:
        return Refund.ALREADY_REFUNDED
    if status == APPROVED:
        return Refund.REFUND
    return Refund.NOT_REFUNDABLE


def balance_cents(entries: Iterable[tuple[str, int]]) -> int:
    """Money kept for an order: captured minus refunded (the ledger keeps this >= 0)."""
    total = 0
    for kind, amount in entries:
        if kind == CAPTURED:
            total += amount
        elif kind == REFUND_ENTRY:
            total -= amount
    return total
