"""Guards at the edge: request bodies have a size limit, callers have a rate limit.

- `BodyLimit` (pure ASGI middleware) refuses a body over the limit with 413 before any route sees
  it: at once when `Content-Length` says so, and while reading when a body without one (chunked)
  grows past it. It reads the body (at most the limit) and hands it on, so nothing downstream can
  be made to buffer more.
- `Admission` sheds what the house cannot take: at most N buy attempts forwarded at once, past
  that 503 `overloaded` with Retry-After, at once, so that everything admitted gets a real answer
  instead of every buyer waiting into a timeout together.
- `Throttle` admits at most N requests in any window of its length per caller (a moving window,
  the rate in `limits`' notation, e.g. "20/second"): per customer when signed in, per client
  address otherwise. In memory, so per gateway instance; several instances would share a store
  (Redis) instead.
  The window is kept here by hand, per caller the times of their last N admitted requests, and
  callers idle for a window are forgotten as requests arrive. The `limits` library's memory
  storages were measured doing badly on the event loop: the asyncio one re-sweeps every key with a
  thread hop each after every hit (a third to most of a core at 2,000 requests/s from 2,000
  customers); the synchronous one starts a sweeping thread every 10 ms under load (the event loop
  waiting for each start) that scans every caller's window: 16 us of CPU per request with 16
  callers, 75 us with 2,000 (bench/RESULTS.md, 2026-12-06 11:40).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections import OrderedDict, deque
from collections.abc import Iterator

from limits import parse
from starlette.types import ASGIApp, Receive, Scope, Send

from flashsale.kit.asgi import declared_length, replay_body
from flashsale.kit.problems import problem_response
from flashsale.services.gateway import metrics
from flashsale.services.gateway.errors import Overloaded, PayloadTooLarge, RateLimited

MAX_CALLERS = 100_000  # callers counted at once (a window of times each): past it the least recent are forgotten early


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if (declared_length(scope) or 0) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away while sending
            body += message.get("body", b"")
            if len(body) > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        await self.app(scope, replay_body(bytes(body), receive), send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        metrics.refusals.labels("payload_too_large").inc()
        problem = PayloadTooLarge(self.max_bytes)
        response = problem_response(problem, scope.get("path"))
        response.headers.update(problem.headers)
        await response(scope, receive, send)


class Admission:
    RETRY_AFTER_S = 1

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_flight = 0

    @contextlib.contextmanager
    def admitted(self) -> Iterator[None]:
        """The block runs as one of the attempts in flight, or Overloaded when there are enough."""
        if self.in_flight >= self.limit:
            metrics.refusals.labels("overloaded").inc()
            raise Overloaded(self.RETRY_AFTER_S)
        self.in_flight += 1
        try:
            yield
        finally:
            self.in_flight -= 1


class Throttle:
    def __init__(self, rate: str, *, max_callers: int = MAX_CALLERS) -> None:
        item = parse(rate)
        self.amount = item.amount
        self.window_s = float(item.get_expiry())
        self.max_callers = max_callers
        # caller -> monotonic times of their admitted requests within the last window (at most
        # `amount`), callers in order of their latest request
        self._admitted: OrderedDict[str, deque[float]] = OrderedDict()

    @property
    def callers(self) -> int:
        """How many callers have requests counted in their window."""
        return len(self._admitted)

    async def admit(self, caller: str) -> None:
        """Count one request of `caller`, or RateLimited when its window is full."""
        self.count(caller, time.monotonic())

    def count(self, caller: str, now: float) -> None:
        """`admit` at `now` (monotonic seconds)."""
        admitted = self._admitted.get(caller)
        if admitted is None:
            admitted = self._admitted[caller] = deque()
        else:
            self._admitted.move_to_end(caller)
        while admitted and admitted[0] <= now - self.window_s:
            admitted.popleft()
        if len(admitted) >= self.amount:
            metrics.refusals.labels("rate_limited").inc()
            raise RateLimited(max(1, math.ceil(admitted[0] + self.window_s - now)))
        admitted.append(now)
        self._forget_idle(now)

    def _forget_idle(self, now: float) -> None:
        """Drop the callers whose latest request is a window old (they have nothing left to count),
        oldest first; past `max_callers`, the least recent caller's window is forgotten early."""
        while self._admitted:
            caller, admitted = next(iter(self._admitted.items()))
            if admitted and admitted[-1] > now - self.window_s and len(self._admitted) <= self.max_callers:
                return
            del self._admitted[caller]
