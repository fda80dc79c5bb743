"""Where an inventory process spends its time under hot-product load: a py-spy profile.

    python -m bench.profile_holds [--backend sqlite|postgresql] [--strategy coalesced]
                                  [--clients 256] [--seconds 10] [--top 25]

Starts NATS and one inventory process, gives it a hot product, drives `POST /inventory/reserve`
with the bench's load generator while `py-spy record` samples the process (200 Hz, Python frames,
idle time left out), then prints the server's CPU time per hold and the top entries of the
profile: by own time, by package, and the request path's inclusive times. The figures in
bench/RESULTS.md under "profile" come from this.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections import Counter
from pathlib import Path

import httpx

from bench import wrk
from bench.cpu import process_cpu_s
from bench.holds import ADMIN, python_load, wrk_load
from bench.postgres import POSTGRES
from flashsale.kit.db_admin import drop_postgres_database, service_database_url
from flashsale.runtime.nats_server import free_port, start_nats, wait_for_port
from flashsale.runtime.process import ServiceProcess

FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^:)]*)(:\d+)?\)$")


def py_spy() -> str:
    """py-spy from this interpreter's environment (a venv need not be on PATH), else from PATH."""
    found = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if found is None:
        raise SystemExit("py-spy is needed: pip install py-spy")
    return found


def _package(frame: str) -> str:
    found = FRAME.match(frame)
    path = found.group("file") if found else frame
    parts = path.split("/")
    return "/".join(parts[:3]) if parts[0] == "flashsale" else parts[0]


def summarise(raw: Path, top: int) -> str:
    """py-spy's raw (collapsed) stacks of the event-loop thread, as three top-N lists."""
    own: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or "Thread._bootstrap" in stack:  # database driver threads: shown by the CPU figure
            continue
        frames = stack.split(";")
        total += int(count)
        own[frames[-1]] += int(count)
        packages[_package(frames[-1])] += int(count)
        for frame in set(frames):
            inclusive[frame] += int(count)

    def listing(counter: Counter[str], n: int) -> list[str]:
        return [f"  {100 * c / total:5.1f}%  {name}" for name, c in counter.most_common(n)]

    request_path = Counter({f: c for f, c in inclusive.items() if "flashsale" in f or "RequestResponseCycle" in f})
    return "\n".join([f"event-loop thread, {total} samples", "own time:", *listing(own, top),
                      "by package (own time):", *listing(packages, 12),
                      "inclusive, our code and the request cycle:", *listing(request_path, top)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--strategy", default="coalesced")
    parser.add_argument("--clients", type=int, default=256)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    spy_command = py_spy()
    tmp = Path(tempfile.mkdtemp(prefix="flashsale-profile-"))
    nats_port = free_port()
    nats = start_nats(tmp / "nats", nats_port, tmp / "nats.log")
    base = "" if args.backend == "sqlite" else POSTGRES.rstrip("/") + f"/profile_{uuid.uuid4().hex[:6]}"
    env = {"FLASHSALE_DATABASE_URL": service_database_url(base, "inventory", tmp),
           "FLASHSALE_BROKER_URL": f"nats://127.0.0.1:{nats_port}", "FLASHSALE_ADMIN_TOKEN": ADMIN,
           "FLASHSALE_HOLD_STRATEGY": args.strategy}
    inventory = ServiceProcess("inventory", free_port(), env, log_file=tmp / "inventory.log")
    try:
        wait_for_port(nats_port)
        inventory.start().wait_healthy(60)
        httpx.post(f"{inventory.url}/inventory/HOT/receive", json={"quantity": 10**9},
                   headers={"Authorization": f"Bearer {ADMIN}"}).raise_for_status()
        raw = tmp / "profile.txt"
        spy = subprocess.Popen([spy_command, "record", "-r", "200", "-d", str(args.seconds), "-f", "raw",
                                "-o", str(raw), "--pid", str(inventory.pid)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        before = process_cpu_s(inventory.pid)
        load = wrk_load if wrk.available() else python_load
        result = load([f"{inventory.url}/inventory/reserve"], b'{"productId": "HOT", "quantity": 1}', args.clients,
                      args.seconds)
        cpu = process_cpu_s(inventory.pid) - before
        spy.wait(args.seconds + 30)
        ok = result.statuses.get(200, 0)
        print(f"{args.backend}, {args.strategy}, {args.clients} clients: {ok / result.seconds:,.0f} holds/s, "
              f"server CPU {1e6 * cpu / max(ok, 1):.0f} us per hold")
        print(summarise(raw, args.top))
    finally:
        inventory.stop()
        nats.terminate()
        nats.wait(10)
        if args.backend == "postgresql":
            asyncio.run(drop_postgres_database(env["FLASHSALE_DATABASE_URL"]))
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
