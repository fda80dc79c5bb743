"""One service instance as a real OS process: `python -m flashsale.services.<name>`.

Used by `flashsale up`, the demo and the tests alike, so every test of a service talks to the
same process a user runs.
"""

from __future__ import annotations

import functools
import os
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from flashsale.runtime.config import reachable


@functools.cache
def _tls() -> ssl.SSLContext:
    """One TLS context for every health probe. Without it httpx builds one per call, loading the
    system's certificates: ~20 ms of CPU a probe (measured), though the probes speak plain HTTP,
    and a start polls every 0.1 s."""
    return ssl.create_default_context()


@dataclass
class ServiceProcess:
    service: str
    port: int
    env: dict[str, str]
    log_file: Path | None = None
    host: str = "127.0.0.1"
    # The module to run instead of the service's own (`flashsale.services.<service>`): the bench
    # runs its baseline inventory (bench/naive_inventory.py) so.
    module: str | None = None
    popen: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _terminated: bool = field(default=False, repr=False)  # SIGTERM sent (a second one would force the exit)

    @property
    def url(self) -> str:
        """Where to call it (a wildcard `host` is listened on at this machine's loopback too)."""
        return f"http://{reachable(self.host)}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen else None

    def start(self) -> ServiceProcess:
        self._terminated = False
        env = {**os.environ, **self.env, "FLASHSALE_PORT": str(self.port), "FLASHSALE_HOST": self.host,
               "FLASHSALE_PARENT_PID": str(os.getpid())}
        command = [sys.executable, "-m", self.module or f"flashsale.services.{self.service}"]
        if self.log_file is None:
            self.popen = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                                          start_new_session=True)
            return self
        with open(self.log_file, "ab") as out:  # the child keeps its own copy of the descriptor
            self.popen = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT,
                                          start_new_session=True)
        return self

    def is_running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def is_healthy(self) -> bool:
        """This service answers its health check as healthy. The answer must name the service: a
        port chosen free can be taken by another process before ours binds it (ours then exits),
        and that process's health is not ours."""
        try:
            answer = httpx.get(f"{self.url}/health", timeout=1.0, verify=_tls())
            return answer.status_code == 200 and answer.json().get("service") == self.service
        except (httpx.HTTPError, ValueError, AttributeError):
            return False

    def wait_healthy(self, timeout_s: float = 30.0) -> ServiceProcess:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self.is_running():
                raise RuntimeError(f"{self.service} on :{self.port} exited with {self.popen and self.popen.returncode}"
                                   f"{self._log_tail()}")
            if self.is_healthy():
                return self
            time.sleep(0.1)
        raise TimeoutError(f"{self.service} on :{self.port} not healthy after {timeout_s}s{self._log_tail()}")

    def _log_tail(self) -> str:
        if self.log_file and self.log_file.exists():
            return "\n--- log tail ---\n" + "\n".join(self.log_file.read_text(errors="replace").splitlines()[-30:])
        return ""

    def kill(self) -> None:
        """SIGKILL: the crash a test wants (no shutdown hooks run)."""
        if self.is_running():
            assert self.popen is not None
            self.popen.send_signal(signal.SIGKILL)
            self.popen.wait(10)

    def terminate(self) -> None:
        """SIGTERM without waiting, so that several processes shut down side by side; `stop` waits.
        Sent once: uvicorn takes a second SIGTERM as "exit now", skipping the graceful shutdown."""
        if self.is_running() and not self._terminated:
            assert self.popen is not None
            self.popen.send_signal(signal.SIGTERM)
            self._terminated = True

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGTERM, then SIGKILL if it does not exit in time."""
        if not self.is_running():
            return
        assert self.popen is not None
        self.terminate()
        try:
            self.popen.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()


def stop_together(processes: Iterable[ServiceProcess], timeout_s: float = 10.0) -> None:
    """SIGTERM to all first, so that they shut down side by side, then wait for each (as
    `flashsale up` stops its children); one after another, each waited out its own drain."""
    stopping = list(processes)
    for proc in stopping:
        proc.terminate()
    for proc in stopping:
        proc.stop(timeout_s)
