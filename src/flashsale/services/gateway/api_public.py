"""The gateway's open routes: signing up, signing in, and browsing products."""

from __future__ import annotations

import hmac
import uuid
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import JSONResponse

from flashsale.contracts.api import ID_PATTERN, CustomerView, SignIn
from flashsale.kit.problems import Problem
from flashsale.services.gateway.auth import Keys, VisitorId, as_visitor, refused
from flashsale.services.gateway.deps import KeysDep, ReadsDep, SettingsDep, UpstreamsDep
from flashsale.services.gateway.models import AccessToken, AdminSignIn, Product, ProductPage, Refresh, SignUp
from flashsale.services.gateway.tokens import ADMIN_SUBJECT, Role, TokenRefused
from flashsale.services.gateway.upstream import relay

router = APIRouter(prefix="/api", tags=["public"])

ProductId = Annotated[str, Path(alias="productId", pattern=ID_PATTERN)]
MAX_PAGE = 100
TOO_LARGE = (413, "payload_too_large")  # a body over the limit (edge.BodyLimit)


@router.post("/signup", status_code=201, response_model=CustomerView, responses=as_visitor(
    TOO_LARGE, (409, "email_taken"), (422, "weak_password"), (503, "customers_unavailable")))
async def sign_up(body: SignUp, request: Request, _: VisitorId, upstreams: UpstreamsDep) -> Response:
    """A new customer who can sign in: 201 with the profile; 409 email_taken; 422 weak_password."""
    registration = {"customerId": f"c-{uuid.uuid4().hex[:20]}", **body.model_dump(by_alias=True, mode="json")}
    answer = await upstreams.customers.request("POST", "/customers/registrations", json=registration)
    return relay(answer, request.url.path)


@router.post("/auth/token", response_model=AccessToken, responses=as_visitor(
    TOO_LARGE, (401, "invalid_credentials"), (503, "customers_unavailable")))
async def sign_in(body: SignIn, request: Request, _: VisitorId, upstreams: UpstreamsDep, keys: KeysDep) -> Response:
    """A customer token for an email and password: 200; 401 invalid_credentials."""
    answer = await upstreams.customers.request(
        "POST", "/customers/authenticate", json=body.model_dump(by_alias=True), idempotent=True,
    )
    if answer.status_code != 200:
        return relay(answer, request.url.path)
    return _customer_tokens(keys, answer.json()["customerId"])


@router.post("/auth/refresh", response_model=AccessToken, responses=as_visitor(TOO_LARGE))
async def refresh(body: Refresh, _: VisitorId, keys: KeysDep) -> Response:
    """New tokens for a customer's refresh token: 200 as sign-in answers; 401 token_invalid or
    token_expired (sign in again). No password is checked: the refresh token is the credential."""
    try:
        claims = keys.verify_refresh(body.refresh_token)
    except TokenRefused as refusal:
        raise refused(refusal.reason, refusal.detail) from None
    return _customer_tokens(keys, claims.subject)


@router.post("/auth/admin", response_model=AccessToken,
             responses=as_visitor(TOO_LARGE, (401, "invalid_credentials")))
async def admin_sign_in(body: AdminSignIn, _: VisitorId, keys: KeysDep, settings: SettingsDep) -> Response:
    """An admin token for the house's admin token: 200; 401 invalid_credentials."""
    expected = settings.admin_token.encode()
    if not expected or not hmac.compare_digest(body.admin_token.encode(), expected):
        raise Problem(401, "invalid_credentials", "Invalid credentials", "that is not the admin token")
    return _token(AccessToken(access_token=keys.issue(ADMIN_SUBJECT, Role.ADMIN), expires_in=keys.ttl_s))


@router.get("/products", response_model=ProductPage, responses=as_visitor((503, "catalog_unavailable")))
async def list_products(
    customer_id: VisitorId, upstreams: UpstreamsDep, reads: ReadsDep, request: Request,
    after: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,  # a productId, as the catalog takes it
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 20,
) -> Response:
    """A page of products; `next` is the `after` of the following page."""
    query = urlencode({"limit": limit} | ({} if after is None else {"after": after}))
    answer = await upstreams.catalog.request("GET", f"/products?{query}")
    if answer.status_code != 200:
        return relay(answer, request.url.path)
    page = answer.json()
    page["products"] = await reads.with_availability(customer_id, page["products"])
    return JSONResponse(page)


@router.get("/products/{productId}", response_model=Product,
            responses=as_visitor((404, "unknown_product"), (503, "catalog_unavailable")))
async def get_product(
    product_id: ProductId, customer_id: VisitorId, upstreams: UpstreamsDep, reads: ReadsDep, request: Request,
) -> Response:
    """A product; its availability is the inventory's own right after the caller's order for it."""
    answer = await upstreams.catalog.request("GET", f"/products/{product_id}")
    if answer.status_code != 200:
        return relay(answer, request.url.path)
    [product] = await reads.with_availability(customer_id, [answer.json()])
    return JSONResponse(product)


def _customer_tokens(keys: Keys, customer_id: str) -> Response:
    return _token(AccessToken(access_token=keys.issue(customer_id, Role.CUSTOMER), expires_in=keys.ttl_s,
                              refresh_token=keys.issue_refresh(customer_id), refresh_expires_in=keys.refresh_ttl_s))


def _token(view: AccessToken) -> Response:
    # A token is a credential: no cache may keep a copy (RFC 6749 §5.1).
    return JSONResponse(view.model_dump(by_alias=True, exclude_none=True), headers={"Cache-Control": "no-store"})
