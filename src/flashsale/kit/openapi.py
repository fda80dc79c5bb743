"""What a service's OpenAPI document says about its answers that are not a success.

A route declares the problems it answers in one line, as (status, code) pairs:

    @router.get("/{productId}", responses=answers((404, "unknown_product")))

and `document(app)` (installed for every app by `install_problem_handlers`) adds what every route
of the kind answers without saying so: 422 `invalid_request` where there is anything to validate,
400 `malformed_json` where there is a body, 401/403 and the admin security scheme on admin routes
(`answers(..., admin=True)`), and 503 `database_unavailable` in a service with a database. Every
problem is `application/problem+json` with the `Problem` schema, its `code` one of those listed
for that status, so a generated client knows each answer and a fuzzer can check it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

MEDIA_TYPE = "application/problem+json"
PROBLEM_REF = "#/components/schemas/Problem"
ADMIN_SCHEME = "adminToken"
_ADMIN_MARK = "x-flashsale-admin"  # on a 401 answer: the route needs the admin token; removed from the document

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details with the member `code` clients switch on; some problems carry "
                   "more members (e.g. `productId`, `errors`).",
    "type": "object",
    "required": ["type", "title", "status", "code"],
    "properties": {
        "type": {"type": "string", "description": "a URI naming the problem"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "code": {"type": "string", "description": "what went wrong, in snake_case"},
        "detail": {"type": "string"},
        "instance": {"type": "string", "description": "the path of the request"},
    },
}

_TITLES = {400: "Bad request", 401: "Unauthenticated", 402: "Payment required", 403: "Forbidden",
           404: "Not found", 405: "Method not allowed", 409: "Conflict", 412: "Precondition failed",
           413: "Payload too large", 422: "Invalid request", 428: "Precondition required",
           429: "Too many requests", 503: "Unavailable"}


def answers(*problems: tuple[int, str], admin: bool = False) -> dict[int | str, dict[str, Any]]:
    """FastAPI's `responses=` for the problems a route answers: (status, code) pairs, several codes
    per status allowed. `admin`: the route needs `Authorization: Bearer <admin token>` (401 without
    it, 403 with a wrong one), which the document says with its security scheme."""
    given = [*problems, (401, "unauthorized"), (403, "forbidden")] if admin else list(problems)
    responses: dict[int | str, dict[str, Any]] = {}
    for status, code in given:
        response = responses.setdefault(status, _problem_response(status, []))
        _add_codes(response, [code])
    if admin:
        responses[401][_ADMIN_MARK] = True
    return responses


def document(app: FastAPI, *, database: Callable[[], bool]) -> None:
    """Make `app.openapi()` describe the problems every route answers (module docstring);
    `database()` says whether the service has one (read when the document is first built)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            _complete(schema, database=database())
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _complete(schema: dict[str, Any], *, database: bool) -> None:
    components = schema.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            _complete_operation(operation, database=database, components=components)
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)


def _complete_operation(operation: dict[str, Any], *, database: bool, components: dict[str, Any]) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    implied: list[tuple[int, str]] = []
    if operation.get("parameters") or "requestBody" in operation:
        implied.append((422, "invalid_request"))
    if "requestBody" in operation:
        # Not JSON; a body FastAPI cannot read at all (e.g. not UTF-8) is malformed_request.
        implied += [(400, "malformed_json"), (400, "malformed_request")]
    if database:
        implied.append((503, "database_unavailable"))
    for status, code in implied:
        current = responses.get(str(status))
        if current is None or not _is_problem(current):
            responses[str(status)] = current = _problem_response(status, [])
        _add_codes(current, [code])
    unauthorized = responses.get("401", {})
    if unauthorized.pop(_ADMIN_MARK, False):
        operation["security"] = [{ADMIN_SCHEME: []}]
        components.setdefault("securitySchemes", {})[ADMIN_SCHEME] = {
            "type": "http", "scheme": "bearer",
            "description": "the house's admin token (services.json `adminToken`)",
        }


def _problem_response(status: int, codes: list[str]) -> dict[str, Any]:
    return {
        "description": _TITLES.get(status, "Problem"),
        "content": {MEDIA_TYPE: {"schema": {
            "allOf": [{"$ref": PROBLEM_REF}],
            "properties": {"status": {"const": status}, "code": {"enum": codes}},
        }}},
    }


def _is_problem(response: dict[str, Any]) -> bool:
    return MEDIA_TYPE in response.get("content", {})


def _add_codes(response: dict[str, Any], codes: list[str]) -> None:
    known: list[str] = response["content"][MEDIA_TYPE]["schema"]["properties"]["code"]["enum"]
    known.extend(code for code in codes if code not in known)
    response["description"] = f"{response['description'].split(':')[0]}: {', '.join(known)}"
