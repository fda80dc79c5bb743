"""The inventory's rules, in random order, against the real store on a real SQLite database.

A hypothesis state machine drives `Inventory` itself (no HTTP): receipts, holds (single,
multi-item, partial, with and without a customer and purchase limits), releases, order events
through the consumer's own handler (confirmations, cancellations, redeliveries), expiry on a
clock the test moves, adjustments (including write-offs that revoke reservations) and limits.
After every step it reads the store's tables and checks the books: no count below zero, the
balance, reserved and sold equal to the HELD and CONFIRMED reservations, each customer's
purchase-limit counter equal to their held and bought units, and everything equal to a small
pure model kept here, which also predicts every answer (granted lines or the refusal).

One database serves every example (creating one costs more than an example); each example uses
product, order and customer ids of its own.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pytest
import sqlalchemy as sa
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)

from flashsale.kit.clock import ManualClock
from flashsale.kit.db import Database
from flashsale.kit.envelope import Envelope
from flashsale.kit.migrations import upgrade
from flashsale.kit.schema import outbox
from flashsale.services.inventory.app import MIGRATIONS
from flashsale.services.inventory.consumers import order_events
from flashsale.services.inventory.domain import Fulfilment, Line, ReservationStatus
from flashsale.services.inventory.errors import (
    AlreadyConfirmed,
    CustomerRequired,
    InsufficientStock,
    InventoryError,
    LimitExceeded,
    OutOfStock,
    UnknownProduct,
)
from flashsale.services.inventory.operations import Inventory
from flashsale.services.inventory.store.tables import customer_units, reservation_items, reservations, stock

pytestmark = pytest.mark.service

# `make soak` runs many more examples than `make test` can afford.
MAX_EXAMPLES = int(os.environ.get("FLASHSALE_RULES_EXAMPLES", "150"))
STEPS = 50
NAMES = ("A", "B", "C")  # "C" starts unknown in some examples
CUSTOMERS = (None, "alice", "bob")
HELD, CONFIRMED, RELEASED, EXPIRED, REVOKED = (
    ReservationStatus.HELD, ReservationStatus.CONFIRMED, ReservationStatus.RELEASED, ReservationStatus.EXPIRED,
    ReservationStatus.REVOKED,
)
COUNTED = (HELD, CONFIRMED)


# -- the pure model ---------------------------------------------------------------------------------


@dataclass
class Level:
    available: int = 0
    reserved: int = 0
    sold: int = 0
    received: int = 0
    written_off: int = 0
    limit: int | None = None

    def move(self, quantity: int, source: str, target: str) -> None:
        setattr(self, source, getattr(self, source) - quantity)
        setattr(self, target, getattr(self, target) + quantity)


@dataclass
class Booking:
    """The model's reservation, and the request that made it (for retries)."""

    reservation_id: str
    lines: dict[str, int]
    customer: str | None
    order_id: str | None
    created_at: int
    expires_at: int
    request: dict[str, Any]
    status: ReservationStatus = HELD
    confirmed_at: int = 0
    cancelled: bool = False  # its order was cancelled: a confirmation delivered later is refused


