"""End-to-end checkouts on one hot product through a whole house, beside the hello-world ceiling:
straight at the order instances and, as a buyer meets the house, through the gateway.

    python -m bench.checkout [--quick] [--buyers 16] [--duration 10] [--poll-ms 200]
                             [--backends sqlite,postgresql] [--path both|direct|gateway] [--no-ceiling]
                             [--paced 8]

Also a section of `python -m bench.holds` (`make bench`; `--no-checkout` leaves it out), which
passes its own ceiling figure in; run alone, this module measures the ceiling with bench.holds'
own code first.

Per database backend (SQLite files, and PostgreSQL when reachable, a fresh database name prefix
per run, dropped afterwards) it starts the house as an operator does (`flashsale up`: every
service its own process, its own broker; FLASHSALE_* settings in the environment reach every
service, e.g. FLASHSALE_TRACING=off; the gateway trusts the bench as its proxy, bench.house),
puts one hot product on sale with more stock than any run takes, and drives buyers from several
client processes (raw HTTP/1.1 keep-alive, as bench/loadgen.py does, so that the client is not
what is measured; bench/buyers.py). Each buyer, in a loop until the window closes, places an
order, pays for it with an approving card, then reads it every --poll-ms until it is COMPLETED
(every poll is counted), by one of two paths (--path; both by default, one after the other in the
same house):
- straight at the order instances: POST /orders on one instance, POST /orders/{id}/pay on the
  next, GET /orders/{id}, unauthenticated, the customer named in the order;
- through the gateway, the public path: the buyers signed up and in first (bench.signed_in), each
  with their own token and client address (X-Forwarded-For), then POST /api/orders, POST
  /api/orders/{id}/pay, GET /api/orders/{id} (the order composed with its customer and
  products, so each poll also reads those).
The POSTs carry an Idempotency-Key and are asked again with it while the first attempt runs or a
dependency is down. The buyers start a ramp (RAMP_S) before the measured window, so that it sees
a full pipeline of checkouts, and start none after it; checkouts completed outside the window are
finished and audited, not counted.

Reported per backend and load (full: --buyers closed-loop buyers by each path; half: checkouts
arriving, open loop, at half the rate the last path's full load completed, by that path, for the
consistency target; with `--paced RATE`, only checkouts arriving at RATE by each path, which is
how bench.side_by_side gives two houses the same work):
- checkouts/s completed inside the window, and the ratio to the hello-world ceiling (the best
  hello-world requests/s of the same run); requests/s and requests per checkout;
- checkout latency p50/p99 (the order's POST sent -> COMPLETED seen; poll-interval resolution);
- house CPU per completed checkout: every service process's CPU over the window (from /proc,
  bench.cpu, as bench.profile_checkout reads it), over the checkouts completed in it;
- time to consistency, OrderConfirmed -> deduction committed, two ways: the inventory's
  `event_propagation_seconds{consumer="inventory",type="OrderConfirmed"}` histogram (envelope
  time, stamped in the transaction that writes OrderConfirmed to the outbox, to the deduction's
  commit), its bucket deltas over the run (ramp and drain included), so percentiles are bucket
  upper bounds; and exact
  per order through the public APIs (the order's paidAt, stamped in that same transaction, to
  the reservation's confirmedAt, stamped in the deduction's transaction) for a sample of orders;
- the highest resident memory (VmRSS) each service's processes reached during the load.
After every window it audits through the APIs and exits non-zero when anything is off: the
product oversold (sold + reserved > received - written off), a paid order not COMPLETED, an
order or payment refused, or units sold that no COMPLETED order accounts for.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import shutil
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
from prometheus_client.parser import text_string_to_metric_families

from bench.buyers import CHECKOUT_DEADLINE_S, START_S, CheckoutPath, Outcome, drive_buyers, drive_paced
from bench.cpu import cpu_during, house_processes
from bench.figures import fmt, ratio
from bench.house import temporary_house
from bench.postgres import fresh_prefix, postgres_up
from bench.signed_in import sign_up_buyers, through_the_gateway
from flashsale.runtime.services_file import ServicesFile
from flashsale.sale.client import HouseClient
from flashsale.sale.settle import time_to_consistency
from flashsale.sale.stats import percentile

if TYPE_CHECKING:  # bench.holds imports this module for its section
    from bench.holds import Report

STOCK = 10**9  # more than any run can take: every order should be granted
EXACT_SAMPLE = 400  # orders whose time to consistency is read through the APIs
# How often a buyer asks for its order's status. The storefront asks once a second; 10 ms polls
# from 64 buyers were more reads than the order services could answer on a 2-core machine, so
# the bench measured the polls, not the checkouts.
POLL_MS = 200.0
# Buyers run this long before the window opens, so that it measures a full pipeline: longer than
# a checkout takes under the full load (3-4 s at 16 buyers on the 2-core machine).
RAMP_S = 5.0
# The full load. The two cores carry ~4-6 checkouts/s whatever the buyers; 64 buyers only queued
# (checkouts took longer than a 5 s window, so it counted none).
BUYERS = 16
WINDOW_S = 10.0
PROPAGATION = ("event_propagation_seconds", {"consumer": "inventory", "type": "OrderConfirmed"})
# Where the buyers check out (bench.buyers' CheckoutPath), as the section's rows say it.
PATHS = {"direct": "straight at the orders instances", "gateway": "through the gateway (signed-in)"}
# The targets.
TARGET_CEILING_SHARE = 0.25
TARGET_P99_MS = 50.0
TARGET_RSS_MB = 120.0


# -- one window, audited ---------------------------------------------------------------------------

@dataclass
class Window:
    backend: str
    path: str  # a key of PATHS
    buyers: int  # closed-loop buyers; 0 for a paced (open-loop) window
    outcome: Outcome
    propagation_ms: dict[int, float | None]  # percentile -> bucket upper bound, ms
    exact_ms: dict[int, float | None]  # percentile -> ms, from the APIs
    exact_n: int
    cpu_s: dict[str, float]  # per house process, over the measured window (empty: not read)
    paced_per_s: float | None = None  # the arrival rate of a paced window

    @property
    def load(self) -> str:
        load = f"{self.buyers} buyers" if self.paced_per_s is None else f"paced {self.paced_per_s:,.1f}/s"
        return f"{load}, {PATHS[self.path]}"

    @property
    def per_s(self) -> float:
        return self.outcome.completed / self.outcome.seconds if self.outcome.seconds else 0.0

    @property
    def requests_per_s(self) -> float:
        return self.outcome.window_requests / self.outcome.seconds if self.outcome.seconds else 0.0

    def latency_ms(self, q: float) -> float | None:
        found = percentile(self.outcome.latencies, q)
        return None if found is None else found * 1000

    @property
    def cpu_ms_per_checkout(self) -> float | None:
        """The whole house's CPU over the window per checkout completed in it."""
        if not self.cpu_s or not self.outcome.completed:
            return None
        return 1000 * sum(self.cpu_s.values()) / self.outcome.completed


