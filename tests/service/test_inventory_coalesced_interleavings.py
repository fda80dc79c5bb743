"""Coalesced holds under random interleavings, against the real store on a real SQLite database.

Hypothesis draws a scenario: a product's stock, a crowd of holds (quantities, all-or-nothing or
partial, some for the same order), and releases and confirmations of some of them, each task
yielding to the event loop a drawn number of times before it acts. All of it runs at once as
asyncio tasks through `Inventory` with the "coalesced" strategy (and a drawn batch bound),
so holds are batched while other batches commit and while releases and confirmations land.

Checked after each scenario: every request got exactly one answer (a hold, or a refusal that
makes sense: out of stock, or another request of an order that already holds something); the
stock row balances and its reserved and sold units are exactly those of the HELD and CONFIRMED
reservations; each granted hold is in the table as answered, with one StockReserved event; the
holds of one order are one reservation; and where nothing was given back, a refused hold was
refused because its units were not there.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client.samples import Sample

from flashsale.kit.clock import ManualClock
from flashsale.kit.db import Database
from flashsale.kit.envelope import Envelope
from flashsale.kit.migrations import upgrade
from flashsale.kit.schema import outbox
from flashsale.services.inventory import metrics
from flashsale.services.inventory.app import MIGRATIONS
from flashsale.services.inventory.consumers import order_events
from flashsale.services.inventory.domain import Fulfilment, Line, Reservation, ReservationStatus
from flashsale.services.inventory.errors import AlreadyConfirmed, InventoryError, OrderAlreadyReserved, OutOfStock
from flashsale.services.inventory.operations import Inventory
from flashsale.services.inventory.store.tables import reservation_items, reservations, stock

pytestmark = pytest.mark.service

HELD, CONFIRMED, RELEASED = ReservationStatus.HELD, ReservationStatus.CONFIRMED, ReservationStatus.RELEASED
EVERY_ANSWER_WITHIN_S = 20.0


@dataclass(frozen=True)
class Hold:
    quantity: int
    partial: bool
    order: int | None  # holds naming the same number are for the same order
    pauses: int  # event-loop turns it lets pass before asking


@dataclass(frozen=True)
class FollowUp:
    kind: str  # "release" or "confirm"
    hold: int  # which hold (index); nothing happens if that hold was refused
    pauses: int  # turns it lets pass after the hold was answered


@dataclass(frozen=True)
class Scenario:
    stock: int
    max_batch: int
    holds: list[Hold]
    follow_ups: list[FollowUp]


pauses = st.integers(min_value=0, max_value=6)
holds = st.builds(
    Hold, quantity=st.integers(min_value=1, max_value=3), partial=st.booleans(),
    order=st.one_of(st.none(), st.integers(min_value=0, max_value=3)), pauses=pauses,
)


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    crowd = draw(st.lists(holds, min_size=1, max_size=14))
    follow_up = st.builds(
        FollowUp, kind=st.sampled_from(["release", "confirm"]),
        hold=st.integers(min_value=0, max_value=len(crowd) - 1), pauses=pauses,
    )
    return Scenario(
        stock=draw(st.integers(min_value=1, max_value=10)), max_batch=draw(st.integers(min_value=1, max_value=6)),
        holds=crowd, follow_ups=draw(st.lists(follow_up, max_size=6)),
    )


Answer = Reservation | InventoryError


class Play:
    """One scenario run against the store: every request's answer, by index."""

    def __init__(self, store: Inventory, clock: ManualClock, scenario: Scenario) -> None:
        self.store, self.clock, self.scenario = store, clock, scenario
        self.prefix = uuid.uuid4().hex[:10]
        self.product = f"P-{self.prefix}"
        self.hold_answers: dict[int, list[Answer]] = defaultdict(list)
        self.follow_answers: dict[int, list[str]] = defaultdict(list)
        self.confirm = order_events(store).handler

    def order_id(self, hold: Hold) -> str | None:
        return None if hold.order is None else f"o{hold.order}-{self.prefix}"

    async def run(self) -> None:
        await self.store.receive(self.product, self.scenario.stock)
        asked = [asyncio.create_task(self._hold(n, hold)) for n, hold in enumerate(self.scenario.holds)]
        follow = [
            asyncio.create_task(self._follow(n, f, asked[f.hold])) for n, f in enumerate(self.scenario.follow_ups)
        ]
        await asyncio.wait_for(asyncio.gather(*asked, *follow), EVERY_ANSWER_WITHIN_S)

    async def _hold(self, n: int, hold: Hold) -> Answer:
        for _ in range(hold.pauses):
            await asyncio.sleep(0)
        fulfilment = Fulfilment.PARTIAL if hold.partial else Fulfilment.ALL
        try:
            answer: Answer = await self.store.reserve(
                [Line(self.product, hold.quantity)], order_id=self.order_id(hold), fulfilment=fulfilment
            )
        except InventoryError as refusal:
            answer = refusal
        self.hold_answers[n].append(answer)
        return answer

    async def _follow(self, n: int, follow_up: FollowUp, hold: asyncio.Task[Answer]) -> None:
        answer = await hold
        for _ in range(follow_up.pauses):
            await asyncio.sleep(0)
        if not isinstance(answer, Reservation):
            self.follow_answers[n].append("nothing to do")
            return
        if follow_up.kind == "release":
            try:
                released = await self.store.release(answer.reservation_id)
                self.follow_answers[n].append(released.status.value)
            except AlreadyConfirmed:
                self.follow_answers[n].append("already confirmed")
            return
        order_id = answer.order_id or f"claim-{self.prefix}-{n}"
        data = {"orderId": order_id, "reservationId": answer.reservation_id}
        envelope = Envelope.new(source="/flashsale/orders", type="OrderConfirmed", subject=order_id, data=data,
                                now_ms=self.clock.now_ms())
        await self.confirm(envelope)
        self.follow_answers[n].append("confirmed")


