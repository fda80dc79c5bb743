"""A process paused mid-sale (SIGSTOP: a VM stall, a long GC, a debugger) and woken after its
leases ran out.

An order instance is stopped for longer than the saga lease and the outbox relay's lease while
buyers race; the other instance takes its sagas and its relay over. When it wakes (SIGCONT) it
carries on with whatever it held in hand: a saga step half done, a batch of events read from the
outbox. The fences must stop it (saga checkpoints need the lease token; the stream refuses a
batch published out of turn), so that afterwards nothing is oversold, no money moved twice, every
order a buyer was told is paid is COMPLETED, and the books balance.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from faulted_sale import assert_nothing_lost_or_oversold, sale_under
from rich.console import Console

from flashsale.runtime.services_file import ServicesFile, load_services
from flashsale.sale.commands import running_house

pytestmark = pytest.mark.system

BUYERS = 240
STOCK = 40
SAGA_LEASE_S = 2
PAUSE_S = 7.0  # past the saga lease and the relay's (kit/outbox.py LEASE_S = 5 s)
HOLD_TTL_S = 30


@pytest.fixture(scope="module")
def house_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("paused")


@pytest.fixture(scope="module")
def house(house_dir: Path) -> Iterator[ServicesFile]:
    env = {"FLASHSALE_SAGA_LEASE_S": str(SAGA_LEASE_S), "FLASHSALE_IDEMPOTENCY_LOCK_S": "5"}
    with running_house(house_dir, orders_instances=2, hold_ttl=HOLD_TTL_S, console=Console(quiet=True),
                       env=env) as services:
        yield services


class Pauser(threading.Thread):
    """Stops the first order instance a second into the sale and wakes it PAUSE_S later."""

    def __init__(self, services_json: Path) -> None:
        super().__init__(daemon=True)
        self.services_json = services_json
        self.injected: list[str] = []
        self.stop = threading.Event()

    def run(self) -> None:
        if self.stop.wait(1.0):
            return
        pid = load_services(self.services_json).instances["orders"][0].pid
        os.kill(pid, signal.SIGSTOP)
        try:
            self.injected.append(f"orders:{pid} paused for {PAUSE_S:g} s")
            threading.Event().wait(PAUSE_S)  # the pause itself: this is what is being injected
        finally:
            os.kill(pid, signal.SIGCONT)


def test_an_order_instance_paused_past_its_leases_changes_nothing_when_it_wakes(
    house: ServicesFile, house_dir: Path,
) -> None:
    async def scenario() -> None:
        pauser = Pauser(house_dir / "services.json")
        result, client = await sale_under(house, pauser, name="paused", buyers=BUYERS, stock=STOCK)
        try:
            assert pauser.injected, "the sale ended before the pause"
            settled = await assert_nothing_lost_or_oversold(client, result)
            print(f"paused {pauser.injected}; buyers saw {dict(result.outcomes)}; orders ended {settled}")
        finally:
            await client.close()

    asyncio.run(scenario())
