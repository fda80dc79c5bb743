"""Only an operator with the admin token decides which products may be shipped. In-process: these
are rules of one app's API."""

from __future__ import annotations

import httpx
import pytest
from shipping_support import ShippingClient, items, unique

from support.in_process import InProcessHouse
from support.problems import assert_problem

pytestmark = pytest.mark.service


@pytest.fixture
def shipping(in_process: InProcessHouse) -> ShippingClient:
    return ShippingClient(in_process.shared("shipping").http, in_process.admin_token)


def _calls(shipping: ShippingClient, product_id: str, headers: dict[str, str]) -> list[httpx.Response]:
    path = f"/shipping/products/{product_id}"
    return [
        shipping.http.put(path, json={"shippable": False}, headers=headers),
        shipping.http.get(path, headers=headers),
    ]


REFUSED_CREDENTIALS = [
    ({}, 401, "unauthorized"),
    ({"Authorization": "Bearer"}, 401, "unauthorized"),
    ({"Authorization": "Basic c2VjcmV0"}, 401, "unauthorized"),
    ({"Authorization": "Bearer not-the-token"}, 403, "forbidden"),
]


def test_shippability_needs_the_admin_token(shipping: ShippingClient) -> None:
    product_id = unique("p")

    for headers, status, code in REFUSED_CREDENTIALS:
        for answer in _calls(shipping, product_id, headers):
            assert_problem(answer, status, code, headers)

    assert shipping.shippable(product_id) is True  # the refused PUTs changed nothing


def test_an_operator_marks_a_product_unshippable_and_back(shipping: ShippingClient) -> None:
    product_id = unique("p")
    assert shipping.shippable(product_id) is True  # never marked: shippable

    assert shipping.set_shippable(product_id, False) == {"productId": product_id, "shippable": False}
    assert shipping.shippable(product_id) is False
    assert shipping.schedule(unique("order"), items((product_id, 1))).status_code == 409

    assert shipping.set_shippable(product_id, True) == {"productId": product_id, "shippable": True}
    assert shipping.shippable(product_id) is True
    assert shipping.schedule(unique("order"), items((product_id, 1))).status_code == 201


def test_marking_a_product_does_not_touch_shipments_already_scheduled(shipping: ShippingClient) -> None:
    order_id, product_id = unique("order"), unique("p")
    first = shipping.schedule(order_id, items((product_id, 1))).json()

    shipping.set_shippable(product_id, False)
    repeat = shipping.schedule(order_id, items((product_id, 1)))

    assert repeat.status_code == 200  # a saga retrying its schedule still gets its shipment
    assert repeat.json() == first
    assert shipping.get(order_id).json()["status"] == "SCHEDULED"
