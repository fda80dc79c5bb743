"""`flashsale up` as a user runs it: a real command starting real service processes (docs/contract.md#starting)."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import httpx
import pytest

from flashsale.runtime.config import find_free_port_base, port_layout
from flashsale.runtime.services_file import ServicesFile, load_services
from support import plain_http

pytestmark = pytest.mark.system

STARTUP_S = 60.0
STOP_S = 30.0
T = TypeVar("T")


def wait_for(what: str, probe: Callable[[], T | None], timeout_s: float, explain: Callable[[], str]) -> T:
    """Poll `probe` until it returns something truthy, or fail saying what never happened."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.1)
    pytest.fail(f"{what} did not happen within {timeout_s:g} s\n{explain()}")


class Up:
    """One `flashsale up` command on a data directory, and everything it leaves behind."""

    def __init__(self, data_dir: Path, port_base: int, output: Path, *options: str) -> None:
        self.data_dir = data_dir
        self.port_base = port_base
        self.output = output
        self.seen_pids: set[int] = set()
        env = {k: v for k, v in os.environ.items() if k != "FLASHSALE_ADMIN_TOKEN"}
        command = [sys.executable, "-m", "flashsale.cli", "up", "--data-dir", str(data_dir),
                   "--port-base", str(port_base), *options]
        with open(output, "ab") as out:
            self.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)

    def printed(self) -> str:
        return self.output.read_text(errors="replace")

    def explain(self) -> str:
        logs = sorted((self.data_dir / "logs").glob("*.log")) if (self.data_dir / "logs").exists() else []
        tails = "".join(f"\n--- {log.name} ---\n" + "\n".join(log.read_text().splitlines()[-15:]) for log in logs)
        return f"--- flashsale up printed ---\n{self.printed()}{tails}"

    def services(self) -> ServicesFile | None:
        if self.process.poll() is not None:
            pytest.fail(f"flashsale up exited with {self.process.returncode}\n{self.explain()}")
        if not (self.data_dir / "services.json").exists():
            return None
        found = load_services(self.data_dir / "services.json")
        pids = {i.pid for instances in found.instances.values() for i in instances}
        if any(_parent(pid) != self.process.pid for pid in pids):
            return None  # still the file an earlier `up` on this directory left behind
        self.seen_pids |= pids
        return found

    def wait_until_up(self) -> ServicesFile:
        return wait_for("services.json", self.services, STARTUP_S, self.explain)

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(STOP_S)
        except subprocess.TimeoutExpired:
            pytest.fail(f"flashsale up still running {STOP_S:g} s after SIGTERM\n{self.explain()}")

    def leftovers(self) -> list[int]:
        """Processes of this house still alive: known service pids, or anything naming the data dir."""
        alive = [pid for pid in self.seen_pids if _alive(pid)]
        return alive + [pid for pid in _pids_mentioning(str(self.data_dir)) if pid != self.process.pid]

    def clean_up(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for pid in self.leftovers():
            os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state != "Z"


def _parent(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None


def _pids_mentioning(text: str) -> list[int]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if text.encode() in cmdline.read_bytes() and _alive(int(cmdline.parent.name)):
                found.append(int(cmdline.parent.name))
        except OSError:  # it exited while we looked
            continue
    return found


def healthy(url: str) -> bool:
    try:
        return plain_http.get(f"{url}/health", timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture
def start_up(tmp_path: Path) -> Iterator[Callable[..., Up]]:
    """Starts `flashsale up` commands for one test; whatever is left running is stopped at its end."""
    started: list[Up] = []

    def start(data_dir: Path, port_base: int, *options: str) -> Up:
        up = Up(data_dir, port_base, tmp_path / f"up-{len(started) + 1}.out", *options)
        started.append(up)
        return up

    yield start
    for up in started:
        up.clean_up()


def test_up_serves_every_instance_restarts_one_that_dies_and_stops_cleanly(
    tmp_path: Path, start_up: Callable[..., Up]
) -> None:
    data_dir, base = tmp_path / "house", find_free_port_base(2)
    up = start_up(data_dir, base)

    house = up.wait_until_up()

    assert set(house.instances) == {
        "inventory", "orders", "payments", "shipping", "notifications", "catalog", "customers", "monitor",
        "reporting", "gateway",
    }
    assert house.urls["orders"] == [f"http://127.0.0.1:{base + 2}", f"http://127.0.0.1:{base + 3}"]
    assert house.broker == f"nats://127.0.0.1:{base + 90}"
    assert house.admin_token
    assert stat.S_IMODE((data_dir / "services.json").stat().st_mode) == 0o600
    assert all(healthy(url) for urls in house.urls.values() for url in urls)
    assert "services.json" in up.printed() and f"http://127.0.0.1:{base + 1}" in up.printed()
    assert f"{house.urls['monitor'][0]}/dashboard" in up.printed()  # the operations dashboard

    crashed = house.instances["orders"][1]
    os.kill(crashed.pid, signal.SIGKILL)

    def replaced() -> ServicesFile | None:
        now = up.services()
        if now is None or now.instances["orders"][1].pid == crashed.pid:
            return None
        return now if healthy(crashed.url) else None

    after = wait_for("a restart of the killed order instance", replaced, 30.0, up.explain)
    assert after.instances["orders"][0] == house.instances["orders"][0]  # the others were left alone

    assert up.stop() == 0
    assert up.leftovers() == []
    assert port_layout(base, 2).busy_ports() == []
    assert (data_dir / "services.json").exists()  # nothing is removed from the data directory


def test_a_restart_of_up_keeps_its_data_and_token_and_a_held_port_is_a_clear_error(
    tmp_path: Path, start_up: Callable[..., Up]
) -> None:
    # The default databases are SQLite files in the data directory: this is where "nothing is
    # lost across a restart" can fail. (On PostgreSQL the data lives in the server anyway.)
    data_dir, base = tmp_path / "house", find_free_port_base(2)
    product = f"console-{uuid.uuid4().hex[:8]}"
    first = start_up(data_dir, base)
    house = first.wait_until_up()
    received = plain_http.post(f"{house.url('inventory')}/inventory/{product}/receive", json={"quantity": 7},
                          headers={"Authorization": f"Bearer {house.admin_token}"}, timeout=10)
    assert received.status_code == 200, received.text
    assert first.stop() == 0

    with socket.socket() as holder:
        # As a real server binds (uvicorn does): the first house's closed connections may leave the
        # port in TIME_WAIT for a minute, which only a bind without SO_REUSEADDR trips over.
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind(("127.0.0.1", base + 3))
        holder.listen()
        blocked = start_up(data_dir, base)
        assert blocked.process.wait(STOP_S) == 2
    complaint = blocked.printed()
    assert f"port {base + 3}" in complaint and "in use" in complaint
    assert "Traceback" not in complaint
    assert blocked.leftovers() == []

    second = start_up(data_dir, base)
    again = second.wait_until_up()
    assert again.admin_token == house.admin_token
    stock = plain_http.get(f"{again.url('inventory')}/inventory/{product}", timeout=10)
    assert stock.status_code == 200, stock.text
    assert stock.json()["available"] == 7
    assert second.stop() == 0


@pytest.mark.parametrize("database_base", ["postgresql"], indirect=True)  # the others run the SQLite default
def test_up_on_a_database_server_and_an_external_broker_runs_nothing_of_its_own_for_them(
    tmp_path: Path, start_up: Callable[..., Up], nats_url: str, database_base: str
) -> None:
    data_dir, base = tmp_path / "house", find_free_port_base(1)
    up = start_up(data_dir, base, "--database", database_base, "--broker", nats_url, "--orders-instances", "1")

    house = up.wait_until_up()

    assert house.broker == nats_url
    assert len(house.instances["orders"]) == 1
    assert all(healthy(url) for urls in house.urls.values() for url in urls)
    assert not (data_dir / "nats").exists()
    assert not list(data_dir.glob("*.db"))
    assert json.loads((data_dir / "services.json").read_text())["broker"] == nats_url
    assert up.stop() == 0
    assert up.leftovers() == []


def test_services_stop_by_themselves_when_up_is_killed(tmp_path: Path, start_up: Callable[..., Up]) -> None:
    """A SIGKILLed supervisor runs no shutdown code; its services notice and stop, freeing their ports."""
    up = start_up(tmp_path / "house", find_free_port_base(1), "--orders-instances", "1")
    house = up.wait_until_up()
    service_pids = [i.pid for instances in house.instances.values() for i in instances]

    up.process.kill()
    up.process.wait(STOP_S)

    def all_gone() -> bool:
        return not any(_alive(pid) for pid in service_pids)

    wait_for("the orphaned services to stop", all_gone, STOP_S, up.explain)
