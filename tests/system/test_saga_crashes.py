"""A process killed at every step boundary of the checkout saga: the saga finishes or undoes itself.

Each case arms one named crash point (kit.faults): the first order instance that reaches it SIGKILLs
itself. The supervisor restarts it, and the saga is resumed by whichever instance's worker finds
its lease run out. Afterwards the order is terminal, the provider did each money movement at most
once, the ledger balances, and the stock books say exactly what happened.

Two journeys pass every point:
- a purchase: hold -> payment -> stock deducted -> capture -> shipment -> COMPLETED;
- an apology: the same purchase, then the warehouse writes the unit off, the inventory revokes the
  sale, and the saga undoes it: cancel shipment -> refund -> release -> CANCELLED/stock_unavailable.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from rich.console import Console

from flashsale.runtime.services_file import ServicesFile
from flashsale.sale.commands import running_house
from support import plain_http

pytestmark = pytest.mark.system

T = TypeVar("T")
HOLD_TTL_S = 8
PURCHASE_POINTS = [
    "payment.called", "payment.recorded", "stock.recorded", "capture.called", "capture.recorded",
    "shipment.called", "shipment.recorded",
]
APOLOGY_POINTS = [
    "cancel_shipment.called", "cancel_shipment.recorded", "refund_payment.called", "refund_payment.recorded",
    "release_hold.called", "release_hold.recorded", "cancel_order.recorded",
]


def poll(what: str, probe: Callable[[], T | None], timeout_s: float = 45.0) -> T:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            found = probe()
        except httpx.HTTPError:
            found = None  # an instance is down (we killed it): ask again
        if found:
            return found
        time.sleep(0.1)
    pytest.fail(f"{what} did not happen within {timeout_s:g} s")


class Shop:
    def __init__(self, services: ServicesFile, faults: Path) -> None:
        self.urls = services.urls
        self.faults = faults
        self.admin = {"Authorization": f"Bearer {services.admin_token}"}

    def url(self, service: str, n: int = 0) -> str:
        return self.urls[service][n]

    def all_healthy(self) -> bool:
        """Every instance answers again (the supervisor restarts the one a previous case killed)."""
        for urls in self.urls.values():
            for url in urls:
                if plain_http.get(f"{url}/health", timeout=2).status_code != 200:
                    return False
        return True

    def arm(self, point: str) -> None:
        (self.faults / point).touch()

    def fired(self, point: str) -> bool:
        return not (self.faults / point).exists()

    def new_product(self, units: int) -> str:
        product = f"p-{time.monotonic_ns()}"
        # The order service sells only what the catalog lists.
        listed = plain_http.put(f"{self.url('catalog')}/products/{product}", headers=self.admin,
                           json={"name": product, "priceCents": 49_999})
        assert listed.status_code == 201, listed.text
        answer = plain_http.post(f"{self.url('inventory')}/inventory/{product}/receive", json={"quantity": units},
                            headers=self.admin)
        assert answer.status_code == 200, answer.text
        return product

    def order(self, order_id: str) -> dict[str, Any]:
        """From whichever order instance answers (the other may be the one we killed)."""
        for url in self.urls["orders"]:
            try:
                return dict(plain_http.get(f"{url}/orders/{order_id}", timeout=5).json())
            except httpx.HTTPError:
                continue
        raise httpx.ConnectError("no order instance answers")

    def wait_order(self, order_id: str, status: str) -> dict[str, Any]:
        def probe() -> dict[str, Any] | None:
            order = self.order(order_id)
            return order if order["status"] == status else None

        return poll(f"order {order_id} to be {status}", probe)

    def buy(self, product: str, customer: str) -> str:
        """Place and pay on instance 1; a crash there makes the pay call fail, which a buyer sees
        as a dropped connection: the saga carries on without them."""
        placed = plain_http.post(f"{self.url('orders')}/orders", timeout=30,
                            json={"customerId": customer, "items": [{"productId": product, "quantity": 1}]})
        assert placed.status_code == 201, placed.text
        order_id = str(placed.json()["orderId"])
        with contextlib.suppress(httpx.HTTPError):
            plain_http.post(f"{self.url('orders')}/orders/{order_id}/pay", json={"paymentToken": "tok_ok"}, timeout=30)
        return order_id

    def stock(self, product: str) -> tuple[int, int, int]:
        stock = plain_http.get(f"{self.url('inventory')}/inventory/{product}").json()
        return stock["available"], stock["reserved"], stock["sold"]

    def provider_effects(self, order_id: str) -> dict[str, int]:
        answer = plain_http.get(f"{self.url('payments')}/payments/{order_id}/provider-operations", headers=self.admin)
        assert answer.status_code == 200, answer.text
        effects: dict[str, int] = {}
        for operation in answer.json()["operations"]:
            effects[operation["kind"]] = effects.get(operation["kind"], 0) + operation["effects"]
        return effects

    def ledger(self, order_id: str) -> dict[str, Any]:
        return dict(plain_http.get(f"{self.url('payments')}/payments/{order_id}/ledger").json())

    def shipment(self, order_id: str) -> dict[str, Any]:
        return dict(plain_http.get(f"{self.url('shipping')}/shipments/{order_id}").json())

    def notifications(self, order_id: str) -> list[dict[str, Any]]:
        answer = plain_http.get(f"{self.url('notifications')}/notifications", params={"orderId": order_id})
        return list(answer.json()["notifications"])

    def write_off(self, product: str, units: int) -> None:
        answer = plain_http.post(f"{self.url('inventory')}/inventory/{product}/adjust",
                            json={"delta": -units, "reason": "dropped in the warehouse"}, headers=self.admin)
        assert answer.status_code == 200, answer.text


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    faults = tmp_path_factory.mktemp("faults")
    env = {
        "FLASHSALE_FAULTS_DIR": str(faults),
        # A dead runner's saga is taken over once its lease runs out: keep that short here.
        "FLASHSALE_SAGA_LEASE_S": "2",
        "FLASHSALE_SAGA_POLL_INTERVAL_S": "0.2",
        # Every case kills an order instance a few seconds after the last one's restart: without a
        # cap the supervisor's backoff doubles up to 10 s, and each case would wait that out before
        # it starts (the backoff's growth is tested in tests/unit/test_runtime_restart.py).
        "FLASHSALE_RESTART_BACKOFF_MAX_S": "1",
    }
    with running_house(tmp_path_factory.mktemp("house"), orders_instances=2, hold_ttl=HOLD_TTL_S,
                       console=Console(quiet=True), env=env) as services:
        yield Shop(services, faults)


@pytest.fixture(autouse=True)
def whole_house(shop: Shop) -> None:
    poll("every instance to be up", shop.all_healthy, timeout_s=60)


@pytest.mark.parametrize("point", PURCHASE_POINTS)
def test_a_purchase_cut_off_at_a_step_boundary_completes_once(shop: Shop, point: str) -> None:
    product = shop.new_product(1)
    shop.arm(point)

    order_id = shop.buy(product, f"c-{point}")

    order = shop.wait_order(order_id, "COMPLETED")
    assert shop.fired(point), f"the crash point {point} was never reached"
    assert shop.provider_effects(order_id) == {"authorise": 1, "capture": 1}
    ledger = shop.ledger(order_id)
    assert ledger["balanceCents"] == ledger["capturedCents"] == ledger["authorisedCents"] > 0
    assert shop.shipment(order_id)["status"] == "SCHEDULED"
    assert shop.stock(product) == (0, 0, 1)
    assert order["statusReason"] is None


@pytest.mark.parametrize("point", ["payment.called", "release_hold.called", "payment.recorded"])
def test_a_declined_pay_cut_off_cancels_the_order_and_gives_its_unit_back_once(shop: Shop, point: str) -> None:
    """A declined card's hold goes back before the decline is recorded (one commit records the
    decline, the release and the cancellation): cut off before that commit, the saga asks the
    payment again, releases again (idempotent) and cancels; the unit is back once, not twice."""
    product = shop.new_product(1)
    placed = plain_http.post(f"{shop.url('orders')}/orders", timeout=30, json={
        "customerId": f"c-declined-{point}", "items": [{"productId": product, "quantity": 1}]})
    assert placed.status_code == 201, placed.text
    order_id = placed.json()["orderId"]
    shop.arm(point)

    with pytest.raises(httpx.HTTPError):
        plain_http.post(f"{shop.url('orders')}/orders/{order_id}/pay", json={"paymentToken": "tok_declined"},
                        timeout=30)

    assert shop.fired(point)
    order = shop.wait_order(order_id, "CANCELLED")
    assert order["statusReason"] == "payment_declined"
    assert shop.stock(product) == (1, 0, 0)
    retry = plain_http.post(f"{shop.url('orders', 1)}/orders/{order_id}/pay", json={"paymentToken": "tok_declined"},
                            timeout=30)
    assert (retry.status_code, retry.json()["code"]) == (402, "payment_declined")  # the same card: the same answer
    saga = plain_http.get(f"{shop.url('orders', 1)}/orders/{order_id}/saga", timeout=5).json()
    steps = {step["step"]: (step["status"], step["outcome"]) for step in saga["steps"]}
    assert (saga["state"], steps["payment"], steps["release_hold"], steps["cancel_order"]) == (
        "COMPENSATED", ("DONE", "DECLINED"), ("DONE", "RELEASED"), ("DONE", "CANCELLED"))


def test_a_keyed_pay_cut_off_once_its_payment_is_recorded_answers_its_retry_at_once(shop: Shop) -> None:
    """A pay's answer is stored under its Idempotency-Key in the commit that records the payment:
    the buyer whose connection died with the instance gets the paid order from a retry with the
    same key, not 409 request_in_progress until the key's lock (a minute) runs out."""
    product = shop.new_product(1)
    placed = plain_http.post(f"{shop.url('orders')}/orders", timeout=30,
                             json={"customerId": "c-keyed-pay", "items": [{"productId": product, "quantity": 1}]})
    assert placed.status_code == 201, placed.text
    order_id = placed.json()["orderId"]

    def pay(instance: int) -> httpx.Response:
        return plain_http.post(f"{shop.url('orders', instance)}/orders/{order_id}/pay", timeout=30,
                               json={"paymentToken": "tok_ok"}, headers={"Idempotency-Key": f"pay-{order_id}"})

    shop.arm("payment.recorded")
    with pytest.raises(httpx.HTTPError):
        pay(0)
    assert shop.fired("payment.recorded")

    retry = pay(1)  # at the other instance, while the supervisor restarts the first
    assert retry.status_code == 200, retry.text
    assert (retry.json()["orderId"], retry.json()["status"]) == (order_id, "PAID")
    shop.wait_order(order_id, "COMPLETED")
    assert pay(1).json() == retry.json()  # the stored answer, not the order as it is now
    assert shop.provider_effects(order_id) == {"authorise": 1, "capture": 1}


