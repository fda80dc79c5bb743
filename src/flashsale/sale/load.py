"""The flash sale as a load: N buyers race for S units of one product.

Each buyer asks for one unit along the sale's buy path (buyers.py: signed in, through the
gateway; or straight at the order service's instances). A buyer who
gets an order then pays with an approving card, a declined one, or walks away (abandons the hold,
which expires by its TTL). Everything is measured from the client side; the audit then checks the
outcome through the APIs.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from flashsale.sale.buyers import BuyPath


@dataclass(frozen=True)
class SalePlan:
    product_id: str
    buyers: int
    stock: int
    name: str = "PlayStation 5 (flash sale)"
    price_cents: int = 49_999
    decline_rate: float = 0.1
    abandon_rate: float = 0.1
    concurrency: int = 64
    seed: int = 7
    # Buyers arrive spread evenly over this many seconds instead of all at the opening: a sale that
    # must still be under way when something is done to the house (the fault suite) lasts this long.
    arrival_s: float = 0.0


@dataclass
class SaleResult:
    outcomes: Counter[str] = field(default_factory=Counter)
    order_latency: list[float] = field(default_factory=list)
    pay_latency: list[float] = field(default_factory=list)
    order_ids: list[str] = field(default_factory=list)
    paid_ids: list[str] = field(default_factory=list)  # orders whose buyer was told "paid"
    # Buyers told their hold had expired when they paid (409 hold_expired): the order, and the
    # seconds from asking for it to that answer (a hold cannot run out sooner than its TTL).
    expired: list[tuple[str, float]] = field(default_factory=list)
    # Buyers still told "in progress" (409 request_in_progress) when they stopped asking again: a
    # payment an outage cut off mid-way, which the saga resolves once the payment service may take
    # it over (its PENDING payment is stale after 30 s). The contract's answer; how each ended is
    # for the audit, which every order must pass.
    undecided: list[str] = field(default_factory=list)
    epilogue: list[tuple[str, str]] = field(default_factory=list)  # what happened after the sale
    notes: list[str] = field(default_factory=list)  # printed below the report
    unexpected: list[str] = field(default_factory=list)


def _choose_payment(rng: random.Random, plan: SalePlan) -> str | None:
    roll = rng.random()
    if roll < plan.abandon_rate:
        return None
    if roll < plan.abandon_rate + plan.decline_rate:
        return "tok_declined"
    return "tok_ok"


async def _buyer(path: BuyPath, plan: SalePlan, n: int, token: str | None, result: SaleResult) -> None:
    asked = time.perf_counter()
    created = await path.place_order(n, plan.product_id)
    if created.status == 409:
        result.outcomes["refused"] += 1
        return
    if created.status != 201:
        result.unexpected.append(f"POST /orders -> {created.status} {created.body}")
        return
    result.order_latency.append(created.seconds)
    result.outcomes["created"] += 1
    order_id = created.body["orderId"]
    result.order_ids.append(order_id)
    if token is None:
        result.outcomes["abandoned"] += 1
        return
    paid = await path.pay(n, order_id, token)
    result.pay_latency.append(paid.seconds)
    expected = {"tok_ok": (200, "paid"), "tok_declined": (402, "declined")}[token]
    if paid.status == expected[0]:
        result.outcomes[expected[1]] += 1
        if paid.status == 200:
            result.paid_ids.append(order_id)
    elif paid.status == 409 and paid.body.get("code") == "hold_expired":
        # The contract's answer to a payment that came too late (a house under faults can be that slow).
        result.outcomes["expired"] += 1
        result.expired.append((order_id, time.perf_counter() - asked))
    elif paid.status == 409 and paid.body.get("code") == "request_in_progress":
        result.outcomes["undecided"] += 1
        result.undecided.append(order_id)
    else:
        result.unexpected.append(f"POST /orders/{order_id}/pay ({token}) -> {paid.status} {paid.body}")


async def run_sale(
    path: BuyPath, plan: SalePlan, on_progress: Callable[[], None] = lambda: None
) -> SaleResult:
    """Play the sale; stock must already be received. Returns what the buyers saw."""
    rng = random.Random(plan.seed)
    tokens = [_choose_payment(rng, plan) for _ in range(plan.buyers)]
    result = SaleResult()
    gate = asyncio.Semaphore(plan.concurrency)
    opening = asyncio.get_running_loop().time()

    async def one(n: int) -> None:
        await _arrival(opening + plan.arrival_s * n / plan.buyers)
        async with gate:
            try:
                await _buyer(path, plan, n, tokens[n], result)
            except Exception as exc:  # noqa: BLE001 - a failed request is a finding, not a crash
                result.unexpected.append(f"buyer {n}: {exc!r}")
            on_progress()

    await asyncio.gather(*(one(n) for n in range(plan.buyers)))
    return result


async def _arrival(at: float) -> None:
    """Wait until the event loop's clock reads `at` (now, if it already has)."""
    delay = at - asyncio.get_running_loop().time()
    if delay > 0:
        await asyncio.sleep(delay)
