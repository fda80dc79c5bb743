"""`GET /orders/{orderId}` answered in front of the FastAPI app: the read every buyer polls.

A buyer who has paid reads their order until it is COMPLETED (through the gateway, which asks
this for each poll): 2-3 reads per checkout under a crowd (bench.checkout), the request the order
service answers most. Through FastAPI a read cost the service ~0.40 ms of CPU, a third of it in
FastAPI's and Starlette's handling of the route (the routing, the dependency, the response model
built twice, validated and serialised; py-spy under 2,400 reads/s) around a one-statement read.
Here: the path matched, the order read with its customer's contact
(operations.Checkout.find_with_contact), its view serialised straight to bytes. It still passes
the service's observers (request metrics, tracing; kit.service `observed`), and an error gets the
app's own problem (kit.problems `answer_for`): an unknown order its 404 `unknown_order`.

Anything else (another method or path, a query string, an id the route's pattern refuses) goes to
the FastAPI route in api.py, which stays the reference and the one in the OpenAPI document; what
is answered here is answered the same there.
"""

from __future__ import annotations

import re

from fastapi import FastAPI, Request
from starlette.types import Receive, Scope, Send

from flashsale.contracts.api import ID_PATTERN
from flashsale.kit.asgi import send_json
from flashsale.kit.problems import answer_for
from flashsale.kit.service import observed
from flashsale.services.orders.api import order_detail_view
from flashsale.services.orders.operations import Checkout

PREFIX = "/orders/"
ORDER_ID = re.compile(ID_PATTERN)


class Route:
    """What `scope["route"]` names for the observers (the template FastAPI would set)."""

    path = "/orders/{orderId}"


class OrderReadPath:
    """Pure ASGI: answers reads of one order by its id, passes everything else to the app."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self._observed_read = observed(self._read, app.state.runtime.settings)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        order_id = _order_read(scope)
        if order_id is None:
            await self.app(scope, receive, send)
            return
        scope["app"], scope["route"], scope["flashsale.order_id"] = self.app, Route, order_id
        await self._observed_read(scope, receive, send)

    async def _read(self, scope: Scope, receive: Receive, send: Send) -> None:
        checkout: Checkout = self.app.state.checkout
        try:
            order, contact = await checkout.find_with_contact(scope["flashsale.order_id"])
        except Exception as error:  # noqa: BLE001 - answered as the app answers it: its problem, logged
            answer = await answer_for(self.app, Request(scope), error)
            await answer(scope, receive, send)
            return
        view = order_detail_view(order, contact)
        await send_json(send, view.__pydantic_serializer__.to_json(view, by_alias=True))


def _order_read(scope: Scope) -> str | None:
    """The order id of a plain `GET /orders/{orderId}` the route would take, or None."""
    if scope["type"] != "http" or scope["method"] != "GET" or scope["query_string"]:
        return None
    path: str = scope["path"]
    if not path.startswith(PREFIX):
        return None
    order_id = path[len(PREFIX):]
    return order_id if ORDER_ID.match(order_id) else None
