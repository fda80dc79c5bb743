"""The order service's view of its dependencies, over HTTP (kit ServiceClient).

Each client turns the other service's answers into ours: a refusal becomes one of our errors,
anything unexpected becomes DependencyUnavailable (503), never a stray 500. Every call here is
safe to retry: a hold is idempotent per order id; an authorisation, a capture and a refund are
idempotent per order; a shipment is scheduled once per order and a cancelled one stays cancelled;
the catalog's batch lookup and the customers' reads change nothing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from flashsale.kit.clock import ms_from_iso
from flashsale.kit.errors import DependencyUnavailable
from flashsale.kit.http import Answer, ServiceClient
from flashsale.services.orders.domain import Contact, Line, Listing
from flashsale.services.orders.errors import (
    InvalidItems,
    LimitExceeded,
    OutOfStock,
    RequestInProgress,
    UnknownProduct,
)

# How long a pay request waits for a payment another request has started (the slow provider
# path takes 2 s), asking again every PAYMENT_POLL_S.
PAYMENT_IN_PROGRESS_WAIT_S = 6.0
PAYMENT_POLL_S = 0.25


@dataclass(frozen=True)
class Hold:
    reservation_id: str
    expires_at_ms: int
    lines: tuple[Line, ...]  # what was granted: all of it, or with partial fulfilment what there was


@dataclass(frozen=True)
class PaymentOutcome:
    approved: bool
    reason: str | None


def _code(response: Answer) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    return str(body.get("code", "")) if isinstance(body, dict) else ""


def _detail(response: Answer) -> str:
    try:
        return str(response.json().get("detail", ""))
    except (ValueError, AttributeError):
        return ""


def _unexpected(client: ServiceClient, response: Answer) -> DependencyUnavailable:
    return DependencyUnavailable(client.name, f"unexpected answer {response.status_code} {_code(response)}")


class InventoryClient:
    def __init__(self, client: ServiceClient) -> None:
        self.client = client

    async def reserve(self, order_id: str, customer_id: str, lines: Sequence[Line], *, fulfilment: str) -> Hold:
        body = {
            "items": [{"productId": line.product_id, "quantity": line.quantity} for line in lines],
            "orderId": order_id,
            "customerId": customer_id,
            "fulfilment": fulfilment,
        }
        response = await self.client.request("POST", "/inventory/reserve", json=body, idempotent=True)
        if response.status_code == 200:
            hold = response.json()
            granted = tuple(Line(item["productId"], item["quantity"]) for item in hold["items"])
            return Hold(hold["reservationId"], ms_from_iso(hold["expiresAt"]), granted)
        code = _code(response)
        if response.status_code == 409 and code == "out_of_stock":
            raise OutOfStock(_detail(response) or "not enough stock to hold")
        if response.status_code == 409 and code == "limit_exceeded":
            raise LimitExceeded(_detail(response) or "over the purchase limit for this customer")
        if response.status_code == 404:
            raise UnknownProduct(_detail(response) or "unknown product")
        if response.status_code == 422:
            raise InvalidItems(_detail(response) or "the inventory refused the items")
        raise _unexpected(self.client, response)

    async def release(self, reservation_id: str) -> None:
        """Give the hold back now (idempotent). A confirmed hold is the inventory's to reverse."""
        response = await self.client.request(
            "POST", f"/inventory/reservations/{reservation_id}/release", idempotent=True
        )
        if response.status_code not in (200, 404, 409):
            raise _unexpected(self.client, response)


