"""A payments process killed mid-step and restarted on the same database finishes the step
without the provider acting twice: the provider's books say `effects: 1`, however often asked."""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from payments_support import PaymentsClient, new_order_id

from support.polling import wait_for

pytestmark = pytest.mark.service

# Short enough that a restarted process takes an abandoned authorisation over within seconds;
# still above tok_slow's 2 s, so a live one is never taken over.
STALE_PENDING_MS = "3000"


# The module's tests share one payments process and its database (`services`, the module's house):
# each makes its own order ids. A test kills the process, and the next `_start` begins a new one
# on the same database.


def _start(services: Any) -> PaymentsClient:
    """The module's payments process: the running one, or a new one when a test has killed it."""
    return PaymentsClient(services.shared("payments", stale_pending_ms=STALE_PENDING_MS), services.admin_token)


def _cut_off(call: Future[httpx.Response]) -> None:
    """The request the crash interrupted gets no answer."""
    with pytest.raises(httpx.TransportError):
        call.result(timeout=30)


def _authorised_after_take_over(payments: PaymentsClient, order_id: str) -> httpx.Response:
    """Ask again until the abandoned authorisation is stale and taken over (409 until then)."""
    def probe() -> httpx.Response | None:
        answer = payments.authorise(order_id, "tok_slow")
        if answer.status_code == 409:
            assert answer.json()["code"] == "payment_in_progress"
            return None
        return answer

    return wait_for(probe, timeout_s=30, what="the abandoned authorisation to be taken over")


def test_an_authorisation_cut_off_by_a_crash_is_finished_without_authorising_twice(services: Any) -> None:
    payments = _start(services)
    order_id = new_order_id()
    with ThreadPoolExecutor(1) as pool:
        # tok_slow: the provider acts at once and answers 2 s later; the crash falls in between.
        call = pool.submit(payments.authorise, order_id, "tok_slow")
        wait_for(lambda: payments.effects(order_id).get("authorise") == 1 or None, timeout_s=10,
                 what="the provider to authorise")
        payments.kill()
        _cut_off(call)

    payments = _start(services)
    assert payments.status(order_id) == "PENDING"
    answer = _authorised_after_take_over(payments, order_id)

    assert (answer.status_code, answer.json()["status"]) == (200, "AUTHORISED")
    authorise = payments.provider_operations(order_id)["authorise"]
    assert (authorise["calls"], authorise["effects"]) == (2, 1)
    assert payments.entry_kinds(order_id) == ["AUTHORISED"]
    assert payments.authorise(order_id, "tok_slow").json() == answer.json()
    assert payments.provider_operations(order_id)["authorise"]["calls"] == 2


def test_a_capture_cut_off_by_a_crash_takes_the_money_once(services: Any) -> None:
    payments = _start(services)
    order_id = payments.authorised("tok_slow_capture")
    with ThreadPoolExecutor(1) as pool:
        # tok_slow_capture: the provider captures at once and answers 2 s later.
        call = pool.submit(payments.capture, order_id)
        wait_for(lambda: payments.effects(order_id).get("capture") == 1 or None, timeout_s=10,
                 what="the provider to capture")
        payments.kill()
        _cut_off(call)

    payments = _start(services)
    assert payments.status(order_id) == "AUTHORISED"  # captured at the provider, not yet by us
    captured = payments.capture(order_id)
    again = payments.capture(order_id)

    assert (captured.status_code, captured.json()["status"]) == (200, "CAPTURED")
    assert again.json() == captured.json()
    capture = payments.provider_operations(order_id)["capture"]
    assert (capture["calls"], capture["effects"]) == (2, 1)
    ledger = payments.ledger(order_id)
    assert [e["kind"] for e in ledger["entries"]] == ["AUTHORISED", "CAPTURED"]
    assert ledger["balanceCents"] == ledger["authorisedCents"]


def test_a_refund_after_a_crash_mid_capture_finishes_the_capture_and_refunds_it(services: Any) -> None:
    payments = _start(services)
    order_id = payments.authorised("tok_slow_capture")
    with ThreadPoolExecutor(1) as pool:
        call = pool.submit(payments.capture, order_id)
        wait_for(lambda: payments.effects(order_id).get("capture") == 1 or None, timeout_s=10,
                 what="the provider to capture")
        payments.kill()
        _cut_off(call)

    payments = _start(services)
    # The capture may have happened (it did): voiding now would be wrong, so the refund
    # finishes the capture under its idempotency key and then refunds it.
    refunded = payments.refund(order_id)

    assert (refunded.status_code, refunded.json()["status"]) == (200, "REFUNDED")
    assert payments.effects(order_id) == {"authorise": 1, "capture": 1, "refund": 1}
    ledger = payments.ledger(order_id)
    assert [e["kind"] for e in ledger["entries"]] == ["AUTHORISED", "CAPTURED", "REFUNDED"]
    assert ledger["balanceCents"] == 0
    refused = payments.capture(order_id)
    assert (refused.status_code, refused.json()["code"]) == (409, "not_capturable")


def test_finished_steps_are_replayed_after_a_restart_not_repeated(services: Any) -> None:
    payments = _start(services)
    order_id = payments.authorised()
    first = payments.capture(order_id)
    payments.kill()

    payments = _start(services)
    again = payments.authorise(order_id)
    captured = payments.capture(order_id)

    assert again.json() == captured.json() == first.json()
    operations = payments.provider_operations(order_id)
    assert {kind: (op["calls"], op["effects"]) for kind, op in operations.items()} == {
        "authorise": (1, 1), "capture": (1, 1),
    }
