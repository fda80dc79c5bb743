"""Routes answered in front of a service's FastAPI app answer exactly what the app's routes would:
the same status, body and headers, counted under the route's template; whatever they do not
take (a body the schema refuses, another content type, an id outside the pattern, a query) and
whatever goes wrong is the app's own answer."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import Annotated

import httpx
from fastapi import FastAPI, Path, Response
from prometheus_client import REGISTRY
from pydantic import Field

from flashsale.contracts.api import ID_PATTERN, ApiModel
from flashsale.kit.front_routes import FrontRoute, front_routes
from flashsale.kit.identity import ServiceIdentity
from flashsale.kit.problems import Problem
from flashsale.kit.service import ServiceRuntime, front, service_app
from flashsale.kit.settings import ServiceSettings
from support import plain_http

TEMPLATE = "/things/{thingId}/count"
JSON = "application/json"


class Counting(ApiModel):
    by: int = Field(ge=1, le=10)


class Counted(ApiModel):
    thing_id: str
    total: int


async def counted(app: FastAPI, ids: Mapping[str, str], body: Counting) -> tuple[int, Counted]:
    """What both the route and the front answer: 201 the first time a thing is counted."""
    if ids["thingId"] == "missing":
        raise Problem(404, "unknown_thing", "Unknown thing", f"no thing {ids['thingId']}")
    totals: dict[str, int] = app.state.totals
    first = ids["thingId"] not in totals
    totals[ids["thingId"]] = totals.get(ids["thingId"], 0) + body.by
    return 201 if first else 200, Counted(thing_id=ids["thingId"], total=totals[ids["thingId"]])


def things_app() -> FastAPI:
    @contextlib.asynccontextmanager
    async def nothing(app: FastAPI) -> AsyncIterator[None]:
        yield

    app = service_app(ServiceRuntime.stateless(ServiceIdentity("things"), ServiceSettings(tracing="off")), nothing)
    app.state.totals = {}

    @app.post(TEMPLATE, status_code=201)
    async def count(thing_id: Annotated[str, Path(alias="thingId", pattern=ID_PATTERN)], body: Counting,
                    response: Response) -> Counted:
        response.status_code, view = await counted(app, {"thingId": thing_id}, body)
        return view

    app.state.front = front_routes(FrontRoute("POST", TEMPLATE, counted, body=Counting))
    return app


def answered(status: int) -> float:
    return REGISTRY.get_sample_value("http_request_duration_seconds_count",
                                     {"route": TEMPLATE, "method": "POST", "status": str(status)}) or 0.0


async def test_what_the_front_answers_is_the_routes_own_answer_counted_under_its_template() -> None:
    app = things_app()
    before = answered(201), answered(200)
    async with plain_http.async_client(transport=httpx.ASGITransport(app=front(app)), base_url="http://t") as client:
        first = await client.post("/things/t-1/count", json={"by": 2})  # answered in front
        again = await client.post("/things/t-1/count", json={"by": 3})
        by_route = await client.post("/things/t-2/count", params={"via": "route"}, json={"by": 2})  # the app's

    assert (first.status_code, first.json()) == (201, {"thingId": "t-1", "total": 2})
    assert (again.status_code, again.json()) == (200, {"thingId": "t-1", "total": 5})
    assert (by_route.status_code, by_route.json()) == (201, {"thingId": "t-2", "total": 2})
    assert first.headers["content-type"] == by_route.headers["content-type"] == "application/json"
    assert first.headers["content-length"] == str(len(first.content))
    assert (answered(201) - before[0], answered(200) - before[1]) == (2, 1)


async def test_what_the_front_does_not_take_and_what_goes_wrong_get_the_apps_own_problems() -> None:
    app = things_app()
    async with plain_http.async_client(transport=httpx.ASGITransport(app=front(app)), base_url="http://t") as client:
        refused = await client.post("/things/t-1/count", json={"by": 0})
        not_json = await client.post("/things/t-1/count", content=b"{nope", headers={"content-type": JSON})
        as_text = await client.post("/things/t-1/count", content=b'{"by": 1}', headers={"content-type": "text/plain"})
        bad_id = await client.post("/things/bad id/count", json={"by": 1})
        missing = await client.post("/things/missing/count", json={"by": 1})

    for answer in (refused, not_json, as_text, bad_id):
        assert 400 <= answer.status_code < 500 and answer.headers["content-type"].startswith("application/problem+json")
        assert answer.json()["code"], answer.text
    assert (missing.status_code, missing.json()["code"]) == (404, "unknown_thing")
    assert missing.json()["instance"] == "/things/missing/count"
    assert app.state.totals == {}  # none of it counted anything