def checkout_path(services: ServicesFile, name: str, buyers: int) -> CheckoutPath:
    """The path `name` (a key of PATHS) into this house; through the gateway, `buyers` buyers are
    signed up and in first, each with a client address of their own (bench.signed_in)."""
    if name == "direct":
        return CheckoutPath(services.urls["orders"])
    signed_in = asyncio.run(sign_up_buyers(services, buyers))
    print(f"  {buyers} buyers signed up and in through the gateway ({fmt(signed_in.sign_ups_per_s)} sign-ups/s, "
          f"{fmt(signed_in.sign_ins_per_s)} sign-ins/s)", flush=True)
    return through_the_gateway(services, signed_in)


def run_window(services: ServicesFile, backend: str, path: CheckoutPath, buyers: int, duration_s: float,
               poll_s: float, memory: MemoryWatch | None, paced_per_s: float | None = None) -> Window:
    """A fresh hot product, `buyers` closed-loop buyers (or checkouts arriving at `paced_per_s`)
    by `path` for a ramp and `duration_s`, the house's CPU read over that window; then the audit
    and the figures."""
    product = f"HOT-{uuid.uuid4().hex[:6]}"
    asyncio.run(put_on_sale(services, product))
    before = _propagation_buckets(services)
    opens_in_s = START_S + RAMP_S  # the buyers' processes start together, then ramp
    with memory or contextlib.nullcontext(), cpu_during(house_processes(services), opens_in_s, duration_s) as cpu:
        outcome = (drive_buyers(path, product, buyers, RAMP_S, duration_s, poll_s) if paced_per_s is None
                   else drive_paced(path, product, paced_per_s, RAMP_S, duration_s, poll_s))
    asyncio.run(_audit(services, product, outcome))
    after = _propagation_buckets(services)
    exact = asyncio.run(_exact_consistency(services, outcome.done + outcome.not_done))  # all COMPLETED now

    def ms(seconds: float | None) -> float | None:
        return None if seconds is None else seconds * 1000

    window = Window(backend, path.name, 0 if paced_per_s else buyers, outcome,
                    {q: ms(_bucket_percentile(before, after, q)) for q in (50, 95, 99)},
                    {q: ms(percentile(exact, q)) for q in (50, 95, 99)}, len(exact), cpu, paced_per_s)
    print(f"  checkout, {backend}, {window.load}: {window.per_s:,.1f} checkouts/s "
          f"({window.requests_per_s:,.0f} requests/s), p50 {fmt(window.latency_ms(50))} ms, "
          f"p99 {fmt(window.latency_ms(99))} ms, house CPU {fmt(window.cpu_ms_per_checkout)} ms per checkout; "
          f"OrderConfirmed->deduction p99 <= "
          f"{fmt(window.propagation_ms[99])} ms (buckets), {fmt(window.exact_ms[99])} ms (exact); "
          f"{len(outcome.done) + len(outcome.not_done)} checkouts in all, {len(outcome.not_done)} of them over "
          f"{CHECKOUT_DEADLINE_S:g} s, {outcome.retries} POSTs retried", flush=True)
    return window


