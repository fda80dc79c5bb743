"""`flashsale reconcile`: run every reconciliation job the house has, now, and say what each did.

Each job lives in the service that owns the read model or copy (it walks the source in pages and
repairs what drifted); this command only asks each one for a round over HTTP. A house whose
service lacks the endpoint (an older version) answers 404: that job is "not supported", not a
failure. The command fails (exit 1) only when a job that exists could not run.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import httpx
from rich.console import Console
from rich.table import Table

from flashsale.runtime.services_file import ServicesFile

# (job, service that runs it, its on-demand endpoint)
JOBS = (
    ("catalog availability", "catalog", "/catalog/reconcile"),
    ("order contact copies", "orders", "/orders/reconcile"),
)
TIMEOUT_S = 300.0  # a round walks every entity of its source


@dataclass(frozen=True)
class JobOutcome:
    job: str
    service: str
    processed: int | None = None
    fixed: int | None = None
    deferred: int | None = None
    note: str = ""
    failed: bool = False


async def _one(http: httpx.AsyncClient, services: ServicesFile, job: str, service: str, path: str) -> JobOutcome:
    urls = services.urls.get(service)
    if not urls:
        return JobOutcome(job, service, note=f"no {service} service in this house")
    headers = {"Authorization": f"Bearer {services.admin_token}"}
    try:
        answer = await http.post(f"{urls[0]}{path}", headers=headers)
    except httpx.HTTPError as exc:
        return JobOutcome(job, service, note=f"unreachable ({type(exc).__name__})", failed=True)
    body = answer.json() if answer.content else {}
    if answer.status_code == 404:
        return JobOutcome(job, service, note="not supported")
    if answer.status_code != 200:
        return JobOutcome(job, service, note=f"failed: {answer.status_code} {body.get('code', '')}", failed=True)
    return JobOutcome(job, service, int(body["processed"]), int(body["fixed"]),
                      None if body.get("deferred") is None else int(body["deferred"]))


async def reconcile_house(services: ServicesFile) -> list[JobOutcome]:
    """Every job, side by side (they repair different services' data)."""
    async with httpx.AsyncClient(timeout=TIMEOUT_S) as http:
        return list(await asyncio.gather(*(_one(http, services, *job) for job in JOBS)))


def print_reconcile(console: Console, outcomes: list[JobOutcome]) -> None:
    table = Table(title="Reconciliation")
    for column in ("job", "service", "processed", "fixed", "deferred", "note"):
        table.add_column(column, justify="right" if column in ("processed", "fixed", "deferred") else "left")

    def cell(value: int | None) -> str:
        return "-" if value is None else str(value)

    for o in outcomes:
        note = f"[red]{o.note}[/]" if o.failed else o.note
        table.add_row(o.job, o.service, cell(o.processed), cell(o.fixed), cell(o.deferred), note)
    console.print(table)
