"""The operations dashboard's routes: the page (server-rendered with the products as they are now),
its data as JSON, polled by the page every second, and its two static files.

Everything the page needs is served here; the page fetches nothing from anywhere else.
"""

from __future__ import annotations

import functools
import html
from pathlib import Path
from string import Template
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from flashsale.kit.app_state import from_app_state
from flashsale.kit.clock import iso_from_ms
from flashsale.services.monitor.board import board, product_rows
from flashsale.services.monitor.scrape import Scraper

STATIC = Path(__file__).parent / "static"
PAGE = Path(__file__).parent / "templates" / "dashboard.html"
CHART_MINUTES = 5
# The page may load and call nothing but this service (no CDN, no inline script).
PAGE_POLICY = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
               "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'")

router = APIRouter(tags=["dashboard"])


def install(app: FastAPI) -> None:
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")


ScraperDep = Annotated[Scraper, from_app_state("scraper")]


@router.get("/dashboard", response_class=HTMLResponse)
async def dashboard_page(scraper: ScraperDep) -> HTMLResponse:
    """The page, with the stock table filled in as the last scrape found it."""
    latest = scraper.series.latest
    rows = "\n".join(_product_row(product) for product in product_rows(scraper.series))
    note = "" if latest is None or latest.stock is not None else f"inventory not answering: {latest.stock_error}"
    page = _page_template().substitute(
        poll_ms=int(scraper.interval_s * 1000), minutes=CHART_MINUTES,
        as_of=html.escape(iso_from_ms(latest.at_ms) if latest else "not scraped yet"),
        product_rows=rows, stock_note=html.escape(note),
    )
    return HTMLResponse(page, headers={"Cache-Control": "no-store", "Content-Security-Policy": PAGE_POLICY})


@router.get("/dashboard/data")
async def dashboard_data(
    scraper: ScraperDep, minutes: Annotated[float, Query(gt=0, le=60)] = CHART_MINUTES,
) -> dict[str, Any]:
    """Current values and the charts' series over the last `minutes` (as far as the window goes).
    A service that does not answer is listed as down; this never fails because of it."""
    return board(scraper.series, scraper.clock.now_ms(), minutes, scraper.extras)


@functools.cache
def _page_template() -> Template:
    """Read once per process: the page is part of the installed code, not data."""
    return Template(PAGE.read_text())


def _product_row(product: dict[str, Any]) -> str:
    product_id = html.escape(str(product["productId"]))
    cells = "".join(f'<td data-testid="{name}" class="n">{int(product[name])}</td>'
                    for name in ("available", "reserved", "sold"))
    return (f'        <tr data-testid="stock-row" data-product-id="{product_id}">'
            f'<td data-testid="product-id">{product_id}</td>{cells}</tr>')
