"""A sale with a fault injected while buyers race, and what must hold once the house is quiet."""

from __future__ import annotations

import threading
import uuid
from typing import Protocol

from flashsale.runtime.services_file import ServicesFile
from flashsale.sale.buyers import OrderServicePath
from flashsale.sale.client import HouseClient
from flashsale.sale.load import SalePlan, SaleResult, run_sale
from flashsale.sale.settle import audit_until_consistent, wait_until_settled


class Injector(Protocol):
    """A thread that injects faults until the sale ends (`stop`), naming each in `injected`."""

    stop: threading.Event
    injected: list[str]

    def start(self) -> None: ...

    def join(self, timeout: float | None = None) -> None: ...


async def sale_under(
    services: ServicesFile, injector: Injector, *, name: str, buyers: int, stock: int,
    arrival_s: float = 0.0, concurrency: int = 32,
) -> tuple[SaleResult, HouseClient]:
    """Run a sale (buyers retry with their Idempotency-Key for 40 s) while `injector` runs;
    buyers arrive spread over `arrival_s`."""
    client = HouseClient(services, retry_window_s=40.0)
    plan = SalePlan(product_id=f"{name}-{uuid.uuid4().hex[:8]}", buyers=buyers, stock=stock,
                    concurrency=concurrency, arrival_s=arrival_s)
    assert (await client.receive(plan.product_id, plan.stock)).status == 200
    injector.start()
    try:
        result = await run_sale(OrderServicePath(client), plan)
    finally:
        injector.stop.set()
        injector.join()
    return result, client


async def assert_nothing_lost_or_oversold(client: HouseClient, result: SaleResult) -> dict[str, int]:
    """Every buyer was answered as the contract says; once every hold's TTL has passed nothing is
    PENDING_PAYMENT or PAID any more, every order a buyer was told is paid is COMPLETED, nothing is
    oversold and the books balance. Returns how the sale's orders ended."""
    assert result.outcomes["paid"] > 0, result.outcomes
    assert result.unexpected == [], result.unexpected[:10]
    settled = await wait_until_settled(client, result.order_ids, include_pending=True, timeout_s=120)
    assert {k.split("/")[0] for k in settled} <= {"COMPLETED", "CANCELLED"}, settled
    ended = {o["orderId"]: (o["status"], o["statusReason"]) for o in await client.all_orders()}
    not_completed = {oid: ended[oid] for oid in result.paid_ids if ended[oid][0] != "COMPLETED"}
    assert not_completed == {}, not_completed
    report = await audit_until_consistent(client, timeout_s=60)
    assert report.oversold == 0
    assert report.ok, report.violations[:10]
    return settled
