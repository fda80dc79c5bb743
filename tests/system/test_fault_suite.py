"""The fault suite: one sale, and during it every fault the house must survive.

While buyers arrive (spread over the sale, so that every fault meets buyers racing):
- the payments service is killed mid-capture (the provider took the money, nothing recorded);
- the broker (NATS JetStream) is killed and stays down for a while, then starts again;
- PostgreSQL, which holds every service's database, is stopped (sessions cut off) and started;
- an order instance is paused (SIGSTOP) past its saga and relay leases, then woken;
- processes are killed one after another, every 1.5 s (inventory, payments, order instances).

Once the house is quiet: every buyer got an answer the contract allows, every buyer told "paid"
has a COMPLETED order (or a cancelled one with the money refunded and an apology), no hold is
still active past its TTL + 5 s, nothing is oversold, nothing was charged twice (the money each
completed order kept is its total) and the audit passes. The test prints what was injected and
what the audit found.

`make test` runs the short version (a broker outage of 5 s); `make faults` the long one
(FLASHSALE_FAULT_SUITE=long: more buyers over a longer sale, the broker down for 30 s).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from faulted_sale import sale_under
from faults import (
    Fault,
    FaultSchedule,
    kill_at_crash_point,
    kill_repeatedly,
    pause,
    restart_database,
    stop_broker,
)
from own_servers import OwnBroker, OwnPostgres, postgres_binaries
from rich.console import Console

from flashsale.kit.clock import ms_from_iso
from flashsale.kit.db import Database
from flashsale.kit.db_admin import service_database_url
from flashsale.runtime.services_file import ServicesFile
from flashsale.sale.client import HouseClient
from flashsale.sale.load import SaleResult
from flashsale.sale.settle import audit_until_consistent, wait_until_settled

LONG_RUN = os.environ.get("FLASHSALE_FAULT_SUITE") == "long"
pytestmark = [pytest.mark.system, pytest.mark.timeout(1200 if LONG_RUN else 400)]

IN_CI = os.environ.get("CI", "").lower() == "true"
SAGA_LEASE_S = 2
HOLD_GRACE_S = 5  # a hold may outlive its TTL by the sweeper's pace, not more
CLOCK_SLACK_S = 0.5  # the buyer's stopwatch against the house's clock


@dataclass(frozen=True)
class Scale:
    buyers: int
    stock: int
    arrival_s: float  # buyers arrive over this long: the faults all fall inside the sale
    broker_down_s: float
    database_down_s: float
    hold_ttl_s: int


SHORT = Scale(buyers=360, stock=120, arrival_s=30, broker_down_s=5, database_down_s=3, hold_ttl_s=30)
LONG = Scale(buyers=2000, stock=600, arrival_s=100, broker_down_s=30, database_down_s=10, hold_ttl_s=60)
SCALE = LONG if LONG_RUN else SHORT


def schedule(scale: Scale, house_dir: Path, faults_dir: Path, broker: OwnBroker, database: OwnPostgres) -> list[Fault]:
    services_json = house_dir / "services.json"
    opens = 2.0
    database_at = opens + 2 + scale.broker_down_s + 2
    pause_at = database_at + scale.database_down_s + 2
    kills_at = pause_at + 7 + 1
    victims = [("inventory", 0), ("payments", 0), ("orders", 1), ("inventory", 0), ("orders", 0)]
    return [
        Fault(opens, "payments killed mid-capture",
              kill_at_crash_point(services_json, faults_dir, "payments", "payments.capture.asked", within_s=60)),
        Fault(opens + 2, "broker down", stop_broker(broker, scale.broker_down_s)),
        Fault(database_at, "database restarted", restart_database(database, scale.database_down_s)),
        Fault(pause_at, "order instance paused", pause(services_json, "orders", 0, paused_s=7)),
        Fault(kills_at, "processes killed repeatedly", kill_repeatedly(services_json, victims, every_s=1.5)),
    ]


@pytest.fixture(scope="module")
def database() -> Iterator[OwnPostgres]:
    bindir = postgres_binaries()
    if bindir is None:
        reason = "no PostgreSQL binaries (initdb, pg_ctl) on this machine: the fault suite restarts a server of its own"
        if IN_CI:
            pytest.fail(reason)
        pytest.skip(reason)
    server = OwnPostgres(bindir)
    server.start()
    try:
        yield server
    finally:
        server.remove()


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OwnBroker]:
    server = OwnBroker(tmp_path_factory.mktemp("fault-broker"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def house_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("faults")


@pytest.fixture(scope="module")
def faults_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fault-points")


@pytest.fixture(scope="module")
def house(house_dir: Path, faults_dir: Path, broker: OwnBroker, database: OwnPostgres) -> Iterator[ServicesFile]:
    from flashsale.sale.commands import running_house

    env = {
        "FLASHSALE_SAGA_LEASE_S": str(SAGA_LEASE_S),  # a dead or paused runner's sagas move on soon
        "FLASHSALE_IDEMPOTENCY_LOCK_S": "5",  # a killed request's key is free again soon
        "FLASHSALE_FAULTS_DIR": str(faults_dir),
    }
    with running_house(house_dir, orders_instances=2, hold_ttl=SCALE.hold_ttl_s, console=Console(quiet=True),
                       env=env, database=database.url, broker=broker.url) as services:
        yield services


def test_a_sale_survives_every_fault_at_once(
    house: ServicesFile, house_dir: Path, faults_dir: Path, broker: OwnBroker, database: OwnPostgres,
    request: pytest.FixtureRequest,
) -> None:
    async def scenario() -> None:
        faults = FaultSchedule(schedule(SCALE, house_dir, faults_dir, broker, database))
        result, client = await sale_under(house, faults, name="faults", buyers=SCALE.buyers, stock=SCALE.stock,
                                          arrival_s=SCALE.arrival_s, concurrency=16)
        try:
            print("\ninjected:\n  " + "\n  ".join(faults.injected))
            assert faults.missed == [], faults.missed
            print(f"buyers saw {dict(result.outcomes)}")
            assert result.outcomes["paid"] > 0, result.outcomes
            assert result.unexpected == [], result.unexpected[:10]
            too_soon = [(oid, round(s, 1)) for oid, s in result.expired if s < SCALE.hold_ttl_s - CLOCK_SLACK_S]
            assert too_soon == [], f"told the hold expired sooner than its TTL ({SCALE.hold_ttl_s} s): {too_soon}"
            settled = await wait_until_settled(client, result.order_ids, include_pending=True, timeout_s=180)
            print(f"orders ended {settled}")
            assert {k.split("/")[0] for k in settled} <= {"COMPLETED", "CANCELLED"}, \
                await unsettled(client, result, database)
            await assert_every_paid_buyer_kept_or_made_good(client, result)
            await assert_no_hold_outlived_its_ttl(client)
            report = await audit_until_consistent(client, timeout_s=60)
            print(f"audit: {report.products} products, {report.reservations} reservations, {report.orders} orders; "
                  f"oversold {report.oversold}; violations {report.violations[:10] or 'none'}")
            assert report.oversold == 0
            assert report.ok, report.violations[:10]
        finally:
            await client.close()

    try:
        asyncio.run(scenario())
    except BaseException:
        print(f"the house's logs are kept in {keep_logs(house_dir, request)}")
        raise


async def assert_every_paid_buyer_kept_or_made_good(client: HouseClient, result: SaleResult) -> None:
    """Told "paid": COMPLETED, or CANCELLED with an apology (the audit checks the refund: a
    cancelled order keeps no money)."""
    ended = {o["orderId"]: o for o in await client.all_orders()}
    for order_id in result.paid_ids:
        order = ended[order_id]
        if order["status"] == "COMPLETED":
            continue
        assert order["status"] == "CANCELLED", (order_id, order["status"])
        kinds = {n["kind"] for n in await client.notifications(order_id)}
        assert "apology" in kinds, (order_id, order["statusReason"], kinds)


async def assert_no_hold_outlived_its_ttl(client: HouseClient) -> None:
    now_ms = time.time() * 1000
    overdue = [
        r["reservationId"] for r in await client.all_reservations()
        if r["status"] == "HELD" and ms_from_iso(r["expiresAt"]) < now_ms - HOLD_GRACE_S * 1000
    ]
    assert overdue == [], f"{len(overdue)} holds still HELD past their TTL + {HOLD_GRACE_S} s: {overdue[:5]}"


async def unsettled(client: HouseClient, result: SaleResult, database: OwnPostgres) -> str:
    """Each order of the sale not yet COMPLETED or CANCELLED, with its saga (and, read from the
    order service's database, who holds it and when it is due) and its hold: what a failure needs
    to be understood after the house is gone."""
    wanted = set(result.order_ids)
    lines = []
    for order in await client.all_orders():
        if order["orderId"] in wanted and order["status"] not in ("COMPLETED", "CANCELLED"):
            orders = client.orders_url(0)
            saga = await client._call("GET", f"{orders}/orders/{order['orderId']}/saga")
            hold = await client.reservation(order.get("reservationId") or "-")
            row = await _saga_row(database, order["orderId"])
            lines.append(f"{order}\n    saga {saga.body}\n    saga row {row}\n    hold {hold.body}")
    return "\n".join(lines)


async def _saga_row(database: OwnPostgres, order_id: str) -> dict[str, object]:
    db = await Database.connect(service_database_url(database.url, "orders"))
    try:
        async with db.read() as conn:
            found = await conn.execute(sa.text("SELECT * FROM checkout_sagas WHERE order_id = :o"), {"o": order_id})
            row = found.mappings().first()
            return dict(row) if row else {}
    finally:
        await db.dispose()


def keep_logs(house_dir: Path, request: pytest.FixtureRequest) -> Path:
    """The house's logs, copied where a failed run's artifacts are kept (FLASHSALE_TEST_ARTIFACTS)."""
    root = Path(os.environ.get("FLASHSALE_TEST_ARTIFACTS", Path(request.config.rootpath) / ".artifacts"))
    kept = root / f"fault-suite-{time.strftime('%Y%m%dT%H%M%S')}"
    shutil.copytree(house_dir / "logs", kept, dirs_exist_ok=True)
    return kept
