"""Composed reads degrade instead of failing: an order is still shown when the customers or the
catalog service is down or hanging (that part null and marked), a hanging dependency's circuit
opens so that reads stop waiting on it, and only the order itself is essential (503 without it)."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from aiohttp import web
from gateway_support import (
    Gateway,
    backends,
    bearer,
    gateway_env,
    mint,
    module_database_base,  # noqa: F401 - a fixture: SQLite only, it says why
)

from flashsale.kit.clock import SystemClock
from flashsale.kit.http import ServiceClient
from flashsale.runtime.process import ServiceProcess
from flashsale.services.gateway.compose import Reads
from flashsale.services.gateway.errors import OrderNotFound
from flashsale.services.gateway.freshness import RecentWrites
from support.ids import unique
from support.metrics import page_of, total
from support.polling import wait_for

pytestmark = pytest.mark.service


@pytest.fixture
def own_customers(house: Any) -> Iterator[ServiceProcess]:
    """A customers process of this test's own, to kill or freeze (the shared ones stay up)."""
    process = house.start("customers", instance=unique("i"))
    yield process
    if process.is_running() and process.pid is not None:
        os.kill(process.pid, signal.SIGCONT)


def own_gateway(house: Any, **overrides: Any) -> Gateway:
    settings = {key: value for key, value in overrides.items() if key not in ("catalog", "customers")}
    wired = backends(house, catalog=overrides.get("catalog"), customers=overrides.get("customers"))
    return Gateway(house.start("gateway", instance=unique("g"), **gateway_env(wired, **settings)), house.admin_token)


def composed(gateway: Gateway, headers: dict[str, str], order_id: str) -> tuple[int, dict[str, Any], float]:
    started = time.monotonic()
    answer = gateway.get(f"/api/orders/{order_id}", headers=headers)
    return answer.status_code, answer.json(), time.monotonic() - started


def test_an_order_reads_whole_while_every_service_answers(house: Any) -> None:
    gateway = Gateway(house.shared("gateway", **gateway_env(backends(house))), house.admin_token)
    product_id = gateway.new_product(gateway.admin(), stock=3, price_cents=4999)
    customer = gateway.sign_up("Ann")
    order = gateway.place(customer, product_id, quantity=2)

    status, body, _ = composed(gateway, customer.headers, order["orderId"])

    assert status == 200
    assert body["parts"] == {"order": "ok", "customer": "ok", "products": "ok"}
    assert body["order"]["orderId"] == order["orderId"]
    assert (body["customer"]["customerId"], body["customer"]["name"]) == (customer.customer_id, "Ann")
    assert body["products"][product_id]["priceCents"] == 4999
    assert body["products"][product_id]["availability"]["source"] in ("inventory", "catalog")


def test_a_poll_answered_in_front_of_the_app_is_the_apps_own_answer(house: Any) -> None:
    gateway = Gateway(house.shared("gateway", **gateway_env(backends(house))), house.admin_token)
    product_id = gateway.new_product(gateway.admin(), stock=3)
    ann, bob = gateway.sign_up("Ann"), gateway.sign_up("Bob")
    order_id = gateway.place(ann, product_id)["orderId"]
    route = "/api/orders/{orderId}"
    counted = total(page_of(gateway.url), "http_request_duration_seconds_count", route=route, method="GET")

    polled = gateway.get(f"/api/orders/{order_id}", headers=ann.headers)  # answered by polls.py
    by_route = gateway.get(f"/api/orders/{order_id}", headers=ann.headers, params={"via": "route"})  # by FastAPI's
    read_by_bob = gateway.get(f"/api/orders/{order_id}", headers=bob.headers)
    unsigned = gateway.get(f"/api/orders/{order_id}")

    assert polled.status_code == by_route.status_code == 200, polled.text
    assert polled.json()["order"] == by_route.json()["order"] and polled.json()["order"]["orderId"] == order_id
    assert polled.json()["customer"] == by_route.json()["customer"]
    assert polled.json()["parts"] == by_route.json()["parts"] == {"order": "ok", "customer": "ok", "products": "ok"}
    assert polled.headers["content-type"] == by_route.headers["content-type"] == "application/json"
    assert (read_by_bob.status_code, read_by_bob.json()["code"]) == (404, "order_not_found")
    assert read_by_bob.json()["instance"] == f"/api/orders/{order_id}"
    assert (unsigned.status_code, unsigned.json()["code"]) == (401, "unauthenticated")
    assert total(page_of(gateway.url), "http_request_duration_seconds_count", route=route, method="GET") - counted == 4