@dataclass
class Model:
    levels: dict[str, Level] = field(default_factory=dict)
    bookings: dict[str, Booking] = field(default_factory=dict)

    def units(self, product: str, customer: str | None) -> int:
        """What the customer holds or bought of the product (what its limit counts)."""
        return sum(
            b.lines.get(product, 0) for b in self.bookings.values()
            if b.customer == customer and customer is not None and b.status in COUNTED
        )

    def remainder(self, product: str, customer: str | None) -> int | None:
        limit = self.levels[product].limit
        return None if limit is None else max(0, limit - self.units(product, customer))

    def grant(self, wanted: dict[str, int], customer: str | None, partial: bool) -> dict[str, int] | type:
        """The lines a reserve gets, or the refusal's error type."""
        if any(p not in self.levels for p in wanted):
            return UnknownProduct
        if customer is None and any(self.levels[p].limit is not None for p in wanted):
            return CustomerRequired
        if not partial:
            if any(q > self.levels[p].available for p, q in wanted.items()):
                return OutOfStock
            if any((r := self.remainder(p, customer)) is not None and q > r for p, q in wanted.items()):
                return LimitExceeded
            return dict(wanted)
        granted, stopped_by_limit = {}, False
        for p, q in wanted.items():
            remainder = self.remainder(p, customer)
            cap = self.levels[p].available if remainder is None else min(self.levels[p].available, remainder)
            if min(q, cap) > 0:
                granted[p] = min(q, cap)
            elif self.levels[p].available > 0:
                stopped_by_limit = True
        if granted:
            return granted
        return LimitExceeded if stopped_by_limit else OutOfStock

    def give_back(self, booking: Booking, status: ReservationStatus) -> None:
        """A held or sold reservation ends: its units return to available."""
        source = "reserved" if booking.status is HELD else "sold"
        for p, q in booking.lines.items():
            self.levels[p].move(q, source, "available")
        booking.status = status

    def retake_refused(self, booking: Booking) -> bool:
        """A late-paid order is sold only what is available, within limits, for a named customer."""
        if any(q > self.levels[p].available for p, q in booking.lines.items()):
            return True
        if booking.customer is None:
            return any(self.levels[p].limit is not None for p in booking.lines)
        return any(
            (r := self.remainder(p, booking.customer)) is not None and q > r for p, q in booking.lines.items()
        )

    def revocations(self, product: str, quantity: int) -> list[Booking]:
        """Holds newest created first, then sales newest confirmed first, until enough is available."""
        holding = [b for b in self.bookings.values() if product in b.lines]
        held = sorted((b for b in holding if b.status is HELD), key=lambda b: b.created_at, reverse=True)
        sold = sorted((b for b in holding if b.status is CONFIRMED), key=lambda b: b.confirmed_at, reverse=True)
        revoked, available = [], self.levels[product].available
        for booking in held + sold:
            if available >= quantity:
                break
            revoked.append(booking)
            available += booking.lines[product]
        return revoked


# -- the machine --------------------------------------------------------------------------------------

quantities = st.integers(min_value=1, max_value=4)
wanted_lines = st.dictionaries(st.sampled_from(NAMES), quantities, min_size=1, max_size=3)