@pytest.mark.parametrize("point", APOLOGY_POINTS)
def test_an_apology_cut_off_at_a_step_boundary_refunds_once_and_cancels(shop: Shop, point: str) -> None:
    product = shop.new_product(1)
    order_id = shop.buy(product, f"c-{point}")
    shop.wait_order(order_id, "COMPLETED")
    shop.arm(point)

    shop.write_off(product, 1)  # the unit was sold, then dropped in the warehouse

    order = shop.wait_order(order_id, "CANCELLED")
    assert shop.fired(point), f"the crash point {point} was never reached"
    assert order["statusReason"] == "stock_unavailable"
    assert shop.provider_effects(order_id) == {"authorise": 1, "capture": 1, "refund": 1}
    ledger = shop.ledger(order_id)
    assert ledger["balanceCents"] == 0 and ledger["refundedCents"] == ledger["capturedCents"] > 0
    assert shop.shipment(order_id)["status"] == "CANCELLED"
    assert shop.stock(product) == (0, 0, 0)  # written off: nothing to sell, nothing credited twice
    apology = poll("the apology", lambda: [n for n in shop.notifications(order_id) if n["kind"] == "apology"])
    assert len(apology) == 1 and apology[0]["reason"] == "stock_unavailable"


def test_an_orphaned_hold_whose_order_was_never_written_expires(shop: Shop) -> None:
    product = shop.new_product(1)
    shop.arm("hold.called")

    with pytest.raises(httpx.HTTPError):
        plain_http.post(f"{shop.url('orders')}/orders", timeout=30,
                   json={"customerId": "c-orphan", "items": [{"productId": product, "quantity": 1}]})

    assert shop.fired("hold.called")
    assert shop.stock(product) == (0, 1, 0)  # held for an order that does not exist
    poll("the orphaned hold to expire", lambda: shop.stock(product) == (1, 0, 0), timeout_s=HOLD_TTL_S + 30)
