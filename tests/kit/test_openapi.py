"""A service's OpenAPI document names what its gate answers: an internal API lists the house's
credential and its 401 `house_credential_required` on every route, a public edge does not, and a
route that takes tokens of its own names their schemes."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import schemathesis
from fastapi import Depends, FastAPI

from flashsale.kit import house_auth
from flashsale.kit.identity import ServiceIdentity
from flashsale.kit.openapi import Bearer, answers
from flashsale.kit.service import ServiceRuntime, require_admin, service_app
from flashsale.kit.settings import ServiceSettings
from support import plain_http

ADMIN_TOKEN = "the-house-admin-token"
TICKET = Bearer("ticket", "a ticket of the house's own")


def app_named(name: str) -> FastAPI:
    @contextlib.asynccontextmanager
    async def nothing(app: FastAPI) -> AsyncIterator[None]:
        yield

    runtime = ServiceRuntime.stateless(ServiceIdentity(name), ServiceSettings(admin_token=ADMIN_TOKEN))
    app = service_app(runtime, nothing)

    @app.get("/stock/{productId}", responses=answers((404, "unknown_product")))
    async def stock(productId: str) -> dict[str, str]:
        return {"productId": productId}

    @app.post("/stock/{productId}/receive", dependencies=[Depends(require_admin)], responses=answers(admin=True))
    async def receive(productId: str) -> dict[str, str]:
        return {"productId": productId}

    @app.get("/tickets", responses=answers((401, "ticket_invalid"), bearers=(TICKET,), optional=True))
    async def tickets() -> list[str]:
        return []

    return app


def operations(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [operation for path in document["paths"].values() for operation in path.values()]


def codes(operation: dict[str, Any], status: int) -> list[str]:
    problem = operation["responses"][str(status)]["content"]["application/problem+json"]["schema"]
    listed: list[str] = problem["properties"]["code"]["enum"]
    return listed


def test_an_internal_api_names_the_houses_credential_and_its_refusal_on_every_route() -> None:
    document = app_named("inventory").openapi()

    assert "houseCredential" in document["components"]["securitySchemes"]
    for operation in operations(document):
        assert "house_credential_required" in codes(operation, 401), operation["operationId"]
    paths = document["paths"]
    stock, receive = paths["/stock/{productId}"]["get"], paths["/stock/{productId}/receive"]["post"]
    # Asked for only when the house asks for it; an admin route takes the admin token, which it accepts.
    assert stock["security"] == [{}, {"houseCredential": []}]
    assert receive["security"] == [{"adminToken": []}]


def test_a_public_edge_names_no_house_credential() -> None:
    document = app_named("gateway").openapi()

    assert "houseCredential" not in document["components"].get("securitySchemes", {})
    assert all("house_credential_required" not in str(operation) for operation in operations(document))


def test_a_route_with_tokens_of_its_own_names_their_scheme() -> None:
    document = app_named("gateway").openapi()

    tickets = document["paths"]["/tickets"]["get"]
    assert tickets["security"] == [{}, {"ticket": []}]
    assert document["components"]["securitySchemes"]["ticket"] == {
        "type": "http", "scheme": "bearer", "description": "a ticket of the house's own"}
    assert "x-flashsale-security" not in tickets["responses"]["401"]


async def test_the_gates_refusal_is_an_answer_the_document_lists() -> None:
    app = app_named("inventory")
    gated = house_auth.InternalApi(app, house_auth.HouseGate(ADMIN_TOKEN))
    schema = schemathesis.openapi.from_dict(app.openapi())

    async with plain_http.async_client(transport=httpx.ASGITransport(app=gated), base_url="http://house") as client:
        refused = await client.get("/stock/p-1")

    assert refused.status_code == 401 and refused.json()["code"] == "house_credential_required"
    schema["/stock/{productId}"]["GET"].validate_response(refused)
