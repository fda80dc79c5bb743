"""Helpers for the order service tests: the three processes a checkout needs, and small clients."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from starting_support import side_by_side

from flashsale.runtime.process import ServiceProcess
from support import plain_http
from support.ids import unique
from support.polling import wait_for


class _Http:
    """One short-lived connection per call: nothing to close when a test ends or fails."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return plain_http.get(self.base_url + path, timeout=30.0, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return plain_http.post(self.base_url + path, timeout=30.0, **kwargs)


class Inventory:
    def __init__(self, process: ServiceProcess, admin_token: str) -> None:
        self.process = process
        self.http = _Http(process.url)
        self.admin = {"Authorization": f"Bearer {admin_token}"}

    def new_product(self, quantity: int) -> str:
        product_id = unique("p")
        self.receive(product_id, quantity)
        return product_id

    def receive(self, product_id: str, quantity: int) -> None:
        answer = self.http.post(f"/inventory/{product_id}/receive", json={"quantity": quantity}, headers=self.admin)
        assert answer.status_code == 200, answer.text

    def counts(self, product_id: str) -> tuple[int, int, int]:
        """(available, reserved, sold)"""
        stock = self.http.get(f"/inventory/{product_id}").json()
        return stock["available"], stock["reserved"], stock["sold"]

    def reservation_status(self, reservation_id: str) -> str:
        return str(self.http.get(f"/inventory/reservations/{reservation_id}").json()["status"])


class Orders:
    def __init__(self, process: ServiceProcess, admin_token: str) -> None:
        self.process = process
        self.url = process.url
        self.http = _Http(process.url)
        self.admin = {"Authorization": f"Bearer {admin_token}"}

    def place(self, customer_id: str, *items: tuple[str, int], key: str | None = None) -> httpx.Response:
        body = {"customerId": customer_id, "items": [{"productId": p, "quantity": q} for p, q in items]}
        return self.http.post("/orders", json=body, headers=_keyed(key))

    def placed(self, customer_id: str, *items: tuple[str, int]) -> dict[str, Any]:
        answer = self.place(customer_id, *items)
        assert answer.status_code == 201, answer.text
        return dict(answer.json())

    def pay(self, order_id: str, token: str = "tok_ok", key: str | None = None) -> httpx.Response:
        return self.http.post(f"/orders/{order_id}/pay", json={"paymentToken": token}, headers=_keyed(key))

    def saga(self, order_id: str) -> dict[str, Any]:
        answer = self.http.get(f"/orders/{order_id}/saga")
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    def cancel(self, order_id: str) -> httpx.Response:
        return self.http.post(f"/orders/{order_id}/cancel")

    def get(self, order_id: str) -> dict[str, Any]:
        answer = self.http.get(f"/orders/{order_id}")
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    def of_customer(self, customer_id: str) -> list[dict[str, Any]]:
        answer = self.http.get("/orders", params={"customerId": customer_id})
        assert answer.status_code == 200, answer.text
        return list(answer.json()["orders"])

    def every_order(self) -> list[dict[str, Any]]:
        answer = self.http.get("/orders", params={"limit": 1000}, headers=self.admin)
        assert answer.status_code == 200, answer.text
        return list(answer.json()["orders"])

    def wait_status(self, order_id: str, status: str, timeout_s: float = 20.0) -> dict[str, Any]:
        def probe() -> dict[str, Any] | None:
            order = self.get(order_id)
            return order if order["status"] == status else None

        return wait_for(probe, timeout_s=timeout_s, what=f"order {order_id} to be {status}")


def _keyed(key: str | None) -> dict[str, str]:
    return {} if key is None else {"Idempotency-Key": key}


@dataclass
class House:
    inventory: Inventory
    payments: ServiceProcess
    orders: Orders
    shipping: ServiceProcess | None = None

    def payment(self, order_id: str) -> httpx.Response:
        return plain_http.get(f"{self.payments.url}/payments/{order_id}")

    def ledger_kinds(self, order_id: str) -> list[str]:
        answer = plain_http.get(f"{self.payments.url}/payments/{order_id}/ledger")
        return [entry["kind"] for entry in answer.json().get("entries", [])]


def start_house(
    services: Any, *, orders_instances: int = 1, shipping: bool = False, orders_env: dict[str, str] | None = None,
    **inventory_env: str,
) -> tuple[House, list[Orders]]:
    """Inventory, payments (and shipping) side by side, then the order service's instances wired to
    them; returns every orders instance. Without shipping, orders complete once paid and deducted.
    Processes are the launcher's shared ones: a module-wide launcher hands the same house to every
    test that asks for the same settings."""
    inventory, payments, *shippers = side_by_side(
        services, lambda: services.shared("inventory", **inventory_env), lambda: services.shared("payments"),
        *([lambda: services.shared("shipping")] if shipping else []),
    )
    shipper = shippers[0] if shippers else None
    wiring = {"inventory_urls": inventory.url, "payments_urls": payments.url, **(orders_env or {})}
    if shipper is not None:
        wiring["shipping_urls"] = shipper.url
    instances = [
        Orders(process, services.admin_token)
        for process in side_by_side(services, *(
            lambda n=n: services.shared("orders", instance=str(n + 1), **wiring) for n in range(orders_instances)
        ))
    ]
    house = House(Inventory(inventory, services.admin_token), payments, instances[0], shipper)
    return house, instances
