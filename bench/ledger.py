"""What a house did over a window, counted per process: HTTP requests answered, events handled,
database transactions committed. Divided by the checkouts of the window, it is the work a checkout
costs, beside its CPU (bench.profile_checkout prints both).

Requests and events come from each process's own /metrics (`http_request_duration_seconds_count`,
`events_consumed_total`); transactions from PostgreSQL's `pg_stat_database` (per service database,
so both order instances are one row), or nothing on SQLite.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field

import asyncpg
import httpx
from prometheus_client.parser import text_string_to_metric_families

from flashsale.runtime.services_file import ServicesFile


@dataclass
class Snapshot:
    requests: Counter[tuple[str, str]] = field(default_factory=Counter)  # (process, "METHOD route")
    events: Counter[tuple[str, str]] = field(default_factory=Counter)  # (process, "consumer type")
    transactions: Counter[str] = field(default_factory=Counter)  # database name -> commits + rollbacks

    def __sub__(self, before: Snapshot) -> Snapshot:
        return Snapshot(self.requests - before.requests, self.events - before.events,
                        self.transactions - before.transactions)


async def snapshot(services: ServicesFile, database: str) -> Snapshot:
    taken = Snapshot()
    async with httpx.AsyncClient(timeout=10) as client:
        for name, found in services.instances.items():
            for n, instance in enumerate(found, start=1):
                answer = await client.get(f"{instance.url}/metrics")
                _count(f"{name}-{n}", answer.text, taken)
    if database:
        taken.transactions = await _transactions(database)
    return taken


def _count(process: str, text: str, into: Snapshot) -> None:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "http_request_duration_seconds_count":
                route = f"{sample.labels['method']} {sample.labels['route']}"
                into.requests[(process, route)] += int(sample.value)
            elif sample.name == "events_consumed_total":
                into.events[(process, f"{sample.labels['consumer']} {sample.labels['type']}")] += int(sample.value)


async def _transactions(database: str) -> Counter[str]:
    server, prefix = database.rsplit("/", 1)
    connection = await asyncpg.connect(f"{server}/postgres")
    try:
        rows = await connection.fetch("SELECT datname, xact_commit + xact_rollback AS n FROM pg_stat_database "
                                      "WHERE datname LIKE $1", f"{prefix}_%")
    finally:
        await connection.close()
    return Counter({row["datname"].removeprefix(f"{prefix}_"): int(row["n"]) for row in rows})


def per_checkout(work: Snapshot, checkouts: float) -> str:
    """The window's work per checkout, as lines to print: per process and what it was."""
    lines = ["work per completed checkout (requests answered, events handled, transactions):"]
    processes = sorted({p for p, _ in work.requests} | {p for p, _ in work.events})
    for process in processes:
        requests = {r: n for (p, r), n in work.requests.items() if p == process and not r.endswith("/metrics")}
        events = {e: n for (p, e), n in work.events.items() if p == process}
        if not requests and not events:
            continue
        total = (sum(requests.values()) + sum(events.values())) / checkouts
        lines.append(f"  {process}: {total:.1f}")
        for what, n in sorted({**requests, **events}.items(), key=lambda item: -item[1]):
            if n / checkouts >= 0.05:
                lines.append(f"      {n / checkouts:5.2f}  {what}")
    if work.transactions:
        lines.append("  database transactions per checkout (PostgreSQL's count, every instance of a service):")
        for name, n in work.transactions.most_common():
            lines.append(f"      {n / checkouts:5.1f}  {name}")
        lines.append(f"      {sum(work.transactions.values()) / checkouts:5.1f}  all")
    return "\n".join(lines)


def take(services: ServicesFile, database: str) -> Snapshot:
    return asyncio.run(snapshot(services, database))
