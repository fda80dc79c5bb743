"""The auditor's money rule for snapshot prices: a completed order captured its stated total, and
that total is its lines at their snapshot unit prices."""

from __future__ import annotations

from typing import Any

import pytest

from flashsale.sale.audit import audit_snapshot

pytestmark = pytest.mark.unit


def stock() -> dict[str, Any]:
    return {"productId": "PS5", "available": 0, "reserved": 0, "sold": 2, "received": 2, "writtenOff": 0}


def completed(total: int, unit_price: int = 1_000, quantity: int = 2) -> dict[str, Any]:
    return {"orderId": "o1", "status": "COMPLETED", "reservationId": "r1", "totalCents": total,
            "items": [{"productId": "PS5", "quantity": quantity, "name": "PS5", "unitPriceCents": unit_price}]}


def ledger(captured: int) -> dict[str, Any]:
    return {"capturedCents": captured, "refundedCents": 0, "balanceCents": captured}


RESERVATIONS = [{"reservationId": "r1", "status": "CONFIRMED", "orderId": "o1",
                 "items": [{"productId": "PS5", "quantity": 2}]}]


def test_a_completed_order_that_captured_its_snapshot_total_passes() -> None:
    report = audit_snapshot([stock()], RESERVATIONS, [completed(2_000)], {"o1": ledger(2_000)})
    assert report.ok, report.violations


def test_capturing_other_than_the_snapshot_total_is_a_violation() -> None:
    report = audit_snapshot([stock()], RESERVATIONS, [completed(2_000)], {"o1": ledger(99_998)})
    assert report.violations == ["order o1: COMPLETED for 2000 cents but 99998 were captured"]


def test_a_total_its_lines_do_not_add_up_to_is_a_violation() -> None:
    report = audit_snapshot([stock()], RESERVATIONS, [completed(2_500)], {"o1": ledger(2_500)})
    assert report.violations == ["order o1: totalCents 2500 but its lines add up to 2000"]