async def put_on_sale(services: ServicesFile, product: str, stock: int = STOCK) -> None:
    client = HouseClient(services)
    try:
        answer = await client.receive(product, stock, name="Hot product (bench)")
        if answer.status != 200:
            raise SystemExit(f"could not put {product} on sale: {answer.status} {answer.body}")
    finally:
        await client.close()


async def _audit(services: ServicesFile, product: str, outcome: Outcome) -> None:
    """Fail loudly: refused, paid but never COMPLETED, oversold, or units sold that no COMPLETED
    order accounts for (the product is this window's own, so sold must equal the orders done)."""
    client = HouseClient(services)
    try:
        if outcome.refused:
            raise SystemExit(f"CHECKOUTS FAILED: {dict(outcome.refused)}; first: {outcome.failures[:5]}")
        stuck = await _not_completed(client, outcome.not_done, CHECKOUT_DEADLINE_S)
        if stuck:
            seen = [(o, (await client.order(o)).body.get("status"), await _saga_state(services, o))
                    for o in stuck[:5]]
            raise SystemExit(f"PAID BUT NOT COMPLETED after {2 * CHECKOUT_DEADLINE_S:.0f} s: {len(stuck)} orders; "
                             f"(order, status, saga): {seen}")
        stock = (await client.stock(product)).body
        if stock["sold"] + stock["reserved"] > stock["received"] - stock["writtenOff"] or stock["available"] < 0:
            raise SystemExit(f"OVERSOLD: {stock}")
        done = len(outcome.done) + len(outcome.not_done)
        if stock["sold"] != done or len(outcome.created) != done:
            raise SystemExit(f"BOOKS DISAGREE: {len(outcome.created)} orders placed, {done} COMPLETED, "
                             f"stock {stock}")
    finally:
        await client.close()


async def _saga_state(services: ServicesFile, order_id: str) -> str | None:
    async with httpx.AsyncClient(timeout=30) as http:
        answer = await http.get(f"{services.url('orders')}/orders/{order_id}/saga")
    return str(answer.json().get("state")) if answer.status_code == 200 else None


async def _not_completed(client: HouseClient, order_ids: list[str], timeout_s: float) -> list[str]:
    """The orders still not COMPLETED after waiting up to `timeout_s` for them."""
    deadline = time.monotonic() + timeout_s
    waiting = list(order_ids)
    while waiting:
        waiting = [o for o in waiting if (await client.order(o)).body.get("status") != "COMPLETED"]
        if not waiting or time.monotonic() > deadline:
            return waiting
        await asyncio.sleep(0.5)
    return []


