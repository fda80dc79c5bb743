"""The front door: signed-in buyers racing through the gateway for one product, in a running house.

    python -m bench.front_door [--backends sqlite,postgresql] [--buyers 1000] [--stock 1000]
                               [--connections 256] [--seconds 10]

Also a section of `make bench` (bench.holds). Per database backend it starts the house as an
operator does (`flashsale up`, bench.house) with the gateway behind a trusted proxy
(FLASHSALE_TRUSTED_PROXIES=127.0.0.1: the bench is that proxy, and names a distinct client
address per buyer in X-Forwarded-For, as a load balancer would). Then, in that running house:

1. the hello-world ceiling (bench/hello.py, the services' own HTTP stack), measured beside it;
2. sign-up and sign-in of `--buyers` buyers through the gateway (their rates are reported): a
   drop's buyers sign in before it opens, so the crowd carries tokens;
3. phase "while stock lasts": `--stock` units of a product listed in the catalog, and the crowd
   (`--connections` keep-alive connections, wrk, each request the next buyer's token) posting
   `POST /api/orders` for one unit for `--seconds`;
4. phase "sold out": the same crowd for as long again, every answer should be a 409; then
   "sold out, keyed": again, each attempt with an Idempotency-Key of its own, as the storefront's
   page and every careful client ask (the gateway sends those on to the order service, which
   keeps keys);
5. holds straight at the inventory (`POST /inventory/reserve`, what the order service asks per
   attempt) in the same running house, against the same ceiling;
6. buyable again: a unit received after the sell-out, and the time until one buyer asking
   through the gateway over and over gets it (RESTOCK_ROUNDS times).

Per phase: answers/s, p50/p99, timeouts (wrk's --timeout, 2 s), answers by status and problem
code, CPU per buy attempt of every house process (from /proc), and the stock's books checked
through the inventory's API: every unit accounted for, exactly as many held as orders placed,
none oversold. A broken book fails the run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.checkout import put_on_sale
from bench.cpu import cpu_now, house_processes
from bench.figures import fmt, ratio
from bench.house import house
from bench.postgres import fresh_prefix, postgres_up
from bench.signed_in import sign_up_buyers
from flashsale.runtime.nats_server import free_port, wait_for_port
from flashsale.runtime.services_file import ServicesFile
from flashsale.sale.buyers import SignedIn

TIMEOUT_S = 2  # wrk's --timeout: an answer later than this is counted as a timeout
READ_CONCURRENCY = 16  # the books' reads of each buyer's orders
RESTOCK_ROUNDS = 5  # units received one at a time after the sell-out, each bought through the gateway
SETTLE_S = 30  # how long the books may take to settle after a phase (answers still on their way)

# wrk: each request is the next buyer's (their token, their address); answers are counted by
# status and problem code in each thread and summed in done().
CROWD = """
local tokens, addresses, threads, n, asked = {}, {}, {}, 0, 0
local body = [==[__BODY__]==]
-- With a run's nonce as args[2], every request carries an Idempotency-Key of its own, as the
-- storefront's page and every careful client send one.
local nonce = nil
-- Counted per thread in globals (wrk hands numbers, not tables, from a thread to done()).
local KINDS = {"201", "409 out_of_stock", "409 other", "429", "503 circuit open", "503 overloaded",
  "503 a dependency unavailable", "503 other", "other"}
