"""A signed-in buyer's buy attempt and payment answered at the door, in front of the FastAPI app.

Most of a drop's crowd is told "sold out", so that answer must be the cheapest the gateway gives.
Through FastAPI it cost the gateway ~0.64 ms of CPU per refusal under a crowd of 256 connections
(the routing, six dependencies, the body validated into a model, the exception handlers and the
middleware stack around them; bench.front_door), which made the gateway's one event loop the
limit of the whole sold-out phase. The buyers who do get a unit then place and pay through the
same stack: FastAPI's share of each is the same ~0.2 ms (polls.py measured it for a read).

So here, for `POST /api/orders` and `POST /api/orders/{orderId}/pay`: the token verified, the body
parsed and validated in one pydantic-core call from its bytes, the customer's rate limit counted,
and then what the routes (api_orders.py) do, by the same functions (placing.py):
- an attempt the sold-out copy refuses (sold_out.py): without an Idempotency-Key, the route's own
  409 `out_of_stock`; with one, sent on to the order service, which keeps keys, with the product
  named (through the route that cost the gateway ~1.0 ms of CPU per keyed refusal);
- any other attempt: asked of the order service, one of the attempts in flight (503 overloaded
  past them), and what its answer says of the stock noted;
- a payment: asked of the order service for this customer.
Each still passes the service's observers (request metrics, tracing; kit.service `observed`), and
whatever goes wrong gets the app's own problem (kit.problems `answer_for`: 429, 503, 404).
Everything else, with its body, goes to the routes, which stay the reference implementation and
the ones in the OpenAPI schema: a missing or refused token, a body they must refuse with 400/422,
a body over the limit or of undeclared length, a key they refuse, an id outside the pattern.
"""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass

import orjson
from fastapi import FastAPI, Response
from pydantic import BaseModel, ValidationError
from starlette.types import Receive, Scope, Send

from flashsale.contracts.api import PayOrder
from flashsale.kit.asgi import declared_length, header, is_json, read_body, replay_body
from flashsale.kit.front_routes import Template, template_pattern
from flashsale.kit.problems import MEDIA_TYPE
from flashsale.kit.service import observed
from flashsale.services.gateway import metrics
from flashsale.services.gateway.auth import admitted_answer, door_customer
from flashsale.services.gateway.errors import SoldOutHere
from flashsale.services.gateway.models import PlaceOrder
from flashsale.services.gateway.placing import (
    MAX_KEY_LENGTH,
    PLACE_PATH,
    paid_by_the_order_service,
    placed_by_the_order_service,
    refused_by_the_order_service,
)
from flashsale.services.gateway.sold_out import Attempt, SoldOut

PLACING, PAYING = Template(PLACE_PATH), Template("/api/orders/{orderId}/pay")
PAYMENT = template_pattern(PAYING.path)


@dataclass(frozen=True)
class Asked:
    """A signed-in customer's well-formed request, as the door takes it."""

    customer_id: str
    body: BaseModel
    key: str | None
    order_id: str | None  # a payment's


class BuyDoor:
    """Pure ASGI: answers signed-in customers' well-formed buy attempts and payments, passes
    everything else to the app."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.max_body_bytes: int = app.state.runtime.settings.max_body_bytes
        self._observed = observed(self._answer, app.state.runtime.settings)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        taken = self._taken(scope)
        if taken is None:
            await self.app(scope, receive, send)
            return
        template, model, order_id, key = taken
        body = await read_body(receive)
        if body is None:
            return  # the client went away before it finished asking
        asked = self._asked(scope, body, model, order_id, key)
        if asked is None:
            await self.app(scope, replay_body(body, receive), send)
            return
        scope["app"], scope["route"], scope["flashsale.asked"] = self.app, template, asked
        await self._observed(scope, receive, send)

    def _taken(self, scope: Scope) -> tuple[Template, type[BaseModel], str | None, str | None] | None:
        """Which of the door's requests this is, before its body is read, with its order id (a
        payment's) and Idempotency-Key (None: not the door's)."""
        if scope["type"] != "http" or scope["method"] != "POST" or scope["query_string"]:
            return None
        paying = None if scope["path"] == PLACE_PATH else PAYMENT.match(scope["path"])
        if scope["path"] != PLACE_PATH and paying is None:
            return None
        length = declared_length(scope)
        key = header(scope, b"idempotency-key")
        if (length is None or length > self.max_body_bytes or not is_json(scope)
                or (key is not None and not 0 < len(key) <= MAX_KEY_LENGTH)):
            return None
        given_key = None if key is None else key.decode("latin-1")
        if paying is None:
            return PLACING, PlaceOrder, None, given_key
        return PAYING, PayOrder, paying.group("orderId"), given_key

    def _asked(self, scope: Scope, body: bytes, model: type[BaseModel], order_id: str | None,
               key: str | None) -> Asked | None:
        customer_id = door_customer(self.app.state, scope)
        if customer_id is None:
            return None
        try:
            validated = model.model_validate_json(body)
        except ValidationError:
            return None
        return Asked(customer_id, validated, key, order_id)

    async def _answer(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Counted against the customer's rate limit as the routes count it, then answered as they
        answer it; what goes wrong answered as the app answers it."""
        asked: Asked = scope["flashsale.asked"]
        answer = await admitted_answer(self.app, scope, asked.customer_id,
                                       lambda: self._answered(asked, scope["path"]))
        await answer(scope, receive, send)

    def _answered(self, asked: Asked, path: str) -> Awaitable[Response]:
        state = self.app.state
        if isinstance(asked.body, PayOrder):
            assert asked.order_id is not None, "a payment names its order"
            return paid_by_the_order_service(state, asked.customer_id, asked.order_id, asked.body, asked.key, path)
        assert isinstance(asked.body, PlaceOrder)
        attempt = Attempt(tuple((item.product_id, item.quantity) for item in asked.body.items),
                          asked.body.fulfilment == "partial")
        sold_out: SoldOut = state.sold_out
        refused_by = sold_out.refuses(attempt, state.runtime.clock.now_ms())
        if refused_by is None:
            return placed_by_the_order_service(state, asked.customer_id, asked.body, asked.key, attempt)
        if asked.key is None:
            return _refused_here(SoldOutHere(refused_by))
        return refused_by_the_order_service(state, asked.customer_id, asked.body, asked.key, refused_by)


async def _refused_here(problem: SoldOutHere) -> Response:
    """The route's own 409 out_of_stock (kit.problems problem_response: the same members and
    headers), encoded straight to bytes: JSONResponse's encoder was ~8 % of the gateway's CPU under
    a sold-out crowd."""
    metrics.refusals.labels("out_of_stock").inc()
    return Response(orjson.dumps(problem.body(PLACE_PATH)), status_code=problem.status, media_type=MEDIA_TYPE)
