"""The storefront in a real browser against a real house: what buyers see when they race for the
last unit, pay, are declined, or ask for a product that does not exist.

Each buyer is a browser context of their own (their own tab storage, so their own guest
customer). Pages are never reloaded where the page is meant to follow the system live.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from houses import answering_house
from playwright.sync_api import Page, expect
from storefront_support import SOLD_OUT, Shot, on_sale, orders_of_tab, stock_of

from flashsale.runtime.services_file import ServicesFile
from support import plain_http
from support.ids import unique

# The first test's time includes starting the house (module fixture), hence more than the default.
pytestmark = [pytest.mark.system, pytest.mark.browser, pytest.mark.timeout(360),
              pytest.mark.usefixtures("patient_expect")]

DECLINED = "Your payment was declined. Your order was cancelled and the item released."


@pytest.fixture(scope="module")
def house(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServicesFile]:
    with answering_house(tmp_path_factory.mktemp("storefront"), hold_ttl_s=300) as services:
        yield services


@pytest.fixture
def shop_url(house: ServicesFile) -> str:
    return house.url("gateway")


def test_the_last_unit_goes_to_one_buyer_and_the_other_sees_it_sold_out_live(
    house: ServicesFile, shop_url: str, buyer: Callable[[], Page], shot: Shot,
) -> None:
    product = on_sale(house, stock=1, name="Console, last one")
    page_a, page_b, page_c = buyer(), buyer(), buyer()
    for page in (page_a, page_b):
        page.goto(f"{shop_url}/products/{product}")
        expect(page.locator("#availability")).to_have_text("Only 1 left")
        expect(page.locator("#buy")).to_be_enabled()
    # Buyer C's page looks at the stock once, as it loads, and then its timers stand still: C is
    # the buyer who clicks before their page could know the unit is gone.
    installed = datetime.now(UTC)
    page_c.clock.install(time=installed)
    page_c.clock.pause_at(installed + timedelta(seconds=5))  # ahead of the clock that runs since install
    with page_c.expect_response(lambda answer: answer.url.endswith(f"/api/products/{product}")):
        page_c.goto(f"{shop_url}/products/{product}")
    expect(page_c.locator("#buy")).to_be_enabled()
    shot(page_b, "b-before")

    page_a.locator("#buy").click()
    expect(page_a).to_have_url(re.compile(r"/orders/"))
    expect(page_a.locator("#order-status")).to_have_text("Awaiting payment")
    expect(page_a.locator("#countdown")).to_contain_text("We hold this item for you for")
    shot(page_a, "a-order-pending")

    expect(page_b.locator("#message")).to_have_text(SOLD_OUT)
    expect(page_b.locator("#buy")).to_be_disabled()
    expect(page_b.locator("#availability")).to_have_text("Sold out")
    shot(page_b, "b-sold-out")

    page_c.locator("#buy").click()  # enabled: the page has not looked again since the unit went
    expect(page_c.locator("#message")).to_have_text(SOLD_OUT)
    expect(page_c.locator("#buy")).to_be_disabled()
    shot(page_c, "c-clicked-too-late")

    page_a.get_by_label("Test card: approved").check()
    page_a.locator("#pay").click()
    expect(page_a.locator("#order-status")).to_have_text("Order complete")
    expect(page_a.locator("#pay-step")).to_be_hidden()
    shot(page_a, "a-order-complete")

    [order] = orders_of_tab(page_a, shop_url)
    assert order["status"] == "COMPLETED"
    assert orders_of_tab(page_b, shop_url) == [] and orders_of_tab(page_c, shop_url) == []
    assert {k: stock_of(house, product)[k] for k in ("available", "reserved", "sold")} == \
        {"available": 0, "reserved": 0, "sold": 1}


def test_a_declined_payment_cancels_the_order_and_releases_the_unit(
    house: ServicesFile, shop_url: str, buyer: Callable[[], Page], shot: Shot,
) -> None:
    product = on_sale(house, stock=1, name="Headphones")
    page = buyer()
    page.goto(f"{shop_url}/products/{product}")
    page.locator("#buy").click()
    expect(page.locator("#order-status")).to_have_text("Awaiting payment")
    expect(page.locator("#items")).to_contain_text("Headphones")
    expect(page.locator("#total")).to_have_text("€499.00")
    assert stock_of(house, product)["reserved"] == 1

    page.get_by_label("Test card: declined").check()
    page.locator("#pay").click()
    expect(page.locator("#message")).to_have_text(DECLINED)
    expect(page.locator("#order-status")).to_have_text("Cancelled")
    expect(page.locator("#order-status")).to_have_attribute("data-status", "CANCELLED")
    expect(page.locator("#pay-step")).to_be_hidden()
    shot(page, "declined")

    assert stock_of(house, product)["available"] == 1
    page.locator("#items a").click()  # back to the product: the unit is for sale again
    expect(page.locator("#availability")).to_have_text("Only 1 left")
    expect(page.locator("#buy")).to_be_enabled()
    shot(page, "available-again")


def test_an_unknown_product_is_a_404_page_and_the_shop_lists_what_ison_sale(
    house: ServicesFile, shop_url: str, buyer: Callable[[], Page], shot: Shot,
) -> None:
    product = on_sale(house, stock=7, name="Gaming mouse")
    page = buyer()
    missing = page.goto(f"{shop_url}/products/{unique('nothing')}")
    assert missing is not None and missing.status == 404
    assert missing.headers["content-type"].startswith("text/html")
    expect(page.locator("#message")).to_contain_text("We have no product")
    shot(page, "unknown-product")
    malformed = plain_http.get(f"{shop_url}/products/%20bad%20id", timeout=10)
    assert malformed.status_code == 404 and "text/html" in malformed.headers["content-type"]

    troubles: list[str] = []  # on the shop's page: none (the 404 page above logs its own status)
    page.on("console", lambda message: troubles.append(message.text) if message.type == "error" else None)
    page.on("requestfailed", lambda request: troubles.append(f"failed: {request.url}"))
    shop = page.goto(f"{shop_url}/")
    assert shop is not None and shop.status == 200
    card = page.locator(f"[data-product-id='{product}']")
    expect(card).to_contain_text("Gaming mouse")
    expect(card).to_contain_text("€499.00")
    expect(card).to_contain_text("7 available")
    shot(page, "shop")

    html = shop.text()
    assert "<html lang=" in html and 'name="viewport"' in html
    assert not re.search(r"(src|href)=\"(https?:)?//", html), "a page links nothing outside the gateway"
    assert troubles == []


def test_assets_are_served_locally_with_a_long_cache_and_an_etag(shop_url: str) -> None:
    html = plain_http.get(f"{shop_url}/", timeout=10).text
    [css] = re.findall(r'href="(/static/shop\.css\?v=[0-9a-f]+)"', html)
    first = plain_http.get(f"{shop_url}{css}", timeout=10)
    assert first.status_code == 200 and first.headers["content-type"].startswith("text/css")
    assert "immutable" in first.headers["cache-control"]
    again = plain_http.get(f"{shop_url}{css}", headers={"If-None-Match": first.headers["etag"]}, timeout=10)
    assert again.status_code == 304
    unversioned = plain_http.get(f"{shop_url}/static/shop.css", timeout=10)
    assert unversioned.headers["cache-control"] == "no-cache"
    assert plain_http.get(f"{shop_url}/static/nothing.js", timeout=10).status_code == 404
