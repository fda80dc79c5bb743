"""What one checkout costs the house, step by step, with nothing else going on.

    python -m bench.checkout_steps [--backend postgresql|sqlite] [--checkouts 300] [--path direct|gateway]

Starts a house (`flashsale up`, bench.house) and runs checkouts one at a time, by `--path` (straight
at the order instances, or through the gateway signed in): first `--checkouts` orders placed one
after another, then each paid, one after another, and then nothing but waiting until every one
is COMPLETED (the saga's deduction, capture, shipment and completion, with the notifications and
reporting they cause, run on while the next order is paid: so they are one step with the pays).
Over each step it reads every service process's CPU time from /proc (bench.cpu) and prints, per
process, CPU-milliseconds per checkout, the idle house's CPU over the same time taken off (read
first, over a few quiet seconds). The waiting is done by reading the orders at an order instance
(an operator's read, counted in the second step: about one GET per checkout).

Without a crowd, a checkout's cost is its own: no queueing, no batching, no process preempted
mid-request, so it says what each process spends on one checkout and in which step; the loaded
bench (bench.checkout, bench.profile_checkout) says what the house carries. Both move with the
machine's pace (the same code measured 32-42 ms a checkout in four runs within the half hour,
2026-12-07): compare runs side by side, alternating.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bench.buyers import CheckoutPath
from bench.checkout import checkout_path, put_on_sale
from bench.cpu import cpu_now, house_processes
from bench.house import temporary_house
from bench.loadgen import Connection
from bench.postgres import fresh_prefix, postgres_up
from flashsale.runtime.services_file import ServicesFile

IDLE_S = 5.0  # the quiet seconds the idle house's CPU is read over
BUYERS = 16  # through the gateway, the checkouts go round this many signed-in buyers (each within its rate limit)
POLL_S = 0.05  # how often the last step looks at the order it waits for


@dataclass
class Step:
    name: str
    seconds: float  # wall time it took
    cpu_s: dict[str, float]  # per process


async def _timed(name: str, pids: dict[int, str], work: Callable[[], Awaitable[None]]) -> Step:
    before, started = cpu_now(pids), time.perf_counter()
    await work()
    after, took = cpu_now(pids), time.perf_counter() - started
    return Step(name, took, {process: after[process] - before[process] for process in after})


async def _checkouts(services: ServicesFile, path: CheckoutPath, count: int) -> list[Step]:
    pids = house_processes(services)
    product = f"STEPS-{uuid.uuid4().hex[:6]}"
    await put_on_sale(services, product, stock=count * 2)
    buyers = [Connection(path.urls[0], path.headers(n)) for n in range(BUYERS)]  # kept alive, as a browser's
    reader = Connection(services.urls["orders"][0])
    orders: list[str] = []

    async def place() -> None:
        for n in range(count):
            status, body = await buyers[n % BUYERS].call("POST", f"{path.prefix}/orders", path.order(n, product),
                                                         key=uuid.uuid4().hex)
            if status != 201:
                raise SystemExit(f"POST {path.prefix}/orders answered {status}: {body[:200]!r}")
            orders.append(json.loads(body)["orderId"])

    async def pay_until_completed() -> None:
        for n, order_id in enumerate(orders):
            status, body = await buyers[n % BUYERS].call("POST", f"{path.prefix}/orders/{order_id}/pay",
                                                         b'{"paymentToken": "tok_ok"}', key=uuid.uuid4().hex)
            if status != 200:
                raise SystemExit(f"POST {path.prefix}/orders/{{id}}/pay answered {status}: {body[:200]!r}")
        for order_id in orders:  # sagas finish about in the order they were paid: a look or two each
            while True:
                _, body = await reader.call("GET", f"/orders/{order_id}")
                if json.loads(body).get("status") == "COMPLETED":
                    break
                await asyncio.sleep(POLL_S)

    async def quiet() -> None:
        await asyncio.sleep(IDLE_S)

    try:
        await asyncio.sleep(2.0)  # the sale's own events settle first
        steps = [await _timed("idle", pids, quiet)]
        steps.append(await _timed("place", pids, place))
        steps.append(await _timed("pay, until COMPLETED", pids, pay_until_completed))
        return steps
    finally:
        for connection in (*buyers, reader):
            connection.close()


def _table(steps: list[Step], count: int) -> str:
    """Per process (the busiest first), CPU ms per checkout in each step and in all of them."""
    idle, work = steps[0], steps[1:]
    idle_per_s = {process: cpu / idle.seconds for process, cpu in idle.cpu_s.items()}
    cost = {process: [max(0.0, step.cpu_s[process] - idle_per_s[process] * step.seconds) * 1000 / count
                      for step in work] for process in idle.cpu_s}
    house = [sum(column) for column in zip(*cost.values(), strict=True)]
    header = "".join(f"{step.name:>{max(9, len(step.name))}}  " for step in work) + "checkout"
    took = ", ".join(f"{step.name} {step.seconds:.1f} s" for step in work)
    lines = [f"CPU ms per checkout, {count} checkouts one at a time ({took}; the idle house's "
             f"{1000 * sum(idle_per_s.values()):.0f} ms a second over each step taken off):",
             f"  {'':16}{header}"]
    for process, row in [*sorted(cost.items(), key=lambda item: -sum(item[1])), ("the whole house", house)]:
        cells = "".join(f"{value:>{max(9, len(step.name))}.2f}  " for value, step in zip(row, work, strict=True))
        lines.append(f"  {process:16}{cells}{sum(row):8.2f}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="postgresql")
    parser.add_argument("--checkouts", type=int, default=300)
    parser.add_argument("--path", choices=["direct", "gateway"], default="direct",
                        help="straight at an order instance, or through the gateway signed in")
    args = parser.parse_args()
    if args.backend == "postgresql" and not postgres_up():
        raise SystemExit("PostgreSQL does not answer (FLASHSALE_BENCH_POSTGRES)")
    database = fresh_prefix("bench_steps") if args.backend == "postgresql" else ""
    with temporary_house(args.backend, database) as services:
        path = checkout_path(services, args.path, BUYERS)
        steps = asyncio.run(_checkouts(services, path, args.checkouts))
    print(_table(steps, args.checkouts))


if __name__ == "__main__":
    main()
