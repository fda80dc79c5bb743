"""Waiting for a house to go quiet, and measuring how long consistency took."""

from __future__ import annotations

import asyncio
import time

import httpx
from prometheus_client.parser import text_string_to_metric_families

from flashsale.kit.clock import ms_from_iso
from flashsale.runtime.services_file import ServicesFile
from flashsale.sale.audit import AuditReport, audit_house
from flashsale.sale.client import HouseClient

# What says work is still queued somewhere in the house: events not yet published, and events not
# yet delivered to or not yet acknowledged by a consumer (each service's /metrics).
BACKLOG_GAUGES = ("outbox_backlog", "consumer_pending_messages", "consumer_unacked_messages")
# Consumers sample their lag every 5 s (kit/bus.py LAG_SAMPLE_S): quiet must last longer than that.
STILL_S = 6.0


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


async def wait_until_quiet(services: ServicesFile, timeout_s: float) -> float:
    """Wait until no service has events queued (BACKLOG_GAUGES all 0 for STILL_S); the seconds it
    took. A drop opens on a quiet house: its buyers signed up and in ahead of it, and the
    consumers of those sign-ups (the order service's contact copy, reporting, ...) caught up."""
    started = time.monotonic()
    quiet_since: float | None = None
    urls = [url for found in services.urls.values() for url in found]
    async with httpx.AsyncClient(timeout=5.0) as http:
        while time.monotonic() - started < timeout_s:
            backlog = sum(await asyncio.gather(*(_backlog(http, url) for url in urls)))
            now = time.monotonic()
            quiet_since = (quiet_since or now) if backlog == 0 else None
            if quiet_since is not None and now - quiet_since >= STILL_S:
                break
            await asyncio.sleep(0.5)
    return time.monotonic() - started


async def _backlog(http: httpx.AsyncClient, url: str) -> float:
    try:
        answer = await http.get(f"{url}/metrics")
    except httpx.HTTPError:
        return 0.0  # an instance that does not answer holds nothing we can wait for
    return sum(sample.value for family in text_string_to_metric_families(answer.text)
               for sample in family.samples if sample.name in BACKLOG_GAUGES)
