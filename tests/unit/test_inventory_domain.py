"""The stock and hold rules of the inventory, without a database."""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule

from flashsale.services.inventory.domain import (
    Fulfilment,
    Holder,
    Line,
    OnOrderCancelled,
    OnOrderConfirmed,
    Reservation,
    ReservationStatus,
    StockLevel,
    check_limit,
    grant_partial,
    hold_all,
    in_lock_order,
    is_due,
    limit_remainder,
    may_release,
    on_order_cancelled,
    on_order_confirmed,
    plan_write_off,
    require_customer,
    revocation_order,
)
from flashsale.services.inventory.errors import (
    AlreadyConfirmed,
    CustomerRequired,
    InsufficientStock,
    InvalidQuantity,
    LimitExceeded,
    OutOfStock,
    UnknownProduct,
)

pytestmark = pytest.mark.unit

HELD, CONFIRMED, RELEASED, EXPIRED, REVOKED = (
    ReservationStatus.HELD, ReservationStatus.CONFIRMED, ReservationStatus.RELEASED, ReservationStatus.EXPIRED,
    ReservationStatus.REVOKED,
)


def _revoke(level: StockLevel, quantity: int, *, stage: ReservationStatus) -> StockLevel:
    return level.revoke(quantity, stage)


def test_a_hold_moves_units_from_available_to_reserved() -> None:
    level = StockLevel().receive(5).hold(2)
    assert (level.available, level.reserved, level.sold) == (3, 2, 0)
    assert level.is_consistent()


def test_the_last_unit_can_be_held_once() -> None:
    level = StockLevel().receive(1).hold(1)
    with pytest.raises(OutOfStock):
        level.hold(1)


def test_releasing_a_hold_gives_its_units_back() -> None:
    level = StockLevel().receive(5).hold(2).release(2)
    assert (level.available, level.reserved) == (5, 0)


def test_confirming_a_hold_turns_it_into_a_sale() -> None:
    level = StockLevel().receive(5).hold(2).confirm(2)
    assert (level.available, level.reserved, level.sold) == (3, 0, 2)
    assert level.is_consistent()


def test_a_late_confirmation_retakes_only_units_still_available() -> None:
    level = StockLevel().receive(2).hold(2).release(2).hold(1)
    assert level.retake(1).sold == 1
    with pytest.raises(OutOfStock):
        level.retake(2)


def test_cancelling_a_paid_order_returns_its_sold_units() -> None:
    level = StockLevel().receive(3).hold(2).confirm(2).return_sold(2)
    assert (level.available, level.sold) == (3, 0)


def test_a_write_off_takes_available_units_and_never_more_than_on_hand() -> None:
    level = StockLevel().receive(3).hold(2)
    assert level.write_off(1).written_off == 1
    with pytest.raises(InvalidQuantity):  # held units must be revoked first
        level.write_off(2)
    with pytest.raises(InsufficientStock):
        level.write_off(4)


def test_revoking_gives_held_or_sold_units_back_to_available() -> None:
    level = StockLevel().receive(5).hold(2).hold(2).confirm(2)
    assert (level.available, level.reserved, level.sold) == (1, 2, 2)
    assert level.revoke(2, HELD) == StockLevel(available=3, reserved=0, sold=2, received=5)
    assert level.revoke(2, CONFIRMED) == StockLevel(available=3, reserved=2, sold=0, received=5)
    with pytest.raises(InvalidQuantity):
        level.revoke(1, RELEASED)


@pytest.mark.parametrize("quantity", [0, -1])
def test_quantities_must_be_positive(quantity: int) -> None:
    with pytest.raises(InvalidQuantity):
        StockLevel().receive(5).hold(quantity)


def test_more_than_is_held_cannot_be_confirmed_or_released() -> None:
    level = StockLevel().receive(5).hold(1)
    with pytest.raises(InvalidQuantity):
        level.confirm(2)
    with pytest.raises(InvalidQuantity):
        level.release(2)


def test_a_multi_item_hold_takes_every_line() -> None:
    levels = {"A": StockLevel().receive(2), "B": StockLevel().receive(1)}
    held = hold_all(levels, [Line("B", 1), Line("A", 2)])
    assert held["A"].reserved == 2 and held["B"].reserved == 1


def test_a_multi_item_hold_with_one_short_line_takes_nothing() -> None:
    levels = {"A": StockLevel().receive(2), "B": StockLevel().receive(1)}
    with pytest.raises(OutOfStock) as refused:
        hold_all(levels, [Line("A", 1), Line("B", 2)])
    assert refused.value.product_id == "B"
    assert levels["A"].reserved == 0


