"""`flashsale up --inventory-instances N`: where the extra inventory processes listen, and that
every caller of the inventory learns all of them."""

from __future__ import annotations

from pathlib import Path

import pytest

from flashsale.runtime.config import SINGLE_SERVICES, UpConfig, port_layout, service_env

pytestmark = pytest.mark.unit


def test_one_inventory_instance_is_the_default_layout() -> None:
    assert port_layout(8000, 2, inventory_instances=1) == port_layout(8000, 2)


def test_extra_inventory_instances_listen_after_the_single_services() -> None:
    layout = port_layout(8000, 2, inventory_instances=3)

    ports = {slot.name: slot.port for slot in layout.services}
    last_single = max(ports[f"{service}-1"] for service in SINGLE_SERVICES)
    assert ports["inventory-1"] == 8001
    assert (ports["inventory-2"], ports["inventory-3"]) == (last_single + 1, last_single + 2)
    assert len(set(ports.values())) == len(ports)
    assert layout.urls("inventory") == [f"http://127.0.0.1:{p}" for p in (8001, last_single + 1, last_single + 2)]
    # Everything else stays where the default layout puts it.
    default = {slot.name: slot.port for slot in port_layout(8000, 2).services}
    assert {name: port for name, port in ports.items() if name in default} == default


def test_the_order_instances_are_told_every_inventory_instance(tmp_path: Path) -> None:
    config = UpConfig(data_dir=tmp_path, inventory_instances=2)
    layout = port_layout(8000, 2, inventory_instances=2)
    orders = next(slot for slot in layout.services if slot.service == "orders")

    env = service_env(orders, config, layout, "nats://127.0.0.1:8090", "token")

    assert env["FLASHSALE_INVENTORY_URLS"].split(",") == layout.urls("inventory")
    inventories = [slot for slot in layout.services if slot.service == "inventory"]
    assert {service_env(slot, config, layout, "", "t")["FLASHSALE_DATABASE_URL"] for slot in inventories} == {
        service_env(inventories[0], config, layout, "", "t")["FLASHSALE_DATABASE_URL"]
    }


@pytest.mark.parametrize("instances", [0, 90])
def test_an_inventory_count_that_cannot_fit_is_refused(instances: int) -> None:
    with pytest.raises(ValueError):
        port_layout(8000, 2, inventory_instances=instances)
