"""Where a whole house spends its CPU on checkouts: CPU per service per checkout, and a py-spy
profile of the busiest processes.

    python -m bench.profile_checkout [--backend postgresql|sqlite] [--buyers 16] [--seconds 10]
                                     [--profile 3 | --spy orders-1,gateway-1] [--top 15] [--path gateway|direct]

Starts a house (`flashsale up`, bench.house), puts a hot product on sale and runs the checkout
bench's buyers (order -> pay -> poll to COMPLETED, bench.buyers) by `--path`: through the gateway,
each buyer signed in first (the default: the path a buyer takes, so the gateway's work and the
reads it makes for each poll are in the figures), or straight at the order instances. Over the
measured window it reads every service process's CPU time from /proc (bench.cpu) and samples the
`--profile` busiest of them (by a first look at their CPU), or those `--spy` names, with `py-spy record`. Prints
CPU-milliseconds per completed checkout per service (the whole house's share of the two cores),
the work a checkout costs per process (bench.ledger: requests answered, events handled, database
transactions) and, per profiled process, its top frames by own time and our code by inclusive
time (`--profile 0`: none). The "checkout profile" figures in bench/RESULTS.md come from this
(taken straight at the order instances until the gateway became the default path).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from bench.buyers import START_S, Outcome, drive_buyers
from bench.checkout import PATHS, POLL_MS, RAMP_S, checkout_path, put_on_sale
from bench.cpu import cpu_over, house_processes
from bench.house import temporary_house
from bench.ledger import per_checkout as per_checkout_work
from bench.ledger import take
from bench.postgres import fresh_prefix, postgres_up
from bench.profile_holds import py_spy, summarise
from flashsale.runtime.services_file import ServicesFile

SPY_RATE_HZ = 100  # enough for the top frames; light enough to leave the house's figures alone


def _spy(pid: int, seconds: float, raw: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([py_spy(), "record", "-r", str(SPY_RATE_HZ), "-d", str(int(seconds)), "-f", "raw",
                             "--nonblocking", "-o", str(raw), "--pid", str(pid)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def profile(services: ServicesFile, database: str, path_name: str, buyers: int, seconds: float, busiest: int,
            top: int, tmp: Path, named: Sequence[str] = ()) -> None:
    path = checkout_path(services, path_name, buyers)
    product = f"HOT-{uuid.uuid4().hex[:6]}"
    asyncio.run(put_on_sale(services, product))
    pids = house_processes(services)
    outcome: list[Outcome] = []
    load = threading.Thread(target=lambda: outcome.append(
        drive_buyers(path, product, buyers, RAMP_S, seconds, POLL_MS / 1000)))
    load.start()
    time.sleep(START_S + RAMP_S)  # the buyers' processes start together, then ramp
    first_look = cpu_over(pids, 1.0)
    chosen = list(named) or sorted(first_look, key=first_look.__getitem__, reverse=True)[:busiest]
    spies = {name: _spy(pid, seconds - 2, tmp / f"{name}.txt") for pid, name in pids.items() if name in chosen}
    before = take(services, database)
    cpu = cpu_over(pids, seconds - 2)
    work = take(services, database) - before
    for spy in spies.values():
        spy.wait(60)
    load.join()
    measured_s = seconds - 2
    rate = outcome[0].completed / outcome[0].seconds if outcome and outcome[0].seconds else 0.0
    print(f"{buyers} buyers, {PATHS[path_name]}: {rate:,.1f} checkouts/s in the bench's window; the house used "
          f"{sum(cpu.values()) / measured_s:.2f} cores over {measured_s:g} s of it")
    if outcome and outcome[0].refused:
        print(f"refused: {dict(outcome[0].refused)}; first: {outcome[0].failures[:3]}")
    checkouts = max(rate * measured_s, 1.0)
    per_checkout = Counter({name: 1000 * s / checkouts for name, s in cpu.items()})
    print("CPU ms per completed checkout, by process:")
    for name, ms in per_checkout.most_common():
        print(f"  {ms:7.1f}  {name}")
    print(f"  {sum(per_checkout.values()):7.1f}  the whole house")
    print(per_checkout_work(work, checkouts))
    for name in chosen:
        raw = tmp / f"{name}.txt"
        if raw.exists():
            print(f"\n== {name}\n{summarise(raw, top)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="postgresql")
    parser.add_argument("--buyers", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--profile", type=int, default=3, help="how many of the busiest processes to sample")
    parser.add_argument("--spy", default="", help="the processes to sample instead, by name: payments-1,gateway-1")
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--path", choices=sorted(PATHS), default="gateway",
                        help="through the gateway, signed in (a buyer's path), or straight at the order instances")
    args = parser.parse_args()
    py_spy()  # there, before a house is started for nothing
    if args.backend == "postgresql" and not postgres_up():
        raise SystemExit("PostgreSQL does not answer (FLASHSALE_BENCH_POSTGRES)")
    database = fresh_prefix("bench_prof") if args.backend == "postgresql" else ""
    tmp = Path(tempfile.mkdtemp(prefix="flashsale-profile-checkout-"))
    try:
        with temporary_house(args.backend, database) as services:
            profile(services, database, args.path, args.buyers, args.seconds, args.profile, args.top, tmp,
                    [name for name in args.spy.split(",") if name])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