def test_a_hold_of_an_unknown_product_is_refused() -> None:
    with pytest.raises(UnknownProduct):
        hold_all({"A": StockLevel().receive(2)}, [Line("A", 1), Line("Z", 1)])


def test_stock_rows_are_locked_in_product_order() -> None:
    assert [line.product_id for line in in_lock_order([Line("b", 1), Line("a", 1), Line("c", 1)])] == ["a", "b", "c"]


def test_a_confirmed_hold_cannot_be_released() -> None:
    with pytest.raises(AlreadyConfirmed):
        may_release(CONFIRMED, "r-1")
    assert may_release(HELD, "r-1")
    assert not any(may_release(status, "r-1") for status in (RELEASED, EXPIRED, REVOKED))


def test_an_order_confirmation_deducts_a_hold_once_and_retakes_an_ended_one() -> None:
    assert on_order_confirmed(HELD) is OnOrderConfirmed.DEDUCT_HOLD
    assert on_order_confirmed(CONFIRMED) is OnOrderConfirmed.NOTHING
    assert on_order_confirmed(EXPIRED) is OnOrderConfirmed.RETAKE
    assert on_order_confirmed(RELEASED) is OnOrderConfirmed.RETAKE


def test_a_confirmation_delivered_after_its_orders_cancellation_is_refused() -> None:
    # A confirmation that failed once is delivered again after the cancellation that followed it:
    # the hold it finds ended by that cancellation must not be sold again from available.
    assert on_order_confirmed(RELEASED, order_cancelled=True) is OnOrderConfirmed.REFUSE
    assert on_order_confirmed(EXPIRED, order_cancelled=True) is OnOrderConfirmed.REFUSE
    # A repeat of one already handled, or a revoked reservation, is still nothing at all.
    assert on_order_confirmed(CONFIRMED, order_cancelled=True) is OnOrderConfirmed.NOTHING
    assert on_order_confirmed(REVOKED, order_cancelled=True) is OnOrderConfirmed.NOTHING


def test_a_revoked_reservation_is_final() -> None:
    # The order side cancels on ReservationRevoked: its confirmation must not retake the units,
    # and its cancellation must not credit them a second time.
    assert on_order_confirmed(REVOKED) is OnOrderConfirmed.NOTHING
    assert on_order_cancelled(REVOKED) is OnOrderCancelled.NOTHING


def test_an_order_cancellation_frees_held_or_sold_units() -> None:
    assert on_order_cancelled(HELD) is OnOrderCancelled.RELEASE_HOLD
    assert on_order_cancelled(CONFIRMED) is OnOrderCancelled.RETURN_SOLD
    assert on_order_cancelled(EXPIRED) is OnOrderCancelled.NOTHING
    assert on_order_cancelled(RELEASED) is OnOrderCancelled.NOTHING


def test_only_a_held_reservation_past_its_time_is_due() -> None:
    hold = Reservation("r-1", HELD, (Line("A", 1),), expires_at_ms=1000)
    assert is_due(hold, 1000) and not is_due(hold, 999)
    assert not is_due(Reservation("r-2", CONFIRMED, (Line("A", 1),), expires_at_ms=0), 1000)


def test_a_repeated_reserve_matches_its_lines_in_any_order() -> None:
    hold = Reservation("r-1", HELD, (Line("A", 1), Line("B", 2)), expires_at_ms=0)
    assert hold.same_lines([Line("B", 2), Line("A", 1)])
    assert not hold.same_lines([Line("A", 1)])


def test_a_partial_hold_answers_a_retry_of_its_request_but_not_a_request_for_all() -> None:
    asked = (Line("A", 3), Line("B", 1))
    partial = Reservation("r-1", HELD, (Line("A", 2),), expires_at_ms=0, requested=asked)
    assert partial.answers([Line("B", 1), Line("A", 3)], Fulfilment.PARTIAL)
    assert not partial.answers(asked, Fulfilment.ALL)
    assert not partial.answers([Line("A", 2)], Fulfilment.PARTIAL)
    full = Reservation("r-2", HELD, asked, expires_at_ms=0)
    assert full.answers(asked, Fulfilment.PARTIAL) and full.answers(asked, Fulfilment.ALL)


# -- purchase limits ---------------------------------------------------------------------------


def test_a_limit_leaves_what_the_customer_has_not_taken_yet() -> None:
    assert limit_remainder(None, 7) is None
    assert limit_remainder(3, 1) == 2
    assert limit_remainder(3, 5) == 0  # lowered below what they have: nothing more, never negative


