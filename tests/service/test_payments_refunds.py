"""Giving the money back: a capture is refunded, an authorisation voided, each once; what was
never taken cannot be given back. In-process: these are rules of one app's API."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from payments_support import AMOUNT, PaymentsClient, new_order_id

from support.in_process import InProcessHouse
from support.polling import wait_for

pytestmark = pytest.mark.service


@pytest.fixture
def payments(in_process: InProcessHouse) -> PaymentsClient:
    return PaymentsClient(in_process.shared("payments").http, in_process.admin_token)


def test_refunding_a_capture_twice_returns_the_money_once(payments: PaymentsClient) -> None:
    order_id = payments.authorised()
    assert payments.capture(order_id).status_code == 200

    first = payments.refund(order_id)
    again = payments.refund(order_id)

    assert first.status_code == again.status_code == 200
    assert first.json()["status"] == "REFUNDED"
    assert again.json() == first.json()
    assert payments.status(order_id) == "REFUNDED"
    ledger = payments.ledger(order_id)
    assert [e["kind"] for e in ledger["entries"]] == ["AUTHORISED", "CAPTURED", "REFUNDED"]
    assert (ledger["capturedCents"], ledger["refundedCents"], ledger["balanceCents"]) == (AMOUNT, AMOUNT, 0)
    refund = payments.provider_operations(order_id)["refund"]
    assert (refund["calls"], refund["effects"]) == (1, 1)


def test_refunding_an_uncaptured_authorisation_voids_it_and_nothing_is_taken(payments: PaymentsClient) -> None:
    order_id = payments.authorised()

    first = payments.refund(order_id)
    again = payments.refund(order_id)

    assert first.status_code == again.status_code == 200
    assert first.json()["status"] == again.json()["status"] == "VOIDED"
    ledger = payments.ledger(order_id)
    assert [e["kind"] for e in ledger["entries"]] == ["AUTHORISED", "VOIDED"]
    assert (ledger["voidedCents"], ledger["capturedCents"], ledger["balanceCents"]) == (AMOUNT, 0, 0)
    assert payments.effects(order_id) == {"authorise": 1, "void": 1}


def test_a_declined_or_unknown_payment_cannot_be_refunded(payments: PaymentsClient) -> None:
    declined = payments.authorised("tok_declined")

    refused = payments.refund(declined)
    unknown = payments.refund("o-never-charged")

    assert (refused.status_code, refused.json()["code"]) == (409, "not_refundable")
    assert (unknown.status_code, unknown.json()["code"]) == (404, "unknown_payment")
    assert payments.ledger(declined)["entries"] == []
    assert payments.payment("o-never-charged").json()["code"] == "unknown_payment"
    assert set(payments.effects(declined)) == {"authorise"}


def test_a_payment_still_being_authorised_cannot_be_refunded(payments: PaymentsClient) -> None:
    order_id = new_order_id()
    with ThreadPoolExecutor(1) as pool:
        slow = pool.submit(payments.authorise, order_id, "tok_slow")
        wait_for(lambda: payments.payment(order_id).status_code == 200, timeout_s=5,
                 what="the authorisation to start")
        refused = payments.refund(order_id)
        assert slow.result().json()["status"] == "AUTHORISED"

    assert (refused.status_code, refused.json()["code"]) == (409, "not_refundable")
    assert refused.json()["paymentStatus"] == "PENDING"
