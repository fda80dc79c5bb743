"""The storefront's pages as markup and its assets as files: what a buyer reads is escaped, prices
and windows read as people write them, and asset URLs change exactly when their content does."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from flashsale.services.gateway import views
from flashsale.services.gateway.assets import LONG_CACHE, REVALIDATE, Assets, cache_control, not_modified

pytestmark = pytest.mark.unit

LINKS = views.Links(css="/static/shop.css?v=1", js="/static/shop.js?v=1", icon="/static/icon.svg?v=1")


def _product(**fields: object) -> dict[str, object]:
    return {"productId": "p-1", "name": "Console", "priceCents": 49900, "description": "",
            "availability": {"status": "in_stock", "available": 12}, **fields}


def test_whatever_a_seller_typed_is_shown_as_text_never_as_markup() -> None:
    hostile = '<script>alert("x")</script>'
    body = views.product_body(_product(name=hostile, description=f"<img src=x onerror=1>{hostile}"))

    assert "<script>" not in body and "<img" not in body
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in body


def test_a_page_is_a_whole_document_that_names_nothing_outside_its_origin() -> None:
    html = views.page(LINKS, "The shop", "shop", views.shop_body([_product()], next_after=None))

    assert html.startswith("<!doctype html>") and '<html lang="en">' in html
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    assert re.findall(r'(?:src|href)="([^"]*)"', html) == [
        LINKS.icon, LINKS.css, LINKS.js, "/", "/products/p-1"]


def test_a_sold_out_product_page_is_rendered_sold_out_with_buy_disabled() -> None:
    sold_out = views.product_body(_product(availability={"status": "sold_out", "available": 0}))
    in_stock = views.product_body(_product())

    assert '<button id="buy" class="buy" type="button" disabled>' in sold_out
    assert views.SOLD_OUT in sold_out
    assert "disabled" not in in_stock and views.SOLD_OUT not in in_stock


@pytest.mark.parametrize(("availability", "text"), [
    ({"status": "in_stock", "available": 12}, "12 available"),
    ({"status": "low", "available": 2}, "Only 2 left"),
    ({"status": "sold_out", "available": 0}, "Sold out"),
    ({"status": "unknown", "available": None}, "Availability unknown"),
])
def test_availability_reads_as_a_buyer_expects(availability: dict[str, object], text: str) -> None:
    assert views.availability_text(availability) == text


def test_prices_and_sale_windows_read_as_people_write_them() -> None:
    assert views.price(49900) == "€499.00"
    assert views.price(123456705) == "€1,234,567.05"
    assert views.sale_window(_product()) == "On sale now"
    assert views.sale_window(_product(saleStartsAt="2026-12-01T20:00:00Z", saleEndsAt="2026-12-02T08:30:00.000Z")) \
        == "On sale from 1 Dec 2026, 20:00 UTC until 2 Dec 2026, 08:30 UTC"


def test_the_order_page_offers_every_simulated_test_card() -> None:
    body = views.order_body("o-1")

    for token, label in views.TEST_CARDS:
        assert f'value="{token}"' in body and label in body
    assert body.count("checked") == 1 and 'value="tok_ok" checked' in body


def test_an_asset_url_changes_exactly_when_its_content_does(tmp_path: Path) -> None:
    (tmp_path / "shop.js").write_text("let a = 1;")
    (tmp_path / "notes.txt").write_text("not served")
    before = Assets.load(tmp_path)
    (tmp_path / "shop.js").write_text("let a = 2;")
    after = Assets.load(tmp_path)

    assert set(before.by_name) == {"shop.js"}
    assert before.url("shop.js") != after.url("shop.js")
    assert Assets.load(tmp_path).url("shop.js") == after.url("shop.js")


def test_only_the_linked_version_is_cached_for_long_and_an_etag_answers_304(tmp_path: Path) -> None:
    (tmp_path / "shop.css").write_text("body { margin: 0; }")
    asset = Assets.load(tmp_path).by_name["shop.css"]

    assert cache_control(asset, asset.digest) == LONG_CACHE
    assert cache_control(asset, "stale") == cache_control(asset, None) == REVALIDATE
    assert not_modified(asset, asset.etag) and not_modified(asset, f'"x", W/{asset.etag}')
    assert not not_modified(asset, '"x"') and not not_modified(asset, None)


def test_the_shipped_storefront_has_its_script_stylesheet_and_icon() -> None:
    shipped = Assets.load()

    assert {"shop.js", "shop.css", "icon.svg"} <= set(shipped.by_name)
    assert shipped.by_name["shop.css"].media_type == "text/css; charset=utf-8"
