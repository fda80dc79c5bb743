"""A whole house for a bench, as an operator starts one: `flashsale up` on one database backend.

Every service its own process, its own broker; FLASHSALE_* settings in the bench's environment
reach every service. On PostgreSQL the house gets a fresh database prefix (bench.postgres) and
its databases are dropped when it stops; on SQLite its files live in a temporary folder, removed
afterwards unless the run failed (then kept, and said where, for whoever looks into it).

The house's gateway trusts the bench as its proxy (FLASHSALE_TRUSTED_PROXIES=127.0.0.1): the
bench stands where a load balancer would and names a client address per buyer in
X-Forwarded-For, so that the per-client rate limit sees buyers, not one load generator (a
request without that header comes from the bench's own address, as it would untrusted).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from flashsale.kit.db_admin import drop_postgres_database, service_database_url
from flashsale.runtime.config import SINGLE_SERVICES, find_free_port_base
from flashsale.runtime.services_file import ServicesFile, load_services

ORDERS_INSTANCES = 2  # as `flashsale up` runs by default
HOLD_TTL_S = 600  # no hold expires during a run
PROXY = "127.0.0.1"  # the bench, trusted by the gateway as its proxy


@contextlib.contextmanager
def temporary_house(backend: str, database: str) -> Iterator[ServicesFile]:
    """`house` in a fresh temporary folder, removed once the block and the house's stop went
    through; kept (its files and logs) when anything failed."""
    tmp = Path(tempfile.mkdtemp(prefix="flashsale-bench-checkout-"))
    audited = False
    try:
        with house(tmp / "house", database) as services:
            yield services
        audited = True
    finally:
        if audited:
            shutil.rmtree(tmp, ignore_errors=True)
        else:  # what the house wrote, for whoever looks into the failure
            print(f"the {backend} house's files and logs are kept in {tmp}/house", flush=True)


@contextlib.contextmanager
def house(data_dir: Path, database: str) -> Iterator[ServicesFile]:
    """`flashsale up` as a child process on `database` ("" for SQLite files in `data_dir`) until
    the block ends; its PostgreSQL databases are dropped afterwards."""
    command = [sys.executable, "-m", "flashsale.cli", "up", "--data-dir", str(data_dir),
               "--port-base", str(find_free_port_base(ORDERS_INSTANCES)),
               "--orders-instances", str(ORDERS_INSTANCES), "--hold-ttl", str(HOLD_TTL_S)]
    data_dir.mkdir(parents=True, exist_ok=True)
    with open(data_dir / "up.log", "ab") as log:
        up = subprocess.Popen([*command, *(["--database", database] if database else [])], stdout=log,
                              stderr=subprocess.STDOUT, env={**os.environ, "FLASHSALE_TRUSTED_PROXIES": PROXY})
    try:
        yield _wait_for_services(data_dir, up)
    finally:
        up.send_signal(signal.SIGTERM)
        try:
            up.wait(60)
        except subprocess.TimeoutExpired:
            up.kill()
        if database:  # whichever of them the services got to create
            for service in ("inventory", "orders", *SINGLE_SERVICES):
                asyncio.run(drop_postgres_database(service_database_url(database, service)))


def _wait_for_services(data_dir: Path, up: subprocess.Popen[bytes]) -> ServicesFile:
    deadline = time.monotonic() + 180
    while not (data_dir / "services.json").exists():
        if up.poll() is not None or time.monotonic() > deadline:
            tail = (data_dir / "up.log").read_text(errors="replace")[-3000:]
            raise SystemExit(f"flashsale up did not start:\n{tail}")
        time.sleep(0.2)
    return load_services(data_dir)
