"""What `flashsale up` is asked to run, and where everything listens (docs/contract.md#starting).

Ports are a fixed layout above a base `P`: inventory on P+1, the order instances on P+2 up to
P+1+N, then payments, shipping, notifications, catalog, customers, gateway, monitor and reporting
on the next ones (extra inventory instances after them), and the embedded broker on P+90, far
enough above the services that adding instances never collides with it (and never the standard
4222 a system NATS holds).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import random
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from flashsale.kit.db_admin import service_database_url
from flashsale.runtime.nats_server import port_in_use

ADMIN_TOKEN_ENV = "FLASHSALE_ADMIN_TOKEN"
ADMIN_TOKEN_FILE = "admin-token"
BROKER_OFFSET = 90
# One instance each, on the ports right after the order instances, in this order.
SINGLE_SERVICES = ("payments", "shipping", "notifications", "catalog", "customers", "gateway", "monitor", "reporting")
MAX_PORT = 65535
WILDCARDS = ("0.0.0.0", "")  # IPv4's "every interface" (IPv6 addresses are not supported)


@dataclass(frozen=True)
class UpConfig:
    data_dir: Path
    port_base: int = 8000
    orders_instances: int = 2
    # Inventory processes on the one inventory database (each coalesces its own holds); the first
    # on P+1, the others after the single services.
    inventory_instances: int = 1
    database: str = ""
    broker: str = ""
    # The address every process listens on (services and the embedded broker). Beyond loopback the
    # internal APIs ask for the house's credential (kit/house_auth.py).
    bind: str = "127.0.0.1"
    hold_ttl: int = 600
    # None: FLASHSALE_ADMIN_TOKEN, else the token kept in the data directory, else a new one.
    admin_token: str | None = None
    log_level: str = field(default_factory=lambda: os.environ.get("FLASHSALE_LOG_LEVEL", "INFO"))
    startup_timeout_s: float = 60.0
    stop_timeout_s: float = 10.0
    # The longest wait before restarting an instance that keeps dying. A test that kills one on
    # purpose every few seconds (tests/system/test_saga_crashes.py) lowers it: otherwise each case
    # waits out the backoff its predecessors built up, which is not what it checks.
    restart_backoff_max_s: float = field(
        default_factory=lambda: float(os.environ.get("FLASHSALE_RESTART_BACKOFF_MAX_S", "10")))


@dataclass(frozen=True)
class Slot:
    """One process the house runs and the port it owns: `orders` instance 2 on 8003."""

    service: str
    instance: int
    port: int

    @property
    def name(self) -> str:
        return f"{self.service}-{self.instance}"


@dataclass(frozen=True)
class PortLayout:
    services: tuple[Slot, ...]
    broker_port: int | None
    bind: str = "127.0.0.1"

    def all_ports(self) -> list[tuple[str, int]]:
        """Every port the house will bind, with the name of its owner."""
        owned = [(slot.name, slot.port) for slot in self.services]
        if self.broker_port is not None:
            owned.append(("nats", self.broker_port))
        return owned

    def busy_ports(self) -> list[tuple[str, int]]:
        return [(owner, port) for owner, port in self.all_ports() if port_in_use(port, self.bind)]

    @property
    def host(self) -> str:
        """Where the house's processes call each other: the bound address, or this machine's
        loopback for a wildcard (which listens there too)."""
        return reachable(self.bind)

    def urls(self, service: str) -> list[str]:
        return [f"http://{self.host}:{slot.port}" for slot in self.services if slot.service == service]


def reachable(bind: str) -> str:
    return "127.0.0.1" if bind in WILDCARDS else bind


def port_layout(
    port_base: int, orders_instances: int, *, embedded_broker: bool = True, inventory_instances: int = 1,
    bind: str = "127.0.0.1",
) -> PortLayout:
    """The ports of every process, in start order: the services the order instances call first.
    Inventory instances beyond the first take the ports after the single services."""
    if orders_instances < 1 or inventory_instances < 1:
        raise ValueError("at least one order instance and one inventory instance are needed")
    payments_port = port_base + 2 + orders_instances
    extra_inventory_port = payments_port + len(SINGLE_SERVICES)
    if extra_inventory_port + inventory_instances - 2 >= port_base + BROKER_OFFSET:
        raise ValueError(
            f"{orders_instances} order and {inventory_instances} inventory instances do not fit below the broker port"
        )
    if port_base < 1 or port_base + BROKER_OFFSET > MAX_PORT:
        raise ValueError(f"port base {port_base} leaves no room for the house (1..{MAX_PORT - BROKER_OFFSET})")
    orders = [Slot("orders", n, port_base + 1 + n) for n in range(1, orders_instances + 1)]
    singles = [Slot(service, 1, payments_port + n) for n, service in enumerate(SINGLE_SERVICES)]
    inventory = [Slot("inventory", 1, port_base + 1)]
    inventory += [Slot("inventory", n, extra_inventory_port + n - 2) for n in range(2, inventory_instances + 1)]
    slots = (*inventory, *singles, *orders)
    return PortLayout(slots, port_base + BROKER_OFFSET if embedded_broker else None, bind)


def find_free_port_base(orders_instances: int = 2, *, low: int = 10000, high: int = 32000,
                        attempts: int = 200) -> int:
    """A base whose whole layout is free right now, for tests and the demo (not a reservation).

    The default range stays below Linux's ephemeral ports (32768 up), which outgoing connections
    take at random and would make a port that looked free busy a moment later.
    """
    for _ in range(attempts):
        base = random.randrange(low, high, 100)
        if not port_layout(base, orders_instances).busy_ports():
            return base
    raise RuntimeError(f"no free port range found between {low} and {high}")


def resolve_admin_token(data_dir: Path, given: str | None = None) -> str:
    """The admin token: given, else from the environment, else the one kept in the data directory.

    A generated token is kept (mode 0600) so that `up` restarted on the same directory keeps the
    token that scripts and services.json readers already know.
    """
    if given:
        return given
    from_env = os.environ.get(ADMIN_TOKEN_ENV, "")
    if from_env:
        return from_env
    kept = data_dir / ADMIN_TOKEN_FILE
    if kept.exists():
        token = kept.read_text().strip()
        if token:
            return token
    token = secrets.token_urlsafe(24)
    data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(kept, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(token + "\n")
    return token


def gateway_secret(admin_token: str) -> str:
    """The key the gateway signs tokens with, derived from the admin token: stable across restarts
    of `up` on one data directory (tokens stay valid), and not the admin token itself."""
    return hmac.new(admin_token.encode(), b"flashsale gateway token signing", hashlib.sha256).hexdigest()


def service_env(slot: Slot, config: UpConfig, layout: PortLayout, broker_url: str, admin_token: str) -> dict[str, str]:
    """The FLASHSALE_* settings of one instance (port and host are set by ServiceProcess)."""
    data_dir = config.data_dir.resolve()
    return {
        "FLASHSALE_DATABASE_URL": service_database_url(config.database, slot.service, data_dir),
        "FLASHSALE_BROKER_URL": broker_url,
        "FLASHSALE_ADMIN_TOKEN": admin_token,
        "FLASHSALE_INSTANCE": str(slot.instance),
        "FLASHSALE_HOLD_TTL": str(config.hold_ttl),
        "FLASHSALE_LOG_LEVEL": config.log_level,
        # Spans kept as JSON lines for `flashsale trace` (an OTLP endpoint in the environment wins).
        "FLASHSALE_TRACE_DIR": str(data_dir / "traces"),
        # Every service learns where the others are; only those that call them read it.
        "FLASHSALE_INVENTORY_URLS": ",".join(layout.urls("inventory")),
        "FLASHSALE_PAYMENTS_URLS": ",".join(layout.urls("payments")),
        "FLASHSALE_SHIPPING_URLS": ",".join(layout.urls("shipping")),
        "FLASHSALE_CATALOG_URLS": ",".join(layout.urls("catalog")),
        "FLASHSALE_CUSTOMERS_URLS": ",".join(layout.urls("customers")),
        "FLASHSALE_ORDERS_URLS": ",".join(layout.urls("orders")),
        "FLASHSALE_NOTIFICATIONS_URLS": ",".join(layout.urls("notifications")),
        # The monitor's dashboard scrapes every service's /metrics, these two as well.
        "FLASHSALE_GATEWAY_URLS": ",".join(layout.urls("gateway")),
        "FLASHSALE_REPORTING_URLS": ",".join(layout.urls("reporting")),
        "FLASHSALE_GATEWAY_SECRET": gateway_secret(admin_token),
    }
