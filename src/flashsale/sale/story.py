"""The seed's story, replayed for real: users A and B race for the last PS5 through two
order-service instances, and the timeline shows the stock and the order at every step."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass

from flashsale.sale.client import Answer, HouseClient


@dataclass(frozen=True)
class Moment:
    label: str
    action: str
    available: int
    reserved: int
    sold: int
    order_state: str
    note: str


async def _poll(client: HouseClient, order_id: str, status: str, timeout_s: float = 15.0) -> Answer:
    deadline = time.monotonic() + timeout_s
    while True:
        answer = await client.order(order_id)
        if answer.body.get("status") == status or time.monotonic() > deadline:
            return answer
        await asyncio.sleep(0.02)


async def _moment(client: HouseClient, product: str, label: str, action: str, state: str, note: str) -> Moment:
    stock = (await client.stock(product)).body
    return Moment(label, action, stock["available"], stock["reserved"], stock["sold"], state, note)


async def replay_last_ps5(client: HouseClient) -> tuple[list[Moment], bool]:
    """Returns the timeline and whether it went as the story says (one winner, consistent end)."""
    product = f"PS5-{uuid.uuid4().hex[:6]}"
    await client.receive(product, 1, name="PlayStation 5")
    timeline = [await _moment(client, product, "T+0", "A and B click Buy", "-", "both ask to reserve 1 PS5")]
    a, b = await asyncio.gather(
        client.create_order("user-A", product, instance=0), client.create_order("user-B", product, instance=1)
    )
    winner, loser = (a, b) if a.status == 201 else (b, a)
    who = "A" if winner is a else "B"
    order_id = winner.body.get("orderId", "")
    timeline.append(await _moment(
        client, product, "T+1", f"{who} holds the unit", "PENDING_PAYMENT",
        f"the other buyer got {loser.status} {loser.body.get('code', '')}",
    ))
    paid = await client.pay(order_id, "tok_ok")
    timeline.append(await _moment(client, product, "T+2", f"{who} pays", paid.body.get("status", "?"),
                                  "OrderConfirmed written to the outbox with the order"))
    completed = await _poll(client, order_id, "COMPLETED")
    timeline.append(await _moment(client, product, "T+3", "inventory consumes OrderConfirmed",
                                  completed.body.get("status", "?"), "hold turned into a deduction"))
    final = await _moment(client, product, "T+4", f"{who} sees success", completed.body.get("status", "?"),
                          "data is consistent")
    timeline.append(final)
    went_right = (
        sorted([a.status, b.status]) == [201, 409]
        and (final.available, final.reserved, final.sold) == (0, 0, 1)
        and final.order_state == "COMPLETED"
    )
    return timeline, went_right