def check(play: Play, books: sa.Engine) -> None:
    scenario = play.scenario
    assert sorted(play.hold_answers) == list(range(len(scenario.holds)))
    assert all(len(answers) == 1 for answers in play.hold_answers.values()), "a hold answered twice"
    assert sorted(play.follow_answers) == list(range(len(scenario.follow_ups)))
    answers = {n: found[0] for n, found in play.hold_answers.items()}
    granted = {a.reservation_id: a for a in answers.values() if isinstance(a, Reservation)}

    with books.connect() as conn:
        row = conn.execute(sa.select(stock).where(stock.c.product_id == play.product)).one()
        booked = {
            r.reservation_id: (ReservationStatus(r.status), r.quantity, r.order_id)
            for r in conn.execute(
                sa.select(reservations.c.reservation_id, reservations.c.status, reservations.c.order_id,
                          reservation_items.c.quantity)
                .select_from(reservation_items.join(reservations))
                .where(reservation_items.c.product_id == play.product)
            )
        }
        announced = conn.execute(
            sa.select(outbox.c.aggregate_id, sa.func.count()).where(outbox.c.subject == "inventory.StockReserved")
            .where(outbox.c.aggregate_id.in_(list(booked))).group_by(outbox.c.aggregate_id)
        ).all()

    # The books balance, and reserved and sold are exactly the held and confirmed reservations.
    assert min(row.available, row.reserved, row.sold) >= 0
    assert row.available + row.reserved + row.sold == row.received == scenario.stock
    assert row.reserved == sum(q for status, q, _ in booked.values() if status is HELD)
    assert row.sold == sum(q for status, q, _ in booked.values() if status is CONFIRMED)
    # Each answered hold is in the table as answered, announced once; nothing else was held.
    assert set(booked) == set(granted)
    for reservation_id, reservation in granted.items():
        assert booked[reservation_id][1] == reservation.lines[0].quantity
    assert dict(announced) == dict.fromkeys(granted, 1)
    # Each order holds one reservation, whichever of its requests got there first.
    for n, answer in answers.items():
        hold = scenario.holds[n]
        assert isinstance(answer, Reservation | OutOfStock | OrderAlreadyReserved), answer
        if isinstance(answer, Reservation):
            assert answer.order_id == play.order_id(hold)
            assert answer.lines[0].quantity == hold.quantity or hold.partial
        if isinstance(answer, OrderAlreadyReserved):
            assert any(r.order_id == play.order_id(hold) for r in granted.values())
    for order in {h.order for h in scenario.holds if h.order is not None}:
        order_id = f"o{order}-{play.prefix}"
        assert len({r.reservation_id for r in granted.values() if r.order_id == order_id}) <= 1
    # Where no unit was given back, available only fell: a refused hold's units were not there.
    if not any(f.kind == "release" for f in scenario.follow_ups):
        for n, answer in answers.items():
            if isinstance(answer, OutOfStock):
                hold = scenario.holds[n]
                assert row.available < (1 if hold.partial else hold.quantity), (hold, row)


@pytest.fixture
def scratch_dir(tmp_path: Path) -> Iterator[Path]:
    """A directory for the database: in memory (/dev/shm) where there is one, for speed."""
    shm = Path("/dev/shm")
    if not shm.is_dir():
        yield tmp_path
        return
    path = Path(tempfile.mkdtemp(prefix="flashsale-coalesced-", dir=shm))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def test_coalesced_holds_keep_the_books_and_answer_every_request_once(scratch_dir: Path) -> None:
    url = f"sqlite:///{scratch_dir}/inventory.db"
    books = sa.create_engine(url)
    batched_before = next(iter(metrics.hold_batch_size.collect())).samples
    with asyncio.Runner() as runner:
        db = runner.run(Database.connect(url, producer="inventory"))
        try:
            runner.run(upgrade(db, MIGRATIONS))

            @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
            @given(scenario=scenarios())
            def interleavings(scenario: Scenario) -> None:
                clock = ManualClock()
                store = Inventory(db, clock, hold_ttl_s=60, hold_strategy="coalesced",
                                       max_batch=scenario.max_batch)
                play = Play(store, clock, scenario)
                runner.run(play.run())
                check(play, books)

            interleavings()
        finally:
            runner.run(db.dispose())
            books.dispose()
    # The scenarios did make batches of more than one hold (else this tested the single path).
    assert _holds_batched(next(iter(metrics.hold_batch_size.collect())).samples) > _holds_batched(batched_before) + 100


def _holds_batched(samples: list[Sample]) -> float:
    """How many holds went in batches of more than one (from the batch-size histogram)."""
    by_bucket = {s.labels.get("le"): s.value for s in samples if s.name.endswith("_bucket")}
    total = next((s.value for s in samples if s.name.endswith("_sum")), 0.0)
    return float(total) - float(by_bucket.get("1.0", 0.0))
