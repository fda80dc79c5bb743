"""Waiting for a house to go quiet, and measuring how long consistency took."""

from __future__ import annotations

import asyncio
import time

from flashsale.kit.clock import ms_from_iso
from flashsale.sale.audit import AuditReport, audit_house
from flashsale.sale.client import HouseClient


async def wait_until_settled(
    client: HouseClient, order_ids: list[str], *, include_pending: bool, timeout_s: float
) -> dict[str, int]:
    """Poll until none of `order_ids` is PAID (nor PENDING_PAYMENT, if asked); returns status counts."""
    wanted = set(order_ids)
    unsettled = {"PAID", "PENDING_PAYMENT"} if include_pending else {"PAID"}
    deadline = time.monotonic() + timeout_s
    while True:
        counts: dict[str, int] = {}
        for order in await client.all_orders():
            if order["orderId"] in wanted:
                key = order["status"] if order["status"] != "CANCELLED" else f"CANCELLED/{order['statusReason']}"
                counts[key] = counts.get(key, 0) + 1
        if not unsettled & {k.split("/")[0] for k in counts} or time.monotonic() > deadline:
            return counts
        await asyncio.sleep(0.25)


async def audit_until_consistent(client: HouseClient, timeout_s: float) -> AuditReport:
    """Audit, retrying while events may still be in flight; the last report is the verdict."""
    deadline = time.monotonic() + timeout_s
    while True:
        report = await audit_house(client)
        if report.ok or time.monotonic() > deadline:
            return report
        await asyncio.sleep(0.5)


async def time_to_consistency(client: HouseClient, order_ids: list[str]) -> list[float]:
    """Seconds from OrderConfirmed committed (order paid) to the deduction committed, per order."""
    samples: list[float] = []
    for order_id in order_ids:
        order = (await client.order(order_id)).body
        if order.get("status") != "COMPLETED" or not order.get("paidAt"):
            continue
        reservation = (await client.reservation(order["reservationId"])).body
        if reservation.get("confirmedAt"):
            samples.append((ms_from_iso(reservation["confirmedAt"]) - ms_from_iso(order["paidAt"])) / 1000)
    return samples
