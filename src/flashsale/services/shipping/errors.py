"""What the shipping service refuses, as problems the API answers with (RFC 9457).

ShippingProblem (kit Problem)
├── UnknownShipment      404 unknown_shipment: no shipment (nor tombstone) for that order
├── RepeatedProducts     422 invalid_request: a product named on more than one line
├── Unshippable          409 unshippable: some products may not be shipped (nothing is created)
└── ShipmentWasCancelled 409 shipment_cancelled: the order's shipment was cancelled; it stays so
"""

from __future__ import annotations

from collections.abc import Sequence

from flashsale.kit.problems import Problem


class ShippingProblem(Problem):
    pass


class UnknownShipment(ShippingProblem):
    def __init__(self, order_id: str) -> None:
        super().__init__(404, "unknown_shipment", "Unknown shipment", f"no shipment for order {order_id}")


class RepeatedProducts(ShippingProblem):
    def __init__(self, product_ids: Sequence[str]) -> None:
        super().__init__(422, "invalid_request", "Invalid request",
                         f"each productId may appear once; repeated: {', '.join(product_ids)}",
                         productIds=list(product_ids))


class Unshippable(ShippingProblem):
    def __init__(self, order_id: str, product_ids: Sequence[str]) -> None:
        super().__init__(409, "unshippable", "Unshippable products",
                         f"order {order_id} cannot be shipped: {', '.join(product_ids)} may not be shipped",
                         productIds=list(product_ids))


class ShipmentWasCancelled(ShippingProblem):
    def __init__(self, order_id: str) -> None:
        super().__init__(409, "shipment_cancelled", "Shipment cancelled",
                         f"the shipment of order {order_id} was cancelled and is not scheduled again")
