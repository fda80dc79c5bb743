"""The buyers of the checkout bench: asyncio loops of checkouts in several client processes.

Raw HTTP/1.1 keep-alive connections (bench.loadgen's `Connection`), so that the client is not
what is measured. Each buyer, in a loop until the window closes, places an order, pays for it with
an approving card, then reads it every poll interval until it is COMPLETED (every poll is
counted), by one of two paths (`CheckoutPath`):
- straight at the order instances, unauthenticated: POST /orders on one instance, POST
  /orders/{id}/pay on the next, GET /orders/{id};
- through the gateway, as a buyer meets the house: each buyer signed in with a token and a client
  address of their own (X-Forwarded-For: the bench is the gateway's trusted proxy, bench.house),
  POST /api/orders, POST /api/orders/{id}/pay, GET /api/orders/{id}; the gateway takes the
  customer from the token.
Either way the POSTs carry an Idempotency-Key and are asked again as a careful client does. The
buyers start a ramp before the measured window, so that it sees a full pipeline of checkouts, and
start none after it; checkouts completed outside the window are finished (and audited by the
caller), not counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing as mp
import os
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from bench.loadgen import Connection, ServerClosed, run_processes, spread

CHECKOUT_DEADLINE_S = 60.0  # a buyer polls this long; the audit then waits as long again
RETRY_WINDOW_S = 30.0  # how long a buyer asks again with the same Idempotency-Key
CLIENT_PROCESSES = 2
START_S = 1.0  # from a drive's call to its client processes' start: every one ready, then all start together


@dataclass
class Outcome:
    """What the buyers saw in one window (picklable: it comes back from the client processes)."""

    seconds: float = 0.0  # the measured window
    requests: int = 0  # every request, ramp and drain included
    window_requests: int = 0  # requests sent inside the window
    polls: int = 0
    retries: int = 0  # POSTs asked again with their key (request_in_progress, 503)
    completed: int = 0  # COMPLETED seen inside the window
    outside: int = 0  # COMPLETED seen during the ramp or after the window (audited, not counted)
    latencies: list[float] = field(default_factory=list)  # of the checkouts completed inside the window
    created: list[str] = field(default_factory=list)
    done: list[str] = field(default_factory=list)  # every order seen COMPLETED
    not_done: list[str] = field(default_factory=list)  # paid, not COMPLETED within the deadline
    refused: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)  # the first few, to print

    def merge(self, other: Outcome) -> None:
        self.seconds = max(self.seconds, other.seconds)
        for name in ("requests", "window_requests", "polls", "retries", "completed", "outside"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for name in ("latencies", "created", "done", "not_done"):
            getattr(self, name).extend(getattr(other, name))
        self.refused.update(other.refused)
        self.failures.extend(other.failures[: max(0, 20 - len(self.failures))])

    def sent(self, window: Span) -> None:
        self.requests += 1
        self.window_requests += window.holds(time.perf_counter())

    def fail(self, kind: str, detail: str) -> None:
        self.refused[kind] += 1
        if len(self.failures) < 20:
            self.failures.append(detail)


@dataclass(frozen=True)
class Span:
    """The measured window, in one client process's perf_counter time: the buyers start a ramp
    before it (so the window sees a full pipeline of checkouts) and start none after it."""

    opens: float
    closes: float

    def holds(self, moment: float) -> bool:
        return self.opens <= moment <= self.closes


@dataclass(frozen=True)
class CheckoutPath:
    """Where the buyers check out (picklable: it goes to the client processes). Straight at the
    order instances (`urls`), buyer n as customer bench-<pid>-<n>; or, with `buyers`, through the
    gateway (`urls`: it alone), buyer n signed in as the (n mod len)-th of them."""

    urls: list[str]
    buyers: tuple[tuple[str, str], ...] = ()  # (token, client address) per signed-in buyer

    @property
    def name(self) -> str:
        return "gateway" if self.buyers else "direct"

    @property
    def prefix(self) -> str:
        return "/api" if self.buyers else ""

    def headers(self, n: int) -> dict[str, str]:
        """What buyer n's requests carry: through the gateway, their token and their address."""
        if not self.buyers:
            return {}
        token, address = self.buyers[n % len(self.buyers)]
        return {"Authorization": f"Bearer {token}", "X-Forwarded-For": address}

    def order(self, n: int, product: str) -> bytes:
        """Buyer n's order: one unit; the gateway names the customer from the token."""
        items = [{"productId": product, "quantity": 1}]
        mine = {} if self.buyers else {"customerId": f"bench-{os.getpid()}-{n}"}
        return json.dumps({**mine, "items": items}).encode()

    def status(self, answer: bytes) -> str | None:
        """The order's status in the answer to a GET of it (the gateway answers the order composed with
        its customer and products, under "order")."""
        order = json.loads(answer)
        if self.buyers:
            order = order.get("order") or {}
        status = order.get("status")
        return None if status is None else str(status)


