"""`flashsale check`'s second half: do the read models and copies agree with their sources?

A sampled comparison through the public APIs (flashsale.consistency, the same rounds the monitor
service runs): catalog availability vs inventory stock, orders vs their reservations, the order
service's contact copies vs the customers' profiles. A disagreement gets a grace period to catch
up before it counts; what still disagrees is drift, which `flashsale reconcile` repairs.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from flashsale.consistency.compare import ModelResult
from flashsale.consistency.sampler import ConsistencySampler, sources_from
from flashsale.runtime.services_file import ServicesFile


async def compare_read_models(services: ServicesFile, *, sample_size: int = 200,
                              grace_s: float = 2.0) -> list[ModelResult]:
    sampler = ConsistencySampler(sources_from(services.urls, services.admin_token), sample_size=sample_size,
                                 grace_s=grace_s)
    try:
        return await sampler.round()
    finally:
        await sampler.close()


def drift_found(results: Sequence[ModelResult]) -> int:
    return sum(len(r.drifted) for r in results)


def print_read_models(console: Console, results: Sequence[ModelResult]) -> None:
    table = Table(title="Read models and copies vs their sources (sampled)")
    for column in ("model", "sampled", "lagging", "drift", "match"):
        table.add_column(column, justify="left" if column == "model" else "right")
    for r in results:
        if not r.compared:
            table.add_row(r.model, "-", "-", "-", f"[yellow]{r.note}[/]")
            continue
        ratio = "n/a" if r.match_ratio is None else f"{r.match_ratio:.1%}"
        table.add_row(r.model, str(r.sampled), str(r.lagging), str(len(r.drifted)), ratio)
    console.print(table)
    for r in results:
        for d in r.drifted[:10]:
            console.print(f"  - {r.model} {d.key}: source says {d.source}, copy says {d.copy}")
    drift = drift_found(results)
    console.print("read models: ok" if not drift else
                  f"read models: DRIFT ({drift} sampled copies disagree; `flashsale reconcile` repairs them)")
