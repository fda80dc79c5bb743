"""A signed-in buyer's poll of their order answered in front of the FastAPI app.

Once they have paid, buyers read their order (`GET /api/orders/{orderId}`) until it is COMPLETED:
2-3 reads per checkout under a crowd (bench.checkout), the gateway's most frequent request in a
sale that is selling. Through FastAPI a read cost the gateway ~0.63 ms of CPU, a sixth of it in
FastAPI's and Starlette's handling of the route (the routing, four dependencies, the exception
and body-limit wrappers, and a coroutine frame per layer at every resumption; py-spy under 1,200
reads/s). Here a read is: the token verified, the customer's rate limit counted, the order
composed with its customer and products (compose.py) and encoded straight to bytes. It still
passes the service's observers (request metrics, tracing; kit.service `observed`), and whatever
goes wrong gets the app's own problem (kit.problems `answer_for`): 404 order_not_found for an
order that is not theirs, 429, 503 orders_unavailable.

This answers only what the `GET /api/orders/{orderId}` route (api_orders.py) answers the same way:
a signed-in customer's read of an id the route's pattern takes, without a query. Everything else
goes to the app: a missing or refused token (401/403), an id it answers 422, other paths. The
route stays the reference and the one in the OpenAPI document.
"""

from __future__ import annotations

import orjson
from fastapi import FastAPI, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from flashsale.kit.front_routes import Template, template_pattern
from flashsale.kit.service import observed
from flashsale.services.gateway.auth import admitted_answer, door_customer
from flashsale.services.gateway.compose import Reads

ROUTE = Template("/api/orders/{orderId}")
ORDER = template_pattern(ROUTE.path)


class OrderPolls:
    """Pure ASGI: answers signed-in customers' reads of an order, passes everything else on to
    `inner` (the rest of the gateway's front, then the app)."""

    def __init__(self, inner: ASGIApp, app: FastAPI) -> None:
        self.inner = inner
        self.app = app
        self._observed_read = observed(self._read, app.state.runtime.settings)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        order_id = _order_read(scope)
        customer_id = None if order_id is None else door_customer(self.app.state, scope)
        if customer_id is None:
            await self.inner(scope, receive, send)
            return
        scope["app"], scope["route"] = self.app, ROUTE
        scope["flashsale.customer"], scope["flashsale.order_id"] = customer_id, order_id
        await self._observed_read(scope, receive, send)

    async def _read(self, scope: Scope, receive: Receive, send: Send) -> None:
        customer_id: str = scope["flashsale.customer"]
        reads: Reads = self.app.state.reads

        async def composed() -> Response:
            read = await reads.order(customer_id, scope["flashsale.order_id"])
            return Response(orjson.dumps(read), media_type="application/json")

        answer = await admitted_answer(self.app, scope, customer_id, composed)
        await answer(scope, receive, send)


def _order_read(scope: Scope) -> str | None:
    """The order id of a plain `GET /api/orders/{orderId}` the route would take, or None."""
    if scope["type"] != "http" or scope["method"] != "GET" or scope["query_string"]:
        return None
    read = ORDER.match(scope["path"])
    return None if read is None else read.group("orderId")
