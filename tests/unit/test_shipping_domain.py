"""What a schedule or cancel request means for an order, given what is stored for it."""

from __future__ import annotations

import pytest

from flashsale.services.shipping import domain
from flashsale.services.shipping.domain import Cancel, Line, Schedule

pytestmark = pytest.mark.unit


def test_the_first_schedule_of_an_order_with_shippable_products_creates_its_shipment() -> None:
    assert domain.schedule(None, []) is Schedule.CREATE


def test_an_order_with_any_unshippable_product_is_refused() -> None:
    assert domain.schedule(None, ["hazmat"]) is Schedule.UNSHIPPABLE


def test_a_scheduled_order_is_replayed_even_after_a_product_became_unshippable() -> None:
    assert domain.schedule(domain.SCHEDULED, []) is Schedule.REPLAY
    assert domain.schedule(domain.SCHEDULED, ["hazmat"]) is Schedule.REPLAY


@pytest.mark.parametrize("unshippable", [[], ["hazmat"]])
def test_a_cancelled_shipment_or_tombstone_is_never_scheduled_again(unshippable: list[str]) -> None:
    assert domain.schedule(domain.CANCELLED, unshippable) is Schedule.CANCELLED


def test_cancelling_is_a_change_once_then_a_replay() -> None:
    assert domain.cancel(domain.SCHEDULED) is Cancel.CANCEL
    assert domain.cancel(domain.CANCELLED) is Cancel.ALREADY_CANCELLED


def test_cancelling_an_order_with_no_shipment_leaves_a_tombstone() -> None:
    assert domain.cancel(None) is Cancel.TOMBSTONE


def test_unshippable_products_are_named_once_in_product_order() -> None:
    lines = [Line("tee", 1), Line("knife", 2), Line("acid", 1), Line("mug", 1)]
    assert domain.unshippable_products(lines, {"knife", "acid", "not-ordered"}) == ["acid", "knife"]
    assert domain.unshippable_products(lines, set()) == []


def test_a_product_named_on_two_lines_is_reported() -> None:
    assert domain.repeated_products([Line("a", 1), Line("b", 1)]) == []
    assert domain.repeated_products([Line("b", 1), Line("a", 1), Line("b", 2), Line("b", 3)]) == ["b"]


def test_lines_have_one_canonical_order_whatever_the_request_order() -> None:
    lines = [Line("tee", 2), Line("mug", 1), Line("cap", 3)]
    assert domain.in_product_order(lines) == (Line("cap", 3), Line("mug", 1), Line("tee", 2))
    assert domain.in_product_order(reversed(lines)) == domain.in_product_order(lines)