local KEYS = {}
for i, kind in ipairs(KINDS) do KEYS[kind] = "answers_" .. i end
function setup(thread) table.insert(threads, thread); thread:set("thread_id", #threads) end
function init(args)
  if args[2] then nonce = args[2] .. "-" .. thread_id end
  for line in io.lines(args[1]) do
    local token, address = line:match("([^ ]+) ([^ ]+)")
    table.insert(tokens, token); table.insert(addresses, address)
  end
  n = math.random(#tokens)
  for _, key in pairs(KEYS) do _G[key] = 0 end
end
function request()
  n = n % #tokens + 1
  local headers = {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. tokens[n],
    ["X-Forwarded-For"] = addresses[n]}
  if nonce then asked = asked + 1; headers["Idempotency-Key"] = nonce .. "-" .. asked end
  return wrk.format("POST", "/api/orders", headers, body)
end
function response(status, headers, answer)
  local kind = "other"
  if status == 201 or status == 429 then kind = tostring(status)
  elseif status == 409 then kind = answer:find("out_of_stock", 1, true) and "409 out_of_stock" or "409 other"
  elseif status == 503 then
    if answer:find("circuit open", 1, true) then kind = "503 circuit open"
    elseif answer:find('"overloaded"', 1, true) then kind = "503 overloaded"
    elseif answer:find('_unavailable"', 1, true) then kind = "503 a dependency unavailable"
    else kind = "503 other" end
  end
  _G[KEYS[kind]] = _G[KEYS[kind]] + 1
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("FLASHSALE %d %d %d %f %f\\n", summary.requests, e.timeout,
    e.connect + e.read + e.write, latency:percentile(50), latency:percentile(99)))
  for _, thread in ipairs(threads) do
    for kind, key in pairs(KEYS) do io.write("ANSWER " .. kind .. " " .. thread:get(key) .. "\\n") end
  end
end
"""

HELLO = """
wrk.method = "POST"
done = function(summary, latency, requests)
  io.write(string.format("FLASHSALE %d %d %d %f %f\\n", summary.requests, summary.errors.timeout,
    summary.errors.connect + summary.errors.read + summary.errors.write,
    latency:percentile(50), latency:percentile(99)))
end
"""

# Holds straight at the inventory: what the order service asks for each buy attempt, measured in
# the running house (every hold's StockReserved goes to the house's consumers too).
HOLDS = """
wrk.method = "POST"
wrk.body = [==[__BODY__]==]
wrk.headers["Content-Type"] = "application/json"
done = function(summary, latency, requests)
  io.write(string.format("FLASHSALE %d %d %d %f %f\\n", summary.requests, summary.errors.timeout,
    summary.errors.connect + summary.errors.read + summary.errors.write,
    latency:percentile(50), latency:percentile(99)))
  io.write(string.format("ANSWER 200 %d\\n", summary.requests - summary.errors.status))
  io.write(string.format("ANSWER other %d\\n", summary.errors.status))
end
"""
# The crowd's phases: (name, whether each attempt carries an Idempotency-Key). Sold out twice: as
# a bare client asks (refused at the gateway's door) and as the storefront's page and every
# careful client ask, with a key (refused by the order service, which keeps keys: sold_out.py).
PHASES = (("while stock lasts", False), ("sold out", False), ("sold out, keyed", True))
HOLD_STOCK = 10**9  # more than any run takes: every hold should be granted


@dataclass
class Phase:
    name: str
    seconds: float
    requests: int = 0
    timeouts: int = 0
    socket_errors: int = 0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    answers: Counter[str] = field(default_factory=Counter)
    cpu_ms: dict[str, float] = field(default_factory=dict)  # per process, over the phase
    books: str = ""

    @property
    def per_s(self) -> float:
        return sum(self.answers.values()) / self.seconds

    def cpu_per_attempt_ms(self) -> dict[str, float]:
        attempts = max(1, self.requests)
        return {name: cpu / attempts for name, cpu in self.cpu_ms.items()}


def _wrk(url: str, script: str, connections: int, seconds: float, *args: str) -> tuple[Phase, str]:
    with tempfile.TemporaryDirectory() as tmp:
        lua = Path(tmp) / "crowd.lua"
        lua.write_text(script)
        done = subprocess.run(
            ["wrk", "-t2", f"-c{connections}", f"-d{round(seconds)}s", "--timeout", f"{TIMEOUT_S}s",
             "-s", str(lua), url, "--", *args],
            capture_output=True, text=True, timeout=seconds + 60, check=True,
        )
    phase = Phase("", seconds)
    for line in done.stdout.splitlines():
        parts = line.split()
        if parts[:1] == ["FLASHSALE"]:
            phase.requests, phase.timeouts, phase.socket_errors = (int(x) for x in parts[1:4])
            phase.p50_ms, phase.p99_ms = float(parts[4]) / 1000, float(parts[5]) / 1000
        elif parts[:1] == ["ANSWER"] and int(parts[-1]):
            phase.answers[" ".join(parts[1:-1])] += int(parts[-1])
    return phase, done.stdout


def crowd(services: ServicesFile, tokens: Path, product: str, name: str, connections: int,
          seconds: float, *, keyed: bool = False) -> Phase:
    """The crowd at the gateway for `seconds`, with the house's CPU read around it; `keyed`: each
    attempt with an Idempotency-Key of its own."""
    pids = house_processes(services)
    before = cpu_now(pids)
    body = f'{{"items": [{{"productId": "{product}", "quantity": 1}}]}}'
    keys = [uuid.uuid4().hex[:12]] if keyed else []
    phase, _ = _wrk(services.url("gateway"), CROWD.replace("__BODY__", body), connections, seconds, str(tokens),
                    *keys)
    phase.name = name
    phase.cpu_ms = {label: (spent - before[label]) * 1000 for label, spent in cpu_now(pids).items()}
    return phase


def ceiling(connections: int, seconds: float) -> Phase:
    """Hello-world on the services' HTTP stack, started beside the running house, driven as the
    crowd is (same connections, duration and timeout): its rate is the ceiling, and its tail says
    what part of the crowd's tail the stack and the load generator make on these two cores (at
    256 connections hello-world alone has a p99 near 1 s and answers later than 2 s)."""
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "bench.hello", str(port)])
    try:
        wait_for_port(port)
        phase, _ = _wrk(f"http://127.0.0.1:{port}/hello", HELLO, connections, seconds)
        phase.name = "hello-world ceiling, beside the house"
        phase.answers["200"] = phase.requests
        return phase
    finally:
        server.terminate()
        server.wait(10)


def holds_in_house(services: ServicesFile, connections: int, seconds: float) -> Phase:
    """`POST /inventory/reserve` for one unit of a product with more stock than the run takes,
    straight at the inventory of the running house, with the house's CPU read around it; then
    its books: every unit accounted for, and as many units held as holds granted, give or take
    the holds wrk never saw answered (in flight when it stopped, or past its timeout)."""
    product = f"HOLDS-{uuid.uuid4().hex[:6]}"
    asyncio.run(put_on_sale(services, product, HOLD_STOCK))
    pids = house_processes(services)
    before = cpu_now(pids)
    body = f'{{"productId": "{product}", "quantity": 1}}'
    phase, _ = _wrk(f"{services.url('inventory')}/inventory/reserve", HOLDS.replace("__BODY__", body),
                    connections, seconds)
    phase.name = "holds straight at the inventory"
    phase.cpu_ms = {label: (spent - before[label]) * 1000 for label, spent in cpu_now(pids).items()}
    level = httpx.get(f"{services.url('inventory')}/inventory/{product}", timeout=30).json()
    granted, unseen = phase.answers["200"], connections + phase.timeouts + phase.socket_errors
    phase.books = f"held {level['reserved']:,} for {granted:,} holds granted (+ up to {unseen:,} unseen)"
    accounted = level["available"] + level["reserved"] + level["sold"] == HOLD_STOCK
    if not accounted or not granted <= level["reserved"] <= granted + unseen:
        raise SystemExit(f"the hold books do not balance: {level}, {granted} granted, {unseen} unseen")
    return phase


def write_tokens(signed_in: SignedIn, tokens: Path) -> None:
    """The buyers' tokens and the client address each comes from, a line each, for wrk."""
    tokens.write_text("".join(f"{buyer.token} {buyer.address}\n" for buyer in signed_in.buyers))


