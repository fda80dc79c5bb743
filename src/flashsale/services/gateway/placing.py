"""How a buy attempt and its payment are asked of the order service: the routes' way
(api_orders.py) and the door's (door.py), which must ask alike (a key's request hash is of the
order as asked) and answer alike."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import Response
from starlette.datastructures import State

from flashsale.contracts.api import PayOrder
from flashsale.kit.idempotency import REPLAYED_HEADER
from flashsale.services.gateway import metrics
from flashsale.services.gateway.errors import OrderNotFound
from flashsale.services.gateway.models import PlaceOrder
from flashsale.services.gateway.sold_out import Attempt
from flashsale.services.gateway.upstream import problem_code, relay

PLACE_PATH = "/api/orders"
# A customer's Idempotency-Key: with their id (up to 100) and a colon, the order service's
# 200-character limit. A longer one is the route's 422.
MAX_KEY_LENGTH = 99


async def refused_by_the_order_service(
    state: State, customer_id: str, body: PlaceOrder, key: str, product_id: str,
) -> Response:
    """A keyed attempt the sold-out copy refuses, sent on to the order service with the product
    named (`Flashsale-Sold-Out`): refused there without a call to the catalog or the inventory, its
    key keeping the answer (or answered what the key's first request got). No news of the stock
    either way. The route's and the door's (door.py) alike."""
    headers = keyed(customer_id, key) | {"Flashsale-Sold-Out": product_id}
    with state.admission.admitted():
        answer = await state.upstreams.orders.request("POST", "/orders", json=order_body(customer_id, body),
                                                      headers=headers, idempotent=True)
    if answer.status_code == 201:  # the key's first request was placed, before the product sold out
        state.reads.wrote(customer_id, [item.product_id for item in body.items])
    elif answer.status_code == 409 and problem_code(answer) == "out_of_stock":
        metrics.refusals.labels("out_of_stock").inc()
    return relay(answer, PLACE_PATH)


async def placed_by_the_order_service(
    state: State, customer_id: str, body: PlaceOrder, key: str | None, attempt: Attempt,
) -> Response:
    """An attempt the sold-out copy lets through, asked of the order service (one of the attempts
    in flight: Overloaded past them), its answer relayed; what the answer says of the stock is
    noted: the customer's own write (read-your-writes), a grant or a refusal for the copy (not
    from a key's answer sent again: that is no news)."""
    sold_out = state.sold_out
    ticket = sold_out.ticket()
    with state.admission.admitted():
        answer = await state.upstreams.orders.request("POST", "/orders", json=order_body(customer_id, body),
                                                      headers=keyed(customer_id, key), idempotent=key is not None)
    if answer.status_code == 201:
        state.reads.wrote(customer_id, [item.product_id for item in body.items])
    news = answer.headers.get(REPLAYED_HEADER) != "true"
    if news and answer.status_code == 201:
        sold_out.granted(attempt)
    elif news and answer.status_code == 409 and problem_code(answer) == "out_of_stock":
        sold_out.refused(attempt, ticket, state.runtime.clock.now_ms())
        metrics.sold_out_products.set(len(sold_out))
    return relay(answer, PLACE_PATH)


async def paid_by_the_order_service(
    state: State, customer_id: str, order_id: str, body: PayOrder, key: str | None, instance: str,
) -> Response:
    """The customer's payment for their order, asked of the order service, which checks whose
    order it is as it pays (one request, not a read of the order first); its answer relayed, an
    order that is not theirs answered as a missing one (OrderNotFound)."""
    answer = await state.upstreams.orders.request(
        "POST", f"/orders/{order_id}/pay?{urlencode({'customerId': customer_id})}", json=body.model_dump(by_alias=True),
        headers=keyed(customer_id, key), idempotent=key is not None,
    )
    if answer.status_code == 404 and problem_code(answer) == "unknown_order":
        raise OrderNotFound(order_id)
    return relay(answer, instance)


def order_body(customer_id: str, body: PlaceOrder) -> dict[str, object]:
    """The order as the order service is asked for it: a key's request hash is of this, so the
    route and the door must ask alike."""
    return {"customerId": customer_id, **body.model_dump(by_alias=True, mode="json")}


def keyed(customer_id: str, key: str | None) -> dict[str, str]:
    """The customer's Idempotency-Key as the order service gets it: prefixed with their id, so two
    customers never collide on one (nor learn that someone used it)."""
    return {} if key is None else {"Idempotency-Key": f"{customer_id}:{key}"}