class InventoryStoreRules(RuleBasedStateMachine):
    reservations = Bundle("reservations")

    def __init__(
        self, runner: asyncio.Runner, store: Inventory, clock: ManualClock, books: sa.Engine
    ) -> None:
        super().__init__()
        self.run = runner.run
        self.store = store
        self.clock = clock
        self.books = books
        self.consumer = order_events(store).handler
        prefix = uuid.uuid4().hex[:10]
        self.prefix = prefix
        self.products = {name: f"{prefix}-{name}" for name in NAMES}
        self.model = Model()

    async def _consume(self, envelope: Envelope) -> None:
        await self.consumer(envelope)

    def _id(self, kind: str) -> str:
        return f"{kind}-{self.prefix}-{uuid.uuid4().hex[:8]}"

    def _customer(self, name: str | None) -> str | None:
        return None if name is None else f"{name}-{self.prefix}"

    @initialize(
        a=st.integers(min_value=0, max_value=8), b=st.integers(min_value=1, max_value=8),
        c=st.integers(min_value=0, max_value=8),
    )
    def stock_up(self, a: int, b: int, c: int) -> None:
        for name, quantity in (("A", a), ("B", b), ("C", c)):
            if quantity:  # none: "A" is known but empty; "C" stays unknown until received
                self.receive(name, quantity)

    # -- stock ---------------------------------------------------------------------------------

    @rule(name=st.sampled_from(NAMES), quantity=st.integers(min_value=1, max_value=6))
    def receive(self, name: str, quantity: int) -> None:
        product = self.products[name]
        received = self.run(self.store.receive(product, quantity))
        level = self.model.levels.setdefault(product, Level())
        level.available += quantity
        level.received += quantity
        assert received.level.available == level.available

    @rule(name=st.sampled_from(NAMES), delta=st.integers(min_value=-12, max_value=6).filter(bool))
    def adjust(self, name: str, delta: int) -> None:
        product = self.products[name]
        level = self.model.levels.get(product)
        expected: type[InventoryError] | None = None
        if level is None:
            expected = UnknownProduct
        elif -delta > level.available + level.reserved + level.sold:
            expected = InsufficientStock
        try:
            adjusted = self.run(self.store.adjust(product, delta, "recount"))
        except (UnknownProduct, InsufficientStock) as refused:
            assert type(refused) is expected
            return
        assert expected is None and level is not None
        if delta > 0:
            level.available += delta
            level.received += delta
        else:
            revoked = self.model.revocations(product, -delta)
            assert self._revocations_announced([b.reservation_id for b in revoked]) == {
                b.reservation_id: (b.status.value, b.customer, b.lines) for b in revoked
            }
            for booking in revoked:
                self.model.give_back(booking, REVOKED)
            level.move(-delta, "available", "written_off")
        assert adjusted.level.available == level.available

    def _revocations_announced(self, reservation_ids: list[str]) -> dict[str, tuple[str, str | None, dict[str, int]]]:
        """The ReservationRevoked events in the outbox for these reservations: (stage, customer, items)."""
        if not reservation_ids:
            return {}
        with self.books.connect() as conn:
            rows = conn.execute(
                sa.select(outbox.c.envelope).where(
                    outbox.c.subject == "inventory.ReservationRevoked", outbox.c.aggregate_id.in_(reservation_ids)
                )
            )
            announced = [Envelope.from_bytes(row.envelope.encode()).data for row in rows]
        return {
            e["reservationId"]: (e["stage"], e["customerId"], {i["productId"]: i["quantity"] for i in e["items"]})
            for e in announced
        }

    @rule(name=st.sampled_from(NAMES), percent=st.integers(min_value=1, max_value=100))
    def write_off_held_or_sold(self, name: str, percent: int) -> None:
        """A write-off of more than is available: `percent` of the held and sold units are lost too."""
        level = self.model.levels.get(self.products[name])
        if level is None or level.reserved + level.sold == 0:
            return
        self.adjust(name, -(level.available + max(1, (level.reserved + level.sold) * percent // 100)))

    @rule(name=st.sampled_from(NAMES), per_customer=st.one_of(st.none(), st.integers(min_value=1, max_value=5)))
    def set_limit(self, name: str, per_customer: int | None) -> None:
        product = self.products[name]
        try:
            self.run(self.store.set_purchase_limit(product, per_customer))
        except UnknownProduct:
            assert product not in self.model.levels
            return
        self.model.levels[product].limit = per_customer

    # -- holds ---------------------------------------------------------------------------------

    @rule(
        target=reservations, wanted=wanted_lines, customer=st.sampled_from(CUSTOMERS), partial=st.booleans(),
        with_order=st.booleans(), ttl_s=st.integers(min_value=1, max_value=60),
    )
    def reserve(
        self, wanted: dict[str, int], customer: str | None, partial: bool, with_order: bool, ttl_s: int
    ) -> Any:
        self.clock.advance(0.001)  # every hold its own instant: "newest first" is then exact
        lines = {self.products[name]: q for name, q in wanted.items()}
        request: dict[str, Any] = {
            "lines": [Line(p, q) for p, q in lines.items()],
            "order_id": self._id("order") if with_order else None,
            "customer_id": self._customer(customer),
            "ttl_s": ttl_s,
            "fulfilment": Fulfilment.PARTIAL if partial else Fulfilment.ALL,
        }
        expected = self.model.grant(lines, request["customer_id"], partial)
        try:
            hold = self.run(self.store.reserve(**request))
        except (UnknownProduct, CustomerRequired, OutOfStock, LimitExceeded) as refused:
            assert type(refused) is expected, (refused, expected)
            return multiple()
        assert isinstance(expected, dict), (hold, expected)
        assert {line.product_id: line.quantity for line in hold.lines} == expected
        now = self.clock.now_ms()
        booking = Booking(
            hold.reservation_id, expected, request["customer_id"], request["order_id"],
            created_at=now, expires_at=now + ttl_s * 1000, request=request,
        )
        for p, q in expected.items():
            self.model.levels[p].move(q, "available", "reserved")
        self.model.bookings[hold.reservation_id] = booking
        return hold.reservation_id

    @rule(reservation_id=reservations)
    def retry_reserve(self, reservation_id: str) -> None:
        """The same request for the same order, whatever happened since: the first hold, nothing taken."""
        booking = self.model.bookings[reservation_id]
        if booking.request["order_id"] is None:
            return
        again = self.run(self.store.reserve(**booking.request))
        assert (again.reservation_id, again.status) == (reservation_id, booking.status)

    @rule(reservation_id=reservations)
    def release(self, reservation_id: str) -> None:
        booking = self.model.bookings[reservation_id]
        try:
            released = self.run(self.store.release(reservation_id))
        except AlreadyConfirmed:
            assert booking.status is CONFIRMED
            return
        if booking.status is HELD:
            self.model.give_back(booking, RELEASED)
        assert released.status is booking.status

    @rule(seconds=st.integers(min_value=0, max_value=90))
    def expire(self, seconds: int) -> None:
        self.clock.advance(seconds)
        now = self.clock.now_ms()
        while self.run(self.store.expire_due(500, now_ms=now)) == 500:
            pass  # earlier examples' holds expire too: their products are not ours
        for booking in self.model.bookings.values():
            if booking.status is HELD and booking.expires_at <= now:
                self.model.give_back(booking, EXPIRED)

    # -- the order service's facts, through the consumer's handler ---------------------------

    def _deliver(self, event_type: str, data: dict[str, Any], twice: bool) -> None:
        envelope = Envelope.new(
            source="/flashsale/orders", type=event_type, subject=data["orderId"], data=data,
            now_ms=self.clock.now_ms(),
        )
        for _ in range(2 if twice else 1):  # a redelivery must change nothing
            self.run(self._consume(envelope))

    @rule(reservation_id=reservations, twice=st.booleans())
    def confirm(self, reservation_id: str, twice: bool) -> None:
        self.clock.advance(0.001)
        booking = self.model.bookings[reservation_id]
        order_id = booking.order_id or self._id("claim")
        self._deliver("OrderConfirmed", {"orderId": order_id, "reservationId": reservation_id}, twice)
        if booking.status is HELD:
            for p, q in booking.lines.items():
                self.model.levels[p].move(q, "reserved", "sold")
        elif booking.status in (CONFIRMED, REVOKED) or booking.cancelled or self.model.retake_refused(booking):
            return
        else:  # the hold had ended: sold straight from available
            for p, q in booking.lines.items():
                self.model.levels[p].move(q, "available", "sold")
        booking.status, booking.confirmed_at, booking.order_id = CONFIRMED, self.clock.now_ms(), order_id

    @rule(reservation_id=reservations, twice=st.booleans())
    def cancel(self, reservation_id: str, twice: bool) -> None:
        booking = self.model.bookings[reservation_id]
        order_id = booking.order_id or self._id("claim")
        data = {"orderId": order_id, "reservationId": reservation_id, "reason": "customer_cancelled"}
        self._deliver("OrderCancelled", data, twice)
        booking.cancelled = True
        if booking.status in COUNTED:
            self.model.give_back(booking, RELEASED)

    # -- the books ----------------------------------------------------------------------------

    @invariant()
    def books_balance_and_match_the_model(self) -> None:
        levels, booked, counters = self._read_books()
        assert set(levels) == set(self.model.levels)
        held: Counter[str] = Counter()
        sold: Counter[str] = Counter()
        units: dict[str, Counter[str]] = defaultdict(Counter)
        for status, customer, lines in booked.values():
            if status not in COUNTED:
                continue
            for p, q in lines.items():
                (held if status is HELD else sold)[p] += q
                if customer is not None:
                    units[p][customer] += q
        for product, row in levels.items():
            available, reserved, sold_units, received, written_off, limit = row
            assert min(available, reserved, sold_units) >= 0, row
            assert available + reserved + sold_units == received - written_off, row
            assert (reserved, sold_units) == (held[product], sold[product]), (product, row)
            model = self.model.levels[product]
            assert row == (
                model.available, model.reserved, model.sold, model.received, model.written_off, model.limit
            ), (product, row, model)
            counted = {c: n for c, n in counters.get(product, {}).items() if n}
            assert counted == (dict(+units[product]) if limit is not None else {}), (product, counted)
            assert limit is not None or product not in counters
        assert booked == {
            rid: (b.status, b.customer, b.lines) for rid, b in self.model.bookings.items()
        }

    def _read_books(self) -> tuple[dict[str, tuple[Any, ...]], dict[str, Any], dict[str, dict[str, int]]]:
        """The store's tables, as committed, for this example's products."""
        products = list(self.products.values())
        with self.books.connect() as conn:
            rows = conn.execute(sa.select(stock).where(stock.c.product_id.in_(products)))
            levels = {
                r.product_id: (r.available, r.reserved, r.sold, r.received, r.written_off, r.purchase_limit)
                for r in rows
            }
            items = conn.execute(
                sa.select(reservations.c.reservation_id, reservations.c.status, reservations.c.customer_id,
                          reservation_items.c.product_id, reservation_items.c.quantity)
                .select_from(reservation_items.join(reservations))
                .where(reservation_items.c.product_id.in_(products))
            )
            booked: dict[str, Any] = {}
            for r in items:
                _, _, lines = booked.setdefault(r.reservation_id, (ReservationStatus(r.status), r.customer_id, {}))
                lines[r.product_id] = r.quantity
            counted = conn.execute(sa.select(customer_units).where(customer_units.c.product_id.in_(products)))
            counters: dict[str, dict[str, int]] = defaultdict(dict)
            for r in counted:
                counters[r.product_id][r.customer_id] = r.units
        return levels, booked, dict(counters)


@pytest.fixture
def scratch_dir(tmp_path: Path) -> Iterator[Path]:
    """A directory for the database: in memory (/dev/shm) where there is one, for speed."""
    shm = Path("/dev/shm")
    if not shm.is_dir():
        yield tmp_path
        return
    path = Path(tempfile.mkdtemp(prefix="flashsale-rules-", dir=shm))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.mark.timeout(900)
def test_the_inventory_rules_hold_against_the_real_store(scratch_dir: Path) -> None:
    url = f"sqlite:///{scratch_dir}/inventory.db"
    # The checks read the same file through a plain synchronous connection: no event-loop and
    # thread round trips per query, which would otherwise cost as much as the steps themselves.
    books = sa.create_engine(url)
    with asyncio.Runner() as runner:
        db = runner.run(Database.connect(url, producer="inventory"))
        try:
            runner.run(upgrade(db, MIGRATIONS))
            clock = ManualClock()
            store = Inventory(db, clock, hold_ttl_s=60)
            run_state_machine_as_test(
                # hypothesis takes any callable that makes a machine, though it says a class
                cast(type[RuleBasedStateMachine], lambda: InventoryStoreRules(runner, store, clock, books)),
                settings=settings(max_examples=MAX_EXAMPLES, stateful_step_count=STEPS, deadline=None),
            )
        finally:
            runner.run(db.dispose())
            books.dispose()