def test_a_hold_past_the_limit_is_refused() -> None:
    check_limit("A", 3, units=1, quantity=2)
    check_limit("A", None, units=100, quantity=100)
    with pytest.raises(LimitExceeded) as refused:
        check_limit("A", 3, units=2, quantity=2)
    assert (refused.value.product_id, refused.value.per_customer) == ("A", 3)


def test_a_limited_product_needs_a_customer() -> None:
    require_customer(None, [])
    require_customer("c-1", ["A"])
    with pytest.raises(CustomerRequired):
        require_customer(None, ["B", "A"])


# -- partial fulfilment ------------------------------------------------------------------------


def test_a_partial_grant_takes_what_is_there_and_leaves_out_the_rest() -> None:
    wanted = [Line("C", 1), Line("A", 5), Line("B", 2)]
    granted = grant_partial(wanted, {"A": 3, "B": 0, "C": 4}, limits={"C": 2}, units={"C": 2})
    assert granted == [Line("A", 3)]
    assert grant_partial(wanted, {"A": 9, "B": 9, "C": 9}, limits={"C": 2}, units={"C": 1}) == [
        Line("A", 5), Line("B", 2), Line("C", 1),
    ]


def test_a_partial_grant_of_nothing_names_what_stopped_it() -> None:
    with pytest.raises(OutOfStock):
        grant_partial([Line("A", 1)], {"A": 0}, limits={"A": 5}, units={})
    with pytest.raises(LimitExceeded):
        grant_partial([Line("A", 1), Line("B", 1)], {"A": 0, "B": 4}, limits={"B": 1}, units={"B": 1})
    with pytest.raises(UnknownProduct):
        grant_partial([Line("A", 1), Line("Z", 1)], {"A": 4}, limits={}, units={})


# -- the write-off policy ----------------------------------------------------------------------


def test_holds_are_revoked_before_sales_and_the_newest_of_each_first() -> None:
    holders = [
        Holder("old-hold", HELD, 1, created_at_ms=1),
        Holder("old-sale", CONFIRMED, 1, created_at_ms=0, confirmed_at_ms=5),
        Holder("new-hold", HELD, 1, created_at_ms=9),
        Holder("new-sale", CONFIRMED, 1, created_at_ms=3, confirmed_at_ms=8),
    ]
    order = [h.reservation_id for h in revocation_order(holders)]
    assert order == ["new-hold", "old-hold", "new-sale", "old-sale"]


def test_a_write_off_revokes_only_until_enough_is_available() -> None:
    level = StockLevel().receive(10).hold(3).hold(2).confirm(2)  # available 5, reserved 3, sold 2
    holders = [Holder("h", HELD, 3, created_at_ms=1), Holder("s", CONFIRMED, 2, created_at_ms=0, confirmed_at_ms=2)]
    assert plan_write_off(level, 5, holders) == []
    assert [h.reservation_id for h in plan_write_off(level, 6, holders)] == ["h"]
    assert [h.reservation_id for h in plan_write_off(level, 9, holders)] == ["h", "s"]
    with pytest.raises(InsufficientStock):
        plan_write_off(level, 11, holders)


# -- every sequence of moves keeps the books balanced ------------------------------------------

PRODUCTS = ["A", "B", "C"]
quantities = st.integers(min_value=1, max_value=5)
lines = st.dictionaries(st.sampled_from(PRODUCTS), quantities, min_size=1, max_size=3).map(
    lambda picked: [Line(p, q) for p, q in picked.items()]
)


