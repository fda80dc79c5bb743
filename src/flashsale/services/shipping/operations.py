"""The shipping service's operations: schedule an order's shipment once, cancel it once.

Both are called synchronously by the order service's checkout saga, and both may be called
again for the same order (a retry after a timeout, a saga resumed after a crash): a repeat
answers with what is stored and changes nothing. Refusals are raised here in the domain's words
(errors.py; api.py answers them); metrics count only what was committed.
"""

from __future__ import annotations

from collections.abc import Sequence

from flashsale.services.shipping import domain, metrics
from flashsale.services.shipping.domain import Line
from flashsale.services.shipping.errors import (
    RepeatedProducts,
    ShipmentWasCancelled,
    UnknownShipment,
    Unshippable,
)
from flashsale.services.shipping.store import Shipment, ShipmentStore


class Shipments:
    def __init__(self, store: ShipmentStore) -> None:
        self.store = store

    async def schedule(self, order_id: str, lines: Sequence[Line]) -> tuple[Shipment, bool]:
        """The order's shipment, and whether this call created it (False: a repeat)."""
        repeated = domain.repeated_products(lines)
        if repeated:
            raise RepeatedProducts(repeated)
        outcome = await self.store.schedule(order_id, lines)
        match outcome.decision:
            case domain.Schedule.UNSHIPPABLE:
                metrics.shipments_refused.labels("unshippable").inc()
                raise Unshippable(order_id, outcome.unshippable)
            case domain.Schedule.CANCELLED:
                metrics.shipments_refused.labels("shipment_cancelled").inc()
                raise ShipmentWasCancelled(order_id)
            case domain.Schedule.CREATE:
                metrics.shipments_scheduled.inc()
        assert outcome.shipment is not None  # CREATE and REPLAY always carry the shipment
        return outcome.shipment, outcome.decision is domain.Schedule.CREATE

    async def cancel(self, order_id: str) -> Shipment:
        outcome = await self.store.cancel(order_id)
        if outcome.decision is domain.Cancel.CANCEL:
            metrics.shipments_cancelled.labels("shipment").inc()
        elif outcome.decision is domain.Cancel.TOMBSTONE:
            metrics.shipments_cancelled.labels("tombstone").inc()
        return outcome.shipment

    async def find(self, order_id: str) -> Shipment:
        shipment = await self.store.find(order_id)
        if shipment is None:
            raise UnknownShipment(order_id)
        return shipment

    async def shippable(self, product_id: str) -> bool:
        return await self.store.shippable(product_id)

    async def set_shippable(self, product_id: str, shippable: bool) -> bool:
        return await self.store.set_shippable(product_id, shippable)
