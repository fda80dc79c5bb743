"""A service's hottest routes answered in front of its FastAPI app (kit.service `front`).

Every checkout passes a handful of routes once or more: the buyers' polls of their order, the
payment's authorisation and capture, the shipment, the products priced. Through FastAPI each
request costs ~0.2 ms of a service's CPU in FastAPI's and Starlette's handling alone (the routing,
the dependencies, the body parsed and validated, the response model validated and serialised, the
exception and body-limit wrappers, a coroutine frame per layer at every resumption), next to
route work that is often less than that: measured with py-spy, and side by side (`GET
/orders/{orderId}`: 419 -> 222 us per read answered here).

A `FrontRoute` names one route as FastAPI knows it (method and path template) and what answers
it: a function of the app, the path's ids and the validated body that returns the route's view
(or its status and view), which the app's route calls too, so both answer alike. `FrontRoutes`
answers what those routes take, exactly as their FastAPI routes would, and passes everything
else to the app, which stays the reference and the one in the OpenAPI document:
- a path id not matching the contract's id pattern, a query string, a body that is not JSON of a
  declared length up to `MAX_BODY_BYTES`, or one the body's model refuses: the app answers it
  (its 400/422 problems), with the body already read handed on;
- an error raised by the answer: the app's own problem for it (kit.problems `answer_for`).
What is answered here still passes the service's observers (request metrics and tracing, under
the route's template; kit.service `observed`). Written here rather than taken: it is FastAPI's
own per-request work that it leaves out.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from pydantic import BaseModel, ValidationError
from starlette.types import ASGIApp, Receive, Scope, Send

from flashsale.contracts.api import ID_PATTERN
from flashsale.kit.asgi import declared_length, is_json, read_body, replay_body, send_json
from flashsale.kit.problems import answer_for
from flashsale.kit.service import observed

MAX_BODY_BYTES = 65_536  # bodies larger than any hot route takes go to the app
_ID = ID_PATTERN.removeprefix("^").removesuffix("$")

# (the app, the path's ids by name, the validated body or None) -> the view, or (status, view)
Answer = Callable[[FastAPI, Mapping[str, str], Any], Awaitable[BaseModel | tuple[int, BaseModel]]]


@dataclass(frozen=True)
class FrontRoute:
    method: str
    path: str  # the FastAPI route's template, e.g. "/payments/{orderId}/capture"; every {name} an id
    answer: Answer
    body: type[BaseModel] | None = None
    _pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_pattern", template_pattern(self.path))

    def ids(self, scope: Scope) -> dict[str, str] | None:
        """The path's ids when `scope` asks for this route (no query), else None."""
        if scope["method"] != self.method or scope["query_string"]:
            return None
        matched = self._pattern.match(scope["path"])
        return None if matched is None else matched.groupdict()


def template_pattern(path: str) -> re.Pattern[str]:
    """The paths a FastAPI route's template takes, every `{name}` an id of the contract's pattern."""
    pattern = re.sub(r"\\{(\w+)\\}", lambda m: f"(?P<{m.group(1)}>{_ID})", re.escape(path))
    return re.compile(pattern + r"\Z")


class Template:
    """What `scope["route"]` names for the observers (the template FastAPI would set)."""

    def __init__(self, path: str) -> None:
        self.path = path


class FrontRoutes:
    """Pure ASGI: answers what `routes` take, passes everything else to the app."""

    def __init__(self, app: FastAPI, routes: Sequence[FrontRoute]) -> None:
        self.app = app
        self.routes = [(route, Template(route.path)) for route in routes]
        self._observed_answer = observed(self._answer, app.state.runtime.settings)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for route, template in self.routes:
                ids = route.ids(scope)
                if ids is not None:
                    await self._take(route, template, ids, scope, receive, send)
                    return
        await self.app(scope, receive, send)

    async def _take(self, route: FrontRoute, template: Template, ids: dict[str, str], scope: Scope,
                    receive: Receive, send: Send) -> None:
        body = None
        if route.body is not None:
            length = declared_length(scope)
            if not is_json(scope) or length is None or length > MAX_BODY_BYTES:
                await self.app(scope, receive, send)
                return
            raw = await read_body(receive)
            if raw is None:
                return  # the client went away before it finished asking
            try:
                body = route.body.model_validate_json(raw)
            except ValidationError:
                await self.app(scope, replay_body(raw, receive), send)
                return
        scope["app"], scope["route"] = self.app, template
        scope["flashsale.front"] = (route, ids, body)
        await self._observed_answer(scope, receive, send)

    async def _answer(self, scope: Scope, receive: Receive, send: Send) -> None:
        route, ids, body = scope["flashsale.front"]
        try:
            answered = await route.answer(self.app, ids, body)
        except Exception as error:  # noqa: BLE001 - answered as the app answers it: its problem, logged
            problem = await answer_for(self.app, Request(scope), error)
            await problem(scope, receive, send)
            return
        status, view = answered if isinstance(answered, tuple) else (200, answered)
        await send_json(send, view.__pydantic_serializer__.to_json(view, by_alias=True), status=status)


def front_routes(*routes: FrontRoute) -> Callable[[FastAPI], ASGIApp]:
    """What a service's `app.state.front` is set to: `routes` answered in front of its app."""
    return lambda app: FrontRoutes(app, routes)
