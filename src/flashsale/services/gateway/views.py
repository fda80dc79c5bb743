"""The storefront's pages as HTML: pure functions from what the services answered to markup.

Every value that came from a service or a URL goes through `html.escape` on its way in; nothing
else is interpolated. The pages are light on purpose: the server renders what a buyer reads first
(name, price, description, sale window, availability when the page was built), and one small
script (storefront/shop.js) keeps availability and order status live through the /api routes.
Elements the script and the page tests address carry ids (#availability, #buy, #message,
#order-status, ...) that are part of the page's contract with both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape
from typing import Any

# The catalog keeps prices in cents of the house's one currency and names none; this is its sign.
CURRENCY = "€"
SOLD_OUT = "Sorry, this item is sold out"
TEST_CARDS = (  # the simulated provider's tokens (docs/contract.md#orders) as a buyer chooses them
    ("tok_ok", "Test card: approved"),
    ("tok_declined", "Test card: declined"),
    ("tok_slow", "Test card: slow approval"),
    ("tok_error", "Test card: provider error"),
)


@dataclass(frozen=True)
class Links:
    """The versioned URLs of the storefront's assets (assets.Assets.url)."""

    css: str
    js: str
    icon: str


def price(cents: int) -> str:
    return f"{CURRENCY}{cents // 100:,}.{cents % 100:02d}"


def when(iso: str | None) -> str | None:
    """An instant as a buyer reads it ("1 Dec 2026, 20:00 UTC"); None for none or an unreadable one."""
    if not iso:
        return None
    try:
        instant = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return None
    return f"{instant.day} {instant:%b %Y, %H:%M} UTC"


def availability_text(availability: Mapping[str, Any]) -> str:
    available = availability.get("available")
    if available is None:
        return "Availability unknown"
    if available <= 0:
        return "Sold out"
    return f"Only {available} left" if availability.get("status") == "low" else f"{available} available"


def sale_window(product: Mapping[str, Any]) -> str:
    starts, ends = when(product.get("saleStartsAt")), when(product.get("saleEndsAt"))
    if starts and ends:
        return f"On sale from {starts} until {ends}"
    if starts:
        return f"On sale from {starts}"
    return f"On sale until {ends}" if ends else "On sale now"


def page(links: Links, title: str, kind: str, main: str) -> str:
    """A whole document: `main` is markup already escaped by the functions below."""
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)} · Flashsale</title>
<link rel="icon" href="{escape(links.icon)}" type="image/svg+xml">
<link rel="stylesheet" href="{escape(links.css)}">
<script src="{escape(links.js)}" defer></script>
</head>
<body data-page="{escape(kind)}" data-currency="{escape(CURRENCY)}">
<header class="bar"><a class="brand" href="/">Flashsale</a></header>
<main id="main">
{main}
</main>
</body>
</html>
"""


def shop_body(products: Sequence[Mapping[str, Any]], next_after: str | None) -> str:
    if not products:
        return '<h1>The shop</h1>\n<p id="message" class="message">Nothing is on sale right now.</p>'
    cards = "\n".join(_card(product) for product in products)
    more = "" if next_after is None else f'<p><a id="more" href="/?after={escape(next_after)}">More products</a></p>'
    return f'<h1>The shop</h1>\n<ul id="products" class="products">\n{cards}\n</ul>\n{more}'


def _card(product: Mapping[str, Any]) -> str:
    product_id = escape(product["productId"])
    availability = product.get("availability", {})
    return (
        f'<li class="card" data-testid="product-card" data-product-id="{product_id}">'
        f'<a class="name" href="/products/{product_id}">{escape(product["name"])}</a> '
        f'<span class="price">{price(product["priceCents"])}</span> '
        f'<span class="availability" data-status="{escape(str(availability.get("status", "unknown")))}">'
        f"{escape(availability_text(availability))}</span></li>"
    )


def product_body(product: Mapping[str, Any]) -> str:
    availability = product.get("availability", {})
    available = availability.get("available")
    sold_out = available == 0
    starts, ends = escape(product.get("saleStartsAt") or ""), escape(product.get("saleEndsAt") or "")
    message = f'<p id="message" class="message" role="status" aria-live="polite"{_sold_out_tone(sold_out)}>'
    return f"""<article class="product" data-testid="product" data-product-id="{escape(product["productId"])}"
 data-sale-starts="{starts}" data-sale-ends="{ends}">
<h1 id="product-name">{escape(product["name"])}</h1>
<p id="price" class="price">{price(product["priceCents"])}</p>
<p id="description" class="description">{escape(product.get("description") or "")}</p>
<p id="sale-window" class="window">{escape(sale_window(product))}</p>
<p id="availability" class="availability" data-available="{"" if available is None else int(available)}"
 aria-live="polite">{escape(availability_text(availability))}</p>
<button id="buy" class="buy" type="button"{" disabled" if sold_out else ""}>Buy now</button>
{message}{SOLD_OUT if sold_out else ""}</p>
<noscript><p class="message">Buying needs JavaScript: the page keeps your order live with it.</p></noscript>
</article>"""


def _sold_out_tone(sold_out: bool) -> str:
    return ' data-tone="sold-out"' if sold_out else ""


def order_body(order_id: str) -> str:
    """The order page's shell: the order itself is the buyer's, read by the script with their token."""
    cards = "\n".join(
        f'<label class="card-choice"><input type="radio" name="card" value="{token}"'
        f'{" checked" if token == "tok_ok" else ""}> {escape(label)}</label>'
        for token, label in TEST_CARDS
    )
    return f"""<article class="order" data-testid="order" data-order-id="{escape(order_id)}">
<h1>Your order <span id="order-id" class="mono">{escape(order_id)}</span></h1>
<p id="order-status" class="status" data-status="" aria-live="polite">Loading your order…</p>
<p id="message" class="message" role="status" aria-live="polite"></p>
<p id="countdown" class="countdown" hidden></p>
<table id="items" class="items">
<thead><tr><th scope="col">Item</th><th scope="col">Quantity</th><th scope="col">Price</th></tr></thead>
<tbody></tbody>
<tfoot><tr><th scope="row" colspan="2">Total</th><td id="total"></td></tr></tfoot>
</table>
<form id="pay-step" class="pay-step" hidden>
<fieldset><legend>Pay with a test card</legend>
{cards}
</fieldset>
<button id="pay" class="buy" type="submit">Pay</button>
<button id="cancel" class="secondary" type="button">Cancel order</button>
</form>
<noscript><p class="message">This page needs JavaScript to show your order.</p></noscript>
<p><a href="/">Back to the shop</a></p>
</article>"""


def not_found_body(what: str) -> str:
    return f"""<h1>Not found</h1>
<p id="message" class="message" data-testid="not-found">We have no {escape(what)}.</p>
<p><a href="/">Back to the shop</a></p>"""


def unavailable_body(what: str) -> str:
    return f"""<h1>One moment</h1>
<p id="message" class="message" data-testid="unavailable">The shop cannot reach its {escape(what)} right now.
Please try again in a moment.</p>"""
