"""Only an operator with the admin token decides which products may be shipped."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from shipping_support import ShippingClient, items, unique

pytestmark = pytest.mark.service


@pytest.fixture
def services(house: Any) -> Any:
    """This module's tests share their processes: each makes its own ids, none needs a fresh house."""
    return house


@pytest.fixture
def shipping(services: Any) -> Iterator[ShippingClient]:
    client = ShippingClient(services.shared("shipping").url, services.admin_token)
    yield client
    client.close()


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
            assert answer.status_code == status, (headers, answer.text)
            assert answer.headers["content-type"].startswith("application/problem+json")
            assert answer.json()["code"] == code, headers

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
