"""The payments service authorises an order once, whatever is asked how often, and says what happened.
In-process: these are rules of one app's API and its relay to the real NATS."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

import nats
import pytest
from payments_support import PaymentsClient, new_order_id

from flashsale.kit.envelope import Envelope
from support.in_process import InProcessHouse
from support.polling import wait_for
from support.problems import assert_client_error_problem

pytestmark = pytest.mark.service


@pytest.fixture
def payments(in_process: InProcessHouse) -> PaymentsClient:
    return PaymentsClient(in_process.shared("payments").http, in_process.admin_token)


def test_each_simulated_token_has_its_documented_outcome(payments: PaymentsClient) -> None:
    expected = {
        "tok_ok": ("AUTHORISED", None),
        "tok_declined": ("DECLINED", "card_declined"),
        "tok_error": ("DECLINED", "provider_error"),
        "tok_mystery": ("DECLINED", "unknown_token"),
    }
    for token, (status, reason) in expected.items():
        order_id = new_order_id()
        response = payments.authorise(order_id, token, amount=1234)
        assert response.status_code == 200, response.text
        view = response.json()
        assert (view["status"], view["reason"]) == (status, reason), token
        assert view["orderId"] == order_id and view["amountCents"] == 1234
        assert view["paymentId"]

    started = time.monotonic()
    slow = payments.authorise(new_order_id(), "tok_slow")
    assert slow.json()["status"] == "AUTHORISED"
    assert time.monotonic() - started >= 2.0


def test_an_authorisation_holds_the_money_without_taking_it(payments: PaymentsClient) -> None:
    order_id = payments.authorised("tok_ok", amount=4999)

    ledger = payments.ledger(order_id)
    assert [e["kind"] for e in ledger["entries"]] == ["AUTHORISED"]
    assert (ledger["authorisedCents"], ledger["capturedCents"], ledger["balanceCents"]) == (4999, 0, 0)
    assert payments.effects(order_id) == {"authorise": 1}


def test_a_declined_authorisation_moves_no_money(payments: PaymentsClient) -> None:
    order_id = payments.authorised("tok_declined")

    assert payments.ledger(order_id)["entries"] == []
    authorise = payments.provider_operations(order_id)["authorise"]
    assert (authorise["approved"], authorise["reason"], authorise["effects"]) == (False, "card_declined", 1)


def test_a_failing_provider_is_asked_again_then_the_payment_declined(payments: PaymentsClient) -> None:
    errors_before = payments.metric("payments_provider_calls_total", kind="authorise", outcome="error")
    declined_before = payments.metric("payments_operations_total", kind="authorise", outcome="declined")
    order_id = payments.authorised("tok_error")

    authorise = payments.provider_operations(order_id)["authorise"]
    assert (authorise["calls"], authorise["effects"]) == (3, 0)
    assert authorise["idempotencyKey"] == f"authorise:{payments.payment(order_id).json()['paymentId']}"
    assert payments.metric("payments_provider_calls_total", kind="authorise", outcome="error") - errors_before == 3
    assert payments.metric("payments_operations_total", kind="authorise", outcome="declined") - declined_before == 1
    assert payments.ledger(order_id)["entries"] == []


def test_a_repeated_authorisation_answers_the_first_outcome_and_authorises_once(payments: PaymentsClient) -> None:
    order_id = new_order_id()
    first = payments.authorise(order_id, "tok_ok")
    again = payments.authorise(order_id, "tok_declined", amount=1)

    assert again.status_code == 200
    assert again.json() == first.json()
    assert payments.payment(order_id).json() == first.json()
    assert payments.entry_kinds(order_id) == ["AUTHORISED"]
    authorise = payments.provider_operations(order_id)["authorise"]
    assert (authorise["calls"], authorise["effects"]) == (1, 1)


def test_an_authorisation_asked_for_while_the_first_is_running_is_refused_not_doubled(
    payments: PaymentsClient,
) -> None:
    order_id = new_order_id()
    with ThreadPoolExecutor(1) as pool:
        slow = pool.submit(payments.authorise, order_id, "tok_slow")
        wait_for(lambda: payments.payment(order_id).status_code == 200, timeout_s=5,
                 what="the first authorisation to start")
        meanwhile = payments.authorise(order_id, "tok_ok")
        first = slow.result()

    assert meanwhile.status_code == 409
    assert meanwhile.json()["code"] == "payment_in_progress"
    assert first.json()["status"] == "AUTHORISED"
    assert payments.entry_kinds(order_id) == ["AUTHORISED"]
    assert payments.effects(order_id) == {"authorise": 1}


def test_every_money_movement_is_announced_as_an_event(payments: PaymentsClient, nats_url: str) -> None:
    kept, returned, voided, declined = (new_order_id() for _ in range(4))
    for order_id in (kept, returned, voided):
        assert payments.authorise(order_id).status_code == 200
    payments.authorise(declined, "tok_declined")
    for order_id in (kept, returned):
        assert payments.capture(order_id).status_code == 200
    for order_id in (returned, voided):
        assert payments.refund(order_id).status_code == 200

    events = asyncio.run(_events_about(nats_url, {kept, returned, voided, declined}, want=8))

    assert sorted((e.data["orderId"], e.type) for e in events) == sorted([
        (kept, "PaymentAuthorised"), (kept, "PaymentCaptured"),
        (returned, "PaymentAuthorised"), (returned, "PaymentCaptured"), (returned, "PaymentRefunded"),
        (voided, "PaymentAuthorised"), (voided, "PaymentVoided"),
        (declined, "PaymentDeclined"),
    ])


async def _events_about(nats_url: str, order_ids: set[str], want: int) -> list[Envelope]:
    """Read the payments stream from the start until `want` events about `order_ids` arrived
    (or the deadline passed: the caller's assertion then shows what did)."""
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


MALFORMED_AUTHORISATIONS: list[object] = [
    {},
    {"orderId": "o-1", "amountCents": 100},
    {"orderId": "o-1", "amountCents": -1, "paymentToken": "tok_ok"},
    {"orderId": "o-1", "amountCents": "100", "paymentToken": "tok_ok"},
    {"orderId": "o-1", "amountCents": 1.5, "paymentToken": "tok_ok"},
    {"orderId": "o-1", "amountCents": 10**13, "paymentToken": "tok_ok"},
    {"orderId": "bad id!", "amountCents": 100, "paymentToken": "tok_ok"},
    {"orderId": "o-1", "amountCents": 100, "paymentToken": ""},
    {"orderId": "o-1", "amountCents": 100, "paymentToken": "x" * 101},
    {"orderId": "o-1", "amountCents": 100, "paymentToken": "tok_ok", "extra": 1},
    [1, 2, 3],
    None,
]


def test_malformed_requests_get_a_4xx_problem_and_move_no_money(payments: PaymentsClient) -> None:
    ask = payments.request
    answers = [ask("POST", "/payments", json=body) for body in MALFORMED_AUTHORISATIONS]
    answers.append(ask("POST", "/payments", content=b"{nope", headers={"content-type": "application/json"}))
    answers.append(ask("GET", "/payments/not%20an%20id"))
    answers.append(ask("GET", "/payments/not%20an%20id/ledger"))
    answers.append(ask("POST", "/payments/not%20an%20id/refund"))
    answers.append(ask("POST", "/payments/not%20an%20id/capture"))
    answers.append(ask("GET", f"/payments/{'x' * 101}", headers=payments.admin))
    answers.append(ask("GET", "/payments/not%20an%20id/provider-operations", headers=payments.admin))
    answers.append(ask("PUT", "/payments/o-1/capture"))

    for response in answers:
        assert_client_error_problem(response, (response.request.url, response.request.content))
    assert payments.payment("o-1").status_code == 404


def test_the_provider_books_are_for_operators_only(payments: PaymentsClient) -> None:
    order_id = payments.authorised()
    path = f"/payments/{order_id}/provider-operations"

    anonymous = payments.request("GET", path)
    wrong = payments.request("GET", path, headers={"Authorization": "Bearer not-the-token"})
    unknown = payments.request("GET", "/payments/o-never-paid/provider-operations", headers=payments.admin)

    assert (anonymous.status_code, anonymous.json()["code"]) == (401, "unauthorized")
    assert (wrong.status_code, wrong.json()["code"]) == (403, "forbidden")
    assert (unknown.status_code, unknown.json()["code"]) == (404, "unknown_payment")
