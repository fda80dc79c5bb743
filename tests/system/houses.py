"""A house for a system-test module: every service as real processes via `flashsale up`'s own
machinery, handed over once every instance answers /health."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import httpx
from rich.console import Console

from flashsale.runtime.services_file import ServicesFile
from flashsale.sale.commands import running_house
from polling import wait_for


@contextlib.contextmanager
def answering_house(data_dir: Path, *, hold_ttl_s: int, orders_instances: int = 2) -> Iterator[ServicesFile]:
    """A house (two order instances by default) whose every instance answers, holds lasting `hold_ttl_s`."""
    with running_house(data_dir, orders_instances=orders_instances, hold_ttl=hold_ttl_s,
                       console=Console(quiet=True)) as services:
        wait_for(lambda: _every_instance_answers(services), timeout_s=60, what="every instance to answer /health")
        yield services


def _every_instance_answers(services: ServicesFile) -> bool:
    try:
        return all(httpx.get(f"{url}/health", timeout=2).status_code == 200
                   for urls in services.urls.values() for url in urls)
    except httpx.HTTPError:
        return False
