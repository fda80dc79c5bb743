"""Capture takes the authorised money once; racing captures and refunds leave a ledger that adds up.
In-process: rules of one app's API, the racing requests reaching it together as they reach one
process."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from payments_support import PaymentsClient, assert_ledger_consistent, new_order_id

from support.in_process import InProcessClient, InProcessHouse
from support.polling import wait_for

pytestmark = pytest.mark.service


@pytest.fixture
def payments(in_process: InProcessHouse) -> PaymentsClient:
    return PaymentsClient(in_process.shared("payments").http, in_process.admin_token)


def test_authorise_capture_refund_keeps_the_ledger_balanced_at_every_step(payments: PaymentsClient) -> None:
    order_id = payments.authorised(amount=7_500)
    assert payments.ledger(order_id)["balanceCents"] == 0

    captured = payments.capture(order_id)
    assert (captured.status_code, captured.json()["status"]) == (200, "CAPTURED")
    after_capture = payments.ledger(order_id)
    assert (after_capture["authorisedCents"], after_capture["capturedCents"]) == (7_500, 7_500)
    assert after_capture["balanceCents"] == 7_500

    refunded = payments.refund(order_id)
    assert (refunded.status_code, refunded.json()["status"]) == (200, "REFUNDED")
    after_refund = payments.ledger(order_id)
    assert [e["kind"] for e in after_refund["entries"]] == ["AUTHORISED", "CAPTURED", "REFUNDED"]
    assert after_refund["balanceCents"] == 0
    assert_ledger_consistent(after_refund)
    assert payments.effects(order_id) == {"authorise": 1, "capture": 1, "refund": 1}
    assert payments.provider_operations(order_id)["capture"]["idempotencyKey"] == (
        f"capture:{captured.json()['paymentId']}"
    )


def test_capturing_twice_takes_the_money_once(payments: PaymentsClient) -> None:
    def captures(outcome: str) -> float:
        return payments.metric("payments_operations_total", kind="capture", outcome=outcome)

    before = captures("captured"), captures("replayed")
    order_id = payments.authorised()

    first = payments.capture(order_id)
    again = payments.capture(order_id)

    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert first.json()["status"] == "CAPTURED"
    assert payments.entry_kinds(order_id) == ["AUTHORISED", "CAPTURED"]
    capture = payments.provider_operations(order_id)["capture"]
    assert (capture["calls"], capture["effects"]) == (1, 1)
    assert (captures("captured") - before[0], captures("replayed") - before[1]) == (1, 1)


def test_only_an_authorised_payment_can_be_captured(payments: PaymentsClient) -> None:
    declined = payments.authorised("tok_declined")
    voided = payments.authorised()
    assert payments.refund(voided).json()["status"] == "VOIDED"
    refunded = payments.authorised()
    payments.capture(refunded)
    assert payments.refund(refunded).json()["status"] == "REFUNDED"

    for order_id, status in ((declined, "DECLINED"), (voided, "VOIDED"), (refunded, "REFUNDED")):
        refused = payments.capture(order_id)
        assert (refused.status_code, refused.json()["code"]) == (409, "not_capturable"), status
        assert refused.json()["paymentStatus"] == status
    assert "capture" not in payments.effects(declined)
    assert "capture" not in payments.effects(voided)
    assert payments.effects(refunded)["capture"] == 1
    unknown = payments.capture("o-never-authorised")
    assert (unknown.status_code, unknown.json()["code"]) == (404, "unknown_payment")


def test_a_payment_still_being_authorised_cannot_be_captured(payments: PaymentsClient) -> None:
    order_id = new_order_id()
    with ThreadPoolExecutor(1) as pool:
        slow = pool.submit(payments.authorise, order_id, "tok_slow")
        wait_for(lambda: payments.payment(order_id).status_code == 200, timeout_s=5,
                 what="the authorisation to start")
        refused = payments.capture(order_id)
        assert slow.result().json()["status"] == "AUTHORISED"

    assert (refused.status_code, refused.json()["code"]) == (409, "not_capturable")
    assert payments.capture(order_id).json()["status"] == "CAPTURED"


def test_racing_captures_and_refunds_leave_a_ledger_that_adds_up(payments: PaymentsClient) -> None:
    order_ids = [payments.authorised() for _ in range(3)]

    assert isinstance(payments.http, InProcessClient)
    answers = _race(payments.http, order_ids, each=20)

    for order_id in order_ids:
        captures, refunds = answers[order_id]
        assert {(r.status_code, r.json().get("code")) for r in captures} <= {(200, None), (409, "not_capturable")}
        # Every refund was answered 200: the money is back, by a void or by a refund.
        assert {r.status_code for r in refunds} == {200}
        assert {r.json()["status"] for r in refunds} <= {"VOIDED", "REFUNDED"}
        ledger = payments.ledger(order_id)
        assert_ledger_consistent(ledger)
        # Whichever came first, a refund answered 200 means nothing is kept.
        assert ledger["balanceCents"] == 0
        status = payments.status(order_id)
        # The provider did exactly what the ledger says, each thing once: never both a capture
        # and a void of one authorisation.
        if status == "VOIDED":
            assert [e["kind"] for e in ledger["entries"]] == ["AUTHORISED", "VOIDED"]
            assert payments.effects(order_id) == {"authorise": 1, "void": 1}
        else:
            assert [e["kind"] for e in ledger["entries"]] == ["AUTHORISED", "CAPTURED", "REFUNDED"]
            assert payments.effects(order_id) == {"authorise": 1, "capture": 1, "refund": 1}


Answers = tuple[list[httpx.Response], list[httpx.Response]]


def _race(client: InProcessClient, order_ids: list[str], each: int) -> dict[str, Answers]:
    """`each` captures and `each` refunds of every order, all at once; answers by order."""
    calls = [
        client.build_request("POST", f"/payments/{order_id}/{verb}")
        for order_id in order_ids
        for _ in range(each)
        for verb in ("capture", "refund")
    ]
    responses = client.at_once(calls)
    by_order: dict[str, Answers] = {o: ([], []) for o in order_ids}
    for response in responses:
        order_id, verb = response.request.url.path.split("/")[2:4]
        by_order[order_id][0 if verb == "capture" else 1].append(response)
    return by_order