def test_another_customers_order_can_be_neither_read_nor_paid_and_stays_as_it_was(house: Any) -> None:
    gateway = Gateway(house.shared("gateway", **gateway_env(backends(house))), house.admin_token)
    product_id = gateway.new_product(gateway.admin(), stock=3)
    ann, bob = gateway.sign_up("Ann"), gateway.sign_up("Bob")
    order_id = gateway.place(ann, product_id)["orderId"]
    payment = {"paymentToken": "tok_ok"}

    read_by_bob = gateway.get(f"/api/orders/{order_id}", headers=bob.headers)
    paid_by_bob = gateway.post(f"/api/orders/{order_id}/pay", headers=bob.headers, json=payment)
    keyed_by_bob = gateway.post(f"/api/orders/{order_id}/pay", json=payment,
                                headers={**bob.headers, "Idempotency-Key": unique("k")})
    unknown = gateway.post("/api/orders/o-nobody/pay", headers=ann.headers, json=payment)
    still_anns = gateway.get(f"/api/orders/{order_id}", headers=ann.headers).json()["order"]
    paid_by_ann = gateway.post(f"/api/orders/{order_id}/pay", headers=ann.headers, json=payment)

    for refused in (read_by_bob, paid_by_bob, keyed_by_bob, unknown):  # another's order is a missing one
        assert refused.status_code == 404, refused.text
        assert refused.json()["code"] == "order_not_found"
    assert paid_by_bob.json()["detail"] == unknown.json()["detail"].replace("o-nobody", order_id)
    assert still_anns["status"] == "PENDING_PAYMENT"
    assert paid_by_ann.status_code == 200 and paid_by_ann.json()["status"] == "PAID", paid_by_ann.text


def _asked(process: ServiceProcess, route: str) -> float:
    return total(page_of(process.url), "http_request_duration_seconds_count", route=route)


def test_a_crowd_of_reads_asks_the_catalog_and_the_customers_once_and_a_profile_change_shows_at_once(
    house: Any,
) -> None:
    gateway = own_gateway(house, parts_kept_s="60")  # kept for longer than the test takes
    catalog, customers = house.shared("catalog"), house.shared("customers")
    product_id = gateway.new_product(gateway.admin(), stock=3)
    customer = gateway.sign_up("Ann")
    order_id = gateway.place(customer, product_id)["orderId"]
    before = _asked(catalog, "/products/batch"), _asked(customers, "/customers/{customerId}")

    reads = [composed(gateway, customer.headers, order_id)[1] for _ in range(10)]
    after = _asked(catalog, "/products/batch"), _asked(customers, "/customers/{customerId}")
    renamed = gateway.call("PATCH", "/api/me", headers=customer.headers, json={"name": "Ann Lee"})
    reread = composed(gateway, customer.headers, order_id)[1]

    assert all(read["parts"] == {"order": "ok", "customer": "ok", "products": "ok"} for read in reads)
    assert all(read["products"][product_id]["productId"] == product_id for read in reads)
    assert (after[0] - before[0], after[1] - before[1]) == (1, 1)  # the first read asked; nine were answered
    assert renamed.status_code == 200, renamed.text
    assert reread["customer"]["name"] == "Ann Lee"


def test_a_profile_kept_long_shows_a_change_made_past_this_gateway_once_it_is_heard(house: Any) -> None:
    gateway = own_gateway(house, profiles_kept_s="600")  # kept far longer than the test takes, while heard
    wait_for(lambda: total(page_of(gateway.url), "gateway_sold_out_feed_listening") == 1, timeout_s=30,
             what="the gateway to hear the house's facts")
    customers = house.shared("customers")
    product_id = gateway.new_product(gateway.admin(), stock=3)
    customer = gateway.sign_up("Ann")
    order_id = gateway.place(customer, product_id)["orderId"]
    composed(gateway, customer.headers, order_id)  # the profile is fetched and kept
    before = _asked(customers, "/customers/{customerId}")
    kept = composed(gateway, customer.headers, order_id)[1]
    after = _asked(customers, "/customers/{customerId}")

    # Changed at the customers service itself, as another gateway instance or an operator would.
    renamed = httpx.patch(f"{customers.url}/customers/{customer.customer_id}", json={"name": "Ann Lee"}, timeout=10)

    assert after == before  # the second read came from the copy
    assert kept["customer"]["name"] == "Ann"
    assert renamed.status_code == 200, renamed.text
    wait_for(lambda: composed(gateway, customer.headers, order_id)[1]["customer"]["name"] == "Ann Lee",
             timeout_s=10, what="the kept profile to give way to the changed one")


def test_a_killed_customers_service_leaves_the_order_readable_with_the_customer_marked(
    house: Any, own_customers: ServiceProcess,
) -> None:
    gateway = own_gateway(house, customers=own_customers)
    product_id = gateway.new_product(gateway.admin(), stock=3)
    customer = gateway.sign_up()
    order_id = gateway.place(customer, product_id)["orderId"]

    own_customers.kill()
    status, body, _ = composed(gateway, customer.headers, order_id)

    assert status == 200
    assert body["parts"] == {"order": "ok", "customer": "unavailable", "products": "ok"}
    assert body["customer"] is None
    assert body["order"]["orderId"] == order_id
    assert body["products"][product_id]["productId"] == product_id


