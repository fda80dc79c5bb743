"""What the storefront's page tests share: products on sale, and reading back through the APIs
what a buyer's tab did."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from playwright.sync_api import Page

from flashsale.runtime.services_file import ServicesFile
from support import plain_http
from support.ids import unique
from support.polling import wait_for

SOLD_OUT = "Sorry, this item is sold out"
Shot = Callable[[Page, str], Path]  # the `shot` fixture (tests/system/conftest.py)


def on_sale(services: ServicesFile, stock: int, name: str) -> str:
    """A product listed in the catalog with `stock` units received, visible through the gateway."""
    admin = {"Authorization": f"Bearer {services.admin_token}"}
    product = unique("sf")
    listed = plain_http.put(f"{services.url('catalog')}/products/{product}", headers=admin, timeout=10,
                       json={"name": name, "priceCents": 49900, "description": "Limited edition, while stock lasts."})
    assert listed.status_code in (200, 201), listed.text
    received = plain_http.post(f"{services.url('inventory')}/inventory/{product}/receive", headers=admin, timeout=10,
                          json={"quantity": stock})
    assert received.status_code == 200, received.text
    gateway = services.url("gateway")
    wait_for(lambda: available(gateway, product) == stock, timeout_s=15,
             what=f"the catalog to show {stock} of {product}")
    return product


def available(gateway: str, product: str) -> int | None:
    answer = plain_http.get(f"{gateway}/api/products/{product}", timeout=10)
    return answer.json()["availability"]["available"] if answer.status_code == 200 else None


def stock_of(services: ServicesFile, product: str) -> dict[str, Any]:
    answer = plain_http.get(f"{services.url('inventory')}/inventory/{product}", timeout=10)
    assert answer.status_code == 200, answer.text
    stock: dict[str, Any] = answer.json()
    return stock


def orders_of_tab(page: Page, gateway: str) -> list[dict[str, Any]]:
    """The orders of the guest customer this tab signed up (none when it never signed up)."""
    session = page.evaluate("sessionStorage.getItem('flashsale.guest')")
    if session is None:
        return []
    token = json.loads(session)["token"]
    answer = plain_http.get(f"{gateway}/api/orders", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert answer.status_code == 200, answer.text
    orders: list[dict[str, Any]] = answer.json()["orders"]
    return orders
