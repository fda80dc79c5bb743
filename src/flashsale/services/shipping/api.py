"""HTTP routes of the shipping service (internal: called by the order service's checkout saga), and
the problem each refusal (errors.py) is answered with."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Path, Response

from flashsale.contracts.api import (
    ID_PATTERN,
    Item,
    ScheduleShipment,
    ShipmentView,
    Shippability,
    ShippabilityView,
)
from flashsale.kit.app_state import from_app_state
from flashsale.kit.clock import iso_from_ms
from flashsale.kit.openapi import answers
from flashsale.kit.problems import Problem, answer_errors
from flashsale.kit.service import require_admin
from flashsale.services.shipping.domain import Line
from flashsale.services.shipping.errors import (
    RepeatedProducts,
    ShipmentWasCancelled,
    ShippingError,
    UnknownShipment,
    Unshippable,
)
from flashsale.services.shipping.operations import Shipments
from flashsale.services.shipping.store import Shipment

router = APIRouter(tags=["shipping"])

OrderId = Annotated[str, Path(alias="orderId", pattern=ID_PATTERN)]
ProductId = Annotated[str, Path(alias="productId", pattern=ID_PATTERN)]
ADMIN = [Depends(require_admin)]


ShipmentsDep = Annotated[Shipments, from_app_state("shipments")]


@router.post("/shipments", status_code=201, responses={
    200: {"description": "Already scheduled", "model": ShipmentView},
    **answers((409, "unshippable"), (409, "shipment_cancelled")),
})
async def schedule_shipment(body: ScheduleShipment, shipments: ShipmentsDep, response: Response) -> ShipmentView:
    """201 with the new shipment; 200 with the stored one when the order was already scheduled."""
    # Answered in front of the app (hot_routes.py), by `scheduled` as here.
    response.status_code, view = await scheduled(shipments, body)
    return view


async def scheduled(shipments: Shipments, body: ScheduleShipment) -> tuple[int, ShipmentView]:
    """The shipment scheduled, with its status: 201 new, 200 scheduled before."""
    lines = [Line(item.product_id, item.quantity) for item in body.items]
    shipment, created = await shipments.schedule(body.order_id, lines)
    return 201 if created else 200, shipment_view(shipment)


@router.post("/shipments/{orderId}/cancel", responses=answers((404, "unknown_shipment")))
async def cancel_shipment(order_id: OrderId, shipments: ShipmentsDep) -> ShipmentView:
    return shipment_view(await shipments.cancel(order_id))


@router.get("/shipments/{orderId}", responses=answers((404, "unknown_shipment")))
async def get_shipment(order_id: OrderId, shipments: ShipmentsDep) -> ShipmentView:
    return shipment_view(await shipments.find(order_id))


@router.put("/shipping/products/{productId}", dependencies=ADMIN, responses=answers(admin=True))
async def set_shippability(product_id: ProductId, body: Shippability, shipments: ShipmentsDep) -> ShippabilityView:
    return ShippabilityView(product_id=product_id, shippable=await shipments.set_shippable(product_id, body.shippable))


@router.get("/shipping/products/{productId}", dependencies=ADMIN, responses=answers(admin=True))
async def get_shippability(product_id: ProductId, shipments: ShipmentsDep) -> ShippabilityView:
    return ShippabilityView(product_id=product_id, shippable=await shipments.shippable(product_id))


def shipment_view(shipment: Shipment) -> ShipmentView:
    return ShipmentView(
        shipment_id=shipment.shipment_id, order_id=shipment.order_id, status=shipment.status,
        items=[Item(product_id=line.product_id, quantity=line.quantity) for line in shipment.lines],
        created_at=iso_from_ms(shipment.created_at_ms), updated_at=iso_from_ms(shipment.updated_at_ms),
        reason=shipment.reason,
    )


def _problem(error: ShippingError) -> Problem:
    detail = str(error)
    match error:
        case UnknownShipment():
            return Problem(404, "unknown_shipment", "Unknown shipment", detail)
        case RepeatedProducts():
            return Problem(422, "invalid_request", "Invalid request", detail, productIds=error.product_ids)
        case Unshippable():
            return Problem(409, "unshippable", "Unshippable products", detail, productIds=error.product_ids)
        case ShipmentWasCancelled():
            return Problem(409, "shipment_cancelled", "Shipment cancelled", detail)
    return Problem(409, "shipping_conflict", "Shipping conflict", detail)


def install_error_handlers(app: FastAPI) -> None:
    """Domain errors become problem details (RFC 9457) with a `code`."""
    answer_errors(app, ShippingError, _problem)
