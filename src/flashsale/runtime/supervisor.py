"""`flashsale up`: run the whole house locally and keep it running (docs/contract.md#starting).

A `House` starts the broker (unless one is given), then inventory, payments, shipping, notifications and the order
instances, each as its own process; when every one answers /health it writes services.json. A
monitor thread then restarts whatever dies (with backoff, see `restart`) and rewrites the file
with the new pid. `stop()` stops the services together and the broker last, and removes nothing
from the data directory, so the next `up` on it carries on where this one stopped.

The demo uses `House` directly (from any thread, or as a context manager); `run_up` adds what
only a command needs: signal handling, printing and exit codes.
"""

from __future__ import annotations

import fcntl
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType, TracebackType
from typing import IO, Any

from rich.console import Console
from rich.table import Table

from flashsale.runtime.children import BrokerChild, ServiceChild, log_tail
from flashsale.runtime.config import PortLayout, UpConfig, port_layout, resolve_admin_token, service_env
from flashsale.runtime.errors import HouseError, HouseInUse, StartupFailed, StartupInterrupted
from flashsale.runtime.pages import page_urls
from flashsale.runtime.process import ServiceProcess
from flashsale.runtime.restart import Backoff, Child, Notice, NoticeKind, Watch
from flashsale.runtime.services_file import SERVICES_FILE, ServiceInstance, ServicesFile, write_services

__all__ = ["House", "HouseError", "UpConfig", "run_up"]

BROKER_START_TIMEOUT_S = 15.0
POLL_INTERVAL_S = 0.1
MONITOR_INTERVAL_S = 0.25
LOCK_FILE = "up.lock"


