"""The consistency monitor: a process of its own that samples read models through the APIs, tells lag
from drift, and exports what it found; injected drift shows in its match ratio until reconciled."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from reconcile_support import CatalogFaults, Stockroom

from flashsale.runtime.process import ServiceProcess
from support import plain_http
from support.ids import unique
from support.polling import wait_for

pytestmark = pytest.mark.service

MODEL = "catalog_availability"
LAG_MS = 1000  # the catalog applies each event this long after it happened: a read model that lags


@pytest.fixture(scope="module")
def inventory(house: Any) -> ServiceProcess:
    return house.shared("inventory")


@pytest.fixture(scope="module")
def catalog(house: Any, inventory: ServiceProcess) -> ServiceProcess:
    return house.start("catalog", inventory_urls=inventory.url,
                       reconcile_interval_s="3600", consumer_delay_ms=str(LAG_MS))


@pytest.fixture(scope="module")
def monitor(house: Any, inventory: ServiceProcess, catalog: ServiceProcess) -> ServiceProcess:
    # A grace 1.5 s longer than the catalog's lag; samples bigger than this module's data: every
    # product is looked at.
    return house.start("monitor", inventory_urls=inventory.url,
                       catalog_urls=catalog.url, check_interval_s="0.3", grace_s="2.5", sample_size="10000")


@pytest.fixture
def room(inventory: ServiceProcess, catalog: ServiceProcess, admin_token: str) -> Iterator[Stockroom]:
    stockroom = Stockroom(inventory.url, catalog.url, admin_token)
    yield stockroom
    stockroom.close()


def _model(monitor: ServiceProcess) -> dict[str, Any] | None:
    answer = plain_http.get(f"{monitor.url}/consistency", timeout=10)
    if answer.status_code != 200:
        return None
    return next(m for m in answer.json()["models"] if m["model"] == MODEL)


def _metric(monitor: ServiceProcess, name: str) -> float:
    for family in text_string_to_metric_families(plain_http.get(f"{monitor.url}/metrics", timeout=10).text):
        for sample in family.samples:
            if sample.name == name and sample.labels.get("model") == MODEL:
                return float(sample.value)
    return 0.0


def _stocked(room: Stockroom, count: int = 1, quantity: int = 10) -> list[str]:
    """New products, listed and stocked, once the catalog agrees about each (their lags overlap)."""
    product_ids = [unique("mp") for _ in range(count)]
    for product_id in product_ids:
        room.listed(product_id)
        room.receive(product_id, quantity)
    room.wait_until_agree(*product_ids)
    return product_ids


def _all_agree(monitor: ServiceProcess) -> dict[str, Any] | None:
    found = _model(monitor)
    return found if found is not None and found["sampled"] > 0 and found["matchRatio"] == 1.0 else None


def test_a_copy_that_lags_but_catches_up_within_the_grace_period_is_not_drift(
    room: Stockroom, monitor: ServiceProcess
) -> None:
    _stocked(room)
    wait_for(lambda: _all_agree(monitor), timeout_s=30, what="a round where every sampled level agrees")
    lagging, drift = _metric(monitor, "consistency_lagging_total"), _metric(monitor, "consistency_mismatches_total")

    product_id = unique("mp")
    room.listed(product_id)
    room.receive(product_id, 7)  # the catalog shows it LAG_MS later
    wait_for(lambda: _metric(monitor, "consistency_lagging_total") > lagging, timeout_s=30,
             what="a round that saw the level disagree, then catch up")
    room.wait_until_agree(product_id)

    assert _metric(monitor, "consistency_mismatches_total") == drift
    assert _metric(monitor, "consistency_match_ratio") == 1.0


def test_injected_drift_drops_the_match_ratio_until_reconciliation_repairs_it(
    room: Stockroom, monitor: ServiceProcess, house: Any
) -> None:
    corrupted, forgotten = _stocked(room, 2)
    wait_for(lambda: _all_agree(monitor), timeout_s=30, what="a round where every sampled level agrees")
    drift_before = _metric(monitor, "consistency_mismatches_total")

    faults = CatalogFaults(house.database_base)
    faults.set_available(corrupted, 4242)
    faults.set_available(forgotten, 0)

    def both_found() -> dict[str, Any] | None:
        found = _model(monitor)
        keys = {m["key"] for m in (found or {}).get("mismatches", [])}
        return found if {corrupted, forgotten} <= keys else None

    found = wait_for(both_found, timeout_s=30, what="a round that reports both drifted levels")
    assert found["mismatched"] >= 2 and found["matchRatio"] < 1.0
    assert _metric(monitor, "consistency_match_ratio") < 1.0
    assert _metric(monitor, "consistency_mismatches_total") >= drift_before + 2

    assert room.reconcile_until_settled()["fixed"] >= 2

    wait_for(lambda: _all_agree(monitor), timeout_s=30, what="the match ratio back at 1 after reconciliation")
    wait_for(lambda: _metric(monitor, "consistency_match_ratio") == 1.0, timeout_s=10, what="the gauge back at 1")


def test_models_whose_services_it_was_not_given_are_skipped_with_a_reason(monitor: ServiceProcess) -> None:
    wait_for(lambda: _model(monitor), timeout_s=30, what="a first round")
    models = {m["model"]: m for m in plain_http.get(f"{monitor.url}/consistency", timeout=10).json()["models"]}

    assert models["order_reservations"]["note"] == "skipped: this house runs no orders"
    assert models["order_contacts"]["note"] == "skipped: this house runs no customers and no orders"
    assert models["order_reservations"]["matchRatio"] is None
