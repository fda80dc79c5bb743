"""A small sale through real inventory, payments and order processes, as the report tells it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from orders_support import start_house, unique
from reporting_support import Reporting, start_reporting

pytestmark = pytest.mark.service

PRICE_CENTS = 49_999  # the order service's stand-in price when no catalog is wired


@pytest.fixture
def reporting(house: Any) -> Iterator[Reporting]:
    client = Reporting(start_reporting(house).url)
    yield client
    client.close()


def test_paid_declined_and_refused_buyers_show_as_sold_released_and_nothing(
    house: Any, reporting: Reporting
) -> None:
    shop, _ = start_house(house)
    product = shop.inventory.new_product(3)
    first = shop.orders.placed(unique("c"), (product, 1))
    declined = shop.orders.placed(unique("c"), (product, 1))
    assert shop.orders.pay(first["orderId"], "tok_ok").status_code == 200
    assert shop.orders.pay(declined["orderId"], "tok_declined").status_code == 402
    last = shop.orders.placed(unique("c"), (product, 2))
    assert shop.orders.pay(last["orderId"], "tok_ok").status_code == 200
    assert shop.orders.place(unique("c"), (product, 1)).status_code == 409  # sold out: no order, no event
    for order in (first, last):
        shop.orders.wait_status(order["orderId"], "COMPLETED")

    report = reporting.wait_for_figures(product, {
        "received": 3, "held": 4, "sold": 3, "released": 1, "expired": 0, "revoked": 0,
        "orders": {"created": 3, "paid": 2, "completed": 2, "cancelled": 1,
                   "cancelledByReason": {"payment_declined": 1}},
        "money": {"capturedCents": 3 * PRICE_CENTS, "refundedCents": 0, "voidedCents": 0},
    })

    assert (report["conversion"], report["sellThrough"]) == (3 / 4, 1.0)
    assert sum(point["sold"] for point in report["series"]) == 3
    assert report["series"][-1]["sellThrough"] == 1.0
