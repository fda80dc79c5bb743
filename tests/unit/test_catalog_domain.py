"""The catalog's pure rules: versions, sale windows, and the availability read model's levels."""

from __future__ import annotations

import pytest

from flashsale.services.catalog import domain
from flashsale.services.catalog.domain import Details, Level, Move, SetTo

pytestmark = pytest.mark.unit

PS5 = Details("PS5", 49_999, "a console", None, None, None)


def test_a_new_product_is_version_1_and_only_a_real_change_makes_another() -> None:
    assert domain.next_version(None, None, PS5) == 1
    assert domain.next_version(3, PS5, PS5) is None
    assert domain.next_version(3, PS5, Details("PS5", 39_999, "a console", None, None, None)) == 4


@pytest.mark.parametrize(("starts", "ends", "valid"), [
    (None, None, True), (1_000, None, True), (None, 1_000, True), (1_000, 2_000, True),
    (2_000, 1_000, False), (1_000, 1_000, False),
])
def test_a_sale_window_ends_after_it_starts(starts: int | None, ends: int | None, valid: bool) -> None:
    assert domain.window_is_valid(starts, ends) is valid


def test_an_absolute_level_replaces_whatever_was_known() -> None:
    assert domain.level_after(None, SetTo(7)) == Level(7)
    assert domain.level_after(3, SetTo(10)) == Level(10)


def test_deltas_move_a_known_level_and_are_skipped_without_one() -> None:
    assert domain.level_after(10, Move(-3)) == Level(7)
    assert domain.level_after(7, Move(+2)) == Level(9)
    assert domain.level_after(None, Move(-1)) is None


def test_a_level_never_goes_negative_and_says_it_was_clamped() -> None:
    assert domain.level_after(2, Move(-5)) == Level(0, clamped=True)
    assert domain.level_after(2, Move(-2)) == Level(0, clamped=False)


@pytest.mark.parametrize(("available", "status"), [
    (None, "unknown"), (0, "sold_out"), (1, "low"), (5, "low"), (6, "in_stock"), (1000, "in_stock"),
])
def test_status_by_available_units_with_the_default_threshold(available: int | None, status: str) -> None:
    assert domain.status(available) == status


def test_the_low_threshold_is_a_setting() -> None:
    assert domain.status(8, low_threshold=10) == "low"
    assert domain.status(1, low_threshold=0) == "in_stock"
