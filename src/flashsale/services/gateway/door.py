"""A buy attempt for a sold-out product refused at the door, in front of the FastAPI app.

Most of a drop's crowd is told "sold out", so that answer must be the cheapest the gateway gives.
Through FastAPI it cost the gateway ~0.64 ms of CPU per refusal under a crowd of 256 connections
(the routing, six dependencies, the body validated into a model, the exception handlers and the
middleware stack around them; bench.front_door), which made the gateway's one event loop the
limit of the whole sold-out phase. Here a refusal is: the token verified, the body parsed and
validated in one pydantic-core call from its bytes, the sold-out copy asked (sold_out.py), the
customer's rate limit counted, and the app's own 409 `out_of_stock` problem sent. It still
passes the service's observers (request metrics, tracing; kit.service `observed`).

This answers only what the `POST /api/orders` route (api_orders.py) would answer the same way:
a signed-in customer's well-formed attempt for a product the copy holds sold out. Without an
Idempotency-Key it is refused here; with one it is sent on to the order service, which keeps
keys, with the product named, as the route sends it (placing.py: the order asked alike, so the
key's request hash is the same whichever asked), and its answer relayed. Through the route that
cost the gateway ~1.0 ms of CPU per keyed refusal under the sold-out crowd (bench.front_door).
Everything else, with its body, goes to the route, which stays the reference implementation and
the one in the OpenAPI schema: a missing or refused token, a body it must refuse with 400/422, a
body over the limit or of undeclared length, a key the route refuses, a product not marked.
"""

from __future__ import annotations

import orjson
from fastapi import FastAPI, Request
from pydantic import ValidationError
from starlette.types import Receive, Scope, Send

from flashsale.kit.asgi import declared_length, header, is_json, read_body, replay_body
from flashsale.kit.problems import MEDIA_TYPE, answer_for
from flashsale.kit.service import observed
from flashsale.services.gateway import metrics
from flashsale.services.gateway.auth import Keys, signed_in_customer
from flashsale.services.gateway.edge import Throttle
from flashsale.services.gateway.errors import SoldOutHere
from flashsale.services.gateway.models import PlaceOrder
from flashsale.services.gateway.placing import MAX_KEY_LENGTH, PLACE_PATH, refused_by_the_order_service
from flashsale.services.gateway.sold_out import Attempt, SoldOut

PATH = PLACE_PATH
JUDGED = "flashsale.sold_out_judged"  # in the scope of an attempt the door asked the copy about


class Route:
    """What `scope["route"]` names for the observers (the template FastAPI would set)."""

    path = PATH


class SoldOutDoor:
    """Pure ASGI: refuses attempts the sold-out copy refuses, passes everything else to the app."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.max_body_bytes: int = app.state.runtime.settings.max_body_bytes
        self._observed_refusal = observed(self._refuse, app.state.runtime.settings)
        self._observed_sending_on = observed(self._send_on, app.state.runtime.settings)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._may_answer(scope):
            await self.app(scope, receive, send)
            return
        body = await read_body(receive)
        if body is None:
            return  # the client went away before it finished asking
        product_id = self._sold_out_product(scope, body)
        if product_id is None:
            await self.app(scope, replay_body(body, receive), send)
            return
        scope["app"], scope["route"], scope["flashsale.sold_out"] = self.app, Route, product_id
        if header(scope, b"idempotency-key") is None:
            await self._observed_refusal(scope, receive, send)
        else:
            await self._observed_sending_on(scope, receive, send)

    def _may_answer(self, scope: Scope) -> bool:
        """A buy attempt this door may judge, before its body is read."""
        if scope["type"] != "http" or scope["path"] != PATH or scope["method"] != "POST":
            return False
        length = declared_length(scope)
        key = header(scope, b"idempotency-key")
        return (length is not None and length <= self.max_body_bytes and is_json(scope)
                and (key is None or 0 < len(key) <= MAX_KEY_LENGTH))

    def _sold_out_product(self, scope: Scope, body: bytes) -> str | None:
        """The sold-out product that refuses this signed-in customer's attempt, or None."""
        sold_out: SoldOut | None = getattr(self.app.state, "sold_out", None)
        if sold_out is None or not len(sold_out):
            return None  # nothing marked (or not started yet): no need to look closer
        authorization = header(scope, b"authorization")
        keys: Keys = self.app.state.keys
        customer_id = signed_in_customer(keys, None if authorization is None else authorization.decode("latin-1"))
        if customer_id is None:
            return None
        try:
            order = PlaceOrder.model_validate_json(body)
        except ValidationError:
            return None
        lines = tuple((item.product_id, item.quantity) for item in order.items)
        attempt = Attempt(lines, order.fulfilment == "partial")
        product_id = sold_out.refuses(attempt, self.app.state.runtime.clock.now_ms())
        scope[JUDGED] = True  # asking again would refuse a probe the copy just let through
        if product_id is not None:
            scope["flashsale.customer"], scope["flashsale.order"] = customer_id, order
        return product_id

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The attempt counted against the customer's rate limit, as the route counts it, then
        refused: 409 out_of_stock, or 429 when over the limit."""
        throttle: Throttle = self.app.state.throttle
        try:
            await throttle.admit(f"customer:{scope['flashsale.customer']}")
        except Exception as error:  # noqa: BLE001 - answered as the app answers it: its problem
            answer = await answer_for(self.app, Request(scope), error)
            await answer(scope, receive, send)
            return
        metrics.refusals.labels("out_of_stock").inc()
        await _send_problem(send, SoldOutHere(scope["flashsale.sold_out"]))

    async def _send_on(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A keyed attempt, counted against the customer's rate limit as the route counts it, then
        asked of the order service with the copy's word (placing.py), its answer relayed; what
        goes wrong answered as the app answers it (503 overloaded, orders_unavailable, 429)."""
        customer_id = scope["flashsale.customer"]
        key = header(scope, b"idempotency-key")
        assert key is not None, "only a keyed attempt is sent on"
        throttle: Throttle = self.app.state.throttle
        try:
            await throttle.admit(f"customer:{customer_id}")
            answer = await refused_by_the_order_service(self.app.state, customer_id, scope["flashsale.order"],
                                                        key.decode("latin-1"), scope["flashsale.sold_out"])
        except Exception as error:  # noqa: BLE001 - answered as the app answers it: its problem
            answer = await answer_for(self.app, Request(scope), error)
        await answer(scope, receive, send)


async def _send_problem(send: Send, problem: SoldOutHere) -> None:
    """The problem as the app's handler sends it (kit.problems problem_response: the same members
    and headers), encoded straight to bytes: JSONResponse's encoder was ~8 % of the gateway's CPU
    under a sold-out crowd."""
    body = orjson.dumps(problem.body(PATH))
    headers = [(b"content-length", str(len(body)).encode()), (b"content-type", MEDIA_TYPE.encode())]
    await send({"type": "http.response.start", "status": problem.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
