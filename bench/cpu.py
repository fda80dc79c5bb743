"""CPU time the house's processes spend, read from /proc: what a bench's load costs the house.

`house_processes` names every service instance of a house; `cpu_now` reads what each has used so
far, `cpu_over` their CPU around a stretch of time, and `cpu_during` does it in a thread for a
load's measured window while the load runs (bench.checkout, bench.profile_checkout).
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from flashsale.runtime.services_file import ServicesFile


def process_cpu_s(pid: int | None) -> float:
    """User and system CPU seconds the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def house_processes(services: ServicesFile) -> dict[int, str]:
    """pid -> service-instance name (`orders-2`), for every instance in the house."""
    return {instance.pid: f"{name}-{n}" for name, found in services.instances.items()
            for n, instance in enumerate(found, start=1)}


def cpu_now(pids: dict[int, str]) -> dict[str, float]:
    """CPU seconds each process (by name) has used so far."""
    return {name: process_cpu_s(pid) for pid, name in pids.items()}


def cpu_over(pids: dict[int, str], seconds: float) -> dict[str, float]:
    """CPU seconds each process spent over the next `seconds`."""
    before = cpu_now(pids)
    time.sleep(seconds)
    return {name: spent - before[name] for name, spent in cpu_now(pids).items()}


@contextlib.contextmanager
def cpu_during(pids: dict[int, str], opens_in_s: float, seconds: float) -> Iterator[dict[str, float]]:
    """CPU seconds each process spends over `seconds` from `opens_in_s` seconds on (a load's
    measured window, the load running in the block), read in a thread; the dict yielded is
    filled in by the time the block ends."""
    spent: dict[str, float] = {}

    def measure() -> None:
        time.sleep(opens_in_s)
        spent.update(cpu_over(pids, seconds))

    reader = threading.Thread(target=measure, daemon=True)
    reader.start()
    try:
        yield spent
    finally:
        reader.join(opens_in_s + seconds + 10)
