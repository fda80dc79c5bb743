"""Group commit: requests for one key that arrive while that key's batch is being written wait
and go together, in arrival order, in the next batch.

`Coalescer.submit(key, request)` queues the request on its key's lane and waits for its own
answer. A lane has at most one batch in flight: the first request to an idle lane starts a
drain task, which waits up to `linger_s` for company (0: only until the event loop has run the
requests that arrived in the same turn), then hands up to `max_batch` requests to `run_batch`;
everything that arrives meanwhile forms the next batch, taken as soon as that one returns. Under
load, batches grow to match the time a batch takes; alone, a request waits for no one.

`run_batch(key, requests)` does the work (one transaction, say) and returns one answer per
request, in order: a value, or an exception for that request alone. If it raises, every request
of the batch gets that exception. A request is answered only after `run_batch` has returned, so
nothing is answered before the batch's work is done. The batching knows nothing of what the
work is: the caller's SQL lives in `run_batch`.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
R = TypeVar("R")
A = TypeVar("A")

BatchRunner = Callable[[K, list[R]], Awaitable[Sequence[A | Exception]]]


class _Waiting(Generic[R, A]):
    __slots__ = ("answer", "request")

    def __init__(self, request: R, answer: asyncio.Future[A]) -> None:
        self.request = request
        self.answer = answer


class Coalescer(Generic[K, R, A]):
    """Batches concurrent requests per key; one batch per key in flight (see the module doc)."""

    def __init__(self, run_batch: BatchRunner[K, R, A], *, max_batch: int = 64, linger_s: float = 0.0) -> None:
        if max_batch < 1:
            raise ValueError("a batch holds at least one request")
        self._run_batch = run_batch
        self.max_batch = max_batch
        self.linger_s = linger_s
        self._lanes: dict[K, deque[_Waiting[R, A]]] = {}
        self._drains: set[asyncio.Task[None]] = set()  # strong references: the loop keeps weak ones

    async def submit(self, key: K, request: R) -> A:
        """The answer to `request`, once the batch it joined has been run."""
        answer: asyncio.Future[A] = asyncio.get_running_loop().create_future()
        lane = self._lanes.get(key)
        if lane is None:
            lane = self._lanes[key] = deque()
            drain = asyncio.create_task(self._drain(key, lane))
            self._drains.add(drain)
            drain.add_done_callback(self._drains.discard)
        lane.append(_Waiting(request, answer))
        return await answer

    def waiting(self, key: K) -> int:
        """How many requests of `key` wait for a batch (not counting the one in flight)."""
        lane = self._lanes.get(key)
        return 0 if lane is None else len(lane)

    async def _drain(self, key: K, lane: deque[_Waiting[R, A]]) -> None:
        batch: list[_Waiting[R, A]] = []
        try:
            # An idle lane may wait a moment for company; after a batch, the next one has
            # already gathered while it ran.
            await asyncio.sleep(self.linger_s)
            while lane:
                batch = [lane.popleft() for _ in range(min(len(lane), self.max_batch))]
                # A request whose caller gave up before its batch started is not run at all.
                batch = [waiting for waiting in batch if not waiting.answer.done()]
                if batch:
                    await self._run(key, batch)
                batch = []
        finally:
            # Only on cancellation (shutdown) is anything left: nobody will run it now.
            for waiting in [*batch, *lane]:
                waiting.answer.cancel()
            if self._lanes.get(key) is lane:
                del self._lanes[key]

    async def _run(self, key: K, batch: list[_Waiting[R, A]]) -> None:
        try:
            answers = await self._run_batch(key, [waiting.request for waiting in batch])
            if len(answers) != len(batch):
                raise RuntimeError(f"a batch of {len(batch)} requests got {len(answers)} answers")
        except Exception as error:  # noqa: BLE001 - the batch failed as a whole: each request gets why
            answers = [error] * len(batch)
        for waiting, answer in zip(batch, answers, strict=True):
            if waiting.answer.done():  # its caller was cancelled meanwhile
                continue
            if isinstance(answer, Exception):
                waiting.answer.set_exception(answer)
            else:
                waiting.answer.set_result(answer)