def test_a_killed_catalog_leaves_the_order_readable_with_the_products_marked(house: Any) -> None:
    catalog = house.start("catalog", instance=unique("i"))
    gateway = own_gateway(house, catalog=catalog)
    product_id = gateway.new_product(gateway.admin(), stock=3)
    customer = gateway.sign_up()
    order_id = gateway.place(customer, product_id)["orderId"]

    catalog.kill()
    status, body, _ = composed(gateway, customer.headers, order_id)

    assert status == 200
    assert body["parts"] == {"order": "ok", "customer": "ok", "products": "unavailable"}
    assert body["products"] is None
    assert body["customer"]["customerId"] == customer.customer_id
    for path in (f"/products/{product_id}", "/"):  # the storefront's pages: a 503 page, never a 500
        page = gateway.get(path)
        assert (page.status_code, page.headers["retry-after"]) == (503, "5"), (path, page.text)
        assert page.headers["content-type"].startswith("text/html")
        assert 'data-testid="unavailable"' in page.text and "cannot reach its catalog" in page.text


def test_without_the_order_service_there_is_no_order_to_show_503(house: Any) -> None:
    inventory, payments = house.shared("inventory"), house.shared("payments")
    orders = house.start("orders", instance=unique("i"), inventory_urls=inventory.url, payments_urls=payments.url)
    wired = backends(house)
    wired.orders = orders
    gateway = Gateway(house.start("gateway", instance=unique("g"), **gateway_env(wired)), house.admin_token)
    product_id = gateway.new_product(gateway.admin(), stock=3)
    customer = gateway.sign_up()
    order_id = gateway.place(customer, product_id)["orderId"]

    orders.kill()
    status, body, _ = composed(gateway, customer.headers, order_id)

    assert (status, body["code"]) == (503, "orders_unavailable")


def test_a_hanging_dependency_opens_its_circuit_and_reads_stop_waiting_for_it(
    house: Any, own_customers: ServiceProcess,
) -> None:
    part_deadline_s = 1.5
    gateway = own_gateway(house, customers=own_customers, part_timeout_s=str(part_deadline_s), breaker_threshold="3",
                          breaker_ttl_s="2")
    product_id = gateway.new_product(gateway.admin(), stock=3)
    customer = bearer(mint(unique("c")))  # signed by the gateway's key; no sign-in needed
    order_id = gateway.place_as(customer, product_id)["orderId"]
    assert own_customers.pid is not None

    os.kill(own_customers.pid, signal.SIGSTOP)  # accepts connections, answers nothing
    waited = [composed(gateway, customer, order_id) for _ in range(3)]
    failed_fast = composed(gateway, customer, order_id)
    os.kill(own_customers.pid, signal.SIGCONT)

    for status, body, seconds in [*waited, failed_fast]:
        assert (status, body["parts"]["customer"], body["parts"]["products"]) == (200, "unavailable", "ok")
        assert seconds < 6.0  # never the call timeout (15 s): the part's own deadline
    assert all(seconds >= part_deadline_s for _, _, seconds in waited)  # each waited out the part's deadline
    # The open circuit answers without waiting for customers at all: under the deadline the
    # closed circuit waited out (the rest of the read, orders and catalog, still takes its time).
    assert failed_fast[2] < part_deadline_s
    recovered = wait_for(lambda: composed(gateway, customer, order_id)[1]["parts"]["customer"] == "missing",
                         timeout_s=20, what="the circuit to close again once customers answers")
    assert recovered


@asynccontextmanager
async def customers_answering_after(delay_s: float) -> AsyncIterator[str]:
    """A customers service that answers every profile, well, after `delay_s`."""

    async def profile(request: web.Request) -> web.Response:
        await asyncio.sleep(delay_s)
        return web.json_response({"customerId": request.match_info["customerId"], "name": "Ann"})

    app = web.Application()
    app.router.add_get("/customers/{customerId}", profile)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
    finally:
        await runner.cleanup()


class NoOrders:
    """The services behind the gateway as a read of an unknown order meets them: the order service
    answers quickly that there is no such order, the customers service a little later."""

    def __init__(self, customers: ServiceClient) -> None:
        self.customers = customers

    async def owned_order(self, customer_id: str, order_id: str) -> dict[str, Any]:
        await asyncio.sleep(0.01)
        raise OrderNotFound(order_id)


async def test_asking_for_unknown_orders_never_opens_the_customers_circuit() -> None:
    async with customers_answering_after(0.1) as url:
        customers = ServiceClient("customers", [url], breaker_threshold=3)
        reads = Reads(NoOrders(customers), RecentWrites(10_000), SystemClock(),  # type: ignore[arg-type]
                      part_timeout_s=2.0, low_threshold=5)
        try:
            for n in range(6):
                with pytest.raises(OrderNotFound):
                    await reads.order("c-1", f"o-{n}")
            profile = await customers.request("GET", "/customers/c-1")  # not refused: "circuit open"
        finally:
            await customers.close()

    assert profile.status_code == 200
