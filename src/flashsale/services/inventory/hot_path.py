"""`POST /inventory/reserve` answered in front of the FastAPI app: the hot path of a sale.

Profiled under load (bench/RESULTS.md), a coalesced hold costs about 100 us of CPU in the store
and its batch, and three times that in FastAPI's handling of the route around it: the Request
and dependency plumbing, the body parsed by `json.loads` and validated again, exception-handling
wrappers, the routing itself. The ceiling's hello-world route costs 66 us in all. Answering
inside the app's middleware saved most of it; answering in front of the app (kit.service
`front`) saves the rest of the stack: FastAPI's and Starlette's entry, the error and body-limit
middleware, and a coroutine frame per layer that every resumption of a hold (each database round
trip) passes through: +24% holds/s at 256 clients on PostgreSQL, measured side by side. A
reserve answered here still passes the service's observers (request metrics, tracing; kit.service
`observed`) and gets the app's own problem for any error (kit.problems `answer_for`): a refusal
its 409/404, a database out of reach its 503.

The body is parsed and validated in one pydantic-core call straight from the bytes, and the
store's answer serialised straight to bytes. Anything not accepted as a well-formed reserve
(another content type, invalid JSON, a body the schema refuses) goes, with the same body, to the
FastAPI route in `api.py`, which stays the reference implementation, the one in the OpenAPI
schema and the one that answers bad input with its 400/422 problems. What is accepted here is a
subset of what that route accepts, and the answers are the same.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from pydantic import ValidationError
from starlette.types import Receive, Scope, Send

from flashsale.contracts.api import ReserveStock
from flashsale.kit.asgi import is_json, read_body, replay_body, send_json
from flashsale.kit.problems import answer_for
from flashsale.kit.service import observed
from flashsale.services.inventory.api import reservation_view
from flashsale.services.inventory.domain import Fulfilment, Line
from flashsale.services.inventory.operations import Inventory

PATH = "/inventory/reserve"


class Route:
    """What `scope["route"]` names for the observers (the template FastAPI would set)."""

    path = PATH


class ReserveHotPath:
    """Pure ASGI: answers well-formed reserves, passes everything else to the app."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self._observed_reserve = observed(self._reserve, app.state.runtime.settings)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != PATH or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        body = await read_body(receive)
        if body is None:
            return  # the client went away before it finished asking
        wanted = _well_formed(scope, body)
        if wanted is None:
            await self.app(scope, replay_body(body, receive), send)
            return
        scope["app"], scope["route"], scope["flashsale.reserve"] = self.app, Route, wanted
        await self._observed_reserve(scope, receive, send)

    async def _reserve(self, scope: Scope, receive: Receive, send: Send) -> None:
        wanted: ReserveStock = scope["flashsale.reserve"]
        store: Inventory = self.app.state.store
        lines = [Line(item.product_id, item.quantity) for item in wanted.lines()]
        try:
            reservation = await store.reserve(
                lines, order_id=wanted.order_id, customer_id=wanted.customer_id, ttl_s=wanted.ttl_seconds,
                fulfilment=Fulfilment(wanted.fulfilment),
            )
        except Exception as error:  # noqa: BLE001 - answered as the app answers it: its problem, logged
            answer = await answer_for(self.app, Request(scope), error)
            await answer(scope, receive, send)
            return
        view = reservation_view(reservation)
        await send_json(send, view.__pydantic_serializer__.to_json(view, by_alias=True))


def _well_formed(scope: Scope, body: bytes) -> ReserveStock | None:
    """The reserve, if its content type is JSON and the schema takes its body; else None."""
    if not is_json(scope):
        return None
    try:
        return ReserveStock.model_validate_json(body)
    except ValidationError:
        return None