async def _checkout(orders: list[Connection], path: CheckoutPath, n: int, product: str, poll_s: float,
                    window: Span, outcome: Outcome) -> None:
    """One buyer's checkout: order (on one order instance), pay (on the next), poll until COMPLETED."""
    place, pay = orders[n % len(orders)], orders[(n + 1) % len(orders)]
    started = time.perf_counter()
    status, body = await _post(place, f"{path.prefix}/orders", path.order(n, product), window, outcome)
    if status != 201:
        return outcome.fail(f"POST {path.prefix}/orders {status}", body[:200].decode(errors="replace"))
    order_id = json.loads(body)["orderId"]
    outcome.created.append(order_id)
    status, body = await _post(pay, f"{path.prefix}/orders/{order_id}/pay", b'{"paymentToken": "tok_ok"}', window,
                               outcome)
    if status != 200:
        return outcome.fail(f"POST {path.prefix}/orders/{{id}}/pay {status}", f"{order_id}: {body[:200]!r}")
    paid = json.loads(body).get("status")
    if await _poll_until_completed(place, path, order_id, paid, started + CHECKOUT_DEADLINE_S, poll_s, window,
                                   outcome):
        _count_completed(order_id, started, window, outcome)
    else:
        outcome.not_done.append(order_id)
    return None


async def _poll_until_completed(connection: Connection, path: CheckoutPath, order_id: str, status: str | None,
                                deadline: float, poll_s: float, window: Span, outcome: Outcome) -> bool:
    """GET the order every `poll_s` until it is COMPLETED (True) or the deadline passes (False);
    `status` is the payment's answer's, which may say COMPLETED already."""
    while status != "COMPLETED":
        if time.perf_counter() > deadline:
            return False
        await asyncio.sleep(poll_s)
        answered, body = await connection.call("GET", f"{path.prefix}/orders/{order_id}")
        outcome.sent(window)
        outcome.polls += 1
        status = path.status(body) if answered == 200 else None
    return True


def _count_completed(order_id: str, started: float, window: Span, outcome: Outcome) -> None:
    finished = time.perf_counter()
    outcome.done.append(order_id)
    if window.holds(finished):
        outcome.completed += 1
        outcome.latencies.append(finished - started)
    else:
        outcome.outside += 1


async def _post(connection: Connection, path: str, body: bytes, window: Span, outcome: Outcome) -> tuple[int, bytes]:
    """POST with an Idempotency-Key as a careful client does (the house's own HouseClient alike):
    asked again with that key while the first attempt is still running (409 request_in_progress)
    or a dependency is down for now (503), backing off, for up to RETRY_WINDOW_S."""
    key, pause = uuid.uuid4().hex, 0.02
    give_up = time.perf_counter() + RETRY_WINDOW_S
    while True:
        status, answer = await connection.call("POST", path, body, key=key)
        outcome.sent(window)
        in_progress = status == 409 and b"request_in_progress" in answer
        if not (in_progress or status == 503) or time.perf_counter() > give_up:
            return status, answer
        outcome.retries += 1
        await asyncio.sleep(pause)
        pause = min(1.0, pause * 2)


# What a checkout may meet that ends it without ending the run: counted as a failure (the audit fails the bench).
CHECKOUT_FAILURES = (OSError, IndexError, ValueError, KeyError, asyncio.IncompleteReadError, ServerClosed)


@contextlib.contextmanager
def _connections(path: CheckoutPath, n: int) -> Iterator[list[Connection]]:
    """Buyer n's connections: one to each order instance, or one to the gateway."""
    orders = [Connection(url, path.headers(n)) for url in path.urls]
    try:
        yield orders
    finally:
        for connection in orders:
            connection.close()


