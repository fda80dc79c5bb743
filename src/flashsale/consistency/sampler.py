"""A consistency round over HTTP: sample entities from each source's admin listing, look at each
entity's copy, look again after a grace period at those that disagreed, and judge (compare.py).

A model whose services are not configured, or whose endpoints a house does not have (an older
order service without the contact copy endpoint), is skipped with a note saying so, never
counted as agreeing.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from flashsale.consistency.compare import (
    AVAILABILITY,
    ORDER_CONTACTS,
    ORDER_RESERVATIONS,
    Look,
    ModelResult,
    Row,
    availability_look,
    contact_look,
    order_look,
)

PAGE = 500
CONCURRENCY = 16
LookAt = Callable[[str], Awaitable[Look | None]]


class NotComparable(Exception):
    """A model cannot be compared in this house (an endpoint is missing or answers oddly)."""


@dataclass(frozen=True)
class Sources:
    """Base URLs of the services compared (None: not running in this house) and the admin token."""

    admin_token: str
    inventory: str | None = None
    catalog: str | None = None
    orders: str | None = None
    customers: str | None = None


class ConsistencySampler:
    def __init__(
        self, sources: Sources, *, sample_size: int = 50, grace_s: float = 2.0, max_scan: int = 5000,
        timeout_s: float = 10.0,
    ) -> None:
        self.sources = sources
        self.sample_size = sample_size
        self.grace_s = grace_s
        self.max_scan = max_scan
        self._admin = {"Authorization": f"Bearer {sources.admin_token}"}
        self._http = httpx.AsyncClient(timeout=timeout_s)
        self._rng = random.Random()

    async def close(self) -> None:
        await self._http.aclose()

    async def round(self) -> list[ModelResult]:
        """One sampled comparison of every model, side by side."""
        s = self.sources
        plans: list[tuple[str, dict[str, str | None], Callable[[], Awaitable[list[str]]], LookAt]] = [
            (AVAILABILITY, {"inventory": s.inventory, "catalog": s.catalog}, self._product_ids, self._availability),
            (ORDER_RESERVATIONS, {"orders": s.orders, "inventory": s.inventory}, self._order_ids, self._order),
            (ORDER_CONTACTS, {"customers": s.customers, "orders": s.orders}, self._customer_ids, self._contact),
        ]
        return list(await asyncio.gather(*(self._model(*plan) for plan in plans)))

    async def _model(
        self, model: str, needs: dict[str, str | None], keys_of: Callable[[], Awaitable[list[str]]], look_at: LookAt,
    ) -> ModelResult:
        result = ModelResult(model)
        missing = [name for name, url in needs.items() if url is None]
        if missing:
            result.note = f"skipped: this house runs no {' and no '.join(missing)}"
            return result
        try:
            firsts = await self._looks(look_at, await keys_of())
            disagreeing = [look.key for look in firsts if not look.matches]
            again: dict[str, Look] = {}
            if disagreeing:
                await asyncio.sleep(self.grace_s)  # lag is not drift: give the copy time to catch up
                again = {look.key: look for look in await self._looks(look_at, disagreeing)}
        except NotComparable as exc:
            result.note = f"skipped: {exc}"
            return result
        except httpx.HTTPError as exc:
            result.note = f"skipped: {type(exc).__name__} {exc}"
            result.unreachable = True
            return result
        for first in firsts:
            result.add(first, again.get(first.key))
        return result

    async def _looks(self, look_at: LookAt, keys: Sequence[str]) -> list[Look]:
        gate = asyncio.Semaphore(CONCURRENCY)

        async def one(key: str) -> Look | None:
            async with gate:
                return await look_at(key)

        return [look for look in await asyncio.gather(*(one(k) for k in keys)) if look is not None]

    # -- sampling from the sources' admin listings ------------------------------------------

    async def _sample(self, url: str, rows_key: str, id_key: str) -> list[str]:
        """A uniform sample (reservoir) of the ids among the listing's first `max_scan` rows."""
        chosen: list[str] = []
        seen, after = 0, None
        while seen < self.max_scan:
            params = {"limit": str(PAGE), **({"after": after} if after else {})}
            answer = await self._http.get(url, params=params, headers=self._admin)
            if answer.status_code != 200:
                raise NotComparable(f"GET {url} answered {answer.status_code}")
            body = answer.json()
            for row in body[rows_key]:
                seen += 1
                if len(chosen) < self.sample_size:
                    chosen.append(str(row[id_key]))
                elif (slot := self._rng.randrange(seen)) < self.sample_size:
                    chosen[slot] = str(row[id_key])
            after = body.get("next")
            if not after:
                break
        return chosen

    async def _product_ids(self) -> list[str]:
        return await self._sample(f"{self.sources.inventory}/inventory", "products", "productId")

    async def _order_ids(self) -> list[str]:
        return await self._sample(f"{self.sources.orders}/orders", "orders", "orderId")

    async def _customer_ids(self) -> list[str]:
        return await self._sample(f"{self.sources.customers}/customers", "customers", "customerId")

    # -- looking at one entity and its copy -------------------------------------------------

    async def _get(self, url: str, *, admin: bool = False) -> tuple[int, Row]:
        answer = await self._http.get(url, headers=self._admin if admin else None)
        if answer.status_code not in (200, 404):
            raise NotComparable(f"GET {url} answered {answer.status_code}")
        body = answer.json() if answer.content else {}
        return answer.status_code, body if isinstance(body, dict) else {}

    async def _found(self, url: str) -> Row | None:
        status, body = await self._get(url)
        return body if status == 200 else None

    async def _availability(self, product_id: str) -> Look | None:
        pid = quote(product_id, safe="")
        stock, product = await asyncio.gather(self._found(f"{self.sources.inventory}/inventory/{pid}"),
                                              self._found(f"{self.sources.catalog}/products/{pid}"))
        if stock is None or product is None:
            return None  # not listed in the catalog: no copy anyone reads
        return availability_look(product_id, stock, product)

    async def _order(self, order_id: str) -> Look | None:
        order = await self._found(f"{self.sources.orders}/orders/{quote(order_id, safe='')}")
        if order is None:
            return None
        reservation_id = order.get("reservationId")
        reservation = None if not reservation_id else await self._found(
            f"{self.sources.inventory}/inventory/reservations/{quote(str(reservation_id), safe='')}")
        return order_look(order, reservation)

    async def _contact(self, customer_id: str) -> Look | None:
        cid = quote(customer_id, safe="")
        customer = await self._found(f"{self.sources.customers}/customers/{cid}")
        if customer is None:
            return None
        status, contact = await self._get(f"{self.sources.orders}/orders/customer-contacts/{cid}", admin=True)
        if status == 404 and contact.get("code") != "unknown_customer":
            raise NotComparable("the order service has no contact copy endpoint (/orders/customer-contacts)")
        return contact_look(customer, contact if status == 200 else None)


def sources_from(urls: dict[str, list[str]], admin_token: str) -> Sources:
    """Sources from `{service: [base URLs]}` (services.json, or a service's FLASHSALE_*_URLS)."""
    def first(service: str) -> str | None:
        found = urls.get(service) or []
        return found[0].rstrip("/") if found else None

    return Sources(admin_token, first("inventory"), first("catalog"), first("orders"), first("customers"))


def summary(results: Sequence[ModelResult]) -> dict[str, Any]:
    return {"models": [r.to_json() for r in results]}