# -- what the house measured ---------------------------------------------------------------------

def _propagation_buckets(services: ServicesFile) -> dict[float, float]:
    """Cumulative counts of the inventory's OrderConfirmed propagation histogram, by upper
    bound, summed over the inventory instances."""
    name, wanted = PROPAGATION
    counts: dict[float, float] = {}
    for url in services.urls["inventory"]:
        text = httpx.get(f"{url}/metrics", timeout=30).text
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == f"{name}_bucket" and all(sample.labels.get(k) == v for k, v in wanted.items()):
                    bound = float(sample.labels["le"])
                    counts[bound] = counts.get(bound, 0.0) + sample.value
    return counts


def _bucket_percentile(before: dict[float, float], after: dict[float, float], q: float) -> float | None:
    """Upper bound (seconds) of the bucket holding the q-th percentile of what was observed
    between two scrapes; inf when it lies above the last finite bound, None without observations."""
    delta = {bound: count - before.get(bound, 0.0) for bound, count in after.items()}
    total = delta.get(float("inf"), 0.0)
    if total <= 0:
        return None
    return next(bound for bound in sorted(delta) if delta[bound] >= q / 100 * total)


async def _exact_consistency(services: ServicesFile, order_ids: list[str]) -> list[float]:
    """Seconds from paidAt to the reservation's confirmedAt for a sample of the orders, read
    through the orders and inventory APIs (eight readers at a time)."""
    sample = random.Random(7).sample(order_ids, min(len(order_ids), EXACT_SAMPLE))
    client = HouseClient(services)
    try:
        found = await asyncio.gather(*(time_to_consistency(client, sample[i::8]) for i in range(8)))
    finally:
        await client.close()
    return [seconds for chunk in found for seconds in chunk]


class MemoryWatch:
    """Samples every service process's VmRSS in a thread while the load runs; keeps the highest
    per service (over its instances)."""

    def __init__(self, services: ServicesFile, every_s: float = 0.25) -> None:
        self.pids = {instance.pid: name for name, found in services.instances.items() for instance in found}
        self.every_s = every_s
        self.peak_mb: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> MemoryWatch:  # once per window: the peaks carry over
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def _run(self) -> None:
        while True:
            for pid, name in self.pids.items():
                mb = _rss_mb(pid)
                if mb is not None:
                    self.peak_mb[name] = max(self.peak_mb.get(name, 0.0), mb)
            if self._stop.wait(self.every_s):
                return


