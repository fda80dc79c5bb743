"""Read-your-writes through the gateway, against a catalog whose event consumer lags on purpose
(FLASHSALE_CONSUMER_DELAY_MS): right after a customer's own order, that customer sees the stock it
took (read from the inventory), while everyone else sees the catalog's read model, which catches up
a few seconds later; once the window has passed, the customer reads the caught-up catalog again.
The gateway keeps what it read for longer than these tests take (FLASHSALE_PARTS_KEPT_S), so a
level read for one customer is offered to another only when it shows that other's write too."""

from __future__ import annotations

from typing import Any

import pytest
from gateway_support import (
    Gateway,
    backends,
    gateway_env,
    module_database_base,  # noqa: F401 - a fixture: SQLite only, it says why
)

from flashsale.kit.clock import ms_from_iso
from support.polling import wait_for

pytestmark = pytest.mark.service

CATALOG_LAG_MS = 5000
WINDOW_S = 6  # a second past the catalog's lag: as long as the others see the stale catalog, Ann does not
PARTS_KEPT_S = 60  # every level read here stays kept: what is offered from the copy is what is tested


@pytest.fixture
def gateway(house: Any) -> Gateway:
    wired = backends(house, consumer_delay_ms=str(CATALOG_LAG_MS))
    settings = gateway_env(wired, read_your_writes_s=str(WINDOW_S), parts_kept_s=str(PARTS_KEPT_S))
    return Gateway(house.shared("gateway", **settings), house.admin_token)


def test_a_customer_sees_their_own_order_at_once_while_others_see_the_lagging_catalog(gateway: Gateway) -> None:
    product_id = gateway.new_product(gateway.admin(), stock=10)
    gateway.wait_listed(product_id, 10)
    ann, bob = gateway.sign_up("Ann"), gateway.sign_up("Bob")

    order = gateway.place(ann, product_id, quantity=2)
    ann_sees = gateway.availability(product_id, ann.headers)
    bob_sees = gateway.availability(product_id, bob.headers)
    anonymous_sees = gateway.availability(product_id)

    assert (ann_sees["available"], ann_sees["status"], ann_sees["source"]) == (8, "in_stock", "inventory")
    assert (bob_sees["available"], bob_sees["source"]) == (10, "catalog")
    assert ms_from_iso(bob_sees["asOf"]) < ms_from_iso(order["createdAt"])  # stale: from before the order
    assert anonymous_sees == bob_sees
    composed = gateway.get(f"/api/orders/{order['orderId']}", headers=ann.headers).json()
    assert composed["products"][product_id]["availability"]["source"] == "inventory"
    page = gateway.get("/api/products", headers=ann.headers, params={"after": product_id[:-1], "limit": 5})
    assert [p["availability"]["source"] for p in page.json()["products"] if p["productId"] == product_id] \
        == ["inventory"]

    caught_up = wait_for(lambda: gateway.availability(product_id, bob.headers)["available"] == 8,
                         timeout_s=30, what="the lagging catalog to catch up")
    assert caught_up
    back = wait_for(lambda: (seen := gateway.availability(product_id, ann.headers))["source"] == "catalog" and seen,
                    timeout_s=WINDOW_S + 20, what="the read-your-writes window to pass")
    assert back["available"] == 8


def test_a_cancelled_order_gives_its_units_back_at_once_for_the_customer_who_cancelled(gateway: Gateway) -> None:
    product_id = gateway.new_product(gateway.admin(), stock=4)
    gateway.wait_listed(product_id, 4)
    ann, bob = gateway.sign_up("Ann"), gateway.sign_up("Bob")
    order = gateway.place(ann, product_id, quantity=4)
    assert gateway.availability(product_id, ann.headers)["status"] == "sold_out"

    cancelled = gateway.post(f"/api/orders/{order['orderId']}/cancel", headers=ann.headers)
    ann_sees = gateway.availability(product_id, ann.headers)
    bob_sees = gateway.availability(product_id, bob.headers)

    assert cancelled.status_code == 200, cancelled.text
    assert (ann_sees["available"], ann_sees["source"]) == (4, "inventory")
    assert bob_sees["source"] == "catalog"
    assert bob_sees["available"] in (0, 4)  # whatever the lagging catalog has heard so far
    wait_for(lambda: gateway.availability(product_id, bob.headers)["available"] == 4, timeout_s=30,
             what="the catalog to hear of the release")


def test_a_level_kept_from_before_a_customers_order_is_not_what_that_customer_reads(gateway: Gateway) -> None:
    product_id = gateway.new_product(gateway.admin(), stock=10)
    gateway.wait_listed(product_id, 10)
    ann, bob = gateway.sign_up("Ann"), gateway.sign_up("Bob")
    gateway.place(ann, product_id, quantity=2)
    assert gateway.availability(product_id, ann.headers)["available"] == 8  # read, and kept, for Ann

    gateway.place(bob, product_id, quantity=1)
    bob_sees = gateway.availability(product_id, bob.headers)
    ann_sees = gateway.availability(product_id, ann.headers)

    assert (bob_sees["available"], bob_sees["source"]) == (7, "inventory")  # his own order shown: asked anew
    assert (ann_sees["available"], ann_sees["source"]) == (7, "inventory")  # Bob's read, kept: after Ann's order
