"""What the operations dashboard derives from scrapes: rates from counters that restart, percentiles
from histogram growth, stock as change points, and an answer whatever did not answer."""

from __future__ import annotations

import math

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from flashsale.services.monitor.board import Extras, board
from flashsale.services.monitor.readings import Reading, parse_reading
from flashsale.services.monitor.series import (
    InstanceScrape,
    Scrape,
    Series,
    Stock,
    StockHistory,
    bucket_increase,
    counter_increase,
    quantile,
)

pytestmark = pytest.mark.unit

INF = math.inf
T0 = 1_800_000_000_000


def test_a_counter_lower_than_before_restarted_and_counts_from_zero() -> None:
    assert counter_increase(10, 14) == 4
    assert counter_increase(10, 3) == 3  # restarted, then counted 3
    assert counter_increase(None, 50) == 0  # first sight: nothing known about the past
    assert counter_increase(7, 7) == 0


def test_histogram_growth_is_per_bucket_and_a_restart_keeps_all_it_counted_since() -> None:
    before = ((0.1, 2.0), (1.0, 5.0), (INF, 6.0))
    assert bucket_increase(before, ((0.1, 4.0), (1.0, 9.0), (INF, 10.0))) == ((0.1, 2.0), (1.0, 4.0), (INF, 4.0))
    restarted = ((0.1, 1.0), (1.0, 1.0), (INF, 2.0))
    assert bucket_increase(before, restarted) == restarted
    assert bucket_increase(None, restarted) == restarted  # the series is new


def test_quantiles_interpolate_inside_the_bucket_the_rank_falls_in() -> None:
    buckets = ((0.1, 50.0), (0.5, 90.0), (1.0, 100.0), (INF, 100.0))
    assert quantile(0.5, buckets) == pytest.approx(0.1)
    assert quantile(0.7, buckets) == pytest.approx(0.3)  # halfway through (0.1, 0.5]
    assert quantile(0.95, buckets) == pytest.approx(0.75)
    assert quantile(0.25, buckets) == pytest.approx(0.05)  # the first bucket starts at zero


def test_a_quantile_beyond_the_last_bound_is_that_bound_and_none_without_observations() -> None:
    assert quantile(0.99, ((1.0, 1.0), (INF, 10.0))) == 1.0
    assert quantile(0.5, ((1.0, 0.0), (INF, 0.0))) is None
    assert quantile(0.5, ()) is None


def test_a_reading_keeps_the_wanted_families_of_an_exposition() -> None:
    registry = CollectorRegistry()
    Counter("inventory_holds_granted_total", "g", registry=registry).inc(7)
    refused = Counter("inventory_holds_refused_total", "r", ["reason"], registry=registry)
    refused.labels("out_of_stock").inc(3)
    refused.labels("limit").inc(1)
    Gauge("orders_by_status", "o", ["status"], registry=registry).labels("PAID").set(4)
    Gauge("outbox_backlog", "b", registry=registry).set(12)
    Gauge("consumer_pending_messages", "p", ["consumer"], registry=registry).labels("inventory").set(5)
    lag = Histogram("event_propagation_seconds", "l", ["consumer", "type"], buckets=(0.01, 0.1), registry=registry)
    lag.labels("inventory", "OrderConfirmed").observe(0.05)
    Histogram("http_request_duration_seconds", "ignored", ["route"], registry=registry).labels("/x").observe(1)

    reading = parse_reading(generate_latest(registry).decode())

    assert reading.holds_granted == 7 and reading.holds_refused_total == 4
    assert reading.orders_by_status == {"PAID": 4} and reading.outbox_backlog == 12
    assert reading.consumer_pending == {"inventory": 5}
    assert reading.propagation == {("inventory", "OrderConfirmed"): ((0.01, 0.0), (0.1, 1.0), (INF, 1.0))}
    assert reading.outbox_lag_s is None  # not exported by this one: unknown, not zero


def _inventory(url: str, granted: float | None, refused: float = 0.0) -> InstanceScrape:
    if granted is None:
        return InstanceScrape("inventory", url, None, "ConnectError")
    return InstanceScrape("inventory", url, Reading(holds_granted=granted, holds_refused={"out_of_stock": refused}))