def _rss_mb(pid: int) -> float | None:
    """Resident memory (VmRSS) in MB; None when the process is gone (restarted: not sampled)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    return next((int(line.split()[1]) / 1024 for line in status.splitlines() if line.startswith("VmRSS:")), None)


# -- the section -------------------------------------------------------------------------------------

def section(ceiling_per_s: float | None, *, backends: list[str], buyers: int = BUYERS, duration_s: float = WINDOW_S,
            poll_ms: float = POLL_MS, paths: tuple[str, ...] = tuple(PATHS), command: str = "",
            paced_per_s: float | None = None) -> str:
    """Every backend's house at full load by each of `paths` (keys of PATHS), then at half load by
    the last of them (or, given `paced_per_s`, checkouts arriving at that rate by each of them
    only); the markdown section of the bench report."""
    windows: list[Window] = []
    memory: dict[str, dict[str, float]] = {}
    print(f"checkout: {buyers} buyers (full) {' and '.join(PATHS[p] for p in paths)}, then checkouts arriving "
          f"at half the rate they completed {PATHS[paths[-1]]} (half load, open loop), {duration_s:g} s windows, "
          f"polls every {poll_ms:g} ms", flush=True)
    for backend in backends:
        database = ""
        if backend == "postgresql":
            if not postgres_up():
                print("PostgreSQL not reachable: its checkout rows are skipped")
                continue
            database = fresh_prefix("bench_co")
        with temporary_house(backend, database) as services:
            watch = MemoryWatch(services)
            windows += _backend_windows(services, backend, paths, buyers, duration_s, poll_ms / 1000, watch,
                                        paced_per_s)
            memory[backend] = watch.peak_mb
    return _tables(windows, memory, ceiling_per_s, buyers, duration_s, poll_ms, command)


def _backend_windows(services: ServicesFile, backend: str, paths: tuple[str, ...], buyers: int, duration_s: float,
                     poll_s: float, watch: MemoryWatch, paced_per_s: float | None) -> list[Window]:
    """One house: the full load by each path in turn, side by side; then the half load (for the
    time to consistency) by the last path, at half the rate its full load completed. Given
    `paced_per_s`: checkouts arriving at that rate by each path in turn, and nothing else."""
    if paced_per_s is not None:
        return [run_window(services, backend, checkout_path(services, name, buyers), buyers, duration_s, poll_s, watch,
                           paced_per_s=paced_per_s) for name in paths]
    windows = []
    for name in paths:
        path = checkout_path(services, name, buyers)
        windows.append(run_window(services, backend, path, buyers, duration_s, poll_s, watch))
    half_per_s = max(0.5, windows[-1].per_s / 2)
    windows.append(run_window(services, backend, path, buyers, duration_s, poll_s, watch, paced_per_s=half_per_s))
    return windows


def _tables(windows: list[Window], memory: dict[str, dict[str, float]], ceiling: float | None, buyers: int,
            duration_s: float, poll_ms: float, command: str) -> str:
    alone = command or f"python -m bench.checkout --buyers {buyers} --duration {duration_s:g} --poll-ms {poll_ms:g}"
    ceiling_text = f"{ceiling:,.0f} requests/s" if ceiling else "not measured"
    lines = [
        "### End-to-end checkout: order -> pay -> COMPLETED, one hot product, whole house",
        "",
        f"`{alone}` runs this section alone. Buyers loop POST /orders -> POST /orders/{{id}}/pay -> "
        f"GET /orders/{{id}} every {poll_ms:g} ms until COMPLETED, {PATHS['direct']} (unauthenticated, "
        f"the customer named in the order) or {PATHS['gateway']}: the public path, /api/orders..., each buyer "
        "with their own token and client address, the gateway answering each poll with the order composed with "
        "its customer and products. Both paths run in the same house, one after the other. Counted: checkouts "
        f"completed in a {duration_s:g} s window after a {RAMP_S:g} s ramp (checkouts outside: finished during "
        "the ramp or after the window, audited, not counted); latency is the order's POST sent -> COMPLETED seen; "
        "house CPU is every service process's CPU over the window (from /proc) per checkout completed in it. "
        f"Ceiling: the best hello-world row of this run ({ceiling_text}).",
        "",
        f"| backend | load | checkouts/s | vs ceiling (target >= {TARGET_CEILING_SHARE:g}) | requests/s "
        "| requests/checkout "
        "| p50 ms | p99 ms | house CPU ms/checkout | checkouts outside | POSTs retried |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for w in windows:
        per_checkout = w.outcome.requests / max(1, len(w.outcome.done) + len(w.outcome.not_done))
        lines.append(f"| {w.backend} | {w.load} | {w.per_s:,.1f} | {ratio(w.per_s, ceiling, 3)} | "
                     f"{w.requests_per_s:,.0f} | {per_checkout:.1f} | {fmt(w.latency_ms(50))} | "
                     f"{fmt(w.latency_ms(99))} | {fmt(w.cpu_ms_per_checkout, 0)} | "
                     f"{w.outcome.outside + len(w.outcome.not_done)} | {w.outcome.retries} |")
    lines += [
        "",
        "Time to consistency, OrderConfirmed committed -> deduction committed, ms. Buckets: the inventory's "
        "event_propagation_seconds{type=\"OrderConfirmed\"} over the run, ramp and drain included (bucket "
        "upper bounds: 5, 10, 25, 50, 75, 100, 250 ...). Exact: paidAt -> the reservation's confirmedAt through "
        "the APIs, for a sample of the run's orders. Both start when the order service stamps the "
        "payment, inside the transaction that writes OrderConfirmed, so they include the rest of that "
        "transaction: an upper bound of the time from its commit. "
        f"Target: p99 <= {TARGET_P99_MS:g} ms at half load: checkouts arriving (open loop) at half the "
        "rate the full load completed.",
        "",
        "| backend | load | buckets p50 | p95 | p99 | exact p50 | p95 | p99 | sample | p99 target |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for w in windows:
        half = w.paced_per_s is not None
        verdict = "-" if not half or w.exact_ms[99] is None else (
            "met" if max(w.exact_ms[99], w.propagation_ms[99] or 0) <= TARGET_P99_MS else "not met")
        lines.append(f"| {w.backend} | {w.load} | {fmt(w.propagation_ms[50], 0)} | {fmt(w.propagation_ms[95], 0)} "
                     f"| {fmt(w.propagation_ms[99], 0)} | {fmt(w.exact_ms[50])} | {fmt(w.exact_ms[95])} | "
                     f"{fmt(w.exact_ms[99])} | {w.exact_n} | {verdict} |")
    lines += _memory_table(memory, signed_in="gateway" in {w.path for w in windows})
    return "\n".join(lines)


def _memory_table(memory: dict[str, dict[str, float]], signed_in: bool) -> list[str]:
    backends = list(memory)
    services = sorted({name for peaks in memory.values() for name in peaks})
    # Seen: an idle customers process at ~96 MB held ~233 MB after 16 sign-ups and sign-ins, and kept it.
    sign_ups = (" The customers process's figure includes what signing the gateway's buyers up and in (argon2id, "
                "19 MiB a hash, in threads) left resident before the gateway's windows." if signed_in else "")
    lines = ["", f"Highest resident memory (VmRSS, MB) per service process during the checkout load "
             f"(target <= {TARGET_RSS_MB:g} MB).{sign_ups}", "",
             "| service | " + " | ".join(backends) + " | within target |",
             "|---|" + "---:|" * len(backends) + "---|"]
    for name in services:
        peaks = [memory[b].get(name) for b in backends]
        within = "yes" if all(p is None or p <= TARGET_RSS_MB for p in peaks) else "no"
        lines.append(f"| {name} | " + " | ".join(fmt(p, 0) for p in peaks) + f" | {within} |")
    return lines


# -- alone -------------------------------------------------------------------------------------------

def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--buyers", type=int, default=BUYERS,
                        help="full load; half load is checkouts arriving at half the rate it completed")
    parser.add_argument("--duration", type=float, default=WINDOW_S, help="seconds per measured window")
    parser.add_argument("--poll-ms", type=float, default=POLL_MS)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--quick", action="store_true", help="5 s windows, 8 buyers, a short ceiling")
    parser.add_argument("--no-ceiling", action="store_true", help="skip the hello-world ceiling")
    parser.add_argument("--path", choices=["both", *PATHS], default="both",
                        help="where the buyers check out: straight at the order instances, through the gateway "
                             "(signed in), or both side by side (the half load takes the last)")
    parser.add_argument("--paced", type=float, help="only checkouts arriving at this rate a second (open loop), "
                                                    "by each path; no full or half load")
    return parser.parse_args()


def main() -> None:
    args = _arguments()
    if args.quick:
        args.duration, args.buyers = 5.0, 8
    ceiling = None if args.no_ceiling else measure_ceiling([args.buyers], min(args.duration, 3.0))
    command = " ".join(["python -m bench.checkout", *sys.argv[1:]])
    paths = tuple(PATHS) if args.path == "both" else (args.path,)
    print(section(ceiling, backends=args.backends.split(","), buyers=args.buyers, duration_s=args.duration,
                  poll_ms=args.poll_ms, paths=paths, command=command, paced_per_s=args.paced))


def measure_ceiling(levels: list[int], duration_s: float) -> float | None:
    """The hello-world ceiling as bench.holds measures it (its own code and load generator)."""
    from bench import holds, wrk  # not at the top: bench.holds imports this module for its section

    tmp = Path(tempfile.mkdtemp(prefix="flashsale-bench-ceiling-"))
    load = holds.wrk_load if wrk.available() else holds.python_load
    bench = holds.Bench(levels, duration_s, tmp, load, holds.Report([], []))
    try:
        holds._ceiling(bench, compare_python=False)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return best_ceiling(bench.report)


def best_ceiling(report: Report) -> float | None:
    """The best one-process hello-world requests/s among a bench.holds report's rows (None without any)."""
    from bench.holds import CEILING  # not at the top: bench.holds imports this module for its section

    rows = [row.per_s for row in report.rows if row.name == CEILING]
    return max(rows) if rows else None


if __name__ == "__main__":
    main()
