"""How long an event waits in the consumer's pull before its handler sees it: two ways of pulling.

    python -m bench.delivery [--events 300] [--gap-ms 150]

Also a section of `python -m bench.holds` (`make bench`). Two pullers share one durable consumer,
as two instances of a service do, on a NATS JetStream server of our own. Events arrive in small
bursts (1-3 at once, exponential gaps: a checkout's events, at about the checkout bench's half
load), then a backlog of 5,000 is drained. Per way of pulling: publish -> handed over p50/p95/p99/
max, and the backlog's drain rate. The ways:
- `fetch(batch=100)`: nats-py's batch fetch, which hands a batch over only when the server says
  no more messages are waiting;
- `fetch_arrived`: flashsale.kit.pulling (the bus's way): one message as it arrives, then what the
  broker counts as pending behind it.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import nats
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from bench.figures import fmt
from flashsale.kit.pulling import fetch_arrived
from flashsale.runtime.nats_server import free_port, start_nats, wait_for_port
from flashsale.sale.stats import percentile

Pull = Callable[[JetStreamContext.PullSubscription], Awaitable[list[Msg]]]
PULLERS = 2  # instances sharing the durable
BACKLOG = 5_000
EVENTS = 300
# The mean gap between bursts: one consumer's share of the checkout bench's half load (~5-7
# checkouts/s, an event or two each per consumer). The batch fetch's wait shows with gaps like
# this (p99 ~200 ms at 150 ms); with bursts 50 ms apart it mostly did not.
GAP_MS = 150.0


async def _batch_fetch(psub: JetStreamContext.PullSubscription) -> list[Msg]:
    return await psub.fetch(batch=100, timeout=0.5)


WAYS: dict[str, Pull] = {"fetch(batch=100)": _batch_fetch, "fetch_arrived": fetch_arrived}


@dataclass
class Seen:
    latencies_ms: list[float] = field(default_factory=list)
    count: int = 0


async def _puller(psub: JetStreamContext.PullSubscription, pull: Pull, seen: Seen) -> None:
    while True:
        try:
            msgs = await pull(psub)
        except TimeoutError:
            continue
        now = time.time()
        for msg in msgs:
            seen.latencies_ms.append((now - float(msg.data)) * 1000)
            seen.count += 1
            await msg.ack()


async def _until(probe: Callable[[], bool], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not probe():
        if time.monotonic() > deadline:
            raise SystemExit("LOST: not every event was handed over")
        await asyncio.sleep(0.01)


async def _measure(nats_url: str, pull: Pull, events: int, gap_s: float) -> tuple[list[float], float]:
    """Trickle latencies (ms), and the backlog's drain rate (events/s); each on a stream of its own."""
    connections = [await nats.connect(nats_url) for _ in range(PULLERS + 1)]
    try:
        publish = await _stream(connections[0])
        seen = Seen()
        tasks = await _pullers(connections[1:], publish.subject, pull, seen)
        published = 0
        while published < events:
            await asyncio.sleep(random.expovariate(1 / gap_s))
            for _ in range(min(random.choice([1, 1, 1, 2, 3]), events - published)):
                await publish()
                published += 1
        await _until(lambda: seen.count >= events, 30)
        await _stop(tasks)

        publish, backlog = await _stream(connections[0]), Seen()
        for _ in range(BACKLOG):
            await publish()
        started = time.monotonic()
        tasks = await _pullers(connections[1:], publish.subject, pull, backlog)
        await _until(lambda: backlog.count >= BACKLOG, 60)
        drained_per_s = BACKLOG / (time.monotonic() - started)
        await _stop(tasks)
        return seen.latencies_ms, drained_per_s
    finally:
        for nc in connections:
            await nc.close()


@dataclass(frozen=True)
class Publisher:
    js: JetStreamContext
    subject: str

    async def __call__(self) -> None:
        await self.js.publish(f"{self.subject}.x", str(time.time()).encode())


async def _stream(nc: nats.NATS) -> Publisher:
    stream, subject = f"B{uuid.uuid4().hex[:8]}", f"b{uuid.uuid4().hex[:8]}"
    await nc.jetstream().add_stream(name=stream, subjects=[f"{subject}.>"])
    return Publisher(nc.jetstream(), subject)


async def _pullers(connections: list[nats.NATS], subject: str, pull: Pull, seen: Seen) -> list[asyncio.Task[None]]:
    subs = [await nc.jetstream().pull_subscribe(f"{subject}.>", durable="bench") for nc in connections]
    return [asyncio.create_task(_puller(psub, pull, seen)) for psub in subs]


async def _stop(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def _rows(nats_url: str, events: int, gap_s: float) -> str:
    lines = [f"| way of pulling | events | p50 ms | p95 ms | p99 ms | max ms | backlog of {BACKLOG:,}: events/s |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    p99s: dict[str, float] = {}
    for name, pull in WAYS.items():
        latencies, drained = await _measure(nats_url, pull, events, gap_s)
        latencies.sort()
        p99s[name] = percentile(latencies, 99)
        lines.append(f"| {name} | {len(latencies)} | {fmt(percentile(latencies, 50))} | "
                     f"{fmt(percentile(latencies, 95))} | {fmt(p99s[name])} | {fmt(latencies[-1])} | "
                     f"{drained:,.0f} |")
        print(f"  {lines[-1]}", flush=True)
    ratio = p99s["fetch(batch=100)"] / max(p99s["fetch_arrived"], 0.001)
    lines.append(f"\np99 fetch(batch=100) / fetch_arrived: {ratio:.0f}x")
    return "\n".join(lines)


def section(nats_url: str, events: int = EVENTS, gap_ms: float = GAP_MS) -> str:
    """The bench's report section, measured on the broker at `nats_url`."""
    print(f"delivery: {PULLERS} pullers on one durable, {events} events ~{gap_ms:.0f} ms apart", flush=True)
    rows = asyncio.run(_rows(nats_url, events, gap_ms / 1000))
    return ("### Event delivery: publish -> handed to the consumer, two pullers on one durable\n\n"
            f"`python -m bench.delivery --events {events} --gap-ms {gap_ms:.0f}` runs this section alone. "
            f"Bursts of 1-3 events, exponential gaps averaging {gap_ms:.0f} ms; then a backlog drained.\n\n"
            + rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=EVENTS)
    parser.add_argument("--gap-ms", type=float, default=GAP_MS)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="flashsale-delivery-"))
    port = free_port()
    server = start_nats(tmp, port, tmp / "nats.log")
    try:
        wait_for_port(port)
        print(section(f"nats://127.0.0.1:{port}", args.events, args.gap_ms))
    finally:
        server.terminate()
        server.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
