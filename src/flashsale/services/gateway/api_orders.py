"""The signed-in customer's routes: their orders, their profile, their notifications.

Every route acts for the token's customer only. An order id that is not theirs is answered
exactly like one that does not exist (404 order_not_found) and nothing is done to it. Idempotency
keys are the customer's own: they are forwarded prefixed with the customer's id, so two customers
can never collide on one (nor learn that someone used it).
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Header, Path, Query, Request, Response
from fastapi.responses import JSONResponse

from flashsale.contracts.api import ID_PATTERN, CustomerView, Notifications, OrderView, PayOrder, UpdateCustomer
from flashsale.services.gateway import metrics
from flashsale.services.gateway.auth import CustomerId, as_customer
from flashsale.services.gateway.deps import ReadsDep, SoldOutDep, UpstreamsDep
from flashsale.services.gateway.errors import SoldOutHere
from flashsale.services.gateway.models import ComposedOrder, Orders, PlaceOrder
from flashsale.services.gateway.placing import (
    MAX_KEY_LENGTH,
    paid_by_the_order_service,
    placed_by_the_order_service,
    refused_by_the_order_service,
)
from flashsale.services.gateway.sold_out import Attempt
from flashsale.services.gateway.upstream import relay

router = APIRouter(prefix="/api", tags=["customer"])

OrderId = Annotated[str, Path(alias="orderId", pattern=ID_PATTERN)]
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", min_length=1, max_length=MAX_KEY_LENGTH)]
# A version as an entity tag, `3` or `"3"`: the customers service answers anything else 400
# invalid_if_match (relayed), which the document says with its pattern.
VERSION_TAG = r'^(?:"([1-9][0-9]{0,8})"|([1-9][0-9]{0,8}))$'
IfMatch = Annotated[str | None, Header(alias="If-Match", max_length=20, json_schema_extra={
    "anyOf": [{"type": "string", "maxLength": 20, "pattern": VERSION_TAG}]})]
Limit = Annotated[int, Query(ge=1, le=100)]
STATUS_PATTERN = "^(PENDING_PAYMENT|PAID|COMPLETED|CANCELLED)$"
TOO_LARGE = (413, "payload_too_large")  # a body over the limit (edge.BodyLimit)
# An Idempotency-Key's own answers, from the order service (kit/idempotency.py).
KEYED = ((409, "request_in_progress"), (422, "idempotency_key_reused"))
ORDERS_DOWN = (503, "orders_unavailable")
NOT_YOURS = (404, "order_not_found")


@router.post("/orders", status_code=201, response_model=OrderView, responses=as_customer(
    TOO_LARGE, *KEYED, (409, "out_of_stock"), (409, "limit_exceeded"), (409, "sale_not_open"), (409, "sale_closed"),
    (404, "unknown_product"), (422, "unknown_product"), ORDERS_DOWN, (503, "overloaded"),
))
async def place_order(
    body: PlaceOrder, customer_id: CustomerId, sold_out: SoldOutDep, request: Request, key: IdempotencyKey = None,
) -> Response:
    """201 order (the products' availability is read from the inventory for a while); 409 out_of_stock.

    A product the inventory has just refused for lack of stock is refused without asking the
    catalog or the inventory (sold_out.py): here, or, for an attempt with an Idempotency-Key, by the
    order service (its first answer, whatever it was, is the one it must get again, and only the
    order service keeps keys: it is told the product with `Flashsale-Sold-Out`). Past what the house
    takes at once, an attempt is shed with 503 overloaded and Retry-After (edge.Admission)."""
    # A signed-in customer's well-formed attempt is answered in front of the app (door.py), alike.
    attempt = Attempt(tuple((item.product_id, item.quantity) for item in body.items), body.fulfilment == "partial")
    refused_by = sold_out.refuses(attempt, request.app.state.runtime.clock.now_ms())
    if refused_by is not None:
        if key is None:
            metrics.refusals.labels("out_of_stock").inc()
            raise SoldOutHere(refused_by)
        return await refused_by_the_order_service(request.app.state, customer_id, body, key, refused_by)
    return await placed_by_the_order_service(request.app.state, customer_id, body, key, attempt)


@router.get("/orders", response_model=Orders, responses=as_customer(ORDERS_DOWN))
async def list_orders(
    customer_id: CustomerId, upstreams: UpstreamsDep, request: Request, limit: Limit = 100,
    status: Annotated[str | None, Query(pattern=STATUS_PATTERN)] = None,
) -> Response:
    """The customer's orders, newest first."""
    query = {"customerId": customer_id, "limit": limit} | ({} if status is None else {"status": status})
    return relay(await upstreams.orders.request("GET", f"/orders?{urlencode(query)}"), request.url.path)


@router.get("/orders/{orderId}", response_model=ComposedOrder, responses=as_customer(NOT_YOURS, ORDERS_DOWN))
async def get_order(order_id: OrderId, customer_id: CustomerId, reads: ReadsDep) -> JSONResponse:
    """The order with its customer and products; `parts` says which of those could be had."""
    return JSONResponse(await reads.order(customer_id, order_id))


@router.post("/orders/{orderId}/pay", response_model=OrderView, responses=as_customer(
    TOO_LARGE, *KEYED, NOT_YOURS, (402, "payment_declined"), (409, "invalid_state"), (409, "hold_expired"),
    ORDERS_DOWN,
))
async def pay_order(
    order_id: OrderId, body: PayOrder, customer_id: CustomerId, request: Request, key: IdempotencyKey = None,
) -> Response:
    """200 PAID; 402 payment_declined; 409 invalid_state / hold_expired; 404 order_not_found."""
    # A signed-in customer's well-formed payment is answered in front of the app (door.py), alike.
    return await paid_by_the_order_service(request.app.state, customer_id, order_id, body, key, request.url.path)


@router.post("/orders/{orderId}/cancel", response_model=OrderView, responses=as_customer(
    NOT_YOURS, (409, "invalid_state"), (409, "request_in_progress"), ORDERS_DOWN))
async def cancel_order(
    order_id: OrderId, customer_id: CustomerId, upstreams: UpstreamsDep, reads: ReadsDep, request: Request,
) -> Response:
    """200 CANCELLED (stock released, money returned); 409 invalid_state; 404 order_not_found."""
    order = await upstreams.owned_order(customer_id, order_id)
    answer = await upstreams.orders.request("POST", f"/orders/{order_id}/cancel")
    if answer.status_code == 200:
        reads.wrote(customer_id, [item["productId"] for item in order.get("items", [])])
    return relay(answer, request.url.path)


@router.get("/me", response_model=CustomerView, responses=as_customer((503, "customers_unavailable")))
async def get_profile(customer_id: CustomerId, upstreams: UpstreamsDep, request: Request) -> Response:
    """The customer's profile, read from the customers service itself (with its ETag)."""
    return relay(await upstreams.customers.request("GET", f"/customers/{customer_id}"), request.url.path)


@router.patch("/me", response_model=CustomerView, responses=as_customer(
    TOO_LARGE, (409, "email_taken"), (412, "version_mismatch"), (400, "invalid_if_match"),
    (503, "customers_unavailable"),
))
async def update_profile(
    body: UpdateCustomer, customer_id: CustomerId, upstreams: UpstreamsDep, reads: ReadsDep, request: Request,
    if_match: IfMatch = None,
) -> Response:
    """200 profile; 409 email_taken; 412 version_mismatch when If-Match is stale."""
    headers = {} if if_match is None else {"If-Match": if_match}
    answer = await upstreams.customers.request(
        "PATCH", f"/customers/{customer_id}", json=body.model_dump(by_alias=True, mode="json", exclude_unset=True),
        headers=headers,
    )
    reads.profile_changed(customer_id)  # whatever the answer: their next read asks again
    return relay(answer, request.url.path)


@router.get("/notifications", response_model=Notifications,
            responses=as_customer((503, "notifications_unavailable")))
async def list_notifications(
    customer_id: CustomerId, upstreams: UpstreamsDep, request: Request, limit: Limit = 100,
    order_id: Annotated[str | None, Query(alias="orderId", pattern=ID_PATTERN)] = None,
) -> Response:
    """What the customer was told, newest first (about one of their orders with `orderId`)."""
    query = {"customerId": customer_id, "limit": limit} | ({} if order_id is None else {"orderId": order_id})
    return relay(await upstreams.notifications.request("GET", f"/notifications?{urlencode(query)}"),
                 request.url.path)