async def books(services: ServicesFile, product: str, stock: int, buyers: list[str]) -> str:
    """The product's stock as the inventory keeps it, checked once the house is quiet: nothing
    oversold, every unit accounted for, and exactly as many units taken as the buyers' orders
    hold (read through the order service: an order whose answer came after wrk's timeout counts)."""
    async with httpx.AsyncClient(timeout=30) as http:
        deadline = time.monotonic() + SETTLE_S
        while True:
            level = (await http.get(f"{services.url('inventory')}/inventory/{product}")).json()
            ordered = await _units_ordered(http, services.url("orders"), product, buyers)
            taken = level["reserved"] + level["sold"]
            if taken == ordered or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
    line = f"available {level['available']}, held {level['reserved']}, sold {level['sold']}; {ordered} in orders"
    if level["available"] < 0 or taken > stock or level["available"] + taken != stock or taken != ordered:
        raise SystemExit(f"THE BOOKS DO NOT BALANCE for {product} (stock {stock}): {line}")
    return line


async def _units_ordered(http: httpx.AsyncClient, orders: str, product: str, buyers: list[str]) -> int:
    """Units of `product` in the buyers' orders that still hold or own them (not cancelled)."""
    gate = asyncio.Semaphore(READ_CONCURRENCY)

    async def of(customer_id: str) -> int:
        async with gate:
            answer = await http.get(f"{orders}/orders", params={"customerId": customer_id, "limit": 1000})
        return sum(item["quantity"] for order in answer.json()["orders"] if order["status"] != "CANCELLED"
                   for item in order["items"] if item["productId"] == product)

    return sum(await asyncio.gather(*(of(c) for c in buyers)))


