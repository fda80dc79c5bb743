"""`POST /inventory/reserve` answered at the ASGI level: the hot path of a sale, without
FastAPI's per-request machinery.

Profiled under load (bench/RESULTS.md), a coalesced hold costs about 100 us of CPU in the store
and its batch, and three times that in FastAPI's handling of the route around it: the Request
and dependency plumbing, the body parsed by `json.loads` and validated again, exception-handling
wrappers, the routing itself. The ceiling's hello-world route costs 66 us in all. This middleware
sits inside the service's own middleware (request metrics and tracing still see every request)
and answers a well-formed reserve directly: the body parsed and validated in one pydantic-core
call straight from the bytes, the store's answer serialised straight to bytes, a refusal turned
into its problem by the app's own exception handler.

Anything it does not accept as a well-formed reserve (another content type, invalid JSON, a
body the schema refuses) goes, with the same body, to the FastAPI route in `api.py`, which stays
the reference implementation, the one in the OpenAPI schema and the one that answers bad input
with its 400/422 problems. What is accepted here is a subset of what that route accepts, and the
answers are the same.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.types import ASGIApp, Receive, Scope, Send

from flashsale.contracts.api import ReserveStock
from flashsale.kit.asgi import replay_body
from flashsale.services.inventory.api import reservation_view
from flashsale.services.inventory.domain import Fulfilment, Line
from flashsale.services.inventory.errors import InventoryError
from flashsale.services.inventory.store import InventoryStore

PATH = "/inventory/reserve"
JSON_TYPES = (b"application/json", b"application/json; charset=utf-8")


class Route:
    """What `scope["route"]` names for the request metrics (the template FastAPI would set)."""

    path = PATH


class ReserveHotPath:
    """Pure ASGI middleware: answers well-formed reserves, passes everything else on."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != PATH or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        body = await _body(receive)
        if body is None:
            return  # the client went away before it finished asking
        wanted = _well_formed(scope, body)
        if wanted is None:
            await self.app(scope, replay_body(body, receive), send)
            return
        scope["route"] = Route
        answer = await _reserve(scope, wanted)
        if isinstance(answer, bytes):
            await _send_json(send, answer)
        else:
            await answer(scope, receive, send)


async def _send_json(send: Send, body: bytes) -> None:
    """A 200 with a JSON body: the two messages a Starlette `Response` sends, with the same
    headers in the same order, without building the response object per hold."""
    headers = [(b"content-length", str(len(body)).encode()), (b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _reserve(scope: Scope, wanted: ReserveStock) -> bytes | Response:
    """The granted hold as JSON bytes, or the refusal's problem response."""
    app: Any = scope["app"]
    store: InventoryStore = app.state.store
    lines = [Line(item.product_id, item.quantity) for item in wanted.lines()]
    try:
        reservation = await store.reserve(
            lines, order_id=wanted.order_id, customer_id=wanted.customer_id, ttl_s=wanted.ttl_seconds,
            fulfilment=Fulfilment(wanted.fulfilment),
        )
    except InventoryError as refusal:
        # The app's own handler (api.install_error_handlers): the same problem as the route's.
        handler = app.exception_handlers[InventoryError]
        answer: Response = await handler(Request(scope), refusal)
        return answer
    view = reservation_view(reservation)
    return view.__pydantic_serializer__.to_json(view, by_alias=True)  # model_dump_json, without a decode


async def _body(receive: Receive) -> bytes | None:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _well_formed(scope: Scope, body: bytes) -> ReserveStock | None:
    """The reserve, if its content type is JSON and the schema takes its body; else None."""
    content_type = next((value for name, value in scope["headers"] if name == b"content-type"), None)
    if content_type is None or content_type.lower() not in JSON_TYPES:
        return None
    try:
        return ReserveStock.model_validate_json(body)
    except ValidationError:
        return None
