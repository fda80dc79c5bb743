"""Faults done to a running house on a schedule, while a sale runs (`FaultSchedule`).

Each fault is a function that does something real to the house (kills, pauses or stops one of
its processes, its broker or its database), waits for as long as the fault lasts, undoes what
the supervisor would not undo by itself, and says what it did. A schedule runs each one at its
moment after the sale opens, in a thread of its own (faults overlap, as they do in production),
and keeps the log of what was injected for the test to print.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from own_servers import OwnBroker, OwnPostgres

from flashsale.runtime.services_file import load_services

# A fault does its work and returns what it did, in words, or raises NotInjected.
Inject = Callable[[], str]


class NotInjected(RuntimeError):
    """The fault could not be done (its moment never came): the test that wanted it fails."""


@dataclass(frozen=True)
class Fault:
    at_s: float  # after the sale opens
    name: str
    inject: Inject


class FaultSchedule(threading.Thread):
    """Runs `faults`, each at its moment; `stop` (the sale has ended) cancels those not yet begun,
    never one under way: a stopped broker is always started again."""

    def __init__(self, faults: Sequence[Fault]) -> None:
        super().__init__(daemon=True)
        self.faults = list(faults)
        self.injected: list[str] = []
        self.missed: list[str] = []
        self.stop = threading.Event()
        self._lock = threading.Lock()

    def run(self) -> None:
        opened = time.monotonic()
        workers = [threading.Thread(target=self._run_one, args=(fault, opened), daemon=True) for fault in self.faults]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()

    def _run_one(self, fault: Fault, opened: float) -> None:
        if self.stop.wait(max(0.0, opened + fault.at_s - time.monotonic())):
            self._note(self.missed, f"{fault.name}: the sale ended first")
            return
        began = time.monotonic() - opened
        try:
            done = fault.inject()
        except NotInjected as why:
            self._note(self.missed, f"{fault.name}: {why}")
            return
        self._note(self.injected, f"{began:5.1f}-{time.monotonic() - opened:5.1f} s  {done}")

    def _note(self, where: list[str], line: str) -> None:
        with self._lock:
            where.append(line)


def _pid(services_json: Path, service: str, instance: int) -> int:
    return load_services(services_json).instances[service][instance].pid


def _hold(seconds: float) -> None:
    """The fault lasting: this wait is what is being injected, not synchronisation."""
    threading.Event().wait(seconds)


def kill_at_crash_point(services_json: Path, faults_dir: Path, service: str, point: str, within_s: float) -> Inject:
    """Arm `point` (kit/faults.py) and wait until a process of `service` reaches it and dies there."""
    def inject() -> str:
        pid = _pid(services_json, service, 0)
        armed = faults_dir / point
        armed.touch()
        deadline = time.monotonic() + within_s
        while armed.exists():
            if time.monotonic() > deadline:
                armed.unlink(missing_ok=True)
                raise NotInjected(f"no {service} process reached {point} within {within_s:g} s")
            time.sleep(0.05)
        return f"{service}:{pid} killed at {point}"
    return inject


def stop_broker(broker: OwnBroker, down_s: float) -> Inject:
    def inject() -> str:
        pid = broker.kill()
        _hold(down_s)
        broker.start()
        return f"nats:{pid} killed, down {down_s:g} s, started again"
    return inject


def restart_database(database: OwnPostgres, down_s: float) -> Inject:
    def inject() -> str:
        database.stop()
        _hold(down_s)
        database.start()
        return f"postgresql stopped (fast: sessions cut off), down {down_s:g} s, started again"
    return inject


def pause(services_json: Path, service: str, instance: int, paused_s: float) -> Inject:
    def inject() -> str:
        pid = _pid(services_json, service, instance)
        os.kill(pid, signal.SIGSTOP)
        try:
            _hold(paused_s)
        finally:
            os.kill(pid, signal.SIGCONT)
        return f"{service}:{pid} paused (SIGSTOP) for {paused_s:g} s"
    return inject


def kill_repeatedly(services_json: Path, victims: Sequence[tuple[str, int]], every_s: float) -> Inject:
    """SIGKILL each victim in turn, `every_s` apart; one still down from its last kill is skipped."""
    def inject() -> str:
        killed: list[str] = []
        for n, (service, instance) in enumerate(victims):
            if n:
                _hold(every_s)
            pid = _pid(services_json, service, instance)
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                continue
            killed.append(f"{service}:{pid}")
        if not killed:
            raise NotInjected("every victim was already down")
        return f"killed every {every_s:g} s: {', '.join(killed)}"
    return inject
