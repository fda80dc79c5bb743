"""What a service's OpenAPI document says about its answers that are not a success.

A route declares the problems it answers in one line, as (status, code) pairs:

    @router.get("/{productId}", responses=answers((404, "unknown_product")))

and `document(app)` (installed for every app by `install_problem_handlers`) adds what every route
of the kind answers without saying so: 422 `invalid_request` where there is anything to validate,
400 `malformed_json` where there is a body, 401/403 and the admin security scheme on admin routes
(`answers(..., admin=True)`), 503 `database_unavailable` in a service with a database, and in an
internal API (every service but the public edges) 401 `house_credential_required` with the house's
credential as a security scheme (kit/house_auth.py: a house may ask for it on every route). Every
problem is `application/problem+json` with the `Problem` schema, its `code` one of those listed
for that status, so a generated client knows each answer and a fuzzer can check it.

A route that takes a token of its own names its bearer schemes (`answers(..., bearers=(...))`,
`optional=True` when the token may be left out), as the gateway's routes do with customers' and
admins' tokens.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI

from flashsale.kit import house_auth

MEDIA_TYPE = "application/problem+json"
PROBLEM_REF = "#/components/schemas/Problem"
# On a 401 answer: the security requirements of the route that answers it (`answers(bearers=...)`),
# moved to the operation's `security` when the document is completed.
_SECURITY_MARK = "x-flashsale-security"


@dataclass(frozen=True)
class Bearer:
    """A bearer-token security scheme: its name in the document and what the token is."""

    name: str
    description: str

    def scheme(self) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "description": self.description}


ADMIN = Bearer("adminToken", "the house's admin token (services.json `adminToken`)")
HOUSE_CREDENTIAL = Bearer(
    "houseCredential",
    "the house's credential: a service token the house signed, or its admin token. A house "
    "asks for it on every route when it listens beyond loopback or FLASHSALE_INTERNAL_AUTH=required; "
    "otherwise an internal API is open to the machine's own processes",
)

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


def answers(
    *problems: tuple[int, str], admin: bool = False, bearers: Sequence[Bearer] = (), optional: bool = False,
) -> dict[int | str, dict[str, Any]]:
    """FastAPI's `responses=` for the problems a route answers: (status, code) pairs, several codes
    per status allowed. `admin`: the route needs `Authorization: Bearer <admin token>` (401 without
    it, 403 with a wrong one), which the document says with its security scheme. `bearers`: the
    route takes a token of one of these schemes (its 401s among `problems`), or none if `optional`."""
    if admin:
        problems, bearers = (*problems, (401, "unauthorized"), (403, "forbidden")), (ADMIN,)
    responses: dict[int | str, dict[str, Any]] = {}
    for status, code in problems:
        response = responses.setdefault(status, _problem_response(status, []))
        _add_codes(response, [code])
    if bearers:
        if 401 not in responses:
            raise ValueError("a route that takes a token answers 401 for a token it does not take: list its codes")
        requirements = [{bearer.name: bearer.scheme()} for bearer in bearers]
        responses[401][_SECURITY_MARK] = [{}, *requirements] if optional else requirements
    return responses


def document(app: FastAPI, *, database: Callable[[], bool]) -> None:
    """Make `app.openapi()` describe the problems every route answers (module docstring);
    `database()` says whether the service has one (read when the document is first built), and the
    service's name whether it is an internal API (house_auth.PUBLIC_EDGES)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            name = getattr(getattr(app.state, "runtime", None), "name", None)  # None: not a service's app
            internal = name is not None and name not in house_auth.PUBLIC_EDGES
            _complete(schema, database=database(), internal=internal)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _complete(schema: dict[str, Any], *, database: bool, internal: bool) -> None:
    components = schema.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            _complete_operation(operation, database=database, internal=internal, components=components)
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)


def _complete_operation(
    operation: dict[str, Any], *, database: bool, internal: bool, components: dict[str, Any],
) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    implied: list[tuple[int, str]] = []
    if operation.get("parameters") or "requestBody" in operation:
        implied.append((422, "invalid_request"))
    if "requestBody" in operation:
        # Not JSON; a body FastAPI cannot read at all (e.g. not UTF-8) is malformed_request.
        implied += [(400, "malformed_json"), (400, "malformed_request")]
    if database:
        implied.append((503, "database_unavailable"))
    if internal:
        # Answered in front of the app (house_auth.InternalApi) when the house asks for its credential.
        implied.append((401, house_auth.REFUSAL_CODE))
    for status, code in implied:
        current = responses.get(str(status))
        if current is None or not _is_problem(current):
            responses[str(status)] = current = _problem_response(status, [])
        _add_codes(current, [code])
    requirements: list[dict[str, dict[str, str]]] = responses.get("401", {}).pop(_SECURITY_MARK, [])
    if internal and not requirements:
        # A route that takes no token of its own takes the house's credential, when the house asks
        # for it; a route that does (an admin route) takes the admin token, which the house accepts too.
        requirements = [{}, {HOUSE_CREDENTIAL.name: HOUSE_CREDENTIAL.scheme()}]
    if requirements:
        operation["security"] = [{name: [] for name in requirement} for requirement in requirements]
        schemes = components.setdefault("securitySchemes", {})
        for requirement in requirements:
            schemes.update(requirement)


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
