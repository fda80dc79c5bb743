"""A refund gives back what was captured, once; what was never captured cannot be refunded."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.service


def _paid_order(url: str, token: str) -> str:
    order_id = f"o-{uuid.uuid4().hex[:12]}"
    body = {"orderId": order_id, "amountCents": 2500, "paymentToken": token}
    assert httpx.post(f"{url}/payments", json=body, timeout=10).status_code == 200
    return order_id


def test_refunding_twice_returns_the_money_once(services: Any) -> None:
    pay = services.start("payments")
    order_id = _paid_order(pay.url, "tok_ok")

    first = httpx.post(f"{pay.url}/payments/{order_id}/refund")
    again = httpx.post(f"{pay.url}/payments/{order_id}/refund")

    assert first.status_code == again.status_code == 200
    assert first.json()["status"] == "REFUNDED"
    assert again.json() == first.json()
    assert httpx.get(f"{pay.url}/payments/{order_id}").json()["status"] == "REFUNDED"
    ledger = httpx.get(f"{pay.url}/payments/{order_id}/ledger").json()
    assert [e["kind"] for e in ledger["entries"]] == ["AUTHORISED", "CAPTURED", "REFUNDED"]
    assert ledger["balanceCents"] == 0


def test_a_declined_or_unknown_payment_cannot_be_refunded(services: Any) -> None:
    pay = services.start("payments")
    declined = _paid_order(pay.url, "tok_declined")

    refused = httpx.post(f"{pay.url}/payments/{declined}/refund")
    unknown = httpx.post(f"{pay.url}/payments/o-never-charged/refund")

    assert (refused.status_code, refused.json()["code"]) == (409, "not_refundable")
    assert (unknown.status_code, unknown.json()["code"]) == (404, "unknown_payment")
    assert httpx.get(f"{pay.url}/payments/{declined}/ledger").json()["entries"] == []
    assert httpx.get(f"{pay.url}/payments/o-never-charged").json()["code"] == "unknown_payment"
