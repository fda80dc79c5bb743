"""The demo's epilogue: after the sell-out the warehouse drops a unit that was already sold.

The inventory revokes the newest sale (its write-off policy), the order's saga cancels the order,
refunds the money and the notifications service apologises to the customer. The epilogue waits
for all three and reports them; the audit that follows checks the books still balance.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from rich.console import Console

from flashsale.sale.client import HouseClient
from flashsale.sale.load import SalePlan, SaleResult

Epilogue = Callable[[HouseClient, SalePlan, SaleResult, Console], Awaitable[list[tuple[str, str]]]]
APOLOGY_TIMEOUT_S = 30.0
REASON = "dropped in the warehouse"


async def drop_a_sold_unit(
    client: HouseClient, plan: SalePlan, result: SaleResult, console: Console,
) -> list[tuple[str, str]]:
    stock = (await client.stock(plan.product_id)).body
    if stock.get("sold", 0) == 0:
        return [("warehouse drop", "skipped: nothing was sold")]
    completed = {o["orderId"] for o in await _orders(client, result) if o["status"] == "COMPLETED"}
    # Unsold units go first by the write-off policy; one more than those reaches a sold unit.
    units = int(stock["available"]) + 1
    answer = await client.adjust(plan.product_id, -units, REASON)
    if answer.status != 200:
        return [("warehouse drop", f"refused: {answer.status} {answer.body}")]
    with console.status("the warehouse dropped a sold unit: apologising…"):
        apology = await _wait_for_apology(client, result, completed)
    drop = f"{units} units written off after the sale ({units - 1} unsold, 1 sold)"
    if apology is None:
        return [("warehouse drop", drop), ("apology", f"none within {APOLOGY_TIMEOUT_S:g} s")]
    order_id, message = apology
    ledger = (await client.ledgers([order_id])).get(order_id, {})
    refunded = int(ledger.get("refundedCents", 0)) / 100
    result.notes.append(f"the apology to the customer of order {order_id[:8]}…: “{message}”")
    return [("warehouse drop", drop), ("apology", f"order {order_id[:8]}… cancelled, {refunded:.2f} refunded")]


async def _orders(client: HouseClient, result: SaleResult) -> list[dict[str, Any]]:
    wanted = set(result.order_ids)
    return [o for o in await client.all_orders() if o["orderId"] in wanted]


async def _wait_for_apology(
    client: HouseClient, result: SaleResult, completed: set[str],
) -> tuple[str, str] | None:
    """The order that was completed and is now cancelled for want of stock, once its customer
    has been told."""
    deadline = time.monotonic() + APOLOGY_TIMEOUT_S
    while time.monotonic() < deadline:
        for order in await _orders(client, result):
            revoked = order["orderId"] in completed and order["status"] == "CANCELLED"
            if revoked and order["statusReason"] == "stock_unavailable":
                notes = [n for n in await client.notifications(order["orderId"]) if n["kind"] == "apology"]
                if notes:
                    return order["orderId"], str(notes[0]["message"])
        await asyncio.sleep(0.25)
    return None
