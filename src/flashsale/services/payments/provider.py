"""The payment provider behind an interface, and the simulated one the house runs with.

A real provider is a remote call that can fail or hang; `ProviderError` is the failure a caller
may retry, because every call carries an idempotency key and the provider acts on a key once:
a repeated key gets the first answer again and no second effect.

The simulated provider stands in for an external one whose books outlive our processes, so it
keeps its books (`ProviderBook`) in a table of its own, not in memory: after a crash and restart
of the payments service it still knows what it already did.

Tokens of the simulated provider (docs/contract.md#orders):
- `tok_ok` approves; `tok_slow` approves, but answers 2 s after acting;
- `tok_declined` declines ("card_declined"); any unknown token declines ("unknown_token");
- `tok_error` raises `ProviderError` on every authorisation (the caller retries, then gives up);
- `tok_slow_capture` approves at once, but answers a capture 2 s after carrying it out (the
  window in which a crash leaves a capture done at the provider and unrecorded by us).
Capture, void and refund always succeed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from flashsale.services.payments.domain import Operation

SLOW_ANSWER_S = 2.0
SLOW_TOKEN = "tok_slow"
SLOW_CAPTURE_TOKEN = "tok_slow_capture"
ERROR_TOKEN = "tok_error"
_AUTHORISATIONS = {
    "tok_ok": (True, None),
    SLOW_TOKEN: (True, None),
    SLOW_CAPTURE_TOKEN: (True, None),
    "tok_declined": (False, "card_declined"),
}
_UNKNOWN_TOKEN = (False, "unknown_token")


class ProviderError(Exception):
    """The provider could not be asked or did not answer: the outcome is unknown, retry."""


@dataclass(frozen=True)
class ProviderResult:
    approved: bool
    reason: str | None = None


@dataclass(frozen=True)
class Charge:
    """What the provider is told about the payment an operation concerns."""

    order_id: str
    amount_cents: int
    token: str


@dataclass(frozen=True)
class ProviderOperation:
    """One idempotency key in the provider's books: what it was asked, what it answered first,
    how often it was asked, and whether it acted (`effects` is 0 or 1, never more)."""

    idempotency_key: str
    kind: str
    order_id: str
    amount_cents: int
    approved: bool | None
    reason: str | None
    calls: int
    effects: int
    created_at_ms: int


class PaymentProvider(Protocol):
    async def authorise(self, charge: Charge, idempotency_key: str) -> ProviderResult: ...

    async def capture(self, charge: Charge, idempotency_key: str) -> ProviderResult: ...

    async def void(self, charge: Charge, idempotency_key: str) -> ProviderResult: ...

    async def refund(self, charge: Charge, idempotency_key: str) -> ProviderResult: ...

    async def operations(self, order_id: str) -> list[ProviderOperation]:
        """What the provider did for an order (what a reconciliation asks a real provider)."""
        ...


class ProviderBook(Protocol):
    """Where the simulated provider keeps its books (implemented by the payments store)."""

    async def act_once(
        self, operation: Operation, idempotency_key: str, charge: Charge, result: ProviderResult
    ) -> ProviderResult:
        """Record `result` as the key's effect unless one is recorded; count the call either
        way; return the key's first answer."""
        ...

    async def count_failed_call(self, operation: Operation, idempotency_key: str, charge: Charge) -> None:
        """Count a call that failed before the provider acted."""
        ...

    async def operations(self, order_id: str) -> list[ProviderOperation]: ...


T = TypeVar("T")


class SimulatedProvider:
    """Answers by token and acts on each idempotency key once, whatever happens to our process.

    Its books are kept in our database but stand for the provider's own side: a caller that stops
    waiting (our timeout) does not stop the provider acting, as it would not stop a real one. So
    the book is written in a task of its own that the caller's cancellation does not reach, and a
    database transaction is never cut off half-way by it."""

    def __init__(self, book: ProviderBook, *, slow_answer_s: float = SLOW_ANSWER_S) -> None:
        self.book = book
        self.slow_answer_s = slow_answer_s
        self._acting: set[asyncio.Future[Any]] = set()

    async def _on_its_side(self, work: Awaitable[T]) -> T:
        task = asyncio.ensure_future(work)
        self._acting.add(task)
        task.add_done_callback(self._acting.discard)
        return await asyncio.shield(task)

    async def settle(self) -> None:
        """Wait for what the provider is still doing after its callers stopped waiting."""
        if self._acting:
            await asyncio.gather(*self._acting, return_exceptions=True)

    async def authorise(self, charge: Charge, idempotency_key: str) -> ProviderResult:
        if charge.token == ERROR_TOKEN:
            await self._on_its_side(self.book.count_failed_call(Operation.AUTHORISE, idempotency_key, charge))
            raise ProviderError("simulated provider failure")
        approved, reason = _AUTHORISATIONS.get(charge.token, _UNKNOWN_TOKEN)
        answer = await self._on_its_side(self.book.act_once(
            Operation.AUTHORISE, idempotency_key, charge, ProviderResult(approved, reason)
        ))
        if charge.token == SLOW_TOKEN:
            await asyncio.sleep(self.slow_answer_s)  # acted already; only the answer is late
        return answer

    async def capture(self, charge: Charge, idempotency_key: str) -> ProviderResult:
        answer = await self._succeed(Operation.CAPTURE, charge, idempotency_key)
        if charge.token == SLOW_CAPTURE_TOKEN:
            await asyncio.sleep(self.slow_answer_s)
        return answer

    async def void(self, charge: Charge, idempotency_key: str) -> ProviderResult:
        return await self._succeed(Operation.VOID, charge, idempotency_key)

    async def refund(self, charge: Charge, idempotency_key: str) -> ProviderResult:
        return await self._succeed(Operation.REFUND, charge, idempotency_key)

    async def operations(self, order_id: str) -> list[ProviderOperation]:
        return await self.book.operations(order_id)

    async def _succeed(self, operation: Operation, charge: Charge, idempotency_key: str) -> ProviderResult:
        return await self._on_its_side(
            self.book.act_once(operation, idempotency_key, charge, ProviderResult(approved=True))
        )
