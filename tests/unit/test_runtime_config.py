"""Where `flashsale up` puts every process, and which admin token it hands them."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from flashsale.runtime.config import (
    ADMIN_TOKEN_ENV,
    UpConfig,
    port_layout,
    resolve_admin_token,
    service_env,
)

pytestmark = pytest.mark.unit


def test_default_layout_matches_the_contract_example() -> None:
    layout = port_layout(8000, 2)

    assert [(slot.name, slot.port) for slot in layout.services] == [
        ("inventory-1", 8001), ("payments-1", 8004), ("shipping-1", 8005), ("notifications-1", 8006),
        ("catalog-1", 8007), ("customers-1", 8008), ("gateway-1", 8009),
        ("monitor-1", 8010), ("reporting-1", 8011), ("orders-1", 8002), ("orders-2", 8003),
    ]
    assert layout.broker_port == 8090


def test_the_single_services_move_up_with_more_order_instances_and_the_broker_stays_put() -> None:
    layout = port_layout(9000, 5)

    ports = {slot.name: slot.port for slot in layout.services}
    assert [ports[f"orders-{n}"] for n in range(1, 6)] == [9002, 9003, 9004, 9005, 9006]
    assert (ports["payments-1"], ports["shipping-1"], ports["notifications-1"]) == (9007, 9008, 9009)
    assert layout.broker_port == 9090


def test_no_broker_port_is_claimed_when_an_external_broker_is_given() -> None:
    layout = port_layout(8000, 2, embedded_broker=False)

    assert layout.broker_port is None
    assert ("nats", 8090) not in layout.all_ports()


def test_the_standard_nats_port_is_never_the_embedded_one() -> None:
    assert all(port_layout(base, 2).broker_port != 4222 for base in range(1000, 60000, 100))


@pytest.mark.parametrize(("base", "orders"), [(8000, 0), (8000, 88), (65500, 2), (0, 2)])
def test_a_layout_that_cannot_fit_is_refused(base: int, orders: int) -> None:
    with pytest.raises(ValueError):
        port_layout(base, orders)


def test_a_generated_admin_token_is_kept_private_and_reused(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ADMIN_TOKEN_ENV, raising=False)

    first = resolve_admin_token(tmp_path)
    second = resolve_admin_token(tmp_path)

    assert first == second
    assert len(first) >= 24
    assert stat.S_IMODE((tmp_path / "admin-token").stat().st_mode) == 0o600


def test_each_data_directory_gets_its_own_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ADMIN_TOKEN_ENV, raising=False)

    assert resolve_admin_token(tmp_path / "a") != resolve_admin_token(tmp_path / "b")


def test_the_environment_token_wins_over_the_kept_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ADMIN_TOKEN_ENV, raising=False)
    resolve_admin_token(tmp_path)
    monkeypatch.setenv(ADMIN_TOKEN_ENV, "from-the-environment")

    assert resolve_admin_token(tmp_path) == "from-the-environment"
    assert resolve_admin_token(tmp_path, "given") == "given"


def test_order_instances_learn_where_inventory_and_payments_listen(tmp_path: Path) -> None:
    config = UpConfig(data_dir=tmp_path, port_base=8000, orders_instances=2, hold_ttl=30)
    layout = port_layout(8000, 2)
    second_orders = next(slot for slot in layout.services if slot.name == "orders-2")

    env = service_env(second_orders, config, layout, "nats://127.0.0.1:8090", "secret")

    assert env["FLASHSALE_INSTANCE"] == "2"
    assert env["FLASHSALE_INVENTORY_URLS"] == "http://127.0.0.1:8001"
    assert env["FLASHSALE_PAYMENTS_URLS"] == "http://127.0.0.1:8004"
    assert env["FLASHSALE_SHIPPING_URLS"] == "http://127.0.0.1:8005"
    assert env["FLASHSALE_HOLD_TTL"] == "30"
    assert env["FLASHSALE_BROKER_URL"] == "nats://127.0.0.1:8090"
    assert env["FLASHSALE_ADMIN_TOKEN"] == "secret"
    assert env["FLASHSALE_DATABASE_URL"] == f"sqlite:///{tmp_path.resolve()}/orders.db"


def test_a_postgres_base_gives_each_service_its_own_database(tmp_path: Path) -> None:
    config = UpConfig(data_dir=tmp_path, database="postgresql://postgres@127.0.0.1/")
    layout = port_layout(8000, 1)

    urls = {slot.service: service_env(slot, config, layout, "nats://x", "t")["FLASHSALE_DATABASE_URL"]
            for slot in layout.services}

    assert urls == {
        "inventory": "postgresql://postgres@127.0.0.1/flashsale_inventory",
        "orders": "postgresql://postgres@127.0.0.1/flashsale_orders",
        "payments": "postgresql://postgres@127.0.0.1/flashsale_payments",
        "shipping": "postgresql://postgres@127.0.0.1/flashsale_shipping",
        "notifications": "postgresql://postgres@127.0.0.1/flashsale_notifications",
        "catalog": "postgresql://postgres@127.0.0.1/flashsale_catalog",
        "customers": "postgresql://postgres@127.0.0.1/flashsale_customers",
        "gateway": "postgresql://postgres@127.0.0.1/flashsale_gateway",  # stateless: given, never opened
        "monitor": "postgresql://postgres@127.0.0.1/flashsale_monitor",  # stateless too
        "reporting": "postgresql://postgres@127.0.0.1/flashsale_reporting",  # never opened: a DuckDB file
    }
