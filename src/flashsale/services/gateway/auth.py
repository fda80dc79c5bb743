"""Who is calling: FastAPI dependencies every gateway route takes exactly one of.

- `customer`: a valid customer token (401 without one, 403 for an admin token); the route acts
  for that customer and no other. Rate-limited per customer.
- `admin`: a valid admin token (401 without, 403 for a customer's). Rate-limited as one caller.
- `visitor`: anyone; a token, if sent, must be valid, and then counts as that customer (their
  recent writes, their rate limit). Rate-limited per client address otherwise.

The client address is the connection's peer: behind a trusted proxy it would come from its
X-Forwarded-For instead, and from nowhere else (a client can write any header it likes).

What each kind of route answers about its caller goes in the OpenAPI document with `as_customer`,
`as_admin` and `as_visitor` (kit/openapi.py `answers`, plus the route's own problems): the 401s
(with `WWW-Authenticate`), the 403 for a token of the other role, the 429 (with `Retry-After`),
and the bearer scheme the route takes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request, Response
from starlette.datastructures import State
from starlette.types import Scope

from flashsale.kit.asgi import header
from flashsale.kit.clock import Clock
from flashsale.kit.openapi import Bearer, answers
from flashsale.kit.problems import answer_for
from flashsale.services.gateway import metrics, tokens
from flashsale.services.gateway.edge import Throttle
from flashsale.services.gateway.errors import Forbidden, Unauthenticated
from flashsale.services.gateway.tokens import Claims, Role, TokenRefused

MAX_REMEMBERED_TOKENS = 100_000

CUSTOMER_TOKEN = Bearer(
    "customerToken", "a customer's access token: POST /api/auth/token (or /api/auth/refresh) answers it")
ADMIN_TOKEN = Bearer("adminAccessToken", "an admin access token: POST /api/auth/admin with the house's admin token")
# A token was sent and is not one the gateway takes (Unauthenticated).
REFUSED_TOKEN = ((401, "token_expired"), (401, "token_invalid"))
Responses = dict[int | str, dict[str, Any]]


@dataclass(frozen=True)
class Keys:
    """What tokens are signed with and how long they live.

    A token that verified is remembered (by its exact text) with its claims, so a buyer's next
    request is not its signature checked again: decoding and checking one cost the gateway ~10 %
    of its CPU under a sold-out crowd (py-spy). The same text under the same key always decodes
    to the same claims; its expiry is still checked on every use. Only valid tokens are kept, at
    most MAX_REMEMBERED_TOKENS (then forgotten all at once), so forged ones cannot fill it."""

    secret: str
    ttl_s: int
    clock: Clock
    refresh_ttl_s: int = 7 * 86_400
    _verified: dict[str, Claims] = field(default_factory=dict, compare=False, repr=False)

    def issue(self, subject: str, role: Role) -> str:
        return tokens.issue(self.secret, subject, role, self.clock.now_ms() // 1000, self.ttl_s)

    def issue_refresh(self, subject: str) -> str:
        return tokens.issue_refresh(self.secret, subject, self.clock.now_ms() // 1000, self.refresh_ttl_s)

    def verify_refresh(self, token: str) -> Claims:
        return tokens.verify_refresh(self.secret, token, self.clock.now_ms() / 1000)

    def verify(self, token: str) -> Claims:
        claims = self._verified.get(token)
        if claims is None:
            claims = tokens.decode(self.secret, token)
            if len(self._verified) >= MAX_REMEMBERED_TOKENS:
                self._verified.clear()
            self._verified[token] = claims
        return tokens.unexpired(claims, self.clock.now_ms() / 1000)


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise refused("token_invalid", "send Authorization: Bearer <token>")
    return token.strip()


def signed_in_customer(keys: Keys, authorization: str | None) -> str | None:
    """The customer a valid customer token names, from an Authorization header's value; None for
    anything else (no token, another role, a token refused), which the routes answer themselves."""
    if authorization is None:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer":
        return None
    try:
        claims = keys.verify(token.strip())
    except TokenRefused:
        return None
    return claims.subject if claims.role is Role.CUSTOMER else None


def door_customer(state: State, scope: Scope) -> str | None:
    """For an answer given in front of the app (door.py, polls.py): the customer a request's valid
    customer token names, or None (no token, another role, a refused token, or the app not started
    yet), which the routes answer themselves."""
    keys: Keys | None = getattr(state, "keys", None)
    authorization = header(scope, b"authorization")
    if keys is None or authorization is None:
        return None
    return signed_in_customer(keys, authorization.decode("latin-1"))


async def admitted_answer(app: FastAPI, scope: Scope, customer_id: str,
                          work: Callable[[], Awaitable[Response]]) -> Response:
    """For an answer given in front of the app: `work`'s, once the request is counted against the
    customer's rate limit as the routes count it (`customer`); whatever goes wrong, the app's own
    problem for it (429, 503, 404...)."""
    try:
        await _admit_caller(app.state, f"customer:{customer_id}")
        return await work()
    except Exception as error:  # noqa: BLE001 - answered as the app answers it: its problem
        return await answer_for(app, Request(scope), error)


def _claims(request: Request) -> Claims | None:
    token = _bearer(request)
    if token is None:
        return None
    keys: Keys = request.app.state.keys
    try:
        return keys.verify(token)
    except TokenRefused as refusal:
        raise refused(refusal.reason, refusal.detail) from None


def _required(request: Request, role: Role) -> Claims:
    claims = _claims(request)
    if claims is None:
        raise refused("unauthenticated", "sign in and send Authorization: Bearer <token>")
    if claims.role is not role:
        metrics.refusals.labels("forbidden").inc()
        raise Forbidden(f"this route is for the {role.value} role")
    return claims


def refused(code: str, detail: str) -> Unauthenticated:
    """A 401 for a token the gateway does not take, counted by why."""
    metrics.refusals.labels(code).inc()
    return Unauthenticated(code, detail)


async def _admit(request: Request, caller: str) -> None:
    await _admit_caller(request.app.state, caller)


async def _admit_caller(state: State, caller: str) -> None:
    throttle: Throttle = state.throttle
    await throttle.admit(caller)


async def customer(request: Request) -> str:
    """The signed-in customer's id."""
    claims = _required(request, Role.CUSTOMER)
    await _admit(request, f"customer:{claims.subject}")
    return claims.subject


