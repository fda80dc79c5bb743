"""The products of an order priced in front of the FastAPI app (kit.front_routes says why): the
order service asks for them with every order placed, the gateway with a buyer's poll now and
then. The routes in api.py answer everything else (and the same, for what is answered here)."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import FastAPI

from flashsale.contracts.api import ProductBatch, ProductBatchView
from flashsale.kit.front_routes import FrontRoute, front_routes
from flashsale.services.catalog.api import batch_view


async def _batch(app: FastAPI, _: Mapping[str, str], body: ProductBatch) -> ProductBatchView:
    return await batch_view(app.state.products, body, app.state.low_threshold)


FRONT = front_routes(FrontRoute("POST", "/products/batch", _batch, body=ProductBatch))
