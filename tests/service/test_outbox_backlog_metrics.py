"""The outbox backlog and relay lag an operator alerts on, while the broker is away and after.

A service keeps taking writes while its broker is down (the outbox is the source of truth); the
gauges `outbox_backlog` and `outbox_relay_lag_seconds` must show the events piling up then, not
only while the relay can publish, and fall back to 0 once the broker returns and the relay
catches up. One inventory process on a SQLite file of its own, and a NATS server started late.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from inventory_support import InventoryClient, unique, wait_for

from flashsale.runtime.nats_server import free_port, start_nats, wait_for_port
from flashsale.runtime.process import ServiceProcess
from support import plain_http

pytestmark = pytest.mark.service


@pytest.fixture
def broker_port() -> int:
    return free_port()


@pytest.fixture
def inventory(tmp_path: Path, broker_port: int, admin_token: str) -> Iterator[InventoryClient]:
    settings = {
        "FLASHSALE_DATABASE_URL": f"sqlite:///{tmp_path}/inventory.db",
        "FLASHSALE_BROKER_URL": f"nats://127.0.0.1:{broker_port}",  # nobody listens there yet
        "FLASHSALE_ADMIN_TOKEN": admin_token,
    }
    proc = ServiceProcess("inventory", free_port(), settings, log_file=tmp_path / "inventory.log").start()
    client = InventoryClient(proc.url, admin_token)
    try:
        wait_for(lambda: _answers(proc), timeout_s=30, what="the inventory to answer without a broker")
        yield client
    finally:
        client.close()
        proc.stop()


def _answers(proc: ServiceProcess) -> bool:
    try:
        return plain_http.get(f"{proc.url}/health", timeout=1).status_code == 503  # up, broker down
    except httpx.HTTPError:
        return False


def test_the_backlog_shows_while_the_broker_is_away_and_drains_when_it_returns(
    inventory: InventoryClient, tmp_path: Path, broker_port: int,
) -> None:
    for _ in range(3):
        inventory.receive(unique("p"), 10)  # each writes StockReceived to the outbox

    wait_for(lambda: inventory.metric("outbox_backlog") >= 3, timeout_s=10, what="a backlog of 3")
    wait_for(lambda: inventory.metric("outbox_relay_lag_seconds") > 0, timeout_s=10, what="a relay lag")

    broker = start_nats(tmp_path / "nats", broker_port, tmp_path / "nats.log")
    try:
        wait_for_port(broker_port)
        wait_for(lambda: inventory.metric("outbox_backlog") == 0, timeout_s=20, what="the backlog to drain")
        assert inventory.metric("outbox_relay_lag_seconds") == 0
        assert inventory.metric("outbox_published_total") >= 3
    finally:
        broker.terminate()
        broker.wait(10)