async def admin(request: Request) -> None:
    _required(request, Role.ADMIN)
    await _admit(request, "admin")


async def visitor(request: Request) -> str | None:
    """The customer's id when a customer token came with the request, else None."""
    claims = _claims(request)
    if claims is not None and claims.role is Role.CUSTOMER:
        await _admit(request, f"customer:{claims.subject}")
        return claims.subject
    await _admit(request, "admin" if claims is not None else f"address:{_address(request)}")
    return None


def _address(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


CustomerId = Annotated[str, Depends(customer)]
VisitorId = Annotated[str | None, Depends(visitor)]
Admin = [Depends(admin)]


def as_customer(*problems: tuple[int, str]) -> Responses:
    """`responses=` of a route for the signed-in customer (`CustomerId`), with its own problems."""
    return _documented(answers(*problems, (401, "unauthenticated"), *REFUSED_TOKEN, (403, "forbidden"),
                               (429, "rate_limited"), bearers=(CUSTOMER_TOKEN,)))


def as_admin(*problems: tuple[int, str]) -> Responses:
    """`responses=` of an admin route (`Admin`), with its own problems."""
    return _documented(answers(*problems, (401, "unauthenticated"), *REFUSED_TOKEN, (403, "forbidden"),
                               (429, "rate_limited"), bearers=(ADMIN_TOKEN,)))


def as_visitor(*problems: tuple[int, str]) -> Responses:
    """`responses=` of an open route (`VisitorId`), with its own problems: a token may be left out,
    and one that is sent must be good."""
    return _documented(answers(*problems, *REFUSED_TOKEN, (429, "rate_limited"),
                               bearers=(CUSTOMER_TOKEN, ADMIN_TOKEN), optional=True))


def _documented(responses: Responses) -> Responses:
    """The headers HTTP asks for, on the answers that carry them (errors.py)."""
    responses[401]["headers"] = {"WWW-Authenticate": {
        "description": "`Bearer` (RFC 6750) on a refused token; a sign-in's invalid_credentials has none",
        "schema": {"type": "string"}}}
    responses[429]["headers"] = {"Retry-After": {
        "description": "seconds until the caller's window has room again", "required": True,
        "schema": {"type": "string", "pattern": "^[0-9]+$"}}}
    return responses
