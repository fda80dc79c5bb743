"""How a buy attempt is asked of the order service: the route's way (api_orders.py) and the door's
(door.py), which must ask alike (a key's request hash is of the order as asked)."""

from __future__ import annotations

from fastapi import Response
from starlette.datastructures import State

from flashsale.services.gateway import metrics
from flashsale.services.gateway.models import PlaceOrder
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


def order_body(customer_id: str, body: PlaceOrder) -> dict[str, object]:
    """The order as the order service is asked for it: a key's request hash is of this, so the
    route and the door must ask alike."""
    return {"customerId": customer_id, **body.model_dump(by_alias=True, mode="json")}


def keyed(customer_id: str, key: str | None) -> dict[str, str]:
    """The customer's Idempotency-Key as the order service gets it: prefixed with their id, so two
    customers never collide on one (nor learn that someone used it)."""
    return {} if key is None else {"Idempotency-Key": f"{customer_id}:{key}"}
