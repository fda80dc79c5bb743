"""The processes a house runs, behind one interface (`restart.Child`): services and the broker."""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import time
from pathlib import Path

from flashsale.runtime.config import reachable
from flashsale.runtime.nats_server import start_nats
from flashsale.runtime.process import ServiceProcess

LOG_TAIL_LINES = 30


def log_tail(log_file: Path, lines: int = LOG_TAIL_LINES) -> str:
    if not log_file.exists():
        return ""
    return "\n".join(log_file.read_text(errors="replace").splitlines()[-lines:])


def mark_start(log_file: Path, name: str) -> None:
    """A line in the log between two runs of one instance, so a crash and its restart read apart."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    with open(log_file, "a") as out:
        out.write(f"--- flashsale up: starting {name} at {stamp} ---\n")


class _Popened:
    """Stopping and reaping, the same for every child that wraps a `subprocess.Popen`."""

    def _popen(self) -> subprocess.Popen[bytes] | None:
        raise NotImplementedError

    @property
    def pid(self) -> int | None:
        popen = self._popen()
        return popen.pid if popen else None

    def is_running(self) -> bool:
        popen = self._popen()
        return popen is not None and popen.poll() is None

    def exit_code(self) -> int | None:
        popen = self._popen()
        return popen.poll() if popen else None

    def terminate(self) -> None:
        if self.is_running():
            self._signal(signal.SIGTERM)

    def wait(self, timeout_s: float) -> bool:
        popen = self._popen()
        if popen is None:
            return True
        try:
            popen.wait(max(timeout_s, 0.0))
        except subprocess.TimeoutExpired:
            return False
        return True

    def kill(self) -> None:
        if self.is_running():
            self._signal(signal.SIGKILL)
            self.wait(10.0)

    def _signal(self, signum: int) -> None:
        popen = self._popen()
        assert popen is not None
        with contextlib.suppress(ProcessLookupError):  # it died between our poll and the signal
            popen.send_signal(signum)


class ServiceChild(_Popened):
    """One service instance (`python -m flashsale.services.<service>`) on its own port."""

    def __init__(self, name: str, process: ServiceProcess) -> None:
        assert process.log_file is not None, "the house keeps every instance's log"
        self.name = name
        self.process = process
        self.log_file: Path = process.log_file

    @property
    def url(self) -> str:
        return self.process.url

    def _popen(self) -> subprocess.Popen[bytes] | None:
        return self.process.popen

    def start(self) -> None:
        mark_start(self.log_file, self.name)
        self.process.start()

    def is_ready(self) -> bool:
        return self.process.is_healthy()


class BrokerChild(_Popened):
    """The embedded NATS JetStream server, its files under `store_dir`."""

    def __init__(self, store_dir: Path, port: int, log_file: Path, *, bind: str = "127.0.0.1") -> None:
        self.name = "nats"
        self.store_dir = store_dir
        self.port = port
        self.bind = bind
        self.host = reachable(bind)
        self.log_file = log_file
        self.popen: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    def _popen(self) -> subprocess.Popen[bytes] | None:
        return self.popen

    def start(self) -> None:
        mark_start(self.log_file, self.name)
        self.popen = start_nats(self.store_dir, self.port, self.log_file, own_session=True, bind=self.bind)

    def is_ready(self) -> bool:
        with socket.socket() as sock:
            sock.settimeout(0.5)
            return sock.connect_ex((self.host, self.port)) == 0
