"""When the provider fails: the operations and the store in this process, on a real database,
with the simulated provider behind a link the test can cut (no process can be made to fail a
capture: the simulated provider always carries it out)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator

import pytest
import sqlalchemy as sa

from flashsale.kit.clock import SystemClock
from flashsale.kit.db import Database
from flashsale.kit.db_admin import service_database_url
from flashsale.kit.migrations import upgrade
from flashsale.kit.schema import outbox
from flashsale.services.payments.app import MIGRATIONS
from flashsale.services.payments.domain import LedgerViolation, Operation
from flashsale.services.payments.errors import NotCapturable, ProviderUnavailable
from flashsale.services.payments.operations import Payments
from flashsale.services.payments.provider import (
    Charge,
    ProviderError,
    ProviderOperation,
    ProviderResult,
    SimulatedProvider,
)
from flashsale.services.payments.retries import RetryPolicy
from flashsale.services.payments.store import PaymentStore, ProviderBookStore
from flashsale.services.payments.store.tables import payments as payments_table
from support.ids import unique

pytestmark = pytest.mark.service

POLICY = RetryPolicy(attempts=3, timeout_s=0.2, backoff_s=0.01, max_backoff_s=0.02)


class CuttableLink:
    """The simulated provider behind a link that is down (`down`) or hangs (`hanging`) on demand."""

    def __init__(self, provider: SimulatedProvider) -> None:
        self.provider = provider
        self.down = False
        self.hanging = False
        self.calls: Counter[str] = Counter()

    async def _cross(self, kind: str) -> None:
        self.calls[kind] += 1
        if self.hanging:
            await asyncio.sleep(3600)
        if self.down:
            raise ProviderError("connection refused")

    async def authorise(self, charge: Charge, idempotency_key: str) -> ProviderResult:
        await self._cross("authorise")
        return await self.provider.authorise(charge, idempotency_key)

    async def capture(self, charge: Charge, idempotency_key: str) -> ProviderResult:
        await self._cross("capture")
        return await self.provider.capture(charge, idempotency_key)

    async def void(self, charge: Charge, idempotency_key: str) -> ProviderResult:
        await self._cross("void")
        return await self.provider.void(charge, idempotency_key)

    async def refund(self, charge: Charge, idempotency_key: str) -> ProviderResult:
        await self._cross("refund")
        return await self.provider.refund(charge, idempotency_key)

    async def operations(self, order_id: str) -> list[ProviderOperation]:
        return await self.provider.operations(order_id)


@pytest.fixture
async def db(database_base: str) -> AsyncIterator[Database]:
    db = await Database.connect(service_database_url(database_base, "payments"), producer="payments")
    await upgrade(db, MIGRATIONS)
    try:
        yield db
    finally:
        await db.dispose()


@pytest.fixture
def book(db: Database) -> ProviderBookStore:
    return ProviderBookStore(db, SystemClock())


@pytest.fixture
async def link(book: ProviderBookStore) -> AsyncIterator[CuttableLink]:
    link = CuttableLink(SimulatedProvider(book))
    yield link
    await link.provider.settle()


@pytest.fixture
def payments(db: Database, link: CuttableLink) -> Payments:
    return Payments(PaymentStore(db, SystemClock()), link, POLICY)


async def _authorised(payments: Payments) -> str:
    order_id = unique("o")
    assert (await payments.authorise(order_id, 1000, "tok_ok")).status == "AUTHORISED"
    return order_id


async def _kinds(payments: Payments, order_id: str) -> list[str]:
    return [e.kind for e in await payments.ledger(order_id)]


async def _effects(book: ProviderBookStore, order_id: str) -> dict[str, int]:
    return {op.kind: op.effects for op in await book.operations(order_id)}


async def test_a_capture_the_provider_cannot_take_is_a_503_and_records_nothing(
    payments: Payments, link: CuttableLink, book: ProviderBookStore,
) -> None:
    order_id = await _authorised(payments)
    link.down = True

    with pytest.raises(ProviderUnavailable, match=f"the capture of order {order_id} failed"):
        await payments.capture(order_id)

    assert link.calls["capture"] == POLICY.attempts
    assert (await payments.find(order_id)).status == "AUTHORISED"
    assert await _kinds(payments, order_id) == ["AUTHORISED"]
    assert await _effects(book, order_id) == {"authorise": 1}

    link.down = False
    assert (await payments.capture(order_id)).status == "CAPTURED"
    assert await _kinds(payments, order_id) == ["AUTHORISED", "CAPTURED"]
    assert await _effects(book, order_id) == {"authorise": 1, "capture": 1}


class LateBook:
    """The provider's books, where the first write takes longer than our timeout (a provider that
    acts, then answers too late)."""

    def __init__(self, book: ProviderBookStore, late_s: float) -> None:
        self.book, self.late_s = book, late_s

    async def act_once(self, operation: Operation, idempotency_key: str, charge: Charge,
                       result: ProviderResult) -> ProviderResult:
        late_s, self.late_s = self.late_s, 0.0
        await asyncio.sleep(late_s)
        return await self.book.act_once(operation, idempotency_key, charge, result)

    async def count_failed_call(self, operation: Operation, idempotency_key: str, charge: Charge) -> None:
        await self.book.count_failed_call(operation, idempotency_key, charge)

    async def operations(self, order_id: str) -> list[ProviderOperation]:
        return await self.book.operations(order_id)


async def test_a_provider_that_acts_but_answers_after_our_timeout_is_asked_again_and_acts_once(
    db: Database, book: ProviderBookStore,
) -> None:
    provider = SimulatedProvider(LateBook(book, late_s=POLICY.timeout_s * 2))
    payments = Payments(PaymentStore(db, SystemClock()), provider, POLICY)
    order_id = unique("o")

    answer = await payments.authorise(order_id, 1000, "tok_ok")
    await provider.settle()

    assert answer.status == "AUTHORISED"
    [operation] = await book.operations(order_id)
    # Asked again after our timeout (again, if a loaded machine made the retry slow too); acted once.
    assert operation.calls >= 2 and operation.effects == 1


@pytest.mark.parametrize("captured", [False, True], ids=["void", "refund"])
async def test_giving_back_while_the_provider_is_down_is_a_503_and_records_nothing(
    payments: Payments, link: CuttableLink, book: ProviderBookStore, captured: bool,
) -> None:
    order_id = await _authorised(payments)
    if captured:
        await payments.capture(order_id)
    before = await _kinds(payments, order_id)
    link.down = True

    with pytest.raises(ProviderUnavailable):
        await payments.refund(order_id)

    assert (await payments.find(order_id)).status == ("CAPTURED" if captured else "AUTHORISED")
    assert await _kinds(payments, order_id) == before
    link.down = False
    assert (await payments.refund(order_id)).status == ("REFUNDED" if captured else "VOIDED")
    assert (await payments.refund(order_id)).status == ("REFUNDED" if captured else "VOIDED")
    assert await _kinds(payments, order_id) == [*before, "REFUNDED" if captured else "VOIDED"]
    assert set((await _effects(book, order_id)).values()) == {1}


async def test_a_void_cut_off_by_the_provider_keeps_the_capture_refused(
    payments: Payments, link: CuttableLink,
) -> None:
    """The void may have happened at the provider: a capture must not slip in after it."""
    order_id = await _authorised(payments)
    link.down = True
    with pytest.raises(ProviderUnavailable):
        await payments.refund(order_id)
    link.down = False

    with pytest.raises(NotCapturable):
        await payments.capture(order_id)
    assert (await payments.refund(order_id)).status == "VOIDED"


async def test_a_provider_that_hangs_is_timed_out_and_asked_again(payments: Payments, link: CuttableLink) -> None:
    authorised = await _authorised(payments)
    link.hanging = True
    # Counted from here: on a loaded machine the authorisation above may itself have outlasted
    # the 0.2 s timeout once and been asked again.
    calls_before = link.calls.copy()
    started = time.monotonic()

    declined = await payments.authorise(unique("o"), 1000, "tok_ok")
    with pytest.raises(ProviderUnavailable):
        await payments.capture(authorised)

    assert (declined.status, declined.reason) == ("DECLINED", "provider_error")
    assert link.calls["authorise"] - calls_before["authorise"] == POLICY.attempts
    assert link.calls["capture"] - calls_before["capture"] == POLICY.attempts
    assert time.monotonic() - started < 2 * POLICY.attempts * (POLICY.timeout_s + POLICY.max_backoff_s) + 1


async def test_the_books_act_once_per_key_however_many_calls_race(book: ProviderBookStore) -> None:
    order_id = unique("o")
    charge = Charge(order_id, 1000, "tok_ok")
    key = f"capture:{unique('pay')}"
    await book.count_failed_call(Operation.CAPTURE, key, charge)  # failed before acting: no effect

    answers = await asyncio.gather(*(
        book.act_once(Operation.CAPTURE, key, charge, ProviderResult(approved=n % 2 == 0, reason=str(n)))
        for n in range(10)
    ))

    assert len(set(answers)) == 1  # every caller got the first answer
    [operation] = await book.operations(order_id)
    assert (operation.kind, operation.calls, operation.effects) == ("capture", 11, 1)
    assert (operation.approved, operation.reason) == (answers[0].approved, answers[0].reason)


async def test_the_ledger_refuses_an_entry_that_breaks_its_rules_and_the_change_rolls_back(
    payments: Payments, db: Database,
) -> None:
    order_id = await _authorised(payments)
    # A payment marked CAPTURED with no capture in its ledger (what a bug could leave behind):
    # refunding it would refund more than was captured.
    async with db.transaction() as conn:
        await conn.execute(payments_table.update().where(payments_table.c.order_id == order_id)
                           .values(status="CAPTURED"))
        outbox_before = await conn.scalar(sa.select(sa.func.count()).select_from(outbox))

    with pytest.raises(LedgerViolation):
        await payments.refund(order_id)

    assert (await payments.find(order_id)).status == "CAPTURED"
    assert await _kinds(payments, order_id) == ["AUTHORISED"]
    async with db.read() as conn:
        assert await conn.scalar(sa.select(sa.func.count()).select_from(outbox)) == outbox_before
