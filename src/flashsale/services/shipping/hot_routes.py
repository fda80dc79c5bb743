"""A checkout's shipment scheduled in front of the FastAPI app (kit.front_routes says why): each
checkout asks it once, through the order service's saga. The routes in api.py answer everything
else (and the same, for what is answered here)."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import FastAPI

from flashsale.contracts.api import ScheduleShipment, ShipmentView
from flashsale.kit.front_routes import FrontRoute, front_routes
from flashsale.services.shipping.api import scheduled


async def _schedule(app: FastAPI, _: Mapping[str, str], body: ScheduleShipment) -> tuple[int, ShipmentView]:
    return await scheduled(app.state.shipments, body)


FRONT = front_routes(FrontRoute("POST", "/shipments", _schedule, body=ScheduleShipment))
