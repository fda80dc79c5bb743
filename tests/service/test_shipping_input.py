"""No request to the shipping service, however malformed, gets a 5xx or schedules anything:
it gets a 4xx problem with a `code`. In-process: these are rules of one app's API."""

from __future__ import annotations

from typing import Any

import pytest
from shipping_support import ShippingClient, items, unique

from support.in_process import InProcessHouse
from support.problems import PROBLEM_JSON, assert_problem

pytestmark = pytest.mark.service


@pytest.fixture
def shipping(in_process: InProcessHouse) -> ShippingClient:
    return ShippingClient(in_process.shared("shipping").http, in_process.admin_token)


def schedule_bodies(order_id: str) -> list[Any]:
    """Bodies of POST /shipments that must be refused with 422 invalid_request."""
    line = {"productId": "p-1", "quantity": 1}
    return [
        {},
        {"orderId": order_id},
        {"items": [line]},
        {"orderId": order_id, "items": []},
        {"orderId": order_id, "items": line},
        {"orderId": order_id, "items": None},
        {"orderId": order_id, "items": [line, line]},
        {"orderId": order_id, "items": items(("p-1", 1), ("p-2", 1), ("p-1", 2))},
        {"orderId": order_id, "items": items(*((f"p-{i}", 1) for i in range(51)))},
        {"orderId": order_id, "items": [{"productId": "p-1"}]},
        {"orderId": order_id, "items": [{"quantity": 1}]},
        {"orderId": order_id, "items": [{"productId": "p-1", "quantity": 0}]},
        {"orderId": order_id, "items": [{"productId": "p-1", "quantity": -1}]},
        {"orderId": order_id, "items": [{"productId": "p-1", "quantity": 1001}]},
        {"orderId": order_id, "items": [{"productId": "p-1", "quantity": "1"}]},
        {"orderId": order_id, "items": [{"productId": "p-1", "quantity": 1.5}]},
        {"orderId": order_id, "items": [{"productId": "p-1", "quantity": True}]},
        {"orderId": order_id, "items": [{"productId": "p-1", "quantity": 10**30}]},
        {"orderId": order_id, "items": [{"productId": "", "quantity": 1}]},
        {"orderId": order_id, "items": [{"productId": "has space", "quantity": 1}]},
        {"orderId": order_id, "items": [{"productId": "x" * 101, "quantity": 1}]},
        {"orderId": order_id, "items": [{"productId": 42, "quantity": 1}]},
        {"orderId": order_id, "items": [{**line, "weight": 3}]},
        {"orderId": "", "items": [line]},
        {"orderId": "bad id!", "items": [line]},
        {"orderId": "-leading-dash", "items": [line]},
        {"orderId": "o" * 101, "items": [line]},
        {"orderId": 7, "items": [line]},
        {"orderId": order_id, "items": [line], "status": "SCHEDULED"},
        [line],
        None,
        "ship it",
        42,
    ]


def test_malformed_schedule_requests_are_refused_and_create_nothing(shipping: ShippingClient) -> None:
    order_id = unique("order")
    for body in schedule_bodies(order_id):
        assert_problem(shipping.http.post("/shipments", json=body), 422, "invalid_request", body)
    assert_problem(shipping.get(order_id), 404, "unknown_shipment", "after the refusals")


UNPARSEABLE = [b'{"orderId": "o-1", "items": [', b"", b"not json", b"\xff\xfe", b"{'orderId': 'o-1'}"]


def test_unparseable_bodies_are_a_400_problem(shipping: ShippingClient) -> None:
    json_header = {"content-type": "application/json"}
    for raw in UNPARSEABLE:
        for method, path in [("POST", "/shipments"), ("PUT", f"/shipping/products/{unique('p')}")]:
            answer = shipping.http.request(method, path, content=raw, headers={**json_header, **shipping.admin})
            assert 400 <= answer.status_code < 500, (raw, path, answer.text)
            assert answer.headers["content-type"].startswith(PROBLEM_JSON), (raw, path)
            assert answer.json()["code"] in {"malformed_json", "invalid_request"}, (raw, path, answer.text)
    truncated = shipping.http.post("/shipments", content=UNPARSEABLE[0], headers=json_header)
    assert_problem(truncated, 400, "malformed_json", UNPARSEABLE[0])


BAD_IDS = ["not%20an%20id", "x" * 101, "-dash-first", "semi;colon", "%C3%A9t%C3%A9"]


def test_bad_ids_in_paths_are_a_422_problem(shipping: ShippingClient) -> None:
    for bad in BAD_IDS:
        calls = [
            shipping.http.get(f"/shipments/{bad}"),
            shipping.http.post(f"/shipments/{bad}/cancel"),
            shipping.http.get(f"/shipping/products/{bad}", headers=shipping.admin),
            shipping.http.put(f"/shipping/products/{bad}", json={"shippable": False}, headers=shipping.admin),
        ]
        for answer in calls:
            assert_problem(answer, 422, "invalid_request", (answer.request.method, answer.request.url))


BAD_SHIPPABILITY: list[Any] = [{}, {"shippable": "no"}, {"shippable": 0}, {"shippable": None},
                               {"shippable": True, "why": "x"}, [True], None]


def test_malformed_shippability_is_refused_and_changes_nothing(shipping: ShippingClient) -> None:
    product_id = unique("p")
    for body in BAD_SHIPPABILITY:
        answer = shipping.http.put(f"/shipping/products/{product_id}", json=body, headers=shipping.admin)
        assert_problem(answer, 422, "invalid_request", body)
    assert shipping.shippable(product_id) is True


def test_a_wrong_method_or_path_is_a_4xx_problem(shipping: ShippingClient) -> None:
    answers = [
        shipping.http.delete(f"/shipments/{unique('order')}"),
        shipping.http.put("/shipments", json={}),
        shipping.http.get("/shipments"),
        shipping.http.post(f"/shipments/{unique('order')}/ship"),
    ]
    for answer in answers:
        assert 400 <= answer.status_code < 500, answer.text
        assert answer.headers["content-type"].startswith(PROBLEM_JSON)
        assert answer.json()["code"]
