"""A house for a system-test module: every service as real processes via `flashsale up`'s own
machinery, handed over once every instance answers /health.

Starting a house costs ten seconds and more on a busy machine (a dozen Python processes importing
their frameworks), so the modules that ask nothing special of it (two order instances, SQLite,
a broker of its own, holds lasting `SHARED_HOLD_TTL_S`, nothing killed, nothing configured) share
one: the `shared_house` fixture (tests/system/conftest.py). They run one after the other, and
their tests make their own ids as a module's tests always have."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
from rich.console import Console

from flashsale.runtime.services_file import ServicesFile
from flashsale.sale.commands import running_house
from support import plain_http
from support.polling import wait_for

SHARED_HOLD_TTL_S = 600  # no module sharing the house waits for a hold to run out


@contextlib.contextmanager
def answering_house(data_dir: Path, *, hold_ttl_s: int, orders_instances: int = 2) -> Iterator[ServicesFile]:
    """A house (two order instances by default) whose every instance answers, holds lasting `hold_ttl_s`."""
    with running_house(data_dir, orders_instances=orders_instances, hold_ttl=hold_ttl_s,
                       console=Console(quiet=True)) as services:
        wait_for(lambda: _every_instance_answers(services), timeout_s=60, what="every instance to answer /health")
        yield services


def _every_instance_answers(services: ServicesFile) -> bool:
    try:
        return all(plain_http.get(f"{url}/health", timeout=2).status_code == 200
                   for urls in services.urls.values() for url in urls)
    except httpx.HTTPError:
        return False


@dataclass(frozen=True)
class SharedHouse:
    """The shared house's services, and the data directory its SQLite files and spans are in."""

    data_dir: Path
    services: ServicesFile


class HouseKeeper:
    """Keeps the shared house: started for the first test that asks for it, stopped once the test
    about to run next does not (or none does), so it never runs beside another module's house."""

    def __init__(self) -> None:
        self._running: contextlib.ExitStack | None = None
        self._house: SharedHouse | None = None

    def house(self, new_data_dir: Callable[[], Path]) -> SharedHouse:
        if self._house is None:
            running, data_dir = contextlib.ExitStack(), new_data_dir()
            services = running.enter_context(answering_house(data_dir, hold_ttl_s=SHARED_HOLD_TTL_S))
            self._running, self._house = running, SharedHouse(data_dir, services)
        return self._house

    def stop(self) -> None:
        if self._running is not None:
            running, self._running, self._house = self._running, None, None
            running.close()
