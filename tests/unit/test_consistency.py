"""The rules that decide whether a copy agrees with its source, whether a disagreement is lag or
drift, and whether a reconciliation may repair a level."""

from __future__ import annotations

import pytest

from flashsale.consistency.compare import (
    ModelResult,
    Outcome,
    availability_look,
    contact_look,
    judge,
    order_look,
)
from flashsale.sale.stats import histogram_quantile, histogram_series
from flashsale.services.catalog.domain import Verdict, verdict

pytestmark = pytest.mark.unit


def _product(available: int | None, as_of: str | None = "2030-01-01T00:00:00.000Z") -> dict[str, object]:
    return {"availability": {"available": available, "status": "in_stock", "asOf": as_of}}


def test_availability_agrees_only_on_the_same_count() -> None:
    assert availability_look("p", {"available": 3}, _product(3)).matches
    assert not availability_look("p", {"available": 3}, _product(4)).matches
    assert not availability_look("p", {"available": 3}, _product(None)).matches  # the catalog never heard


@pytest.mark.parametrize(("order", "reservation", "agrees"), [
    ("PENDING_PAYMENT", "HELD", True),
    ("PAID", "HELD", True),  # being deducted
    ("PAID", "CONFIRMED", False),  # the order has not heard yet: lag if it catches up
    ("COMPLETED", "CONFIRMED", True),
    ("COMPLETED", "RELEASED", False),
    ("CANCELLED", "EXPIRED", True),
    ("CANCELLED", None, True),  # never held
    ("CANCELLED", "HELD", False),
    ("PENDING_PAYMENT", "EXPIRED", False),
])
def test_an_order_agrees_with_its_reservation_as_the_audit_requires(
    order: str, reservation: str | None, agrees: bool
) -> None:
    held = None if reservation is None else {"status": reservation}
    assert order_look({"orderId": "o", "status": order}, held).matches is agrees


def test_a_contact_copy_agrees_only_with_the_profile_at_its_version() -> None:
    profile = {"customerId": "c", "name": "Ann", "email": "a@x", "version": 3}
    assert contact_look(profile, {**profile}).matches
    assert not contact_look(profile, {**profile, "version": 2}).matches
    assert not contact_look(profile, {**profile, "email": "old@x"}).matches
    assert not contact_look(profile, None).matches


def test_a_disagreement_is_drift_only_when_the_copy_is_stuck_after_the_grace_period() -> None:
    first = availability_look("p", {"available": 5}, _product(7, "t1"))

    assert judge(availability_look("p", {"available": 5}, _product(5, "t1")), None) is Outcome.MATCH
    assert judge(first, availability_look("p", {"available": 5}, _product(5, "t2"))) is Outcome.LAG
    assert judge(first, availability_look("p", {"available": 4}, _product(6, "t2"))) is Outcome.LAG  # moving
    assert judge(first, availability_look("p", {"available": 4}, _product(7, "t1"))) is Outcome.DRIFT
    assert judge(first, None) is Outcome.LAG  # gone meanwhile: nothing to hold against the copy


def test_the_match_ratio_counts_lag_as_agreement() -> None:
    result = ModelResult("catalog_availability")
    ok = availability_look("a", {"available": 1}, _product(1))
    stuck = availability_look("b", {"available": 1}, _product(9))
    caught_up = availability_look("c", {"available": 1}, _product(1, "later"))
    result.add(ok, None)
    result.add(stuck, stuck)
    result.add(availability_look("c", {"available": 1}, _product(0)), caught_up)
    result.add(ok, None)

    assert (result.sampled, result.lagging, len(result.drifted)) == (4, 1, 1)
    assert result.match_ratio == 0.75
    assert result.to_json()["mismatches"] == [{"key": "b", "source": "available=1", "copy": "available=9 (in_stock)"}]
    assert ModelResult("order_contacts").match_ratio is None


def test_a_level_is_repaired_only_if_no_event_moved_it_since_it_was_read() -> None:
    assert verdict("e1", "e1", 7, 5) is Verdict.REPAIR
    assert verdict("e1", "e1", 5, 5) is Verdict.CONSISTENT
    assert verdict("e1", "e2", 7, 5) is Verdict.MOVED  # an event arrived: judge it next round
    assert verdict(None, None, None, 5) is Verdict.REPAIR  # a level never heard of is filled in
    assert verdict(None, "e3", 5, 5) is Verdict.MOVED


METRICS = """\
event_propagation_seconds_bucket{consumer="catalog",type="StockReserved",le="0.01"} 50.0
event_propagation_seconds_bucket{consumer="catalog",type="StockReserved",le="0.025"} 90.0
event_propagation_seconds_bucket{consumer="catalog",type="StockReserved",le="0.05"} 100.0
event_propagation_seconds_bucket{consumer="catalog",type="StockReserved",le="+Inf"} 100.0
event_propagation_seconds_bucket{consumer="orders",type="ReservationConfirmed",le="0.01"} 0.0
event_propagation_seconds_bucket{consumer="orders",type="ReservationConfirmed",le="0.05"} 1.0
event_propagation_seconds_bucket{consumer="orders",type="ReservationConfirmed",le="+Inf"} 2.0
"""


def test_percentiles_of_a_histogram_are_interpolated_inside_their_bucket() -> None:
    catalog = {"consumer": "catalog"}
    assert histogram_quantile(METRICS, "event_propagation_seconds", catalog, 50) == pytest.approx(0.01)
    assert histogram_quantile(METRICS, "event_propagation_seconds", catalog, 70) == pytest.approx(0.0175)
    assert histogram_quantile(METRICS, "event_propagation_seconds", catalog, 99) == pytest.approx(0.0475)
    # Beyond the last finite bound the histogram knows no more than that bound.
    assert histogram_quantile(METRICS, "event_propagation_seconds", {"consumer": "orders"}, 99) == 0.05
    assert histogram_quantile(METRICS, "event_propagation_seconds", {"consumer": "nobody"}, 50) is None
    assert histogram_series(METRICS, "event_propagation_seconds", "consumer") == {"catalog": 100.0, "orders": 2.0}
