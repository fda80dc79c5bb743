"""The reporting store on a real database (SQLite and PostgreSQL): each event once, and nothing
lost when it is opened again."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from flashsale.kit.db import Database
from flashsale.kit.db_admin import service_database_url
from flashsale.kit.migrations import upgrade
from flashsale.services.reporting.app import MIGRATIONS
from flashsale.services.reporting.domain import Fact, fact_of
from flashsale.services.reporting.store import ReportStore

pytestmark = pytest.mark.service

T0_MS = 1_900_000_020_000  # on a minute boundary


def _sold(event_id: str, at_s: float, *lines: tuple[str, int]) -> Fact:
    return fact_of(event_id=event_id, type="ReservationConfirmed", producer="inventory", subject="r",
                   happened_ms=T0_MS + int(at_s * 1000),
                   data={"reservationId": "r", "orderId": "o", "confirmedAt": "x",
                         "items": [{"productId": p, "quantity": q} for p, q in lines]})


@asynccontextmanager
async def opened(database_base: str) -> AsyncIterator[ReportStore]:
    db = await Database.connect(service_database_url(database_base, "reporting"))
    try:
        await upgrade(db, MIGRATIONS)
        yield ReportStore(db)
    finally:
        await db.dispose()


def test_an_event_is_stored_once_however_often_it_comes_and_survives_a_reopen(database_base: str) -> None:
    async def scenario() -> None:
        async with opened(database_base) as store:
            first = await store.record([_sold("e-1", 0, ("P", 2)), _sold("e-2", 1.5, ("P", 1)),
                                        _sold("e-1", 0, ("P", 2))], recorded_ms=T0_MS)
            again = await store.record([_sold("e-2", 1.5, ("P", 1)), _sold("e-3", 2, ("P", 4), ("Q", 1))],
                                       recorded_ms=T0_MS)

        async with opened(database_base) as reopened:
            p, q = await reopened.sales(None, 1_000)
            counts = await reopened.counts()

        assert (first, again) == ({"e-1", "e-2"}, {"e-3"})
        assert (p.product_id, p.units.sold, q.product_id, q.units.sold) == ("P", 7, "Q", 1)
        assert [(pt.bucket_start_ms - T0_MS, pt.sold, pt.sold_so_far) for pt in p.series] == [
            (0, 2, 2), (1000, 1, 3), (2000, 4, 7)]
        assert counts == {"ReservationConfirmed": 3}

    asyncio.run(scenario())


def test_a_batch_larger_than_one_statement_is_stored_whole(database_base: str) -> None:
    async def scenario() -> None:
        async with opened(database_base) as store:
            stored = await store.record([_sold(f"e-{n}", n / 10, ("P", 1)) for n in range(250)],
                                        recorded_ms=T0_MS)
            (p,) = await store.sales("P", 60_000)

        assert len(stored) == 250
        assert (p.units.sold, [pt.sold for pt in p.series]) == (250, [250])

    asyncio.run(scenario())
