"""Read-your-writes bookkeeping: whose writes are recent, for how long, and within what bounds."""

from __future__ import annotations

import pytest

from flashsale.services.gateway import freshness
from flashsale.services.gateway.freshness import RecentWrites

pytestmark = pytest.mark.unit

T0 = 1_800_000_000_000
P1, P2 = freshness.product("p-1"), freshness.product("p-2")


def test_a_write_is_recent_for_its_writer_only_and_only_within_the_window() -> None:
    recent = RecentWrites(window_ms=10_000)

    recent.note("ann", [P1], T0)

    assert recent.is_recent("ann", P1, T0 + 9_999)
    assert not recent.is_recent("ann", P1, T0 + 10_000)
    assert not recent.is_recent("bob", P1, T0)
    assert not recent.is_recent(None, P1, T0)
    assert not recent.is_recent("ann", P2, T0)


def test_writing_again_extends_the_window() -> None:
    recent = RecentWrites(window_ms=10_000)

    recent.note("ann", [P1], T0)
    recent.note("ann", [P1], T0 + 8_000)

    assert recent.is_recent("ann", P1, T0 + 17_000)


def test_a_zero_window_remembers_nothing() -> None:
    recent = RecentWrites(window_ms=0)

    recent.note("ann", [P1], T0)

    assert not recent.is_recent("ann", P1, T0)
    assert len(recent) == 0


def test_memory_is_bounded_forgetting_the_least_recent_writers_and_entities_first() -> None:
    recent = RecentWrites(window_ms=10_000, max_customers=2, max_entities=2)

    recent.note("ann", [P1], T0)
    recent.note("bob", [P1], T0 + 1)
    recent.note("ann", [P2], T0 + 2)  # ann wrote last: bob is the least recent writer now
    recent.note("cat", [P1, P2, freshness.product("p-3")], T0 + 3)

    assert len(recent) == 2
    assert not recent.is_recent("bob", P1, T0 + 4)
    assert recent.is_recent("ann", P1, T0 + 4) and recent.is_recent("ann", P2, T0 + 4)
    assert not recent.is_recent("cat", P1, T0 + 4)
    assert recent.is_recent("cat", freshness.product("p-3"), T0 + 4)


def test_expired_writes_are_dropped_when_the_writer_writes_again() -> None:
    recent = RecentWrites(window_ms=10, max_entities=2)

    recent.note("ann", [P1, P2], T0)
    recent.note("ann", [freshness.product("p-3")], T0 + 20)
    recent.note("ann", [freshness.product("p-4")], T0 + 21)

    assert recent.is_recent("ann", freshness.product("p-3"), T0 + 22)
    assert recent.is_recent("ann", freshness.product("p-4"), T0 + 22)


@pytest.mark.parametrize(("available", "status"), [(0, "sold_out"), (-1, "sold_out"), (1, "low"), (5, "low"),
                                                   (6, "in_stock")])
def test_stock_read_from_the_inventory_is_named_as_the_catalog_names_it(available: int, status: str) -> None:
    assert freshness.stock_status(available, low_threshold=5) == status


def test_the_rule_is_the_catalogs_own() -> None:
    from flashsale.services.catalog import domain as catalog

    for threshold in (0, 1, 5):
        for available in range(-2, 12):
            assert freshness.stock_status(available, threshold) == catalog.status(available, threshold)
