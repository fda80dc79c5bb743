"""What an authorise, capture or refund request means for a payment, and what the ledger allows."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flashsale.services.payments import domain
from flashsale.services.payments.domain import (
    AUTHORISED,
    CAPTURE,
    CAPTURED,
    DECLINED,
    PENDING,
    REFUND,
    REFUNDED,
    VOID,
    VOIDED,
    Action,
    Claim,
    LedgerViolation,
    Move,
    Operation,
    Request,
)

pytestmark = pytest.mark.unit

NOW = 1_700_000_000_000


# -- authorise -------------------------------------------------------------------------------------

def test_the_first_authorisation_of_an_order_starts_a_payment() -> None:
    assert domain.claim(None, 0, NOW) is Claim.START


@pytest.mark.parametrize("status", [AUTHORISED, DECLINED, CAPTURED, VOIDED, REFUNDED])
def test_a_payment_past_authorisation_is_replayed_never_authorised_again(status: str) -> None:
    assert domain.claim(status, NOW - 10 * domain.STALE_PENDING_MS, NOW) is Claim.REPLAY


def test_a_payment_being_authorised_right_now_is_left_alone() -> None:
    assert domain.claim(PENDING, NOW - domain.STALE_PENDING_MS + 1, NOW) is Claim.IN_PROGRESS


def test_a_payment_abandoned_mid_authorisation_is_taken_over() -> None:
    assert domain.claim(PENDING, NOW - domain.STALE_PENDING_MS, NOW) is Claim.TAKE_OVER
    assert domain.claim(PENDING, NOW - 3_000, NOW, stale_ms=3_000) is Claim.TAKE_OVER


def test_an_approval_authorises_and_a_decline_moves_no_money() -> None:
    assert domain.authorisation_status(True) == AUTHORISED
    assert domain.authorisation_status(False) == DECLINED
    assert domain.authorisation_entries(AUTHORISED) == (AUTHORISED,)
    assert domain.authorisation_entries(DECLINED) == ()


def test_each_step_of_a_payment_has_its_own_provider_idempotency_key() -> None:
    keys = {domain.idempotency_key(op, "pay-1") for op in Operation}
    assert keys == {"authorise:pay-1", "capture:pay-1", "void:pay-1", "refund:pay-1"}


# -- capture and refund ----------------------------------------------------------------------------

DRIVE_CAPTURE, DRIVE_VOID, DRIVE_REFUND = (Move(Action.DRIVE, s) for s in (CAPTURE, VOID, REFUND))
DONE, REFUSE = Move(Action.DONE), Move(Action.REFUSE)


@pytest.mark.parametrize(("status", "pending", "move"), [
    (AUTHORISED, None, DRIVE_CAPTURE),
    (AUTHORISED, "capture", DRIVE_CAPTURE),  # a capture cut off half way is finished, same key
    (AUTHORISED, "void", REFUSE),            # the authorisation is being released
    (CAPTURED, None, DONE),                  # capturing twice takes the money once
    (CAPTURED, "refund", DONE),
    (PENDING, None, REFUSE),
    (DECLINED, None, REFUSE),
    (VOIDED, None, REFUSE),
    (REFUNDED, None, REFUSE),
])
def test_what_a_capture_request_does(status: str, pending: str | None, move: Move) -> None:
    assert domain.next_move(Request.CAPTURE, status, pending) == move


@pytest.mark.parametrize(("status", "pending", "move"), [
    (AUTHORISED, None, DRIVE_VOID),          # nothing taken yet: release the authorisation
    (AUTHORISED, "void", DRIVE_VOID),
    (AUTHORISED, "capture", DRIVE_CAPTURE),  # may be taken already: finish the capture first
    (CAPTURED, None, DRIVE_REFUND),
    (CAPTURED, "refund", DRIVE_REFUND),
    (REFUNDED, None, DONE),
    (VOIDED, None, DONE),
    (PENDING, None, REFUSE),
    (DECLINED, None, REFUSE),
])
def test_what_a_refund_request_does(status: str, pending: str | None, move: Move) -> None:
    assert domain.next_move(Request.REFUND, status, pending) == move


def test_steps_go_from_the_status_they_need_to_the_one_they_record() -> None:
    assert [(s.source, s.target, s.entry) for s in (CAPTURE, VOID, REFUND)] == [
        (AUTHORISED, CAPTURED, CAPTURED), (AUTHORISED, VOIDED, VOIDED), (CAPTURED, REFUNDED, REFUNDED),
    ]


# -- ledger ----------------------------------------------------------------------------------------

def test_the_ledger_totals_each_kind_and_the_balance_is_captured_minus_refunded() -> None:
    entries = [(AUTHORISED, 500), (CAPTURED, 500), (REFUNDED, 500)]
    assert domain.balance_cents(entries[:1]) == 0
    assert domain.balance_cents(entries[:2]) == 500
    totals = domain.totals(entries)
    assert (totals.authorised, totals.captured, totals.refunded, totals.voided, totals.balance) == (
        500, 500, 500, 0, 0
    )


@pytest.mark.parametrize(("entries", "kind"), [
    ([], CAPTURED),                                        # capture of nothing authorised
    ([], VOIDED),
    ([(AUTHORISED, 500)], REFUNDED),                       # refund of nothing captured
    ([(AUTHORISED, 500)], AUTHORISED),                     # each kind once
    ([(AUTHORISED, 500), (CAPTURED, 500)], CAPTURED),
    ([(AUTHORISED, 500), (CAPTURED, 500)], VOIDED),        # captured + voided > authorised
    ([(AUTHORISED, 500), (VOIDED, 500)], CAPTURED),
    ([(AUTHORISED, 500), (CAPTURED, 500), (REFUNDED, 500)], REFUNDED),
    ([(AUTHORISED, 500)], "APPROVED"),                     # not a ledger word
])
def test_the_ledger_refuses_entries_that_break_its_rules(entries: list[tuple[str, int]], kind: str) -> None:
    with pytest.raises(LedgerViolation):
        domain.check_entry(entries, kind, 500)


def test_the_ledger_refuses_negative_amounts() -> None:
    with pytest.raises(LedgerViolation):
        domain.check_entry([], AUTHORISED, -1)


@pytest.mark.parametrize("history", [
    [AUTHORISED], [AUTHORISED, CAPTURED], [AUTHORISED, CAPTURED, REFUNDED], [AUTHORISED, VOIDED],
])
def test_the_ledger_accepts_every_path_of_the_saga(history: list[str]) -> None:
    entries: list[tuple[str, int]] = []
    for kind in history:
        domain.check_entry(entries, kind, 500)
        entries.append((kind, 500))


# -- any interleaving of requests, steps and crashes -----------------------------------------------

@dataclass
class _Payment:
    """A payment as the store keeps it, moved only the way the store moves it."""

    status: str = AUTHORISED
    pending: str | None = None
    entries: list[tuple[str, int]] = field(default_factory=lambda: [(AUTHORISED, 700)])
    provider_effects: set[str] = field(default_factory=lambda: {"authorise"})

    def start(self, step: domain.Step) -> bool:
        if self.status == step.source and self.pending in (None, step.operation.value):
            self.pending = step.operation.value
            return True
        return False

    def finish(self, step: domain.Step) -> None:
        self.provider_effects.add(step.operation.value)  # the provider acts once per key
        if self.status == step.source and self.pending == step.operation.value:
            domain.check_entry(self.entries, step.entry, 700)
            self.entries.append((step.entry, 700))
            self.status, self.pending = step.target, None


# One request: capture or refund; `crash` stops it after the provider acted, before recording.
_requests = st.lists(st.tuples(st.sampled_from(list(Request)), st.booleans()), min_size=1, max_size=12)


@given(_requests)
def test_no_interleaving_of_requests_and_crashes_breaks_the_ledger_or_doubles_a_provider_effect(
    requests: list[tuple[Request, bool]],
) -> None:
    payment = _Payment()
    for request, crash in requests:
        for _ in range(5):
            move = domain.next_move(request, payment.status, payment.pending)
            if move.action is not Action.DRIVE:
                break
            assert move.step is not None
            if not payment.start(move.step):
                continue
            if crash:
                payment.provider_effects.add(move.step.operation.value)
                break
            payment.finish(move.step)

    totals = domain.totals(payment.entries)
    assert totals.captured + totals.voided <= totals.authorised
    assert totals.balance >= 0 and totals.refunded <= totals.captured
    # A capture and a void of one authorisation never both happen at the provider.
    assert not {"capture", "void"} <= payment.provider_effects
    # Everything the ledger records, the provider did.
    recorded = {kind for kind, _ in payment.entries} - {AUTHORISED}
    assert {domain.STEPS[e].target for e in payment.provider_effects - {"authorise"}} >= recorded
