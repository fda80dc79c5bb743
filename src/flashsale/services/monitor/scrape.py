"""The dashboard's eyes: every second, GET /metrics of every instance of every service and the
inventory's stock list (the truth about stock), recorded in the series; every few seconds, the
dead letters (from the broker) and the sagas parked for an operator (from the order service).

An instance that does not answer in time is recorded as down, with the reason; nothing it does
or fails to do reaches the dashboard's own answers as an error. The scrape never waits longer
than its interval, so one slow service cannot stall the charts.

Its client is aiohttp's, as the services' own calls are (kit/http.py says why): twelve GETs a
second with httpx were about half of what the monitor spent while the house was idle.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

import aiohttp
import orjson
import structlog

from flashsale.kit.clock import Clock
from flashsale.kit.deadletters import DeadLetter, recent_dead_letters
from flashsale.kit.waiting import wait_set
from flashsale.services.monitor.board import Extras, Listing
from flashsale.services.monitor.readings import SAMPLES, parse_reading
from flashsale.services.monitor.series import InstanceScrape, Scrape, Series, Stock

log = structlog.get_logger(__name__)

STOCK_PAGE = 1000
STOCK_PAGES = 3  # a bound on the products read each second (the dashboard lists the busiest anyway)
ATTENTION_INTERVAL_S = 5.0
LISTED = 5  # dead letters and parked sagas shown


class Scraper:
    def __init__(
        self, targets: Mapping[str, list[str]], series: Series, clock: Clock, *, admin_token: str,
        broker_url: str, interval_s: float,
    ) -> None:
        self.targets = [(service, url.rstrip("/")) for service, urls in targets.items() for url in urls]
        self.inventory = [url for service, url in self.targets if service == "inventory"]
        self.orders = [url for service, url in self.targets if service == "orders"]
        self.series = series
        self.clock = clock
        self.broker_url = broker_url
        self.interval_s = interval_s
        self.extras = Extras()
        # Shorter than the interval: a scrape is over before the next is due.
        timeout = aiohttp.ClientTimeout(total=max(0.2, interval_s * 0.8))
        self._http = aiohttp.ClientSession(timeout=timeout, headers={"Authorization": f"Bearer {admin_token}"},
                                           skip_auto_headers=("User-Agent",))

    async def close(self) -> None:
        await self._http.close()

    async def _get(self, url: str, params: list[tuple[str, str | int]]) -> tuple[int, bytes]:
        """Status and body of a GET; a transport failure or timeout raises (aiohttp.ClientError,
        TimeoutError)."""
        async with self._http.get(url, params=params) as answer:
            return answer.status, await answer.read()

    # -- every second -------------------------------------------------------------------------

    async def scrape_once(self) -> Scrape:
        at_ms = self.clock.now_ms()
        stock_read = asyncio.create_task(self._stock())
        instances = await asyncio.gather(*(self._instance(service, url) for service, url in self.targets))
        stock, stock_error = await stock_read
        scrape = Scrape(at_ms, tuple(instances), stock, stock_error)
        self.series.record(scrape)
        return scrape

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            started = time.monotonic()
            try:
                await self.scrape_once()
            except Exception:  # the loop must outlive a bad round; the next one tries again
                log.exception("dashboard_scrape_failed")
            pause = max(0.0, self.interval_s - (time.monotonic() - started))
            await wait_set(stop, pause)

    async def _instance(self, service: str, url: str) -> InstanceScrape:
        try:
            status, body = await self._get(f"{url}/metrics", [("name[]", sample) for sample in SAMPLES])
        except (aiohttp.ClientError, TimeoutError) as error:
            return InstanceScrape(service, url, None, _why(error))
        if status != 200:
            return InstanceScrape(service, url, None, f"GET /metrics answered {status}")
        try:
            return InstanceScrape(service, url, parse_reading(body.decode()))
        except ValueError as error:
            return InstanceScrape(service, url, None, f"unreadable metrics: {error}")

    async def _stock(self) -> tuple[dict[str, Stock] | None, str | None]:
        """Every product's level from the first inventory instance that answers."""
        reason = "no inventory instance configured"
        for url in self.inventory:
            try:
                return await self._stock_from(url), None
            except (aiohttp.ClientError, TimeoutError, ValueError, KeyError, TypeError) as error:
                reason = f"{url}: {_why(error)}"
        return None, reason

    async def _stock_from(self, url: str) -> dict[str, Stock]:
        levels: dict[str, Stock] = {}
        after: str | None = None
        for _ in range(STOCK_PAGES):
            params: list[tuple[str, str | int]] = [("limit", STOCK_PAGE), *([("after", after)] if after else [])]
            page = _json_of(*await self._get(f"{url}/inventory", params))
            for product in page["products"]:
                levels[product["productId"]] = Stock(int(product["available"]), int(product["reserved"]),
                                                     int(product["sold"]))
            after = page.get("next")
            if not after:
                break
        return levels

    # -- every few seconds --------------------------------------------------------------------

    async def watch_attention(self, stop: asyncio.Event) -> None:
        """Dead letters and parked sagas, on their own loop: a broker that takes its time to answer
        never delays the stock."""
        while not stop.is_set():
            dead_letters, sagas = await asyncio.gather(self._dead_letters(), self._parked_sagas())
            self.extras = Extras(dead_letters=dead_letters, sagas=sagas)
            await wait_set(stop, ATTENTION_INTERVAL_S)

    async def _dead_letters(self) -> Listing:
        try:
            async with asyncio.timeout(5.0):
                count, latest = await recent_dead_letters(self.broker_url, limit=LISTED)
        except Exception as error:  # noqa: BLE001 - any broker failure is shown, not raised
            return Listing(error=f"broker: {_why(error)}")
        return Listing(count=count, latest=[_dead_letter(letter) for letter in latest])

    async def _parked_sagas(self) -> Listing:
        """Asked of the order service only while its gauge says some saga is parked."""
        latest = self.series.latest
        parked = [r.sagas_needing_attention for _, r in (latest.readings("orders") if latest else [])
                  if r.sagas_needing_attention is not None]
        if not parked:
            return Listing(error="no order instance answered")
        if max(parked) == 0:
            return Listing(count=0)
        reason = "no order instance configured"
        for url in self.orders:
            try:
                page = _json_of(*await self._get(f"{url}/sagas", [("state", "NEEDS_ATTENTION"), ("limit", LISTED)]))
                return Listing(count=int(max(parked)), latest=list(page["sagas"]))
            except (aiohttp.ClientError, TimeoutError, ValueError, KeyError) as error:
                reason = f"{url}: {_why(error)}"
        return Listing(count=int(max(parked)), error=reason)


def _dead_letter(letter: DeadLetter) -> dict[str, Any]:
    return {"id": letter.id, "consumer": letter.consumer, "subject": letter.subject,
            "eventType": letter.event_type, "eventId": letter.event_id, "eventTime": letter.event_time,
            "error": letter.error[:300]}


def _json_of(status: int, body: bytes) -> Any:
    """A 200's JSON body; any other answer is a ValueError naming its status."""
    if status != 200:
        raise ValueError(f"answered {status}")
    return orjson.loads(body)


def _why(error: BaseException) -> str:
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