async def _counted_checkout(orders: list[Connection], path: CheckoutPath, n: int, product: str, poll_s: float,
                            window: Span, outcome: Outcome) -> None:
    try:
        await _checkout(orders, path, n, product, poll_s, window, outcome)
    except CHECKOUT_FAILURES as error:
        outcome.fail("connection or answer", repr(error))


async def _buyer(path: CheckoutPath, n: int, product: str, poll_s: float, window: Span, outcome: Outcome) -> None:
    """Closed loop: one checkout after another until the window closes."""
    with _connections(path, n) as orders:
        while time.perf_counter() < window.closes:
            await _counted_checkout(orders, path, n, product, poll_s, window, outcome)


async def _arrival(path: CheckoutPath, n: int, product: str, poll_s: float, window: Span, outcome: Outcome) -> None:
    """One checkout of the open loop, on connections of its own."""
    with _connections(path, n) as orders:
        await _counted_checkout(orders, path, n, product, poll_s, window, outcome)


async def _arrivals(path: CheckoutPath, first: int, stride: int, per_s: float, product: str, poll_s: float,
                    window: Span, outcome: Outcome) -> None:
    """Open loop: a checkout starts every 1/per_s seconds until the window closes, whether or not
    the earlier ones have finished (the load does not ease off when the house slows down)."""
    started: list[asyncio.Task[None]] = []
    due, n = time.perf_counter(), first
    while due < window.closes:
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        started.append(asyncio.create_task(_arrival(path, n, product, poll_s, window, outcome)))
        due, n = due + 1.0 / per_s, n + stride
    await asyncio.gather(*started)


def _client_process(path: CheckoutPath, first: int, buyers: int, product: str, poll_s: float, ramp_s: float,
                    duration_s: float, start_at: float, paced_per_s: float | None,
                    out: mp.Queue) -> None:  # type: ignore[type-arg]
    """`buyers` closed-loop buyers; or, with `paced_per_s`, checkouts arriving at that rate (the
    process's share of it), numbered first, first + buyers, ... so that processes never share one."""
    import uvloop

    outcome = Outcome()

    async def main() -> None:
        await asyncio.sleep(max(0.0, start_at - time.time()))
        opens = time.perf_counter() + ramp_s
        window = Span(opens, opens + duration_s)
        if paced_per_s is not None:
            await _arrivals(path, first, buyers, paced_per_s, product, poll_s, window, outcome)
        else:
            await asyncio.gather(*(_buyer(path, first + n, product, poll_s, window, outcome) for n in range(buyers)))
        outcome.seconds = duration_s

    uvloop.run(main())
    out.put(outcome)


def drive_buyers(path: CheckoutPath, product: str, buyers: int, ramp_s: float, duration_s: float,
                 poll_s: float) -> Outcome:
    """`buyers` concurrent buyers over CLIENT_PROCESSES client processes for `ramp_s` + `duration_s`,
    then until every checkout they started has finished; counted: the last `duration_s`."""
    processes = max(1, min(CLIENT_PROCESSES, buyers))
    start_at = time.time() + START_S
    shares = spread(buyers, processes)
    firsts = [sum(shares[:i]) for i in range(processes)]
    arguments = [(path, first, share, product, poll_s, ramp_s, duration_s, start_at, None)
                 for first, share in zip(firsts, shares, strict=True)]
    return _run(arguments, ramp_s + duration_s)


def drive_paced(path: CheckoutPath, product: str, per_s: float, ramp_s: float, duration_s: float,
                poll_s: float) -> Outcome:
    """Checkouts arriving at `per_s` a second (open loop, over CLIENT_PROCESSES client processes)
    for `ramp_s` + `duration_s`, then until every one has finished; counted: the last `duration_s`.
    A load of a known rate, where closed-loop buyers set their own pace by the house's."""
    start_at = time.time() + START_S
    arguments = [(path, p, CLIENT_PROCESSES, product, poll_s, ramp_s, duration_s, start_at, per_s / CLIENT_PROCESSES)
                 for p in range(CLIENT_PROCESSES)]
    return _run(arguments, ramp_s + duration_s)


def _run(arguments: Sequence[tuple[object, ...]], load_s: float) -> Outcome:
    total = Outcome()
    timeout_s = load_s + CHECKOUT_DEADLINE_S + 2 * RETRY_WINDOW_S + 60
    for outcome in run_processes(_client_process, list(arguments), timeout_s):
        total.merge(outcome)
    return total
