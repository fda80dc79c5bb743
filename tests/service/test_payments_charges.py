"""The payments service charges an order once, whatever is asked how often, and says what happened."""

from __future__ import annotations

import asyncio
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import nats
import pytest

from flashsale.kit.envelope import Envelope

pytestmark = pytest.mark.service


def _order_id() -> str:
    return f"o-{uuid.uuid4().hex[:12]}"


def _charge(url: str, order_id: str, token: str, amount: int = 49_999) -> httpx.Response:
    body = {"orderId": order_id, "amountCents": amount, "paymentToken": token}
    return httpx.post(f"{url}/payments", json=body, timeout=15)


def _ledger(url: str, order_id: str) -> dict[str, Any]:
    response = httpx.get(f"{url}/payments/{order_id}/ledger", timeout=5)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_each_simulated_token_has_its_documented_outcome(services: Any) -> None:
    pay = services.start("payments")
    expected = {
        "tok_ok": ("APPROVED", None),
        "tok_declined": ("DECLINED", "card_declined"),
        "tok_error": ("DECLINED", "provider_error"),
        "tok_mystery": ("DECLINED", "unknown_token"),
    }
    for token, (status, reason) in expected.items():
        order_id = _order_id()
        response = _charge(pay.url, order_id, token, amount=1234)
        assert response.status_code == 200, response.text
        view = response.json()
        assert (view["status"], view["reason"]) == (status, reason), token
        assert view["orderId"] == order_id and view["amountCents"] == 1234
        assert view["paymentId"]

    started = time.monotonic()
    slow = _charge(pay.url, _order_id(), "tok_slow")
    assert slow.json()["status"] == "APPROVED"
    assert time.monotonic() - started >= 2.0


def test_a_repeated_charge_answers_the_first_outcome_and_charges_once(services: Any) -> None:
    pay = services.start("payments")
    order_id = _order_id()
    first = _charge(pay.url, order_id, "tok_ok")
    again = _charge(pay.url, order_id, "tok_declined", amount=1)

    assert again.status_code == 200
    assert again.json() == first.json()
    assert httpx.get(f"{pay.url}/payments/{order_id}").json() == first.json()
    ledger = _ledger(pay.url, order_id)
    assert [e["kind"] for e in ledger["entries"]] == ["AUTHORISED", "CAPTURED"]
    assert ledger["balanceCents"] == 49_999


def test_a_charge_asked_for_while_the_first_is_running_is_refused_not_doubled(services: Any) -> None:
    pay = services.start("payments")
    order_id = _order_id()
    with ThreadPoolExecutor(1) as pool:
        slow = pool.submit(_charge, pay.url, order_id, "tok_slow")
        deadline = time.monotonic() + 5
        while httpx.get(f"{pay.url}/payments/{order_id}").status_code == 404:
            assert time.monotonic() < deadline, "the first charge never started"
            time.sleep(0.05)
        meanwhile = _charge(pay.url, order_id, "tok_ok")
        first = slow.result()

    assert meanwhile.status_code == 409
    assert meanwhile.json()["code"] == "payment_in_progress"
    assert first.json()["status"] == "APPROVED"
    assert [e["kind"] for e in _ledger(pay.url, order_id)["entries"]] == ["AUTHORISED", "CAPTURED"]


def test_charge_outcomes_are_announced_as_events(services: Any, nats_url: str) -> None:
    pay = services.start("payments")
    approved, declined = _order_id(), _order_id()
    _charge(pay.url, approved, "tok_ok")
    _charge(pay.url, declined, "tok_declined")

    events = asyncio.run(_events_about(nats_url, {approved, declined}, want=2))

    assert {(e.type, e.data["orderId"]) for e in events} == {
        ("PaymentApproved", approved), ("PaymentDeclined", declined),
    }


async def _events_about(nats_url: str, order_ids: set[str], want: int) -> list[Envelope]:
    """Read the payments stream from the start until `want` events about `order_ids` arrived."""
    nc = await nats.connect(nats_url)
    found: list[Envelope] = []
    try:
        sub = await nc.jetstream().subscribe("payments.>", ordered_consumer=True)
        deadline = time.monotonic() + 15
        while len(found) < want and time.monotonic() < deadline:
            try:
                msg = await sub.next_msg(timeout=0.5)
            except nats.errors.TimeoutError:
                continue
            envelope = Envelope.from_bytes(msg.data)
            if envelope.data.get("orderId") in order_ids:
                found.append(envelope)
    finally:
        await nc.close()
    return found


MALFORMED_CHARGES: list[object] = [
    {},
    {"orderId": "o-1", "amountCents": 100},
    {"orderId": "o-1", "amountCents": -1, "paymentToken": "tok_ok"},
    {"orderId": "o-1", "amountCents": "100", "paymentToken": "tok_ok"},
    {"orderId": "o-1", "amountCents": 1.5, "paymentToken": "tok_ok"},
    {"orderId": "bad id!", "amountCents": 100, "paymentToken": "tok_ok"},
    {"orderId": "o-1", "amountCents": 100, "paymentToken": ""},
    {"orderId": "o-1", "amountCents": 100, "paymentToken": "x" * 101},
    {"orderId": "o-1", "amountCents": 100, "paymentToken": "tok_ok", "extra": 1},
    [1, 2, 3],
    None,
]


def test_malformed_requests_get_a_4xx_problem_and_charge_nothing(services: Any) -> None:
    pay = services.start("payments")
    answers = [httpx.post(f"{pay.url}/payments", json=body) for body in MALFORMED_CHARGES]
    answers.append(httpx.post(f"{pay.url}/payments", content=b"{nope", headers={"content-type": "application/json"}))
    answers.append(httpx.get(f"{pay.url}/payments/not%20an%20id"))
    answers.append(httpx.post(f"{pay.url}/payments/not%20an%20id/refund"))

    for response in answers:
        assert 400 <= response.status_code < 500, (response.request.content, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["code"]
    assert httpx.get(f"{pay.url}/payments/o-1").status_code == 404
