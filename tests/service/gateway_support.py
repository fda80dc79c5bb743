"""Helpers for the gateway tests: the house behind a gateway, customers who sign up and in through
it, and tokens minted by hand (expired, forged) to knock at its door with."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import pytest
from starting_support import side_by_side

from flashsale.runtime.process import ServiceProcess
from support import plain_http
from support.ids import unique
from support.polling import wait_for

SECRET = secrets.token_hex(32)  # the gateway's signing key in these tests
PASSWORD = "correct horse battery"
ADDRESS = {"line1": "1 Main St", "city": "Berlin", "postalCode": "10115", "country": "DE"}


@pytest.fixture(scope="module")
def module_database_base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The services behind a gateway test keep their data in SQLite only (this replaces the
    SQLite-and-PostgreSQL pair the house is otherwise started on). The gateway keeps no data, so
    what its tests check (tokens, ownership, composition, freshness) is the same on either
    database, while each house start is a dozen processes; every service behind it has its own
    tests on both databases, and tests/system/test_up.py runs the whole house on PostgreSQL."""
    yield f"sqlite:///{tmp_path_factory.mktemp('module')}/db/"


@dataclass
class Backends:
    inventory: ServiceProcess
    payments: ServiceProcess
    orders: ServiceProcess
    customers: ServiceProcess
    catalog: ServiceProcess
    notifications: ServiceProcess

    def wiring(self) -> dict[str, str]:
        """The gateway's settings naming these processes."""
        return {"inventory_urls": self.inventory.url, "orders_urls": self.orders.url,
                "customers_urls": self.customers.url, "catalog_urls": self.catalog.url,
                "notifications_urls": self.notifications.url}


def backends(house: Any, *, catalog: ServiceProcess | None = None, customers: ServiceProcess | None = None,
             **catalog_env: str) -> Backends:
    """The module's shared services behind a gateway (catalog or customers of the caller's own when given).
    Those that need no other's address start side by side; the order service, wired to the
    inventory and payments, after them."""
    inventory, payments, customers, catalog, notifications = side_by_side(
        house, lambda: house.shared("inventory"), lambda: house.shared("payments"),
        lambda: customers or house.shared("customers"), lambda: catalog or house.shared("catalog", **catalog_env),
        lambda: house.shared("notifications"),
    )
    orders = house.shared("orders", inventory_urls=inventory.url, payments_urls=payments.url)
    return Backends(inventory, payments, orders, customers, catalog, notifications)


# Every caller of a test's gateway is one address (127.0.0.1) and signs up, in and out at a test's
# pace: the default 20 requests/second refused them (429) once the tests' calls got cheap. A test of
# the rate limit sets its own.
TESTS_RATE_LIMIT = "1000/second"


def gateway_env(wired: Backends, **settings: str) -> dict[str, str]:
    return {**wired.wiring(), "gateway_secret": SECRET, "rate_limit": TESTS_RATE_LIMIT, **settings}


def mint(subject: str, role: str = "customer", *, secret: str = SECRET, ttl_s: int = 900,
         issued_s: int | None = None, **claims: Any) -> str:
    """A token as the gateway signs them (or not quite, by the arguments)."""
    now = int(time.time()) if issued_s is None else issued_s
    body = {"sub": subject, "role": role, "iat": now, "exp": now + ttl_s, "iss": "flashsale-gateway", **claims}
    return jwt.encode(body, secret, algorithm="HS256")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class Gateway:
    """One short-lived connection per call: nothing to close when a test ends or fails."""

    def __init__(self, process: ServiceProcess, admin_token: str) -> None:
        self.process = process
        self.url = process.url
        self.admin_token = admin_token

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return plain_http.request(method, self.url + path, timeout=30.0, **kwargs)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.call("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.call("POST", path, **kwargs)

    def sign_up(self, name: str = "Ann Lee") -> Customer:
        email = f"{unique('ann')}@example.com"
        answer = self.post("/api/signup", json={"name": name, "email": email, "password": PASSWORD,
                                                "address": ADDRESS})
        assert answer.status_code == 201, answer.text
        token = self.post("/api/auth/token", json={"email": email, "password": PASSWORD})
        assert token.status_code == 200, token.text
        return Customer(answer.json()["customerId"], email, bearer(token.json()["accessToken"]))

    def admin(self) -> dict[str, str]:
        answer = self.post("/api/auth/admin", json={"adminToken": self.admin_token})
        assert answer.status_code == 200, answer.text
        return bearer(answer.json()["accessToken"])

    def new_product(self, admin: dict[str, str], stock: int, price_cents: int = 1000) -> str:
        """A product listed in the catalog with `stock` units received by the inventory."""
        product_id = unique("p")
        listed = self.call("PUT", f"/api/admin/products/{product_id}", headers=admin,
                           json={"name": f"Console {product_id}", "priceCents": price_cents})
        assert listed.status_code == 201, listed.text
        received = self.post(f"/api/admin/inventory/{product_id}/receive", headers=admin, json={"quantity": stock})
        assert received.status_code == 200, received.text
        return product_id

    def place(self, customer: Customer, product_id: str, quantity: int = 1) -> dict[str, Any]:
        return self.place_as(customer.headers, product_id, quantity)

    def place_as(self, headers: dict[str, str], product_id: str, quantity: int = 1) -> dict[str, Any]:
        answer = self.post("/api/orders", headers=headers,
                           json={"items": [{"productId": product_id, "quantity": quantity}]})
        assert answer.status_code == 201, answer.text
        return dict(answer.json())

    def availability(self, product_id: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
        answer = self.get(f"/api/products/{product_id}", headers=headers or {})
        assert answer.status_code == 200, answer.text
        return dict(answer.json()["availability"])

    def wait_listed(self, product_id: str, available: int) -> None:
        """Until the catalog's read model has heard of the product's stock."""
        wait_for(lambda: self.availability(product_id)["available"] == available, timeout_s=30,
                 what=f"the catalog to show {available} of {product_id}")


@dataclass(frozen=True)
class Customer:
    customer_id: str
    email: str
    headers: dict[str, str]
