"""`POST /inventory/reserve` answered in front of the FastAPI app (kit.front_routes): the hot path
of a sale.

Profiled under load (bench/RESULTS.md), a coalesced hold costs about 100 us of CPU in the store
and its batch, and three times that in FastAPI's handling of the route around it: the Request
and dependency plumbing, the body parsed by `json.loads` and validated again, exception-handling
wrappers, the routing itself. The ceiling's hello-world route costs 66 us in all. Answering
inside the app's middleware saved most of it; answering in front of the app (kit.service
`front`) saves the rest of the stack: FastAPI's and Starlette's entry, the error and body-limit
middleware, and a coroutine frame per layer that every resumption of a hold (each database round
trip) passes through: +24% holds/s at 256 clients on PostgreSQL, measured side by side.

The body is parsed and validated in one pydantic-core call straight from the bytes, and the
store's answer (api.held, the route's own) serialised straight to bytes; a refusal gets the app's
problem (409/404), a database out of reach its 503. Anything not accepted as a well-formed
reserve goes, with the same body, to the FastAPI route in `api.py`, which answers bad input with
its 400/422 problems.
"""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import FastAPI

from flashsale.contracts.api import ReservationView, ReserveStock
from flashsale.kit.front_routes import FrontRoute, front_routes
from flashsale.services.inventory.api import held


async def _reserve(app: FastAPI, _: Mapping[str, str], body: ReserveStock) -> ReservationView:
    return await held(app.state.store, body)


FRONT = front_routes(FrontRoute("POST", "/inventory/reserve", _reserve, body=ReserveStock))