class InventoryRules(RuleBasedStateMachine):
    """Drives the rules the way the store does, in random order, and checks the books after
    every step: no count below zero, the balance holds, and each product's reserved and sold
    units are exactly those of its HELD and CONFIRMED reservations."""

    reservations = Bundle("reservations")

    def __init__(self) -> None:
        super().__init__()
        self.levels: dict[str, StockLevel] = {p: StockLevel() for p in PRODUCTS[:2]}  # "C" stays unknown
        self.status: dict[int, ReservationStatus] = {}
        self.lines: dict[int, list[Line]] = {}
        self.confirmed_at: dict[int, int] = {}
        self.cancelled: set[int] = set()  # reservations whose order was cancelled
        self.ticks = 0  # a clock: reservation numbers order creation, this orders confirmation

    @rule(product=st.sampled_from(PRODUCTS), quantity=st.integers(min_value=1, max_value=10))
    def receive(self, product: str, quantity: int) -> None:
        self.levels[product] = self.levels.get(product, StockLevel()).receive(quantity)

    @rule(target=reservations, wanted=lines)
    def hold(self, wanted: list[Line]) -> int:
        before = dict(self.levels)
        try:
            self.levels.update(hold_all(self.levels, wanted))
        except (OutOfStock, UnknownProduct):
            assert self.levels == before  # all or nothing
            return -1
        number = len(self.status)
        self.status[number], self.lines[number] = HELD, wanted
        return number

    @rule(number=reservations)
    def release(self, number: int) -> None:
        if number < 0:
            return
        try:
            frees = may_release(self.status[number], str(number))
        except AlreadyConfirmed:
            return
        if frees:
            self._move_all(number, StockLevel.release)
            self.status[number] = RELEASED

    @rule(number=reservations)
    def expire(self, number: int) -> None:
        if number >= 0 and self.status[number] is HELD:
            self._move_all(number, StockLevel.release)
            self.status[number] = EXPIRED

    @rule(number=reservations)
    def confirm(self, number: int) -> None:
        if number < 0:
            return
        action = on_order_confirmed(self.status[number], number in self.cancelled)
        if action is OnOrderConfirmed.DEDUCT_HOLD:
            self._move_all(number, StockLevel.confirm)
        elif action is OnOrderConfirmed.RETAKE:
            try:
                self.levels.update(self._retaken(number))
            except OutOfStock:
                return  # rejected: nothing changes, the order side refunds
        if action not in (OnOrderConfirmed.NOTHING, OnOrderConfirmed.REFUSE):
            self.ticks += 1
            self.status[number], self.confirmed_at[number] = CONFIRMED, self.ticks

    @rule(number=reservations)
    def cancel(self, number: int) -> None:
        """The order's cancellation; its confirmation may still come after it (a retried one)."""
        if number < 0:
            return
        self.cancelled.add(number)
        action = on_order_cancelled(self.status[number])
        if action is OnOrderCancelled.RELEASE_HOLD:
            self._move_all(number, StockLevel.release)
        elif action is OnOrderCancelled.RETURN_SOLD:
            self._move_all(number, StockLevel.return_sold)
        if action is not OnOrderCancelled.NOTHING:
            self.status[number] = RELEASED

    @rule(product=st.sampled_from(PRODUCTS[:2]), delta=st.integers(min_value=-10, max_value=10).filter(bool))
    def adjust(self, product: str, delta: int) -> None:
        if delta > 0:
            self.levels[product] = self.levels[product].receive(delta)
            return
        holders = [
            Holder(str(n), status, sum(ln.quantity for ln in self.lines[n] if ln.product_id == product),
                   created_at_ms=n, confirmed_at_ms=self.confirmed_at.get(n))
            for n, status in self.status.items()
            if status in (HELD, CONFIRMED) and any(ln.product_id == product for ln in self.lines[n])
        ]
        try:
            plan = plan_write_off(self.levels[product], -delta, holders, product)
        except InsufficientStock:
            assert -delta > self.levels[product].on_hand
            return
        for holder in plan:
            number = int(holder.reservation_id)
            self._move_all(number, functools.partial(_revoke, stage=holder.status))
            self.status[number] = REVOKED
        self.levels[product] = self.levels[product].write_off(-delta, product)

    def _move_all(self, number: int, move: Callable[[StockLevel, int], StockLevel]) -> None:
        for line in self.lines[number]:
            self.levels[line.product_id] = move(self.levels[line.product_id], line.quantity)

    def _retaken(self, number: int) -> dict[str, StockLevel]:
        changed = {}
        for line in in_lock_order(self.lines[number]):
            changed[line.product_id] = self.levels[line.product_id].retake(line.quantity, line.product_id)
        return changed

    def _units(self, status: ReservationStatus) -> Counter[str]:
        units: Counter[str] = Counter()
        for number, current in self.status.items():
            if current is status:
                for line in self.lines[number]:
                    units[line.product_id] += line.quantity
        return units

    @invariant()
    def books_balance(self) -> None:
        for level in self.levels.values():
            assert level.is_consistent(), level

    @invariant()
    def reserved_and_sold_match_the_reservations(self) -> None:
        held, sold = self._units(HELD), self._units(CONFIRMED)
        for product, level in self.levels.items():
            assert level.reserved == held[product]
            assert level.sold == sold[product]

    @invariant()
    def nothing_is_sold_to_a_cancelled_order(self) -> None:
        assert not [n for n in self.cancelled if self.status[n] is CONFIRMED]


TestInventoryRules = InventoryRules.TestCase
TestInventoryRules.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