async def buyable_again_ms(services: ServicesFile, product: str, token_line: str, rounds: int) -> list[float]:
    """After sell-out: a unit received, then one buyer asking through the gateway until it is
    theirs. The time from the receive's answer to the 201, per round."""
    token, address = token_line.split()
    headers = {"Authorization": f"Bearer {token}", "X-Forwarded-For": address}
    body = {"items": [{"productId": product, "quantity": 1}]}
    admin = {"Authorization": f"Bearer {services.admin_token}"}
    windows = []
    async with httpx.AsyncClient(timeout=30) as http:
        for _ in range(rounds):
            received = await http.post(f"{services.url('inventory')}/inventory/{product}/receive", headers=admin,
                                       json={"quantity": 1})
            started = time.perf_counter()
            assert received.status_code == 200, received.text
            while (await http.post(f"{services.url('gateway')}/api/orders", headers=headers, json=body)).status_code \
                    != 201:
                if time.perf_counter() - started > SETTLE_S:
                    raise SystemExit(f"a received unit of {product} was not sold within {SETTLE_S} s")
            windows.append((time.perf_counter() - started) * 1000)
    return windows


@dataclass
class Backend:
    name: str
    ceiling: Phase
    sign_ups_per_s: float
    sign_ins_per_s: float
    phases: list[Phase]
    buyable_again_ms: list[float] = field(default_factory=list)

    @property
    def ceiling_per_s(self) -> float:
        return self.ceiling.per_s


def measure(backend: str, database: str, args: argparse.Namespace) -> Backend:
    with tempfile.TemporaryDirectory(prefix="flashsale-bench-front-door-") as tmp, \
            house(Path(tmp) / "house", database) as services:
        tokens = Path(tmp) / "tokens.txt"
        print(f"[{backend}] house up; signing up {args.buyers} buyers", flush=True)
        buyers = asyncio.run(sign_up_buyers(services, args.buyers))
        write_tokens(buyers, tokens)
        print(f"[{backend}] {fmt(buyers.sign_ups_per_s)} sign-ups/s, {fmt(buyers.sign_ins_per_s)} sign-ins/s",
              flush=True)
        top = ceiling(args.connections, args.seconds)
        product = f"DROP-{uuid.uuid4().hex[:6]}"
        asyncio.run(put_on_sale(services, product, args.stock))
        phases = []
        for name, keyed in PHASES:
            phase = crowd(services, tokens, product, name, args.connections, args.seconds, keyed=keyed)
            phase.books = asyncio.run(books(services, product, args.stock,
                                            [buyer.customer_id for buyer in buyers.buyers]))
            print(f"[{backend}] {name}: {fmt(phase.per_s, 0)} answers/s, p99 {fmt(phase.p99_ms)} ms, "
                  f"{dict(phase.answers)}, timeouts {phase.timeouts}; {phase.books}", flush=True)
            phases.append(phase)
        phases.append(holds_in_house(services, args.connections, args.seconds))
        print(f"[{backend}] holds at the inventory: {fmt(phases[-1].per_s, 0)}/s, {phases[-1].books}", flush=True)
        first_buyer = tokens.read_text().splitlines()[0]
        again = asyncio.run(buyable_again_ms(services, product, first_buyer, RESTOCK_ROUNDS))
        print(f"[{backend}] buyable again after a receive: {[round(ms) for ms in again]} ms", flush=True)
        return Backend(backend, top, buyers.sign_ups_per_s, buyers.sign_ins_per_s, phases, again)


