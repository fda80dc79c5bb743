"""With a catalog configured, an order line keeps the product's name and price as the catalog listed
them when the order was placed, the payment is the sum of those lines, and a product the catalog
does not sell right now is refused before any stock is held."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from catalog_support import CatalogClient, product_body
from orders_support import House, start_house, unique

from flashsale.runtime.nats_server import free_port
from support import plain_http

pytestmark = pytest.mark.service


@pytest.fixture
def catalog(services: Any) -> Iterator[CatalogClient]:
    client = CatalogClient(services.shared("catalog").url, services.admin_token)
    yield client
    client.close()


@pytest.fixture
def shop(services: Any, catalog: CatalogClient) -> House:
    """Inventory, payments, catalog, and the order service that prices from that catalog."""
    house, _ = start_house(services, orders_env={"catalog_urls": services.shared("catalog").url})
    return house


def on_sale(shop: House, catalog: CatalogClient, units: int, **fields: Any) -> str:
    """A product listed in the catalog with `fields` and `units` received into the inventory."""
    product_id = unique("p")
    assert catalog.put(product_id, product_body(**fields)).status_code == 201
    shop.inventory.receive(product_id, units)
    return product_id


def amount_charged(shop: House, order_id: str) -> int:
    answer = shop.payment(order_id)
    assert answer.status_code == 200, answer.text
    return int(answer.json()["amountCents"])


def test_each_line_keeps_the_catalogs_name_and_price_and_the_payment_is_their_sum(
    shop: House, catalog: CatalogClient
) -> None:
    console = on_sale(shop, catalog, 5, name="Console", priceCents=30_000)
    pad = on_sale(shop, catalog, 5, name="Controller", priceCents=5_950)

    placed = shop.orders.placed(unique("c"), (console, 1), (pad, 2))
    paid = shop.orders.pay(placed["orderId"])

    assert sorted(placed["items"], key=lambda i: i["name"]) == [
        {"productId": console, "quantity": 1, "name": "Console", "unitPriceCents": 30_000},
        {"productId": pad, "quantity": 2, "name": "Controller", "unitPriceCents": 5_950},
    ]
    assert placed["totalCents"] == 30_000 + 2 * 5_950
    assert paid.status_code == 200, paid.text
    assert amount_charged(shop, placed["orderId"]) == 41_900
    assert shop.orders.get(placed["orderId"])["items"] == placed["items"]


def test_a_later_catalog_change_never_rewrites_an_order_already_placed(shop: House, catalog: CatalogClient) -> None:
    product = on_sale(shop, catalog, 5, name="Console", priceCents=30_000)
    before = shop.orders.placed(unique("c"), (product, 1))

    changed = catalog.patch(product, {"name": "Console (new model)", "priceCents": 35_000})
    after = shop.orders.placed(unique("c"), (product, 1))
    shop.orders.pay(before["orderId"])

    assert changed.status_code == 200, changed.text
    kept = shop.orders.get(before["orderId"])
    assert (kept["items"][0]["name"], kept["items"][0]["unitPriceCents"], kept["totalCents"]) == (
        "Console", 30_000, 30_000)
    assert amount_charged(shop, before["orderId"]) == 30_000
    assert (after["items"][0]["name"], after["totalCents"]) == ("Console (new model)", 35_000)


def test_a_product_the_catalog_does_not_list_is_refused_and_nothing_is_held(shop: House) -> None:
    stocked_only = shop.inventory.new_product(3)  # the inventory has it, the catalog does not
    customer = unique("c")

    refused = shop.orders.place(customer, (stocked_only, 1))

    assert (refused.status_code, refused.json()["code"]) == (422, "unknown_product")
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert shop.inventory.counts(stocked_only) == (3, 0, 0)
    assert shop.orders.of_customer(customer) == []


def test_a_sale_that_has_not_opened_or_has_closed_is_refused_before_the_hold(
    shop: House, catalog: CatalogClient
) -> None:
    future = on_sale(shop, catalog, 2, saleStartsAt="2999-01-01T09:00:00Z")
    past = on_sale(shop, catalog, 2, saleStartsAt="2020-11-27T09:00:00Z", saleEndsAt="2020-11-28T09:00:00Z")
    running = on_sale(shop, catalog, 2, saleStartsAt="2020-11-27T09:00:00Z", saleEndsAt="2999-01-01T00:00:00Z")
    customer = unique("c")

    early = shop.orders.place(customer, (future, 1))
    late = shop.orders.place(customer, (past, 1))
    mixed = shop.orders.place(customer, (running, 1), (past, 1))
    now_open = shop.orders.place(customer, (running, 1))

    assert (early.status_code, early.json()["code"]) == (409, "sale_not_open")
    assert (late.status_code, late.json()["code"]) == (409, "sale_closed")
    assert (mixed.status_code, mixed.json()["code"]) == (409, "sale_closed")
    assert now_open.status_code == 201, now_open.text
    assert [shop.inventory.counts(p) for p in (future, past, running)] == [(2, 0, 0), (2, 0, 0), (1, 1, 0)]
    assert len(shop.orders.of_customer(customer)) == 1


def test_partial_fulfilment_charges_only_the_units_granted(shop: House, catalog: CatalogClient) -> None:
    scarce = on_sale(shop, catalog, 2, name="Scarce", priceCents=1_000)
    plenty = on_sale(shop, catalog, 9, name="Plenty", priceCents=300)
    body = {"customerId": unique("c"), "fulfilment": "partial",
            "items": [{"productId": scarce, "quantity": 5}, {"productId": plenty, "quantity": 1}]}

    placed = shop.orders.http.post("/orders", json=body)
    assert placed.status_code == 201, placed.text
    order = placed.json()
    paid = shop.orders.pay(order["orderId"])

    granted = {i["productId"]: (i["quantity"], i["unitPriceCents"]) for i in order["items"]}
    assert granted == {scarce: (2, 1_000), plenty: (1, 300)}
    assert order["totalCents"] == 2 * 1_000 + 300
    assert paid.status_code == 200, paid.text
    assert amount_charged(shop, order["orderId"]) == 2_300


def test_when_the_catalog_cannot_be_reached_the_order_is_503_and_nothing_is_held(services: Any, shop: House) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    blind = services.shared("orders", instance="2", inventory_urls=shop.inventory.process.url,
                            payments_urls=shop.payments.url, catalog_urls=nowhere)
    product = shop.inventory.new_product(2)

    answer = plain_http.post(f"{blind.url}/orders", timeout=30,
                        json={"customerId": unique("c"), "items": [{"productId": product, "quantity": 1}]})

    assert (answer.status_code, answer.json()["code"]) == (503, "catalog_unavailable")
    assert shop.inventory.counts(product) == (2, 0, 0)


def test_without_a_catalog_every_unit_costs_the_fixed_price_and_lines_have_no_name(services: Any) -> None:
    house, _ = start_house(services)  # no catalog_urls
    product = house.inventory.new_product(3)

    placed = house.orders.placed(unique("c"), (product, 3))

    assert placed["items"] == [{"productId": product, "quantity": 3, "name": None, "unitPriceCents": 49_999}]
    assert placed["totalCents"] == 3 * 49_999
