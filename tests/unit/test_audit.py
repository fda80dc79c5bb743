"""The auditor's rules, on hand-made listings: each one catches what it claims to catch."""

from __future__ import annotations

from typing import Any

import pytest

from flashsale.sale.audit import audit_snapshot

pytestmark = pytest.mark.unit


def stock(available: int, reserved: int, sold: int, received: int, written_off: int = 0) -> dict[str, Any]:
    return {"productId": "PS5", "available": available, "reserved": reserved, "sold": sold,
            "received": received, "writtenOff": written_off}


def reservation(rid: str, status: str, order_id: str | None, quantity: int = 1) -> dict[str, Any]:
    return {"reservationId": rid, "status": status, "orderId": order_id,
            "items": [{"productId": "PS5", "quantity": quantity}]}


def order(oid: str, status: str, rid: str, quantity: int = 1) -> dict[str, Any]:
    return {"orderId": oid, "status": status, "reservationId": rid,
            "items": [{"productId": "PS5", "quantity": quantity}]}


def test_a_consistent_sale_passes() -> None:
    report = audit_snapshot(
        [stock(available=0, reserved=1, sold=1, received=2)],
        [reservation("r1", "CONFIRMED", "o1"), reservation("r2", "HELD", "o2"), reservation("r3", "EXPIRED", "o3")],
        [order("o1", "COMPLETED", "r1"), order("o2", "PENDING_PAYMENT", "r2"), order("o3", "CANCELLED", "r3")],
    )
    assert report.ok, report.violations


def test_two_paid_orders_for_one_unit_count_as_oversold() -> None:
    report = audit_snapshot(
        [stock(available=0, reserved=0, sold=1, received=1)],
        [reservation("r1", "CONFIRMED", "o1"), reservation("r2", "CONFIRMED", "o2")],
        [order("o1", "COMPLETED", "r1"), order("o2", "COMPLETED", "r2")],
    )
    assert report.oversold == 1
    assert not report.ok


def test_stock_that_does_not_add_up_is_a_violation() -> None:
    report = audit_snapshot([stock(available=1, reserved=0, sold=1, received=1)], [], [])
    assert any("available+reserved+sold" in v for v in report.violations)


def test_reserved_units_must_match_held_reservations() -> None:
    report = audit_snapshot([stock(available=0, reserved=1, sold=0, received=1)], [], [])
    assert any("HELD reservations hold 0" in v for v in report.violations)


def test_an_order_left_paid_is_a_violation() -> None:
    report = audit_snapshot(
        [stock(available=0, reserved=1, sold=0, received=1)],
        [reservation("r1", "HELD", "o1")],
        [order("o1", "PAID", "r1")],
    )
    assert any("still PAID" in v for v in report.violations)


def test_a_cancelled_order_must_not_keep_its_hold() -> None:
    report = audit_snapshot(
        [stock(available=0, reserved=1, sold=0, received=1)],
        [reservation("r1", "HELD", "o1")],
        [order("o1", "CANCELLED", "r1")],
    )
    assert any("CANCELLED but its reservation is HELD" in v for v in report.violations)


def ledger(captured: int, refunded: int = 0) -> dict[str, Any]:
    return {"capturedCents": captured, "refundedCents": refunded, "balanceCents": captured - refunded}


def _money_audit(status: str, books: dict[str, Any] | None) -> list[str]:
    reservation_status = {"COMPLETED": "CONFIRMED", "CANCELLED": "RELEASED"}[status]
    sold = 1 if status == "COMPLETED" else 0
    report = audit_snapshot(
        [stock(available=1 - sold, reserved=0, sold=sold, received=1)],
        [reservation("r1", reservation_status, "o1")],
        [order("o1", status, "r1")],
        {} if books is None else {"o1": books},
    )
    return report.violations


def test_the_money_books_balance_for_completed_and_cancelled_orders() -> None:
    assert _money_audit("COMPLETED", ledger(captured=100)) == []
    assert _money_audit("CANCELLED", ledger(captured=100, refunded=100)) == []
    assert _money_audit("CANCELLED", ledger(captured=0)) == []  # voided, or never authorised
    assert _money_audit("CANCELLED", None) == []  # never paid


def test_money_kept_for_a_cancelled_order_or_missing_for_a_completed_one_is_a_violation() -> None:
    assert _money_audit("CANCELLED", ledger(captured=100)) != []
    assert _money_audit("COMPLETED", ledger(captured=100, refunded=100)) != []
    assert _money_audit("COMPLETED", None) != []


def test_a_revoked_reservation_is_what_a_cancelled_order_may_end_with() -> None:
    report = audit_snapshot(
        [stock(available=0, reserved=0, sold=0, received=1, written_off=1)],
        [reservation("r1", "REVOKED", "o1")],
        [order("o1", "CANCELLED", "r1")],
    )
    assert report.ok, report.violations
