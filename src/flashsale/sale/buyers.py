"""How a sale's buyers reach the house: signed in through the gateway, as real buyers do, or
straight at the order service (the older path, kept as an option for measuring the services alone).

Through the gateway a drop's buyers sign up and sign in before it opens, so the crowd carries
tokens; each then buys and pays with their own token. Every buyer comes from a client address of
their own (X-Forwarded-For): a house whose gateway trusts the load generator as its proxy
(FLASHSALE_TRUSTED_PROXIES, as the demo's does) sees distinct buyers the way it would behind a
real load balancer, and one that does not sees them all at one address and may rate-limit them
(answered 429 with Retry-After, which the client waits out).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from flashsale.sale.client import Answer, HouseClient

SIGN_UP_CONCURRENCY = 16  # password hashing is the customers service's CPU: more at once only queues
PASSWORD = "flash sale buyer password"
ADDRESS = {"line1": "1 Sale Street", "city": "Dropton", "postalCode": "10000", "country": "GB"}


class BuyPath(Protocol):
    """Where buyer `n` places their order and pays for it."""

    name: str  # as the sale's report says it

    async def place_order(self, n: int, product_id: str) -> Answer: ...

    async def pay(self, n: int, order_id: str, payment_token: str) -> Answer: ...


class OrderServicePath:
    """Straight at the order service's instances (no sign-in): buyer n is customer `buyer-n`."""

    name = "order service, direct (no sign-in)"

    def __init__(self, client: HouseClient, prefix: str = "buyer") -> None:
        self.client = client
        self.prefix = prefix

    async def place_order(self, n: int, product_id: str) -> Answer:
        return await self.client.create_order(f"{self.prefix}-{n}", product_id, instance=n,
                                              idempotency_key=str(uuid.uuid4()))

    async def pay(self, n: int, order_id: str, payment_token: str) -> Answer:
        return await self.client.pay(order_id, payment_token, instance=n + 1)  # through the other instance


@dataclass(frozen=True)
class Buyer:
    customer_id: str
    token: str
    address: str  # the client address the buyer comes from

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "X-Forwarded-For": self.address}


@dataclass(frozen=True)
class SignedIn:
    buyers: list[Buyer]
    sign_ups_per_s: float
    sign_ins_per_s: float


class GatewayPath:
    """Through the gateway's public API, each buyer with their own token."""

    name = "gateway, signed-in buyers"

    def __init__(self, client: HouseClient, signed_in: SignedIn) -> None:
        self.client = client
        self.signed_in = signed_in
        self._gateway = client.services.url("gateway")

    async def place_order(self, n: int, product_id: str) -> Answer:
        body = {"items": [{"productId": product_id, "quantity": 1}]}
        return await self._post(n, "/api/orders", body)

    async def pay(self, n: int, order_id: str, payment_token: str) -> Answer:
        return await self._post(n, f"/api/orders/{order_id}/pay", {"paymentToken": payment_token})

    async def _post(self, n: int, path: str, body: dict[str, Any]) -> Answer:
        buyer = self.signed_in.buyers[n]
        return await self.client.post_idempotent(lambda: self._gateway + path, body, headers=buyer.headers())


async def sign_in_buyers(client: HouseClient, count: int, on_progress: Callable[[], None] = lambda: None) -> SignedIn:
    """Sign `count` new buyers up, then in, through the gateway; with the rates of both."""
    run = uuid.uuid4().hex[:8]
    emails = [f"buyer-{run}-{n}@sale.example" for n in range(count)]
    addresses = [_address(n) for n in range(count)]
    gateway = client.services.url("gateway")
    gate = asyncio.Semaphore(SIGN_UP_CONCURRENCY)

    async def post(n: int, path: str, body: dict[str, Any]) -> Answer:
        async with gate:
            answer = await client.post_idempotent(lambda: gateway + path, body,
                                                  headers={"X-Forwarded-For": addresses[n]})
        if answer.status not in (200, 201):
            raise RuntimeError(f"{path} for buyer {n} answered {answer.status}: {answer.body}")
        on_progress()
        return answer

    started = time.perf_counter()
    profiles = await asyncio.gather(*(post(n, "/api/signup", {
        "name": f"Buyer {n}", "email": email, "password": PASSWORD, "address": ADDRESS,
    }) for n, email in enumerate(emails)))
    signed_up = time.perf_counter()
    tokens = await asyncio.gather(*(post(n, "/api/auth/token", {"email": email, "password": PASSWORD})
                                    for n, email in enumerate(emails)))
    signed_in = time.perf_counter()
    buyers = [Buyer(str(p.body["customerId"]), str(t.body["accessToken"]), a)
              for p, t, a in zip(profiles, tokens, addresses, strict=True)]
    return SignedIn(buyers, count / max(signed_up - started, 1e-9), count / max(signed_in - signed_up, 1e-9))


def _address(n: int) -> str:
    """A distinct private address per buyer (10.0.0.0/8 holds 16 million)."""
    return f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"


