"""The order state machine and what each request or inventory event does to an order."""

from __future__ import annotations

import pytest

from flashsale.services.orders import domain
from flashsale.services.orders.domain import (
    CANCELLED,
    COMPLETED,
    PAID,
    PENDING_PAYMENT,
    Cancel,
    Line,
    Pay,
)

pytestmark = pytest.mark.unit

NOW = 1_700_000_000_000


def test_an_order_moves_forward_from_pending_payment_to_completed() -> None:
    status = PENDING_PAYMENT
    status = domain.move(status, PAID)
    status = domain.move(status, COMPLETED)
    assert status == COMPLETED


@pytest.mark.parametrize("current", [PENDING_PAYMENT, PAID, COMPLETED])
def test_an_order_that_is_not_cancelled_can_be_cancelled(current: str) -> None:
    assert domain.move(current, CANCELLED) == CANCELLED


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (PENDING_PAYMENT, COMPLETED),  # never complete without being paid
        (PAID, PENDING_PAYMENT),
        (COMPLETED, PAID),
        (CANCELLED, PENDING_PAYMENT),
        (CANCELLED, PAID),
        (CANCELLED, COMPLETED),
        (CANCELLED, CANCELLED),  # a cancelled order is final: cancelling twice announces nothing twice
        (PAID, PAID),
    ],
)
def test_moves_the_state_machine_does_not_allow_are_refused(current: str, target: str) -> None:
    assert not domain.can_move(current, target)
    with pytest.raises(domain.InvalidTransition):
        domain.move(current, target)


def test_the_guard_of_a_move_lists_exactly_the_statuses_it_may_come_from() -> None:
    assert domain.sources_of(PAID) == (PENDING_PAYMENT,)
    assert domain.sources_of(COMPLETED) == (PAID,)
    assert domain.sources_of(CANCELLED) == (PENDING_PAYMENT, PAID, COMPLETED)
    assert domain.sources_of(PENDING_PAYMENT) == ()


def test_every_cancel_reason_of_the_contract_is_known() -> None:
    assert set(domain.CANCEL_REASONS) == {
        "payment_declined", "hold_expired", "customer_cancelled", "stock_unavailable", "shipment_failed",
    }


def test_the_price_is_the_unit_price_times_the_units_ordered() -> None:
    lines = [Line("PS5", 2), Line("XBOX", 1)]
    assert domain.amount_cents(lines, 49_999) == 3 * 49_999


def test_a_pending_order_whose_hold_still_lives_is_charged() -> None:
    assert domain.pay(PENDING_PAYMENT, None, NOW + 1, NOW) is Pay.CHARGE


def test_a_pending_order_whose_hold_ran_out_is_not_charged() -> None:
    assert domain.pay(PENDING_PAYMENT, None, NOW, NOW) is Pay.HOLD_EXPIRED


def test_paying_an_order_cancelled_because_its_hold_expired_says_so() -> None:
    assert domain.pay(CANCELLED, domain.HOLD_EXPIRED, NOW - 1, NOW) is Pay.HOLD_EXPIRED


@pytest.mark.parametrize("reason", [domain.PAYMENT_DECLINED, domain.CUSTOMER_CANCELLED, domain.STOCK_UNAVAILABLE])
def test_paying_an_order_cancelled_for_another_reason_is_an_invalid_state(reason: str) -> None:
    assert domain.pay(CANCELLED, reason, NOW + 1, NOW) is Pay.INVALID_STATE


@pytest.mark.parametrize("status", [PAID, COMPLETED])
def test_paying_a_paid_order_again_answers_the_order_without_charging(status: str) -> None:
    assert domain.pay(status, None, NOW - 1, NOW) is Pay.ALREADY_PAID


def test_cancelling_releases_an_unpaid_order_and_refunds_a_paid_one() -> None:
    assert domain.cancel(PENDING_PAYMENT) is Cancel.RELEASE
    assert domain.cancel(PAID) is Cancel.REFUND
    assert domain.cancel(COMPLETED) is Cancel.INVALID_STATE
    assert domain.cancel(CANCELLED) is Cancel.INVALID_STATE
