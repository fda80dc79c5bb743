"""Admin routes (`/api/admin/...`, admin role): forwarded with the house's admin token.

Only what an operator does from outside is here: write products, receive stock, look at an order
and its saga, send a parked saga back to work, set a customer's password. The calls services make
to each other (holds, payments, shipments) have no route through the gateway at all.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response

from flashsale.contracts.api import (
    ID_PATTERN,
    OrderDetailView,
    ProductChanges,
    ProductFields,
    ProductView,
    ReceiveStock,
    SetPassword,
    StockView,
)
from flashsale.services.gateway.auth import Admin, as_admin
from flashsale.services.gateway.deps import ReadsDep, UpstreamsDep
from flashsale.services.gateway.upstream import relay

router = APIRouter(prefix="/api/admin", tags=["admin"], dependencies=Admin)

ProductId = Annotated[str, Path(alias="productId", pattern=ID_PATTERN)]
OrderId = Annotated[str, Path(alias="orderId", pattern=ID_PATTERN)]
CustomerId = Annotated[str, Path(alias="customerId", pattern=ID_PATTERN)]
TOO_LARGE = (413, "payload_too_large")  # a body over the limit (edge.BodyLimit)
UNKNOWN_ORDER = (404, "unknown_order")


@router.put("/products/{productId}", response_model=ProductView, responses={
    201: {"description": "Created", "model": ProductView},
    **as_admin(TOO_LARGE, (422, "invalid_sale_window"), (503, "catalog_unavailable")),
})
async def put_product(
    product_id: ProductId, body: ProductFields, upstreams: UpstreamsDep, reads: ReadsDep, request: Request,
) -> Response:
    answer = await upstreams.catalog.request(
        "PUT", f"/products/{product_id}", json=body.model_dump(by_alias=True, mode="json"),
        headers=upstreams.admin_headers, idempotent=True,
    )
    reads.product_changed(product_id)
    return relay(answer, request.url.path)


@router.patch("/products/{productId}", response_model=ProductView, responses=as_admin(
    TOO_LARGE, (404, "unknown_product"), (422, "invalid_sale_window"), (503, "catalog_unavailable")))
async def patch_product(
    product_id: ProductId, body: ProductChanges, upstreams: UpstreamsDep, reads: ReadsDep, request: Request,
) -> Response:
    answer = await upstreams.catalog.request(
        "PATCH", f"/products/{product_id}", json=body.model_dump(by_alias=True, mode="json", exclude_unset=True),
        headers=upstreams.admin_headers,
    )
    reads.product_changed(product_id)
    return relay(answer, request.url.path)


@router.post("/inventory/{productId}/receive", response_model=StockView,
             responses=as_admin(TOO_LARGE, (503, "inventory_unavailable")))
async def receive_stock(
    product_id: ProductId, body: ReceiveStock, upstreams: UpstreamsDep, request: Request,
) -> Response:
    answer = await upstreams.inventory.request(
        "POST", f"/inventory/{product_id}/receive", json=body.model_dump(by_alias=True),
        headers=upstreams.admin_headers,
    )
    return relay(answer, request.url.path)


@router.get("/inventory/{productId}", response_model=StockView,
            responses=as_admin((404, "unknown_product"), (503, "inventory_unavailable")))
async def get_stock(product_id: ProductId, upstreams: UpstreamsDep, request: Request) -> Response:
    return relay(await upstreams.inventory.request("GET", f"/inventory/{product_id}"), request.url.path)


@router.get("/orders/{orderId}", response_model=OrderDetailView,
            responses=as_admin(UNKNOWN_ORDER, (503, "orders_unavailable")))
async def get_order(order_id: OrderId, upstreams: UpstreamsDep, request: Request) -> Response:
    return relay(await upstreams.orders.request("GET", f"/orders/{order_id}"), request.url.path)


@router.get("/orders/{orderId}/saga", responses=as_admin(UNKNOWN_ORDER, (503, "orders_unavailable")))
async def get_saga(order_id: OrderId, upstreams: UpstreamsDep, request: Request) -> Response:
    return relay(await upstreams.orders.request("GET", f"/orders/{order_id}/saga"), request.url.path)


@router.post("/orders/{orderId}/saga/retry", responses=as_admin(
    UNKNOWN_ORDER, (409, "invalid_state"), (503, "orders_unavailable")))
async def retry_saga(order_id: OrderId, upstreams: UpstreamsDep, request: Request) -> Response:
    answer = await upstreams.orders.request(
        "POST", f"/orders/{order_id}/saga/retry", headers=upstreams.admin_headers,
    )
    return relay(answer, request.url.path)


@router.post("/customers/{customerId}/password", status_code=204, responses=as_admin(
    TOO_LARGE, (404, "unknown_customer"), (422, "weak_password"), (503, "customers_unavailable")))
async def set_password(
    customer_id: CustomerId, body: SetPassword, upstreams: UpstreamsDep, request: Request,
) -> Response:
    answer = await upstreams.customers.request(
        "POST", f"/customers/{customer_id}/password", json=body.model_dump(by_alias=True),
        headers=upstreams.admin_headers, idempotent=True,
    )
    return relay(answer, request.url.path)
