"""A PostgreSQL server and a NATS JetStream server of the test's own, that it may stop and start.

The machine's PostgreSQL and the session's NATS are shared by every test running beside this one;
restarting them would fail those tests. These are started from the same binaries (PostgreSQL's
`initdb`/`pg_ctl`, the pip-installed `nats-server`), on free ports, with their files in a
temporary directory, and are gone with it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from flashsale.runtime.nats_server import free_port, start_nats, wait_for_port

POSTGRES_USER = "postgres"  # the server refuses to run as root; as root we run it as this user


def postgres_binaries() -> Path | None:
    """Where initdb and pg_ctl are (`pg_config --bindir`, else PATH), or None on a machine without."""
    pg_config = shutil.which("pg_config")
    if pg_config:
        found = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        bindir = Path(found.stdout.strip())
        if (bindir / "initdb").exists():
            return bindir
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


class OwnPostgres:
    """One PostgreSQL cluster: `initdb` into a fresh directory, then `start`, `stop`, `start`…"""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="flashsale-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self.port = free_port()
        if os.geteuid() == 0:
            shutil.chown(self.root, POSTGRES_USER)
        self._run("initdb", "-D", str(self.data), "-U", POSTGRES_USER, "--auth=trust", "-E", "UTF8", "--no-sync")

    @property
    def url(self) -> str:
        """The base URL for `flashsale up --database` (each service gets its own database on it)."""
        return f"postgresql://{POSTGRES_USER}@127.0.0.1:{self.port}/"

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c max_connections=400"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")

    def stop(self) -> None:
        """A fast shutdown: every session is cut off mid-transaction, as in a failover."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def remove(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def _run(self, program: str, *args: str) -> None:
        command = [str(self.bindir / program), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", POSTGRES_USER, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{program} failed ({done.returncode}): {done.stderr[-2000:]}")


class OwnBroker:
    """One nats-server with JetStream, its files kept across a stop, so a restart carries on."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.log = data_dir / "nats.log"
        self._popen: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._popen = start_nats(self.data_dir, self.port, self.log)
        wait_for_port(self.port)

    def kill(self) -> int:
        """SIGKILL, as a crashed machine would; returns the pid that was killed."""
        assert self._popen is not None
        self._popen.kill()
        self._popen.wait(10)
        return self._popen.pid

    def stop(self) -> None:
        if self._popen is not None and self._popen.poll() is None:
            self._popen.terminate()
            self._popen.wait(10)
