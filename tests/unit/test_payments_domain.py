"""What a repeated charge request means, what may be refunded, and what the ledger keeps."""

from __future__ import annotations

import pytest

from flashsale.services.payments import domain
from flashsale.services.payments.domain import Claim, Refund

pytestmark = pytest.mark.unit

NOW = 1_700_000_000_000


def test_the_first_charge_of_an_order_starts_a_payment() -> None:
    assert domain.claim(None, 0, NOW) is Claim.START


@pytest.mark.parametrize("status", [domain.APPROVED, domain.DECLINED, domain.REFUNDED])
def test_a_finished_payment_is_replayed_never_charged_again(status: str) -> None:
    assert domain.claim(status, NOW - 10 * domain.STALE_PENDING_MS, NOW) is Claim.REPLAY


def test_a_payment_being_charged_right_now_is_left_alone() -> None:
    assert domain.claim(domain.PENDING, NOW - domain.STALE_PENDING_MS + 1, NOW) is Claim.IN_PROGRESS


def test_a_payment_abandoned_mid_charge_is_taken_over() -> None:
    assert domain.claim(domain.PENDING, NOW - domain.STALE_PENDING_MS, NOW) is Claim.TAKE_OVER


def test_only_an_approved_payment_is_refunded() -> None:
    assert domain.refund(domain.APPROVED) is Refund.REFUND
    assert domain.refund(domain.REFUNDED) is Refund.ALREADY_REFUNDED
    assert domain.refund(domain.DECLINED) is Refund.NOT_REFUNDABLE
    assert domain.refund(domain.PENDING) is Refund.NOT_REFUNDABLE
    assert domain.refund(None) is Refund.UNKNOWN


def test_an_approval_authorises_and_captures_and_a_decline_moves_no_money() -> None:
    assert domain.charge_entries(domain.APPROVED) == (domain.AUTHORISED, domain.CAPTURED)
    assert domain.charge_entries(domain.DECLINED) == ()


def test_the_balance_counts_captures_minus_refunds_and_ignores_authorisations() -> None:
    entries = [(domain.AUTHORISED, 500), (domain.CAPTURED, 500), (domain.REFUND_ENTRY, 500)]
    assert domain.balance_cents(entries[:2]) == 500
    assert domain.balance_cents(entries) == 0
