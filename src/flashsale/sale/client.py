"""The house seen from outside: its public HTTP APIs, and nothing else (no database access)."""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    retry_if_result,
    stop_after_delay,
    wait_exponential_jitter,
)

from flashsale.runtime.services_file import ServicesFile

PAGE = 500
# What a product put on sale costs when nobody says otherwise (the order service's own stand-in price).
DEFAULT_PRICE_CENTS = 49_999



@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]
    seconds: float
    retry_after_s: float | None = None  # what a 429 or 503 asked the caller to wait


def _worth_retrying(answer: Answer) -> bool:
    """The first attempt with this key is still running, a dependency is down for now or the
    house is too busy (503: nothing was stored under the key, so the retry runs afresh), or the
    caller is over its rate limit (429)."""
    in_progress = answer.status == 409 and answer.body.get("code") == "request_in_progress"
    return in_progress or answer.status in (429, 503)


_backoff = wait_exponential_jitter(multiplier=0.1, max=2.0)


def _wait_as_told(state: RetryCallState) -> float:
    """The answer's Retry-After when it gave one, else exponential backoff with jitter."""
    answer = state.outcome.result() if state.outcome is not None and not state.outcome.failed else None
    if isinstance(answer, Answer) and answer.retry_after_s is not None:
        return answer.retry_after_s
    return _backoff(state)


