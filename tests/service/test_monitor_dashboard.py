"""The operations dashboard's data and page, served by the monitor: whatever does not answer is
shown as down, never turned into an error of the dashboard's own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flashsale.kit.db_admin import service_database_url
from flashsale.runtime.nats_server import free_port
from flashsale.runtime.process import ServiceProcess
from support import plain_http
from support.ids import unique
from support.polling import wait_for

pytestmark = pytest.mark.service


class Processes:
    """The few processes one test starts (SQLite: the monitor keeps no data), stopped at its end."""

    def __init__(self, tmp_path: Path, nats_url: str, admin_token: str) -> None:
        self.tmp_path, self.nats_url, self.admin_token = tmp_path, nats_url, admin_token
        self.started: list[ServiceProcess] = []

    def start(self, service: str, **settings: str) -> ServiceProcess:
        env = {"FLASHSALE_DATABASE_URL": service_database_url(f"sqlite:///{self.tmp_path}/db/", service),
               "FLASHSALE_BROKER_URL": self.nats_url, "FLASHSALE_ADMIN_TOKEN": self.admin_token,
               "FLASHSALE_LOG_LEVEL": "INFO", **{f"FLASHSALE_{k.upper()}": v for k, v in settings.items()}}
        process = ServiceProcess(service, free_port(), env, log_file=self.tmp_path / f"{service}.log")
        self.started.append(process.start())
        return process.wait_healthy()


@pytest.fixture
def processes(tmp_path: Path, nats_url: str, admin_token: str) -> Iterator[Processes]:
    started = Processes(tmp_path, nats_url, admin_token)
    yield started
    for process in started.started:
        process.stop()


def _monitor_of(processes: Processes, inventory: ServiceProcess) -> tuple[ServiceProcess, str]:
    """A monitor scraping the inventory and an order service that is not there at all."""
    nowhere = f"http://127.0.0.1:{free_port()}"
    monitor = processes.start("monitor", inventory_urls=inventory.url, orders_urls=nowhere, scrape_interval_s="0.3")
    return monitor, nowhere


def _received(inventory: ServiceProcess, admin_token: str, quantity: int) -> str:
    product_id = unique("dash")
    answer = plain_http.post(f"{inventory.url}/inventory/{product_id}/receive", json={"quantity": quantity},
                        headers={"Authorization": f"Bearer {admin_token}"}, timeout=10)
    assert answer.status_code == 200, answer.text
    return product_id


def _data(monitor: ServiceProcess) -> dict[str, Any]:
    answer = plain_http.get(f"{monitor.url}/dashboard/data", timeout=10)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def _product(data: dict[str, Any], product_id: str) -> dict[str, Any] | None:
    return next((p for p in data["stock"]["products"] if p["productId"] == product_id), None)


def _listing(monitor: ServiceProcess, product_id: str) -> dict[str, Any] | None:
    data = _data(monitor)
    return data if _product(data, product_id) else None


def _without_stock(monitor: ServiceProcess) -> dict[str, Any] | None:
    data = _data(monitor)
    return None if data["stock"]["answered"] else data


def test_the_data_has_every_part_and_shows_a_service_that_does_not_answer_as_down(
    processes: Processes, admin_token: str
) -> None:
    inventory = processes.start("inventory")
    monitor, nowhere = _monitor_of(processes, inventory)
    product_id = _received(inventory, admin_token, 12)

    data = wait_for(lambda: _listing(monitor, product_id), timeout_s=20, what="the product in the dashboard's data")

    assert {"asOf", "services", "stock", "holds", "orders", "outbox", "consumers", "consistency", "deadLetters",
            "sagas", "charts"} <= data.keys()
    states = {(s["service"], s["url"]): s for s in data["services"]}
    assert states[("inventory", inventory.url)]["up"] is True
    assert states[("orders", nowhere)]["up"] is False and states[("orders", nowhere)]["error"]
    shown = _product(data, product_id)
    assert shown is not None and (shown["available"], shown["reserved"], shown["sold"]) == (12, 0, 0)
    assert data["sagas"]["error"]  # no order instance answered: unknown, not "none"
    assert product_id in {line["label"] for line in data["charts"]["stock"]}
    assert len(data["charts"]["t"]) == len(data["charts"]["holds"][0]["values"])

    page = plain_http.get(f"{monitor.url}/dashboard", timeout=10)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert f'data-product-id="{product_id}"' in page.text  # rendered by the server, before any script runs
    assert "default-src 'self'" in page.headers["content-security-policy"]
    script = plain_http.get(f"{monitor.url}/static/dashboard.js", timeout=10)
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    bad = plain_http.get(f"{monitor.url}/dashboard/data", params={"minutes": "0"}, timeout=10)
    assert (bad.status_code, bad.json()["code"]) == (422, "invalid_request")


def test_when_the_inventory_stops_the_dashboard_keeps_its_last_stock_and_says_why(
    processes: Processes, admin_token: str
) -> None:
    inventory = processes.start("inventory")
    monitor, _ = _monitor_of(processes, inventory)
    product_id = _received(inventory, admin_token, 5)
    wait_for(lambda: _listing(monitor, product_id), timeout_s=20, what="the product in the dashboard's data")

    inventory.stop()

    data = wait_for(lambda: _without_stock(monitor), timeout_s=20, what="the dashboard to notice the inventory is gone")
    assert data["stock"]["error"]
    assert [s["up"] for s in data["services"] if s["service"] == "inventory"] == [False]
    assert _product(data, product_id)["available"] == 5  # type: ignore[index]
    page = plain_http.get(f"{monitor.url}/dashboard", timeout=10)
    assert page.status_code == 200 and "inventory not answering" in page.text