def table(results: list[Backend], args: argparse.Namespace) -> str:
    lines = [
        f"### The front door: {args.buyers} signed-in buyers, {args.connections} connections, "
        f"through the gateway (`python -m bench.front_door`)",
        "",
        f"`POST /api/orders` for one unit of one product with {args.stock:,} units, {args.seconds:.0f} s per phase; "
        "the ceiling is hello-world on the same HTTP stack, measured beside the running house. "
        f"Tracing: {_tracing()}.",
        "",
        "| backend | phase | answers/s | x ceiling | p50 ms | p99 ms | timeouts | answers | books |",
        "|---|---|---:|---:|---:|---:|---:|---|---|",
    ]
    for result in results:
        for phase in (result.ceiling, *result.phases):
            answers = ", ".join(f"{key.strip()}: {count:,}" for key, count in sorted(phase.answers.items()))
            lines.append(f"| {result.name} | {phase.name} | {fmt(phase.per_s, 0)} | "
                         f"{ratio(phase.per_s, result.ceiling_per_s)} | {fmt(phase.p50_ms)} | {fmt(phase.p99_ms)} | "
                         f"{phase.timeouts + phase.socket_errors:,} | {answers} | {phase.books} |")
    lines += ["", "| backend | ceiling /s | sign-ups /s | sign-ins /s | buyable again after a receive, ms (max) |",
              "|---|---:|---:|---:|---:|"]
    lines += [f"| {r.name} | {fmt(r.ceiling_per_s, 0)} | {fmt(r.sign_ups_per_s)} | {fmt(r.sign_ins_per_s)} | "
              f"{', '.join(fmt(ms, 0) for ms in r.buyable_again_ms)} ({fmt(max(r.buyable_again_ms), 0)}) |"
              for r in results]
    lines += ["", "CPU per buy attempt, ms, per process (from /proc over each phase):", "",
              "| backend | phase | " + " | ".join(_process_names(results)) + " | house |",
              "|---|---|" + "---:|" * (len(_process_names(results)) + 1)]
    for result in results:
        for phase in result.phases:
            per = phase.cpu_per_attempt_ms()
            cells = [fmt(per.get(name), 2) for name in _process_names(results)]
            lines.append(f"| {result.name} | {phase.name} | " + " | ".join(cells) + f" | {fmt(sum(per.values()), 2)} |")
    return "\n".join(lines)


def _tracing() -> str:
    """How the house traced while measured: it inherits the bench's environment."""
    if os.environ.get("FLASHSALE_TRACING", "on").lower() in ("off", "false", "0", "no"):
        return "off"
    sampler = os.environ.get("OTEL_TRACES_SAMPLER")
    if sampler:
        return f"OTEL_TRACES_SAMPLER={sampler} OTEL_TRACES_SAMPLER_ARG={os.environ.get('OTEL_TRACES_SAMPLER_ARG', '')}"
    return "every request and event (as `flashsale up` runs by default)"


def _process_names(results: list[Backend]) -> list[str]:
    names = {name for r in results for p in r.phases for name in p.cpu_ms}
    return sorted(names)


def section(backends: list[str], args: argparse.Namespace | None = None) -> str:
    args = args or _arguments([])
    results = [measure("sqlite", "", args)] if "sqlite" in backends else []
    if "postgresql" in backends:
        if postgres_up():
            results.append(measure("postgresql", fresh_prefix("bench_front"), args))
        else:
            print("PostgreSQL not reachable: its rows are skipped")
    return table(results, args)


def _arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--buyers", type=int, default=1000)
    parser.add_argument("--stock", type=int, default=1000)
    parser.add_argument("--connections", type=int, default=256)
    parser.add_argument("--seconds", type=float, default=10.0)
    return parser.parse_args(argv)


def main() -> None:
    args = _arguments()
    print(section(args.backends.split(","), args))


if __name__ == "__main__":
    main()
