"""The operations dashboard in a real browser: during a short sale on a real house, the product's
row shows its stock falling as buyers take it, reserved and sold rising, and ends where the
inventory says it is. Screenshots before, during and after are kept as artifacts."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from houses import SharedHouse
from playwright.sync_api import Page

from flashsale.runtime.pages import page_urls
from flashsale.runtime.services_file import ServicesFile
from flashsale.sale.buyers import OrderServicePath
from flashsale.sale.client import HouseClient
from flashsale.sale.load import SalePlan, SaleResult, run_sale
from support import plain_http
from support.ids import unique
from support.polling import wait_for

pytestmark = [pytest.mark.system, pytest.mark.browser]

STOCK = 40
Level = tuple[int, int, int]  # (available, reserved, sold)
Shot = Callable[[Page, str], Path]


@pytest.fixture(scope="module")
def house(shared_house: SharedHouse) -> ServicesFile:
    """The dashboard lists the 50 products that moved last: this test's product is the one moving."""
    return shared_house.services


@dataclass
class BackgroundSale:
    """A sale played in a thread of its own (its own event loop), while the test drives the page.

    Buyers come in waves, a short pause apart: on a fast machine an unpaced sale of a few dozen
    units is over between two of the dashboard's one-second scrapes, and there would be no fall
    to watch. The pause shapes the load; nothing waits on it."""

    services: ServicesFile
    product_id: str
    waves: int = 8
    wave_buyers: int = 3
    pause_s: float = 0.5
    results: list[SaleResult] = field(default_factory=list)
    error: BaseException | None = None
    thread: threading.Thread = field(init=False)

    def start(self) -> None:
        self.thread = threading.Thread(target=self._play, name="sale", daemon=True)
        self.thread.start()

    @property
    def over(self) -> bool:
        return not self.thread.is_alive()

    def _play(self) -> None:
        async def play() -> None:
            client = HouseClient(self.services)
            try:
                for wave in range(self.waves):
                    plan = SalePlan(product_id=self.product_id, buyers=self.wave_buyers, stock=STOCK,
                                    concurrency=self.wave_buyers, seed=wave)
                    self.results.append(await run_sale(OrderServicePath(client), plan))
                    await asyncio.sleep(self.pause_s)
            finally:
                await client.close()

        try:
            asyncio.run(play())
        except BaseException as error:  # noqa: BLE001 - reported by the test thread
            self.error = error


def _stock_in(services: ServicesFile, product_id: str) -> Level:
    body = plain_http.get(f"{services.url('inventory')}/inventory/{product_id}", timeout=10).json()
    return body["available"], body["reserved"], body["sold"]


# The product's row as the page shows it now (one round trip to the browser), or null without a row.
SHOWN = """productId => {
  const row = document.querySelector(`[data-testid="stock-row"][data-product-id="${productId}"]`);
  if (!row) return null;
  const cell = (name) => Number(row.querySelector(`[data-testid="${name}"]`).textContent);
  return [cell("available"), cell("reserved"), cell("sold")];
}"""


def _shown(page: Page, product_id: str) -> Level | None:
    found = page.evaluate(SHOWN, product_id)
    return None if found is None else (int(found[0]), int(found[1]), int(found[2]))


def _receive(services: ServicesFile, product_id: str, quantity: int) -> None:
    """List the product and receive its units, as the sale command does (on a thread of its own:
    the test thread's event loop belongs to the browser driver)."""
    async def receive() -> int:
        client = HouseClient(services)
        try:
            return (await client.receive(product_id, quantity, name="Console (dashboard test)")).status
        finally:
            await client.close()

    statuses: list[int] = []
    worker = threading.Thread(target=lambda: statuses.append(asyncio.run(receive())))
    worker.start()
    worker.join(60)
    assert statuses == [200]


@pytest.mark.timeout(400)  # a house and a browser: minutes on a machine as busy as CI's can be
def test_the_dashboard_shows_the_stock_falling_during_a_short_sale(house: ServicesFile, page: Page, shot: Shot) -> None:
    product_id = unique("DASH")
    _receive(house, product_id, STOCK)
    dashboard = page_urls(house)["dashboard"]
    fetched: list[str] = []
    complaints: list[str] = []
    page.on("request", lambda request: fetched.append(request.url))
    page.on("console", lambda message: complaints.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: complaints.append(str(error)))
    page.goto(dashboard)
    wait_for(lambda: _shown(page, product_id) == (STOCK, 0, 0), timeout_s=20, what="the product's row at full stock")
    shot(page, "before")

    # Few buyers at a time: the sale lasts seconds, long enough for the page to show it moving.
    sale = BackgroundSale(house, product_id)
    sale.start()
    seen: list[Level] = []
    during_shot = False

    def sale_over_and_page_caught_up() -> bool:
        nonlocal during_shot
        shown = _shown(page, product_id)
        if shown is not None and (not seen or seen[-1] != shown):
            seen.append(shown)
        if not during_shot and shown is not None and shown[0] < STOCK:
            shot(page, "during")
            during_shot = True
        return sale.over and shown == _stock_in(house, product_id)

    try:
        wait_for(sale_over_and_page_caught_up, timeout_s=120, what="the sale to end and the page to show its result")
    except AssertionError as timeout:
        shot(page, "timed-out")
        raise AssertionError(f"{timeout}: sale over {sale.over} after {len(sale.results)} waves, page showed {seen}, "
                             f"inventory says {_stock_in(house, product_id)}") from None
    shot(page, "after")

    assert sale.error is None, repr(sale.error)
    assert not [answer for result in sale.results for answer in result.unexpected]
    available = [level[0] for level in seen]
    assert available[0] == STOCK and available[-1] < STOCK
    assert len(set(available)) >= 3, f"the page showed too few steps of the fall: {seen}"
    assert max(level[1] for level in seen) > 0, f"reserved never rose: {seen}"
    sold = [level[2] for level in seen]
    assert sold == sorted(sold) and sold[-1] > 0, f"sold did not rise: {seen}"
    assert sum(seen[-1]) == STOCK  # nothing written off: every unit is available, held or sold
    origin = dashboard.removesuffix("/dashboard")
    assert all(url.startswith(origin + "/") for url in fetched), f"the page fetched from elsewhere: {fetched}"
    assert not complaints, complaints  # no script error, nothing the page's CSP refused
