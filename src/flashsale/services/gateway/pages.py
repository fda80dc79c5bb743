"""The storefront: the pages buyers see, served by the gateway next to its /api.

- `GET /`: the shop, every product with its price and availability.
- `GET /products/{productId}`: a product, its sale window and live availability, and Buy now.
- `GET /orders/{orderId}`: the shell of an order page; the order itself is the buyer's, so the
  page's script reads it from /api with the buyer's token (the server never sees that token on
  a page load: it lives in the tab, see storefront/shop.js).
- `GET /static/{name}`: the script, stylesheet and icon, from this process (assets.py).

A page is server-rendered HTML (views.py) with one small script; every live part goes through the
same /api routes any client uses, with their ownership checks and rate limits. An unknown product
or a malformed id is a 404 page and a service that cannot answer a 503 page, never a 500.
"""

from __future__ import annotations

import re
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Header, Path, Query, Request, Response
from fastapi.responses import HTMLResponse

from flashsale.contracts.api import ID_PATTERN
from flashsale.kit.errors import DependencyUnavailable
from flashsale.services.gateway import views
from flashsale.services.gateway.assets import Assets, cache_control, not_modified
from flashsale.services.gateway.auth import VisitorId
from flashsale.services.gateway.deps import ReadsDep, UpstreamsDep
from flashsale.services.gateway.upstream import Upstreams

# HTML and the files it loads, for browsers: not the API, so not in the OpenAPI document (what a page
# does live goes through the /api routes, which are).
router = APIRouter(include_in_schema=False)

SHOP_PAGE = 100
PAGE_HEADERS = {
    # Availability changes by the second: a page is revalidated, never shown from a cache.
    "Cache-Control": "no-cache",
    # Everything a page needs comes from this origin; no inline script, no other host.
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def _assets(request: Request) -> Assets:
    assets: Assets = request.app.state.assets
    return assets


def _html(request: Request, title: str, kind: str, main: str, status: int = 200) -> HTMLResponse:
    assets = _assets(request)
    links = views.Links(css=assets.url("shop.css"), js=assets.url("shop.js"), icon=assets.url("icon.svg"))
    return HTMLResponse(views.page(links, title, kind, main), status_code=status, headers=PAGE_HEADERS)


def _not_found(request: Request, what: str) -> HTMLResponse:
    return _html(request, "Not found", "not-found", views.not_found_body(what), 404)


def _unavailable(request: Request, what: str) -> HTMLResponse:
    answer = _html(request, "One moment", "unavailable", views.unavailable_body(what), 503)
    answer.headers["Retry-After"] = "5"
    return answer


async def _catalog(upstreams: Upstreams, path: str) -> tuple[int, Any]:
    """The catalog's status and body for a GET; (503, None) when it cannot answer."""
    try:
        answer = await upstreams.catalog.request("GET", path)
    except DependencyUnavailable:
        return 503, None
    if answer.status_code >= 500:
        return 503, None
    return answer.status_code, answer.json()


@router.get("/")
async def shop(
    request: Request, customer_id: VisitorId, upstreams: UpstreamsDep, reads: ReadsDep,
    after: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
) -> Response:
    """The shop: a page of products (in productId order) with price and availability."""
    query = urlencode({"limit": SHOP_PAGE} | ({} if after is None else {"after": after}))
    status, page = await _catalog(upstreams, f"/products?{query}")
    if status != 200:
        return _unavailable(request, "catalog")
    products = await reads.with_availability(customer_id, page["products"])
    return _html(request, "The shop", "shop", views.shop_body(products, page.get("next")))


@router.get("/products/{productId}")
async def product_page(
    request: Request, product_id: Annotated[str, Path(alias="productId")], customer_id: VisitorId,
    upstreams: UpstreamsDep, reads: ReadsDep,
) -> Response:
    """A product page; the id is checked here (not by the route) so a malformed one is a 404 page too."""
    if not re.fullmatch(ID_PATTERN, product_id):
        return _not_found(request, "such product")
    status, product = await _catalog(upstreams, f"/products/{product_id}")
    if status == 404:
        return _not_found(request, f"product “{product_id}”")
    if status != 200:
        return _unavailable(request, "catalog")
    [product] = await reads.with_availability(customer_id, [product])
    return _html(request, product["name"], "product", views.product_body(product))


@router.get("/orders/{orderId}")
async def order_page(request: Request, order_id: Annotated[str, Path(alias="orderId")], _: VisitorId) -> Response:
    if not re.fullmatch(ID_PATTERN, order_id):
        return _not_found(request, "such order")
    return _html(request, "Your order", "order", views.order_body(order_id))


@router.get("/static/{name}")
async def static_asset(
    request: Request, name: str, v: str | None = None,
    if_none_match: Annotated[str | None, Header(alias="If-None-Match")] = None,
) -> Response:
    asset = _assets(request).get(name)
    if asset is None:
        return Response("no such asset", status_code=404, media_type="text/plain")
    headers = {"ETag": asset.etag, "Cache-Control": cache_control(asset, v), "X-Content-Type-Options": "nosniff"}
    if not_modified(asset, if_none_match):
        return Response(status_code=304, headers=headers)
    return Response(asset.content, media_type=asset.media_type, headers=headers)
