"""The checkout saga's plan: the next step for every situation a saga can be found in."""

from __future__ import annotations

import pytest

from flashsale.services.orders import saga_plan as plan
from flashsale.services.orders.saga_plan import DONE, SKIPPED, STARTED, Next, StepRecord

pytestmark = pytest.mark.unit

HELD = {plan.HOLD: StepRecord(DONE, "HELD")}
AUTHORISED = {**HELD, plan.PAYMENT: StepRecord(DONE, plan.AUTHORISED)}
DEDUCTED = {**AUTHORISED, plan.STOCK: StepRecord(DONE, "DEDUCTED")}
CAPTURED = {**DEDUCTED, plan.CAPTURE: StepRecord(DONE, "CAPTURED")}
SHIPPED = {**CAPTURED, plan.SHIPMENT: StepRecord(DONE, "SCHEDULED")}


def test_a_fresh_order_waits_for_its_customer_to_pay() -> None:
    assert plan.next_step(plan.RUNNING, HELD) is Next.WAIT


def test_a_paid_order_waits_for_the_inventory_to_deduct_the_stock() -> None:
    assert plan.next_step(plan.RUNNING, AUTHORISED) is Next.WAIT


def test_after_the_deduction_the_money_is_captured_then_the_parcel_booked() -> None:
    assert plan.next_step(plan.RUNNING, DEDUCTED) is Next.CAPTURE
    assert plan.next_step(plan.RUNNING, CAPTURED) is Next.SHIPMENT
    assert plan.next_step(plan.RUNNING, SHIPPED) is Next.FINISHED


def test_a_payment_cut_off_by_a_crash_is_asked_again_before_anything_else() -> None:
    in_doubt = {**HELD, plan.PAYMENT: StepRecord(STARTED)}
    assert plan.next_step(plan.RUNNING, in_doubt) is Next.RESOLVE_PAYMENT
    assert plan.next_step(plan.COMPENSATING, in_doubt) is Next.RESOLVE_PAYMENT


def test_a_step_cut_off_by_a_crash_is_run_again() -> None:
    assert plan.next_step(plan.RUNNING, {**DEDUCTED, plan.CAPTURE: StepRecord(STARTED)}) is Next.CAPTURE
    assert plan.next_step(plan.RUNNING, {**CAPTURED, plan.SHIPMENT: StepRecord(STARTED)}) is Next.SHIPMENT


def _compensations(steps: dict[str, StepRecord]) -> list[Next]:
    """Run the plan to its end, pretending every compensation succeeds."""
    steps = dict(steps)
    taken: list[Next] = []
    while (step := plan.next_step(plan.COMPENSATING, steps)) is not Next.FINISHED:
        taken.append(step)
        outcome = "REFUNDED" if step is Next.REFUND_PAYMENT else "OK"
        steps[step.value] = StepRecord(DONE, outcome)
    return taken


def test_a_shipped_order_is_undone_in_reverse_order() -> None:
    assert _compensations(SHIPPED) == [Next.CANCEL_SHIPMENT, Next.REFUND_PAYMENT, Next.RELEASE_HOLD, Next.CANCEL_ORDER]


def test_a_declined_payment_only_gives_the_hold_back() -> None:
    declined = {**HELD, plan.PAYMENT: StepRecord(DONE, plan.DECLINED)}
    assert _compensations(declined) == [Next.RELEASE_HOLD, Next.CANCEL_ORDER]


def test_an_unpaid_order_only_gives_the_hold_back() -> None:
    assert _compensations(HELD) == [Next.RELEASE_HOLD, Next.CANCEL_ORDER]


def test_a_refused_shipment_is_not_cancelled_but_the_money_goes_back() -> None:
    refused = {**CAPTURED, plan.SHIPMENT: StepRecord(DONE, plan.REFUSED)}
    assert _compensations(refused) == [Next.REFUND_PAYMENT, Next.RELEASE_HOLD, Next.CANCEL_ORDER]


def test_a_shipment_that_may_have_been_booked_before_a_crash_is_cancelled() -> None:
    in_doubt = {**CAPTURED, plan.SHIPMENT: StepRecord(STARTED)}
    assert _compensations(in_doubt)[0] is Next.CANCEL_SHIPMENT


def test_a_capture_that_may_have_happened_is_refunded() -> None:
    assert Next.REFUND_PAYMENT in _compensations({**DEDUCTED, plan.CAPTURE: StepRecord(STARTED)})


def test_a_skipped_shipment_needs_no_cancelling() -> None:
    skipped = {**CAPTURED, plan.SHIPMENT: StepRecord(SKIPPED)}
    assert Next.CANCEL_SHIPMENT not in _compensations(skipped)


def test_finished_and_parked_sagas_have_nothing_to_run() -> None:
    for state in (plan.COMPLETED, plan.COMPENSATED, plan.NEEDS_ATTENTION):
        assert plan.next_step(state, SHIPPED) is Next.FINISHED


def test_money_counts_as_given_back_only_when_a_refund_or_void_happened() -> None:
    assert plan.money_given_back({plan.REFUND_PAYMENT: StepRecord(DONE, "REFUNDED")})
    assert plan.money_given_back({plan.REFUND_PAYMENT: StepRecord(DONE, "VOIDED")})
    assert not plan.money_given_back({plan.REFUND_PAYMENT: StepRecord(DONE, "NOTHING")})
    assert not plan.money_given_back({})


def test_retries_back_off_exponentially_up_to_a_cap() -> None:
    delays = [plan.retry_delay_s(n, 0.5, 4.0) for n in range(1, 7)]
    assert delays == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
