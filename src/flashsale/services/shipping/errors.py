"""What the shipping service refuses, in the domain's words (no HTTP: api.py answers each).

ShippingError
├── UnknownShipment      no shipment (nor tombstone) for that order
├── RepeatedProducts     a product named on more than one line
├── Unshippable          some products may not be shipped (nothing is created)
└── ShipmentWasCancelled the order's shipment was cancelled; it stays so
"""

from __future__ import annotations

from collections.abc import Sequence


class ShippingError(Exception):
    pass


class UnknownShipment(ShippingError):
    def __init__(self, order_id: str) -> None:
        super().__init__(f"no shipment for order {order_id}")
        self.order_id = order_id


class RepeatedProducts(ShippingError):
    def __init__(self, product_ids: Sequence[str]) -> None:
        super().__init__(f"each productId may appear once; repeated: {', '.join(product_ids)}")
        self.product_ids = list(product_ids)


class Unshippable(ShippingError):
    def __init__(self, order_id: str, product_ids: Sequence[str]) -> None:
        super().__init__(f"order {order_id} cannot be shipped: {', '.join(product_ids)} may not be shipped")
        self.order_id = order_id
        self.product_ids = list(product_ids)


class ShipmentWasCancelled(ShippingError):
    def __init__(self, order_id: str) -> None:
        super().__init__(f"the shipment of order {order_id} was cancelled and is not scheduled again")
        self.order_id = order_id