def _scrape(at_s: float, *instances: InstanceScrape, stock: dict[str, Stock] | None = None) -> Scrape:
    return Scrape(T0 + int(at_s * 1000), instances, stock, None if stock is not None else "ConnectError")


def test_hold_rates_add_up_instances_and_survive_a_restart_and_an_instance_that_is_down() -> None:
    series = Series(window_s=60, interval_s=1)
    series.record(_scrape(0, _inventory("a", 100, 10), _inventory("b", 50)))
    second = series.record(_scrape(2, _inventory("a", 120, 14), _inventory("b", 60)))
    restarted = series.record(_scrape(3, _inventory("a", 5), _inventory("b", 62)))  # a restarted: 5 since
    down = series.record(_scrape(4, _inventory("a", 9), _inventory("b", None)))

    assert (second.holds_granted_per_s, second.holds_refused_per_s) == (15.0, 2.0)  # (20 + 10) / 2 s
    assert restarted.holds_granted_per_s == 7.0
    assert down.holds_granted_per_s == 4.0


def test_time_to_consistency_counts_only_what_the_histograms_gained_in_the_last_minute() -> None:
    series = Series(window_s=600, interval_s=1, latency_window_s=60)
    old = ((0.01, 100.0), (0.1, 100.0), (INF, 100.0))  # a hundred fast events long ago
    later = ((0.01, 100.0), (0.1, 110.0), (INF, 110.0))  # then ten between 10 and 100 ms
    key = ("inventory", "OrderConfirmed")
    for at_s, buckets in ((0, old), (30, old), (60, later)):
        series.record(_scrape(at_s, InstanceScrape("inventory", "a", Reading(propagation={key: buckets}))))

    (latency,) = series.latencies()

    assert (latency.consumer, latency.event_type, latency.events) == ("inventory", "OrderConfirmed", 10)
    assert latency.quantiles_s[0] == pytest.approx(0.055)  # the median of ten in (0.01, 0.1]


def test_stock_history_keeps_change_points_and_the_level_at_the_window_start() -> None:
    history = StockHistory(window_ms=10_000)
    full, less, sold = Stock(40, 0, 0), Stock(30, 10, 0), Stock(30, 0, 10)
    history.record(T0, {"ps5": full, "quiet": full})
    history.record(T0 + 1000, {"ps5": full, "quiet": full})  # no change, no entry
    history.record(T0 + 5000, {"ps5": less, "quiet": full})
    history.record(T0 + 20_000, {"ps5": sold, "quiet": full})  # the first change left the window

    assert history.levels_at("ps5", [T0 + 9_000, T0 + 19_000, T0 + 20_000]) == [less, less, sold]
    assert history.levels_at("ps5", [T0 - 1]) == [None]
    assert history.busiest(1) == ["ps5"]
    assert history.latest()["quiet"] == (T0, full)


def test_the_board_answers_with_every_part_while_services_do_not_answer() -> None:
    series = Series(window_s=60, interval_s=1)
    series.record(_scrape(0, _inventory("a", 1), stock={"ps5": Stock(40, 0, 0)}))
    series.record(_scrape(1, _inventory("a", None), InstanceScrape("orders", "o", None, "ReadTimeout")))

    answer = board(series, T0 + 1000, 5, Extras())

    assert [(s["service"], s["up"], s["error"]) for s in answer["services"]] == [
        ("inventory", False, "ConnectError"), ("orders", False, "ReadTimeout")]
    assert answer["stock"]["answered"] is False
    assert answer["stock"]["products"] == [{"productId": "ps5", "available": 40, "reserved": 0, "sold": 0,
                                            "changedAt": "2027-01-15T08:00:00.000Z"}]
    assert answer["charts"]["stock"][0]["values"] == [40, 40]
    assert answer["orders"]["byStatus"] == {} and answer["outbox"] == [] and answer["consistency"] == []
    assert answer["deadLetters"]["error"] and answer["sagas"]["error"]
