"""Payment rules: what a request means for a payment in a given state, and what the ledger allows.

A payment belongs to exactly one order and moves through the checkout saga's money steps:

    PENDING ──authorise──▶ AUTHORISED ──capture──▶ CAPTURED ──refund──▶ REFUNDED
       │                       │
       └──▶ DECLINED           └──void──▶ VOIDED

A step other than authorise is first marked as the payment's pending step, then carried out at
the provider, then recorded. Marking it is what makes capture and void exclusive: once one is
pending the other is refused (capture) or follows it (a refund of a payment whose capture is
pending finishes the capture and then refunds). A pending step is re-driven by whoever asks next,
always under the same provider idempotency key, so a crash or a retry never doubles an effect.

The ledger records money movements, each kind at most once per payment: AUTHORISED, CAPTURED,
VOIDED, REFUNDED. Captured plus voided never exceeds authorised, refunded never exceeds captured,
so the balance (captured minus refunded) is never negative.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

PENDING = "PENDING"
AUTHORISED = "AUTHORISED"
DECLINED = "DECLINED"
CAPTURED = "CAPTURED"
VOIDED = "VOIDED"
REFUNDED = "REFUNDED"
STATUSES = (PENDING, AUTHORISED, DECLINED, CAPTURED, VOIDED, REFUNDED)

# Ledger entry kinds: the same words as the statuses they come with.
ENTRY_KINDS = (AUTHORISED, CAPTURED, VOIDED, REFUNDED)

# A PENDING payment older than this was left by a process that died mid-authorisation: take it
# over. It is well above the longest provider call (timeouts and retries included), so a live
# authorisation is rarely driven twice; and when it is, the shared idempotency key keeps the
# provider's effect single.
STALE_PENDING_MS = 30_000

PROVIDER_ERROR = "provider_error"
DECLINED_REASON = "declined"


class Operation(enum.StrEnum):
    """What the provider is asked to do; one idempotency key per payment and operation."""

    AUTHORISE = "authorise"
    CAPTURE = "capture"
    VOID = "void"
    REFUND = "refund"


def idempotency_key(operation: Operation, payment_id: str) -> str:
    return f"{operation.value}:{payment_id}"


# -- authorise -------------------------------------------------------------------------------------

class Claim(enum.Enum):
    """What to do with an authorise request, given the payment already stored for that order."""

    START = "start"              # no payment yet: create it and authorise
    REPLAY = "replay"            # past authorisation: answer with the stored payment, ask nobody
    IN_PROGRESS = "in_progress"  # another request is authorising right now
    TAKE_OVER = "take_over"      # an authorisation was abandoned: ask again (same idempotency key)


def claim(status: str | None, updated_at_ms: int, now_ms: int, stale_ms: int = STALE_PENDING_MS) -> Claim:
    if status is None:
        return Claim.START
    if status != PENDING:
        return Claim.REPLAY
    if now_ms - updated_at_ms < stale_ms:
        return Claim.IN_PROGRESS
    return Claim.TAKE_OVER


def authorisation_status(approved: bool) -> str:
    return AUTHORISED if approved else DECLINED


def authorisation_entries(status: str) -> tuple[str, ...]:
    """Ledger entries an authorisation outcome writes: a decline moves no money."""
    return (AUTHORISED,) if status == AUTHORISED else ()


# -- capture, void, refund -------------------------------------------------------------------------

@dataclass(frozen=True)
class Step:
    """A step after authorisation: the provider operation, the status it must come from and the
    status (and ledger entry) it leads to."""

    operation: Operation
    source: str
    target: str

    @property
    def entry(self) -> str:
        return self.target


CAPTURE = Step(Operation.CAPTURE, AUTHORISED, CAPTURED)
VOID = Step(Operation.VOID, AUTHORISED, VOIDED)
REFUND = Step(Operation.REFUND, CAPTURED, REFUNDED)
STEPS = {step.operation.value: step for step in (CAPTURE, VOID, REFUND)}


class Request(enum.Enum):
    CAPTURE = "capture"  # take the authorised money
    REFUND = "refund"    # give the money back, whichever way the state needs (void or refund)


class Action(enum.Enum):
    DONE = "done"      # the request is fulfilled by the payment as it is: answer it
    DRIVE = "drive"    # carry out `Move.step` (start it, or finish it if it is already pending)
    REFUSE = "refuse"  # the request cannot be fulfilled from this state


@dataclass(frozen=True)
class Move:
    action: Action
    step: Step | None = None


_DONE = Move(Action.DONE)
_REFUSE = Move(Action.REFUSE)


def next_move(request: Request, status: str, pending_step: str | None) -> Move:
    """The next thing to do for `request`; after a DRIVE, ask again with the new state."""
    if request is Request.CAPTURE:
        return _next_for_capture(status, pending_step)
    return _next_for_refund(status, pending_step)


def _next_for_capture(status: str, pending_step: str | None) -> Move:
    if status == CAPTURED:
        return _DONE
    if status == AUTHORISED and pending_step in (None, CAPTURE.operation):
        return Move(Action.DRIVE, CAPTURE)
    return _REFUSE  # PENDING, DECLINED, VOIDED, REFUNDED, or a void under way


def _next_for_refund(status: str, pending_step: str | None) -> Move:
    if status in (REFUNDED, VOIDED):
        return _DONE
    if status == CAPTURED:
        return Move(Action.DRIVE, REFUND)
    if status == AUTHORISED:
        # A capture under way may already have happened at the provider: finish it, then refund.
        return Move(Action.DRIVE, CAPTURE if pending_step == CAPTURE.operation else VOID)
    return _REFUSE  # PENDING or DECLINED: nothing was taken


# -- ledger ----------------------------------------------------------------------------------------

class LedgerViolation(Exception):
    """An entry that would break the ledger's rules; a bug, never a client's fault."""


@dataclass(frozen=True)
class Totals:
    authorised: int = 0
    captured: int = 0
    voided: int = 0
    refunded: int = 0

    @property
    def balance(self) -> int:
        """Money kept for the order: captured minus refunded."""
        return self.captured - self.refunded


def totals(entries: Iterable[tuple[str, int]]) -> Totals:
    sums = dict.fromkeys(ENTRY_KINDS, 0)
    for kind, amount in entries:
        sums[kind] += amount
    return Totals(authorised=sums[AUTHORISED], captured=sums[CAPTURED], voided=sums[VOIDED],
                  refunded=sums[REFUNDED])


def balance_cents(entries: Iterable[tuple[str, int]]) -> int:
    return totals(entries).balance


def check_entry(entries: Iterable[tuple[str, int]], kind: str, amount_cents: int) -> None:
    """Raise LedgerViolation unless adding (`kind`, `amount_cents`) to `entries` keeps every rule."""
    existing = list(entries)
    if kind not in ENTRY_KINDS:
        raise LedgerViolation(f"unknown ledger entry kind {kind!r}")
    if amount_cents < 0:
        raise LedgerViolation(f"a {kind} entry of {amount_cents} cents is negative")
    if any(k == kind for k, _ in existing):
        raise LedgerViolation(f"the payment already has a {kind} entry")
    after = totals([*existing, (kind, amount_cents)])
    if after.captured + after.voided > after.authorised:
        raise LedgerViolation("captured plus voided would exceed what was authorised")
    if after.refunded > after.captured:
        raise LedgerViolation("refunded would exceed what was captured")