class PaymentsClient:
    def __init__(self, client: ServiceClient, timeout_s: float) -> None:
        self.client = client
        self.timeout_s = timeout_s

    async def authorise(self, order_id: str, amount_cents: int, token: str) -> PaymentOutcome:
        """The authorisation's outcome; waits a while for one another request has started."""
        body = {"orderId": order_id, "amountCents": amount_cents, "paymentToken": token}
        deadline = time.monotonic() + PAYMENT_IN_PROGRESS_WAIT_S
        while True:
            response = await self._post("/payments", body)
            if response.status_code == 200:
                payment = response.json()
                return PaymentOutcome(payment["status"] != "DECLINED", payment.get("reason"))
            if response.status_code != 409 or _code(response) != "payment_in_progress":
                raise _unexpected(self.client, response)
            if time.monotonic() >= deadline:
                raise RequestInProgress(order_id)
            await asyncio.sleep(PAYMENT_POLL_S)

    async def capture(self, order_id: str) -> str:
        """Take the authorised money (idempotent: a capture made before is answered again)."""
        response = await self._post(f"/payments/{order_id}/capture")
        if response.status_code == 200:
            return str(response.json()["status"])
        raise _unexpected(self.client, response)

    async def refund(self, order_id: str) -> str:
        """Give the order's money back: VOIDED (authorised only) or REFUNDED (captured), or NOTHING
        when nothing was taken (no payment, or a declined one). Idempotent."""
        response = await self._post(f"/payments/{order_id}/refund")
        if response.status_code == 200:
            return str(response.json()["status"])
        if (response.status_code, _code(response)) in ((404, "unknown_payment"), (409, "not_refundable")):
            return "NOTHING"
        raise _unexpected(self.client, response)

    async def _post(self, path: str, body: dict[str, object] | None = None) -> Answer:
        return await self.client.request("POST", path, json=body, idempotent=True, timeout_s=self.timeout_s)


@dataclass(frozen=True)
class ShipmentOutcome:
    scheduled: bool
    shipment_id: str | None
    detail: str | None


class ShippingClient:
    def __init__(self, client: ServiceClient) -> None:
        self.client = client

    async def schedule(self, order_id: str, lines: Sequence[Line]) -> ShipmentOutcome:
        body = {"orderId": order_id,
                "items": [{"productId": line.product_id, "quantity": line.quantity} for line in lines]}
        response = await self.client.request("POST", "/shipments", json=body, idempotent=True)
        if response.status_code in (200, 201):
            return ShipmentOutcome(True, str(response.json()["shipmentId"]), None)
        if response.status_code == 409 and _code(response) in ("unshippable", "shipment_cancelled"):
            return ShipmentOutcome(False, None, _code(response) + ": " + _detail(response))
        raise _unexpected(self.client, response)

    async def cancel(self, order_id: str) -> None:
        """Cancel the order's shipment; one that never was is marked cancelled so it never will be."""
        response = await self.client.request("POST", f"/shipments/{order_id}/cancel", idempotent=True)
        if response.status_code != 200:
            raise _unexpected(self.client, response)


class CatalogClient:
    def __init__(self, client: ServiceClient) -> None:
        self.client = client

    async def listings(self, product_ids: Sequence[str]) -> dict[str, Listing]:
        """The catalog's listings of these products; a product it does not list is absent."""
        body = {"productIds": list(product_ids)}
        # A lookup, though a POST: safe to retry.
        response = await self.client.request("POST", "/products/batch", json=body, idempotent=True)
        if response.status_code != 200:
            raise _unexpected(self.client, response)
        return {p["productId"]: _listing(p) for p in response.json()["products"]}


def _listing(product: dict[str, Any]) -> Listing:
    starts, ends = product.get("saleStartsAt"), product.get("saleEndsAt")
    return Listing(
        product_id=str(product["productId"]), name=str(product["name"]), price_cents=int(product["priceCents"]),
        sale_starts_ms=None if starts is None else ms_from_iso(starts),
        sale_ends_ms=None if ends is None else ms_from_iso(ends),
    )


@dataclass(frozen=True)
class ContactPage:
    """One page of the customers' profiles; `next` is the cursor of the following one, if any."""

    contacts: list[Contact]
    next: str | None


class CustomersClient:
    def __init__(self, client: ServiceClient, admin_token: str) -> None:
        self.client = client
        self.admin = {"Authorization": f"Bearer {admin_token}"}

    async def page(self, after: str | None, limit: int) -> ContactPage:
        """Profiles in customer-id order after `after` (the admin listing)."""
        query = urlencode({"limit": limit, **({"after": after} if after is not None else {})})
        response = await self.client.request("GET", f"/customers?{query}", headers=self.admin)
        if response.status_code != 200:
            raise _unexpected(self.client, response)
        page = response.json()
        return ContactPage([_contact(c) for c in page["customers"]], page.get("next"))

    async def get(self, customer_id: str) -> Contact | None:
        response = await self.client.request("GET", f"/customers/{quote(customer_id, safe='')}")
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise _unexpected(self.client, response)
        return _contact(response.json())


def _contact(customer: dict[str, Any]) -> Contact:
    return Contact(str(customer["customerId"]), str(customer["name"]), str(customer["email"]),
                   int(customer["version"]))
