"""Pay and completion latency at the demo's load: the demo's sale, played sale after sale.

    python -m bench.demo_load [--backend sqlite|postgresql] [--sales 3] [--buyers 2000] [--stock 100]

Plays what `flashsale demo` plays (flashsale.sale.load's SalePlan: the buyers, signed in, race
through the gateway for the units, 64 at a time; one in ten pays with a declined card, one in ten
walks away from the hold) `--sales` times against one house (`flashsale up`, bench.house; holds
live 600 s there, the demo's 20, which no pay here comes near), each sale a product of its own,
the buyers signed up and in once before the first. Per sale it prints what the buyers met: the
sale's length, order and pay latency (p50 / p99; the pays also split into approved and declined),
and, read from the order service once the house is quiet, placed -> COMPLETED for every paid
order (its createdAt to its updatedAt, when it became COMPLETED): p50 / p99.

Targets (a checkout that costs the house a few milliseconds): pay p99 <= 1 s and placed ->
COMPLETED p99 <= 2 s at this load. On SQLite every write of the order service queues for its
file's one write lock, and the sale's first second is a crowd of them: that queue, more than CPU,
is what these latencies measure (bench/RESULTS.md, 2026-12-07 09:30).
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from dataclasses import dataclass

from bench.house import temporary_house
from bench.postgres import fresh_prefix, postgres_up
from flashsale.kit.clock import ms_from_iso
from flashsale.runtime.services_file import ServicesFile
from flashsale.sale.buyers import GatewayPath, SignedIn, sign_in_buyers
from flashsale.sale.client import Answer, HouseClient
from flashsale.sale.load import SalePlan, run_sale
from flashsale.sale.settle import wait_until_quiet
from flashsale.sale.stats import percentile

QUIET_TIMEOUT_S = 120
PAUSE_S = 1.0  # between a product's listing and its sale's opening (the catalog's copy of it settles)


class _TimedPays(GatewayPath):
    """The gateway path, noting each pay's status and seconds (approved and declined apart)."""

    def __init__(self, client: HouseClient, signed_in: SignedIn) -> None:
        super().__init__(client, signed_in)
        self.pays: list[tuple[int, float]] = []

    async def pay(self, n: int, order_id: str, payment_token: str) -> Answer:
        answer = await super().pay(n, order_id, payment_token)
        self.pays.append((answer.status, answer.seconds))
        return answer


@dataclass(frozen=True)
class SaleFigures:
    seconds: float
    orders_ms: list[float]
    pays_ms: list[float]
    approved_ms: list[float]
    declined_ms: list[float]
    completed_ms: list[float]  # placed -> COMPLETED, per paid order

    def line(self, n: int) -> str:
        def p(values: list[float], q: float) -> str:
            value = percentile(values, q)
            return "-" if value is None else f"{value:,.0f}"

        return (f"  sale {n}: {self.seconds:.1f} s; order p50/p99 {p(self.orders_ms, 50)} / {p(self.orders_ms, 99)} ms;"
                f" pay {p(self.pays_ms, 50)} / {p(self.pays_ms, 99)} ms (approved {p(self.approved_ms, 50)} /"
                f" {p(self.approved_ms, 99)}, declined {p(self.declined_ms, 50)} / {p(self.declined_ms, 99)});"
                f" placed -> COMPLETED {p(self.completed_ms, 50)} / {p(self.completed_ms, 99)} ms"
                f" ({len(self.completed_ms)} orders)")


async def _sale(client: HouseClient, path: _TimedPays, buyers: int, stock: int) -> SaleFigures:
    plan = SalePlan(product_id=f"DEMO-LOAD-{uuid.uuid4().hex[:6]}", buyers=buyers, stock=stock)
    stocked = await client.receive(plan.product_id, plan.stock, name=plan.name, price_cents=plan.price_cents)
    if stocked.status != 200:
        raise RuntimeError(f"could not put {plan.product_id} on sale: {stocked.status} {stocked.body}")
    await asyncio.sleep(PAUSE_S)
    path.pays.clear()
    started = time.perf_counter()
    result = await run_sale(path, plan)
    seconds = time.perf_counter() - started
    if result.unexpected:
        raise RuntimeError(f"unexpected answers: {result.unexpected[:3]}")
    await wait_until_quiet(client.services, QUIET_TIMEOUT_S)
    return SaleFigures(
        seconds, [s * 1000 for s in result.order_latency], [s * 1000 for s in result.pay_latency],
        [s * 1000 for status, s in path.pays if status == 200], [s * 1000 for status, s in path.pays if status == 402],
        await _placed_to_completed(client, result.paid_ids),
    )


async def _placed_to_completed(client: HouseClient, order_ids: list[str]) -> list[float]:
    spans = []
    for order_id in order_ids:
        order = (await client.order(order_id)).body
        if order["status"] == "COMPLETED":
            spans.append(float(ms_from_iso(order["updatedAt"]) - ms_from_iso(order["createdAt"])))
    return spans


async def _sales(services: ServicesFile, backend: str, sales: int, buyers: int, stock: int) -> None:
    client = HouseClient(services)
    try:
        path = _TimedPays(client, await sign_in_buyers(client, buyers))
        await wait_until_quiet(client.services, QUIET_TIMEOUT_S)
        print(f"demo load, {backend}: {sales} sales of {stock} units to {buyers} signed-in buyers each "
              f"(64 at a time, through the gateway)", flush=True)
        for n in range(sales):
            print((await _sale(client, path, buyers, stock)).line(n), flush=True)
    finally:
        await client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--sales", type=int, default=3)
    parser.add_argument("--buyers", type=int, default=2000)
    parser.add_argument("--stock", type=int, default=100)
    args = parser.parse_args()
    if args.backend == "postgresql" and not postgres_up():
        raise SystemExit("PostgreSQL does not answer (FLASHSALE_BENCH_POSTGRES)")
    database = fresh_prefix("bench_demo_load") if args.backend == "postgresql" else ""
    with temporary_house(args.backend, database) as services:
        asyncio.run(_sales(services, args.backend, args.sales, args.buyers, args.stock))


if __name__ == "__main__":
    main()
