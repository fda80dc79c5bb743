"""Consistency of the read side, on a whole house run by `flashsale up`: the windows measured during a
sale, drift that `flashsale check` finds and `flashsale reconcile` repairs, the monitor's rounds."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from houses import SharedHouse
from rich.console import Console

from flashsale.runtime.services_file import ServicesFile
from flashsale.sale.report import print_consistency_windows
from flashsale.sale.windows import consistency_windows
from support import plain_http
from support.ids import unique
from support.polling import wait_for

pytestmark = pytest.mark.system


@pytest.fixture(scope="module")
def data_dir(shared_house: SharedHouse) -> Path:
    return shared_house.data_dir


@pytest.fixture(scope="module")
def house(shared_house: SharedHouse) -> ServicesFile:
    return shared_house.services


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "flashsale.cli", *args], capture_output=True, text=True,
                          timeout=300)


def test_a_sale_reports_the_consistency_window_of_each_read_model(house: ServicesFile, data_dir: Path) -> None:
    done = _cli("sale", "--services", str(data_dir / "services.json"), "--buyers", "100", "--stock", "10")

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Consistency windows" in done.stdout
    windows = {w.consumer: w for w in asyncio.run(consistency_windows(house))}
    for consumer in ("catalog", "orders", "inventory", "notifications"):
        assert windows[consumer].events > 0, consumer
        p50, p99 = windows[consumer].p50_s, windows[consumer].p99_s
        assert p50 is not None and p99 is not None and 0 <= p50 <= p99 < 30, (consumer, p50, p99)
    print()
    print_consistency_windows(Console(width=120), list(windows.values()))


def test_check_finds_injected_drift_and_reconcile_repairs_it(house: ServicesFile, data_dir: Path) -> None:
    services_json = str(data_dir / "services.json")
    admin = {"Authorization": f"Bearer {house.admin_token}"}
    product = unique("sys-drift")
    body = {"name": product, "priceCents": 1000, "description": "drift"}
    assert plain_http.put(f"{house.url('catalog')}/products/{product}", json=body, headers=admin).status_code == 201
    received = plain_http.post(f"{house.url('inventory')}/inventory/{product}/receive", json={"quantity": 9},
                               headers=admin)
    assert received.status_code == 200

    def shown() -> int | None:
        return plain_http.get(f"{house.url('catalog')}/products/{product}").json()["availability"]["available"]

    wait_for(lambda: shown() == 9, timeout_s=30, what="the catalog to show the stock")
    with sqlite3.connect(data_dir / "catalog.db", timeout=30) as catalog_db:  # fault injection
        catalog_db.execute("UPDATE availability SET available = 1 WHERE product_id = ?", (product,))

    found = _cli("check", "--services", services_json, "--wait", "5")
    assert found.returncode == 1, found.stdout
    assert "read models: DRIFT" in found.stdout and product in found.stdout

    repaired = _cli("reconcile", "--services", services_json)
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    assert "catalog availability" in repaired.stdout and "order contact copies" in repaired.stdout
    catalog_row = next(line for line in repaired.stdout.splitlines() if "catalog availability" in line)
    assert int([cell.strip() for cell in catalog_row.split("│") if cell.strip()][3]) >= 1  # fixed: ours at least
    assert shown() == 9
    print("\n" + repaired.stdout)

    clean = _cli("check", "--services", services_json)
    assert clean.returncode == 0, clean.stdout
    assert "read models: ok" in clean.stdout and "invariants: ok" in clean.stdout


def test_the_monitor_runs_in_the_house_and_answers_its_last_round(house: ServicesFile) -> None:
    def compared_all() -> dict[str, dict[str, object]] | None:
        """The last round's models, once a round has compared every one (none skipped)."""
        answer = plain_http.get(f"{house.url('monitor')}/consistency", timeout=10)
        models = {m["model"]: m for m in answer.json()["models"]} if answer.status_code == 200 else {}
        return models if models and all(m["note"] is None for m in models.values()) else None

    models = wait_for(compared_all, timeout_s=60, what="a monitor round that compared every model")
    assert set(models) == {"catalog_availability", "order_reservations", "order_contacts"}
    assert all(isinstance(m["sampled"], int) for m in models.values()), json.dumps(models)