class House:
    """Every process of one local deployment, its services.json, and the thread that keeps it up."""

    def __init__(self, config: UpConfig, console: Console | None = None) -> None:
        self.config = config
        self.data_dir = config.data_dir.resolve()
        self.console = console
        self.layout: PortLayout = port_layout(
            config.port_base, config.orders_instances, embedded_broker=not config.broker,
            inventory_instances=config.inventory_instances, bind=config.bind,
        )
        self.broker: BrokerChild | None = None
        self.services: list[ServiceChild] = []
        self.admin_token = ""
        self._stopping = threading.Event()
        self._stop_lock = threading.Lock()
        self._file_lock = threading.Lock()
        self._monitor: threading.Thread | None = None
        self._dir_lock: IO[str] | None = None

    @property
    def services_path(self) -> Path:
        return self.data_dir / SERVICES_FILE

    @property
    def broker_url(self) -> str:
        return self.config.broker or f"nats://{self.layout.host}:{self.layout.broker_port}"

    def start(self) -> dict[str, Any]:
        """Start everything and wait until it is healthy; the services.json content on success.

        On any failure whatever was started is stopped again before the error is raised.
        """
        try:
            self._claim()
            self._start_children()
        except BaseException:
            self.stop()
            raise
        content = self._publish()
        self._monitor = threading.Thread(target=self._keep_up, name="flashsale-supervisor", daemon=True)
        self._monitor.start()
        return content

    def request_stop(self) -> None:
        """Ask a running `start()` or `wait()` to return; safe from a signal handler."""
        self._stopping.set()

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until `request_stop()` (True) or the timeout (False)."""
        return self._stopping.wait(timeout_s)

    def stop(self) -> None:
        """Stop every child (SIGTERM, then SIGKILL after the timeout), the broker last.

        Safe to call more than once and from any thread; a stopped house is not started again.
        """
        self._stopping.set()
        with self._stop_lock:
            if self._monitor is not None and self._monitor is not threading.current_thread():
                self._monitor.join()
            _stop_together(list(reversed(self.services)), self.config.stop_timeout_s, self._say)
            if self.broker is not None:
                _stop_together([self.broker], self.config.stop_timeout_s, self._say)
            self._release()

    def __enter__(self) -> House:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()

    def services_file(self) -> ServicesFile:
        instances: dict[str, list[ServiceInstance]] = {}
        # Sorted by service only: the sort is stable, so instances keep their order (2 before 10).
        for child in sorted(self.services, key=lambda c: c.process.service):
            instances.setdefault(child.process.service, []).append(ServiceInstance(child.url, child.pid or 0))
        return ServicesFile(self.broker_url, self.admin_token, instances)

    # -- starting -------------------------------------------------------------------------------

    def _claim(self) -> None:
        """Take the data directory and check every port, before anything is started."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._dir_lock = _lock_data_dir(self.data_dir)
        busy = self.layout.busy_ports()
        if busy:
            self._release()
            owners = ", ".join(f"{port} ({owner})" for owner, port in busy)
            verb = "port {} is" if len(busy) == 1 else "ports {} are"
            raise HouseInUse(f"{verb.format(owners)} already in use; stop what holds it or pick another --port-base")
        self.admin_token = resolve_admin_token(self.data_dir, self.config.admin_token)

    def _start_children(self) -> None:
        logs = self.data_dir / "logs"
        if self.layout.broker_port is not None:
            self.broker = BrokerChild(self.data_dir / "nats", self.layout.broker_port, logs / "nats.log",
                                      bind=self.config.bind)
            self._say(f"starting nats on {self.broker.url}")
            self.broker.start()
            self._await_ready([self.broker], BROKER_START_TIMEOUT_S)
        for slot in self.layout.services:
            env = service_env(slot, self.config, self.layout, self.broker_url, self.admin_token)
            process = ServiceProcess(slot.service, slot.port, env, log_file=logs / f"{slot.name}.log",
                                     host=self.config.bind)
            self.services.append(ServiceChild(slot.name, process))
        for child in self.services:
            child.start()
        self._say(f"waiting for {len(self.services)} service processes to answer /health")
        self._await_ready(list(self.services), self.config.startup_timeout_s)

    def _await_ready(self, children: Sequence[Child], timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        pending = list(children)
        while pending:
            for child in list(pending):
                if not child.is_running():
                    if self._stopping.is_set():  # stopped by our own stop(), not a crash
                        raise StartupInterrupted("stopped while starting")
                    raise _failed(child, f"{child.name} exited with code {child.exit_code()} while starting")
                if child.is_ready():
                    pending.remove(child)
            if pending and time.monotonic() > deadline:
                raise _failed(pending[0], f"{pending[0].name} not healthy after {timeout_s:g} s")
            if pending and self._stopping.wait(POLL_INTERVAL_S):
                raise StartupInterrupted("stopped while starting")

    def _publish(self) -> dict[str, Any]:
        """Write services.json from the pids running now (atomically, mode 0600)."""
        with self._file_lock:
            content = self.services_file()
            write_services(self.services_path, content)
            return content.to_json()

    # -- keeping it up --------------------------------------------------------------------------

    def _keep_up(self) -> None:
        watched: list[Child] = [*([self.broker] if self.broker else []), *self.services]
        watches = [Watch(child, startup_timeout_s=self.config.startup_timeout_s,
                         backoff=Backoff(maximum_s=self.config.restart_backoff_max_s)) for child in watched]
        while not self._stopping.wait(MONITOR_INTERVAL_S):
            for watch in watches:
                if self._stopping.is_set():
                    return
                try:
                    notice = watch.tick(time.monotonic())
                    if notice is not None:
                        self._on_notice(notice)
                except Exception as error:  # noqa: BLE001 - one bad tick must not end all supervision
                    self._say(f"supervising {watch.child.name} failed once: {error!r}")

    def _on_notice(self, notice: Notice) -> None:
        self._say(f"{notice.name} {notice.kind.value}: {notice.detail}")
        if notice.kind is NoticeKind.BACK and notice.name != "nats":
            self._publish()

    def _say(self, message: str) -> None:
        if self.console is not None:
            self.console.print(message, highlight=False)

    def _release(self) -> None:
        if self._dir_lock is not None:
            self._dir_lock.close()  # closing the descriptor drops the flock
            self._dir_lock = None


def _lock_data_dir(data_dir: Path) -> IO[str]:
    """One house per data directory: two would share SQLite files and the broker's store."""
    handle = open(data_dir / LOCK_FILE, "a+")  # noqa: SIM115 - held open for the house's life
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "?"
        handle.close()
        raise HouseInUse(f"{data_dir} is used by another flashsale up (pid {holder})") from None
    handle.truncate(0)
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


def _failed(child: Child, message: str) -> StartupFailed:
    return StartupFailed(f"{message} (log: {child.log_file})", log_tail(child.log_file))


def _stop_together(children: Sequence[Child], timeout_s: float, say: Callable[[str], None]) -> None:
    """SIGTERM to all first, so they shut down in parallel; SIGKILL for any still there."""
    stoppable = [child for child in children if child.is_running()]
    for child in stoppable:
        child.terminate()
    deadline = time.monotonic() + timeout_s
    for child in stoppable:
        if not child.wait(deadline - time.monotonic()):
            say(f"{child.name} did not stop {timeout_s:g} s after SIGTERM; killed (log: {child.log_file})")
            child.kill()


# -- the command ----------------------------------------------------------------------------------


def run_up(config: UpConfig) -> int:
    """`flashsale up`: start the house, run it until SIGINT/SIGTERM; the process exit code."""
    out = Console(soft_wrap=True)
    try:
        house = House(config, console=out)
    except ValueError as error:
        _complain(str(error))
        return 2
    previous = _on_stop_signals(house.request_stop)
    try:
        return _run(house, out)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _run(house: House, out: Console) -> int:
    try:
        house.start()
    except StartupInterrupted:
        return 0
    except StartupFailed as error:
        _complain(str(error))
        if error.log_tail:
            print(f"--- log tail ---\n{error.log_tail}", file=sys.stderr)
        return error.exit_code
    except (HouseError, OSError) as error:
        _complain(str(error))
        return error.exit_code if isinstance(error, HouseError) else 1
    _print_house(house, out)
    house.wait()
    out.print("stopping …", highlight=False)
    house.stop()
    out.print(f"stopped; data kept in {house.data_dir}", highlight=False)
    return 0


def _complain(message: str) -> None:
    """One plain line on stderr (no rich wrapping: scripts grep it)."""
    print(f"flashsale up: {message}", file=sys.stderr, flush=True)


def _on_stop_signals(stop: Callable[[], None]) -> dict[int, Any]:
    def handler(signum: int, frame: FrameType | None) -> None:
        stop()

    previous: dict[int, Any] = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        previous[signum] = signal.signal(signum, handler)
    return previous


def _print_house(house: House, out: Console) -> None:
    table = Table(title="flashsale is up", title_justify="left")
    for column in ("service", "url", "pid"):
        table.add_column(column)
    for name, instances in house.services_file().instances.items():
        for instance in instances:
            table.add_row(name, instance.url, str(instance.pid))
    out.print(table)
    for page, url in page_urls(house.services_file()).items():
        out.print(f"{page:<15}{url}", highlight=False)
    out.print(f"broker         {house.broker_url}", highlight=False)
    out.print(f"services.json  {house.services_path}", highlight=False)
    out.print(f"logs           {house.data_dir / 'logs'}", highlight=False)
    out.print("Ctrl-C stops every process; the data stays in the directory.", highlight=False)
    sys.stdout.flush()
