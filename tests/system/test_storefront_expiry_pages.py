"""The storefront when a buyer does not pay in time: a house whose holds last seconds, a buyer who
buys and then only watches the order page. The page must turn, by itself, to the expiry: the
order cancelled, the reason said plainly, no way left to pay, and the unit back on sale."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest
from houses import answering_house
from playwright.sync_api import Page, expect
from storefront_support import Shot, on_sale, orders_of_tab, stock_of

from flashsale.runtime.services_file import ServicesFile
from support.polling import wait_for

pytestmark = [pytest.mark.system, pytest.mark.browser, pytest.mark.timeout(360),
              pytest.mark.usefixtures("patient_expect")]

HOLD_TTL_S = 10  # long enough for a guest's first Buy now on a busy machine, short enough to wait out
EXPIRED = "Your hold expired before payment. Your order was cancelled and the item released."


@pytest.fixture(scope="module")
def house(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServicesFile]:
    with answering_house(tmp_path_factory.mktemp("storefront-expiry"), hold_ttl_s=HOLD_TTL_S) as services:
        yield services


def test_an_unpaid_order_page_turns_to_hold_expired_by_itself_and_the_unit_is_for_sale_again(
    house: ServicesFile, buyer: Callable[[], Page], shot: Shot,
) -> None:
    shop_url = house.url("gateway")
    product = on_sale(house, stock=1, name="Sneakers, one pair")
    page = buyer()
    page.goto(f"{shop_url}/products/{product}")
    page.locator("#buy").click()
    expect(page).to_have_url(re.compile(r"/orders/"))
    expect(page.locator("#pay-step")).to_be_visible()
    shot(page, "awaiting-payment")

    # Nobody touches the page from here on: it follows the order by itself.
    expect(page.locator("#message")).to_have_text(EXPIRED)
    expect(page.locator("#order-status")).to_have_attribute("data-status", "CANCELLED")
    expect(page.locator("#pay-step")).to_be_hidden()
    shot(page, "hold-expired")

    [order] = orders_of_tab(page, shop_url)
    assert (order["status"], order["statusReason"]) == ("CANCELLED", "hold_expired"), order
    wait_for(lambda: stock_of(house, product)["available"] == 1, timeout_s=30, what="the unit back on sale")
    assert {k: stock_of(house, product)[k] for k in ("reserved", "sold")} == {"reserved": 0, "sold": 0}

    page.locator("#items a").click()
    expect(page.locator("#buy")).to_be_enabled()
    expect(page.locator("#availability")).to_have_text("Only 1 left")
    shot(page, "for-sale-again")