class HouseClient:
    def __init__(
        self, services: ServicesFile, *, max_connections: int = 256, timeout_s: float = 30.0,
        retry_window_s: float = 30.0,
    ) -> None:
        self.services = services
        self.retry_window_s = retry_window_s
        self._orders = services.urls["orders"]
        self._round_robin = itertools.cycle(range(len(self._orders)))
        self._inventory = services.url("inventory")
        catalogs = services.urls.get("catalog", [])
        self._catalog: str | None = catalogs[0] if catalogs else None
        self._admin = {"Authorization": f"Bearer {services.admin_token}"}
        gateways = services.urls.get("gateway", [])
        self._public = gateways[0] if gateways else "gateway: none"  # the one public API
        # aiohttp's pool, as between the services (kit/http.py): httpx's walks every connection and
        # every queued request on each request, which under a crowd cost the load generator
        # milliseconds of CPU per call on the cores the house runs on, and showed in the latencies
        # it reports. Waiting for one of our own pooled connections is the load generator's queue,
        # not a fault of the house: only connecting and the whole exchange are bounded.
        self._max_connections = max_connections
        self._timeout = aiohttp.ClientTimeout(sock_connect=timeout_s, sock_read=timeout_s)
        self._session: aiohttp.ClientSession | None = None  # made on the first call, in its event loop

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._max_connections), timeout=self._timeout)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    @property
    def orders_instances(self) -> int:
        return len(self._orders)

    async def _call_idempotent(self, path: str, body: dict[str, Any], key: str | None, instance: int | None) -> Answer:
        """POST to the order service as a careful client does (`post_idempotent`). A retry goes to
        the next order instance: every instance answers for a key (they share the order
        database), so one instance that died does not stall its buyers."""
        first = next(self._round_robin) if instance is None else instance
        attempt = itertools.count(first)
        return await self.post_idempotent(lambda: self.orders_url(next(attempt)) + path, body, key=key)

    async def post_idempotent(
        self, url: Callable[[], str], body: dict[str, Any], *, key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        """POST as a careful client does: with an Idempotency-Key, retried with that same key when
        the connection fails, the first attempt is still running (the retry then gets its answer),
        the service says a dependency is down or it is too busy (503), or the caller is over its
        rate limit (429, after its Retry-After). `url` names where each attempt goes."""
        headers = {**(headers or {}), "Idempotency-Key": key or str(uuid.uuid4())}
        retrying = AsyncRetrying(
            stop=stop_after_delay(self.retry_window_s), wait=_wait_as_told,
            retry=retry_if_exception_type((aiohttp.ClientError, TimeoutError)) | retry_if_result(_worth_retrying),
            retry_error_callback=lambda state: state.outcome.result() if state.outcome else None,
        )

        async def post() -> Answer:
            return await self._call("POST", url(), json=body, headers=headers)

        started = time.perf_counter()
        answer: Answer = await retrying(post)
        return Answer(answer.status, answer.body, time.perf_counter() - started, answer.retry_after_s)

    async def _call(self, method: str, url: str, **kwargs: Any) -> Answer:
        if not url.startswith(self._public):
            # The house's internal APIs ask for its credential when they listen beyond loopback
            # (kit/house_auth.py): whoever holds services.json is an operator, with the admin token.
            kwargs["headers"] = {**self._admin, **(kwargs.get("headers") or {})}
        started = time.perf_counter()
        async with self._http().request(method, url, **kwargs) as response:
            content = await response.read()
        seconds = time.perf_counter() - started
        body = orjson.loads(content) if content else {}
        retry_after = response.headers.get("retry-after", "")
        return Answer(response.status, body, seconds, float(retry_after) if retry_after.isdigit() else None)

    # -- inventory --------------------------------------------------------------------------

    async def receive(
        self, product_id: str, quantity: int, *, name: str | None = None, price_cents: int = DEFAULT_PRICE_CENTS,
    ) -> Answer:
        """Put units of a product on sale: list it in the catalog first when the house runs one and
        does not list it yet (the order service sells only what the catalog lists), then receive
        the units into the inventory. A product already listed keeps its name and price."""
        listed = await self.list_product(product_id, name or product_id, price_cents)
        if listed.status not in (200, 201):
            return listed
        return await self._call("POST", f"{self._inventory}/inventory/{product_id}/receive",
                                json={"quantity": quantity}, headers=self._admin)

    # -- catalog ----------------------------------------------------------------------------

    async def list_product(self, product_id: str, name: str, price_cents: int) -> Answer:
        """The product as the catalog lists it, created (PUT) if it is not listed yet; 200 with an
        empty body when the house runs no catalog."""
        if self._catalog is None:
            return Answer(200, {}, 0.0)
        found = await self._call("GET", f"{self._catalog}/products/{product_id}")
        if found.status != 404:
            return found
        body = {"name": name, "priceCents": price_cents, "description": f"{name}, on flash sale"}
        return await self._call("PUT", f"{self._catalog}/products/{product_id}", json=body, headers=self._admin)

    async def adjust(self, product_id: str, delta: int, reason: str) -> Answer:
        return await self._call("POST", f"{self._inventory}/inventory/{product_id}/adjust",
                                json={"delta": delta, "reason": reason}, headers=self._admin)

    async def notifications(self, order_id: str) -> list[dict[str, Any]]:
        notifications = self.services.url("notifications")
        answer = await self._call("GET", f"{notifications}/notifications", params={"orderId": order_id})
        return list(answer.body.get("notifications", [])) if answer.status == 200 else []

    async def stock(self, product_id: str) -> Answer:
        return await self._call("GET", f"{self._inventory}/inventory/{product_id}")

    async def reservation(self, reservation_id: str) -> Answer:
        return await self._call("GET", f"{self._inventory}/inventory/reservations/{reservation_id}")

    async def reserve(self, product_id: str, quantity: int = 1, *, ttl_s: int | None = None) -> Answer:
        body: dict[str, Any] = {"productId": product_id, "quantity": quantity}
        if ttl_s is not None:
            body["ttlSeconds"] = ttl_s
        return await self._call("POST", f"{self._inventory}/inventory/reserve", json=body)

    async def inventory_metrics(self) -> str:
        async with self._http().get(f"{self._inventory}/metrics") as response:
            return await response.text()

    # -- orders -----------------------------------------------------------------------------

    def orders_url(self, instance: int | None = None) -> str:
        return self._orders[next(self._round_robin) if instance is None else instance % len(self._orders)]

    async def create_order(
        self, customer_id: str, product_id: str, quantity: int = 1, *,
        instance: int | None = None, idempotency_key: str | None = None,
    ) -> Answer:
        body = {"customerId": customer_id, "items": [{"productId": product_id, "quantity": quantity}]}
        return await self._call_idempotent("/orders", body, idempotency_key, instance)

    async def pay(self, order_id: str, token: str, *, instance: int | None = None) -> Answer:
        return await self._call_idempotent(f"/orders/{order_id}/pay", {"paymentToken": token}, None, instance)

    async def order(self, order_id: str) -> Answer:
        return await self._call("GET", f"{self.orders_url()}/orders/{order_id}")

    # -- admin listings (what the auditor walks) --------------------------------------------

    async def _pages(self, url: str, key: str, params: dict[str, str]) -> AsyncIterator[dict[str, Any]]:
        after: str | None = None
        while True:
            query = {**params, "limit": str(PAGE), **({"after": after} if after else {})}
            answer = await self._call("GET", url, params=query, headers=self._admin)
            if answer.status != 200:
                raise RuntimeError(f"GET {url} answered {answer.status}: {answer.body}")
            for row in answer.body[key]:
                yield row
            after = answer.body.get("next")
            if not after:
                return

    async def all_products(self) -> list[dict[str, Any]]:
        return [p async for p in self._pages(f"{self._inventory}/inventory", "products", {})]

    async def all_reservations(self) -> list[dict[str, Any]]:
        return [r async for r in self._pages(f"{self._inventory}/inventory/reservations", "reservations", {})]

    async def ledgers(self, order_ids: list[str]) -> dict[str, dict[str, Any]]:
        """Each order's payment ledger (orders never charged have none)."""
        payments = self.services.url("payments")
        gate = asyncio.Semaphore(16)

        async def one(order_id: str) -> tuple[str, Answer]:
            async with gate:
                return order_id, await self._call("GET", f"{payments}/payments/{order_id}/ledger")

        answers = await asyncio.gather(*(one(order_id) for order_id in order_ids))
        return {order_id: answer.body for order_id, answer in answers if answer.status == 200}

    async def all_orders(self) -> list[dict[str, Any]]:
        return [o async for o in self._pages(f"{self.orders_url(0)}/orders", "orders", {})]
