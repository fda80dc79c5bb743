"""The payments service's store: the only code that touches its tables (`tables.py`).

`PaymentStore` keeps payments and their ledger; `ProviderBookStore` (book.py) keeps the simulated
provider's books. Every change of a payment's status is one transaction: a conditional UPDATE from
the status it must come from (two racing requests cannot both apply it), the ledger entry it
writes (checked against the ledger's rules in that transaction) and the event announcing it,
appended to the outbox. On PostgreSQL the same change is one statement after a read of the ledger
(`PaymentStore._moved_at_once`), the transaction its fallback.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from flashsale.contracts.events import (
    EventData,
    PaymentAuthorised,
    PaymentCaptured,
    PaymentDeclined,
    PaymentRefunded,
    PaymentVoided,
)
from flashsale.kit.clock import Clock
from flashsale.kit.db import Database
from flashsale.kit.envelope import Envelope
from flashsale.kit.grouped_writes import GroupedWrites
from flashsale.kit.sql import dialect_insert
from flashsale.kit.statements import Statement, per_dialect
from flashsale.kit.unit_of_work import UnitOfWork, announcing_cte
from flashsale.services.payments import SERVICE, domain
from flashsale.services.payments.store.book import ProviderBookStore
from flashsale.services.payments.store.tables import metadata, payment_ledger, payments

__all__ = ["LedgerEntry", "Payment", "PaymentStore", "ProviderBookStore", "metadata"]



@dataclass(frozen=True)
class Payment:
    payment_id: str
    order_id: str
    amount_cents: int
    token: str
    status: str
    reason: str | None
    attempts: int
    created_at_ms: int
    updated_at_ms: int
    pending_step: str | None = None


@dataclass(frozen=True)
class LedgerEntry:
    entry_id: str
    payment_id: str
    order_id: str
    kind: str
    amount_cents: int
    at_ms: int


class PaymentStore:
    """Payments and their ledger. Each method opens its own short transaction."""

    def __init__(self, db: Database, clock: Clock, *, stale_pending_ms: int = domain.STALE_PENDING_MS) -> None:
        self.db = db
        self.clock = clock
        self.stale_pending_ms = stale_pending_ms
        # The payment's writes of requests that arrive together commit together (a sale's captures
        # come in a burst, as their orders' deductions do): kit/grouped_writes.py says why.
        self.writes = GroupedWrites(db)

    async def find(self, order_id: str) -> Payment | None:
        async with self.db.read() as conn:
            return await _find_txn(conn, order_id)

    async def ledger(self, order_id: str) -> list[LedgerEntry]:
        async with self.db.read() as conn:
            rows = await conn.execute(
                sa.select(payment_ledger)
                .where(payment_ledger.c.order_id == order_id)
                # Entries of one millisecond: the kinds' alphabetical order is also their causal one.
                .order_by(payment_ledger.c.at_ms, payment_ledger.c.kind)
            )
            return [LedgerEntry(**row._mapping) for row in rows]

    # -- authorise ----------------------------------------------------------------------------

    async def claim(self, order_id: str, amount_cents: int, token: str) -> tuple[domain.Claim, Payment]:
        """Decide what an authorise request for `order_id` does, creating the PENDING payment if new.

        The common case, an order's first authorisation, is one statement that commits on its own
        (an INSERT that does nothing when the order has its payment already); only then is the
        stored payment read and decided on, in a transaction."""
        now = self.clock.now_ms()
        new = Payment(f"pay-{uuid.uuid4()}", order_id, amount_cents, token, domain.PENDING, None, 0, now, now)

        async def create(uow: UnitOfWork) -> bool:
            return bool((await _CREATE_NEW.run(uow.conn, asdict(new))).rowcount == 1)

        if await self.writes.run(create, one_statement=True):
            return domain.Claim.START, new
        try:
            async with self.db.transaction() as conn:
                return await self._claim_txn(conn, order_id, amount_cents, token)
        except IntegrityError:
            pass  # a concurrent request created this order's payment first: look again
        async with self.db.transaction() as conn:
            return await self._claim_txn(conn, order_id, amount_cents, token)

    async def _claim_txn(
        self, conn: AsyncConnection, order_id: str, amount_cents: int, token: str
    ) -> tuple[domain.Claim, Payment]:
        now = self.clock.now_ms()
        found = await _find_txn(conn, order_id)
        if found is None:
            created = Payment(f"pay-{uuid.uuid4()}", order_id, amount_cents, token, domain.PENDING,
                              None, 0, now, now)
            await _CREATE.run(conn, asdict(created))
            return domain.Claim.START, created
        decision = domain.claim(found.status, found.updated_at_ms, now, self.stale_pending_ms)
        if decision is domain.Claim.TAKE_OVER and not await _take_over_txn(conn, found, now):
            return domain.Claim.IN_PROGRESS, found
        return decision, found

    async def record_authorisation(
        self, payment: Payment, approved: bool, reason: str | None, provider_calls: int
    ) -> Payment:
        """PENDING → AUTHORISED (ledger entry) or DECLINED, with the event, in one transaction."""
        status = domain.authorisation_status(approved)
        now = self.clock.now_ms()
        stored_reason = None if approved else reason or domain.DECLINED_REASON
        moved = await self._moved_at_once(_AUTHORISED_AT_ONCE, payment, {
            "source": domain.PENDING, "status": status, "reason": stored_reason,
        }, domain.authorisation_entries(status), _authorisation_event(payment, approved, reason), provider_calls, now)
        if moved is not None:
            return moved

        async def record(uow: UnitOfWork) -> Payment:
            conn = uow.conn
            finished = await _changed_txn(conn, _AUTHORISATION, {
                "b_payment_id": payment.payment_id, "b_status": status,
                "b_reason": None if approved else reason or domain.DECLINED_REASON, "b_calls": provider_calls,
                "b_now": now})
            if finished is None:
                return await _get_txn(conn, payment.payment_id)
            for kind in domain.authorisation_entries(status):
                await _add_entry_txn(conn, payment, kind, now)
            await _announce_txn(uow, payment, _authorisation_event(payment, approved, reason), now)
            return finished

        return await self.writes.run(record)

    # -- capture, void, refund ----------------------------------------------------------------

    async def start_step(self, payment: Payment, step: domain.Step) -> Payment:
        """Mark `step` as the payment's pending step, unless the payment has moved on or another
        step is pending; returns the payment as it now is (the caller checks which happened)."""
        if (payment.status, payment.pending_step) == (step.source, step.operation.value):
            return payment  # already marked: re-drive it
        async def start(uow: UnitOfWork) -> Payment | None:
            return await _changed_txn(uow.conn, _START_STEP, {
                "b_payment_id": payment.payment_id, "b_source": step.source, "b_step": step.operation.value,
                "b_now": self.clock.now_ms()})

        # One statement: alone, committed on its own on PostgreSQL (one round trip, not three).
        started = await self.writes.run(start, one_statement=True)
        if started is not None:
            return started
        async with self.db.read() as conn:  # it had moved on: as it is now
            return await _get_txn(conn, payment.payment_id)

    async def finish_step(self, payment: Payment, step: domain.Step, provider_calls: int) -> Payment:
        """The provider carried out `step`: status, ledger entry and event in one transaction.
        Whoever finishes it first records it; a second finisher changes nothing."""
        now = self.clock.now_ms()
        moved = await self._moved_at_once(_FINISHED_AT_ONCE, payment, {
            "source": step.source, "status": step.target, "step": step.operation.value,
        }, (step.entry,), _step_event(payment, step), provider_calls, now)
        if moved is not None:
            return moved

        async def finish(uow: UnitOfWork) -> Payment:
            conn = uow.conn
            finished = await _changed_txn(conn, _FINISH_STEP, {
                "b_payment_id": payment.payment_id, "b_source": step.source, "b_step": step.operation.value,
                "b_target": step.target, "b_calls": provider_calls, "b_now": now})
            if finished is None:
                return await _get_txn(conn, payment.payment_id)
            await _add_entry_txn(conn, payment, step.entry, now)
            await _announce_txn(uow, payment, _step_event(payment, step), now)
            return finished

        return await self.writes.run(finish)

    async def _moved_at_once(
        self, statement: Statement, payment: Payment, values: dict[str, object], entries: tuple[str, ...],
        event: EventData, provider_calls: int, now: int,
    ) -> Payment | None:
        """PostgreSQL: a status change with its ledger entry (`entries`: none or one) and its event
        in ONE statement (`_moving`), after a read of the ledger its rules are checked on. The
        statement writes only if the payment is still in the status it must come from and its
        ledger is still as read; else nothing, and None: the caller's transaction decides, and
        refuses an entry against the rules (as on SQLite). Two round trips where the transaction
        took six."""
        assert len(entries) <= 1, "the statement writes one ledger entry at most"
        if self.db.is_sqlite:
            return None
        async with self.db.read() as conn:
            existing = [(row.kind, row.amount_cents)
                        for row in await _LEDGER_OF.run(conn, {"b_payment_id": payment.payment_id})]
        try:
            for kind in entries:
                domain.check_entry(existing, kind, payment.amount_cents)
        except domain.LedgerViolation:
            return None  # moved on (a racing request's entry), or a real violation: the transaction says which
        announced = self.db.announcement(_envelope(payment, event, now), aggregate_id=payment.order_id)
        async with self.db.single_statement() as uow:
            row = await uow.execute_announcing(statement, {
                **values, "payment_id": payment.payment_id, "calls": provider_calls, "now": now,
                "entries_seen": len(existing), "entry_id": str(uuid.uuid4()), "kind": entries[0] if entries else None,
            }, [announced])
        return None if row is None else Payment(**row._mapping)


def _moving(changes: str, condition: str) -> Statement:
    """PostgreSQL: a payment's status change (`changes`, from where `condition` holds), its ledger
    entry (none when `:kind` is NULL) and its event, in one statement of data-modifying CTEs
    (`PaymentStore._moved_at_once`): written whole or not at all, and only while the ledger holds as
    many entries as the caller read and checked. Every entry is written with a status change of its
    payment's row, and statuses only move forward: an entry committed after the statement's
    snapshot moved the row on from the status this UPDATE requires, and the UPDATE, which checks its
    conditions again on the row as that change left it, finds nothing. Its result columns named, it
    runs by asyncpg (kit/statements.py)."""
    columns = ", ".join(column.name for column in payments.c)
    return Statement(sa.text(f"""
WITH changed AS (
    UPDATE {payments.name}
    SET {changes}, attempts = attempts + CAST(:calls AS integer), updated_at_ms = CAST(:now AS bigint)
    WHERE payment_id = CAST(:payment_id AS text) AND status = CAST(:source AS text) AND {condition}
      AND (SELECT count(*) FROM {payment_ledger.name} WHERE payment_id = CAST(:payment_id AS text))
          = CAST(:entries_seen AS bigint)
    RETURNING {columns}
), entry AS (
    INSERT INTO {payment_ledger.name} (entry_id, payment_id, order_id, kind, amount_cents, at_ms)
    SELECT CAST(:entry_id AS text), payment_id, order_id, CAST(:kind AS text), amount_cents, CAST(:now AS bigint)
    FROM changed WHERE CAST(:kind AS text) IS NOT NULL
), {announcing_cte("EXISTS (SELECT FROM changed)")}
SELECT {columns} FROM changed
""").columns(*payments.c))


_AUTHORISED_AT_ONCE = _moving("status = CAST(:status AS text), reason = CAST(:reason AS text)", "true")
_FINISHED_AT_ONCE = _moving("status = CAST(:status AS text), pending_step = NULL",
                            "pending_step = CAST(:step AS text)")

# Reads every request makes, built once (kit/statements.py says why).
_FIND = Statement(sa.select(payments).where(payments.c.order_id == sa.bindparam("b_order_id")))
_GET = Statement(sa.select(payments).where(payments.c.payment_id == sa.bindparam("b_payment_id")))
_LEDGER_OF = Statement(sa.select(payment_ledger.c.kind, payment_ledger.c.amount_cents).where(
    payment_ledger.c.payment_id == sa.bindparam("b_payment_id")))
# The writes of an authorisation and of each step, built once the same way.
_CREATE = Statement(payments.insert())
# A payment per order (its order_id is unique): nothing inserted when the order has one already.
_CREATE_NEW = per_dialect(lambda dialect: dialect_insert(dialect, payments).on_conflict_do_nothing())
_ADD_ENTRY = Statement(payment_ledger.insert())
_THIS_PAYMENT = payments.c.payment_id == sa.bindparam("b_payment_id")
_MOVED_BY = {"attempts": payments.c.attempts + sa.bindparam("b_calls", type_=sa.Integer()),
             "updated_at_ms": sa.bindparam("b_now")}
_AUTHORISATION = Statement(payments.update().where(_THIS_PAYMENT, payments.c.status == domain.PENDING)
                  .values(status=sa.bindparam("b_status"), reason=sa.bindparam("b_reason", type_=sa.String()),
                          **_MOVED_BY)
                  .returning(*payments.c))
_START_STEP = Statement(payments.update()
               .where(_THIS_PAYMENT, payments.c.status == sa.bindparam("b_source"),
                      sa.or_(payments.c.pending_step.is_(None), payments.c.pending_step == sa.bindparam("b_step")))
               .values(pending_step=sa.bindparam("b_step"), updated_at_ms=sa.bindparam("b_now"))
               .returning(*payments.c))
_FINISH_STEP = Statement(payments.update()
                .where(_THIS_PAYMENT, payments.c.status == sa.bindparam("b_source"),
                       payments.c.pending_step == sa.bindparam("b_step"))
                .values(status=sa.bindparam("b_target"), pending_step=None, **_MOVED_BY)
                .returning(*payments.c))


async def _find_txn(conn: AsyncConnection, order_id: str) -> Payment | None:
    row = (await _FIND.run(conn, {"b_order_id": order_id})).first()
    return None if row is None else Payment(**row._mapping)


async def _get_txn(conn: AsyncConnection, payment_id: str) -> Payment:
    row = (await _GET.run(conn, {"b_payment_id": payment_id})).one()
    return Payment(**row._mapping)


async def _changed_txn(conn: AsyncConnection, update: Statement, params: dict[str, object]) -> Payment | None:
    """Run a conditional UPDATE of a payment's row (one of the statements below, which return the
    row): the payment as it changed it, or None when its condition did not hold (the payment had
    moved on). The row comes back with the UPDATE, so a change costs no second read."""
    row = (await update.run(conn, params)).first()
    return None if row is None else Payment(**row._mapping)


async def _take_over_txn(conn: AsyncConnection, stale: Payment, now: int) -> bool:
    """Claim an abandoned PENDING payment; only one of several racing requests wins."""
    taken = await conn.execute(
        payments.update()
        .where(payments.c.payment_id == stale.payment_id, payments.c.status == domain.PENDING,
               payments.c.updated_at_ms == stale.updated_at_ms)
        .values(updated_at_ms=now)
    )
    return bool(taken.rowcount == 1)


async def _add_entry_txn(conn: AsyncConnection, payment: Payment, kind: str, now: int) -> None:
    """Add a ledger entry if the ledger's rules allow it (domain.LedgerViolation rolls back).

    Callers changed the payment's row first in this transaction, so a concurrent writer for the
    same payment waits for this one to end and the entries read here are the latest."""
    existing = await _LEDGER_OF.run(conn, {"b_payment_id": payment.payment_id})
    domain.check_entry([(row.kind, row.amount_cents) for row in existing], kind, payment.amount_cents)
    await _ADD_ENTRY.run(conn, {
        "entry_id": str(uuid.uuid4()), "payment_id": payment.payment_id, "order_id": payment.order_id,
        "kind": kind, "amount_cents": payment.amount_cents, "at_ms": now,
    })


def _authorisation_event(payment: Payment, approved: bool, reason: str | None) -> EventData:
    if approved:
        return PaymentAuthorised(payment_id=payment.payment_id, order_id=payment.order_id,
                                 amount_cents=payment.amount_cents)
    return PaymentDeclined(payment_id=payment.payment_id, order_id=payment.order_id,
                           reason=reason or domain.DECLINED_REASON)


_STEP_EVENTS: dict[domain.Operation, type[PaymentCaptured | PaymentVoided | PaymentRefunded]] = {
    domain.Operation.CAPTURE: PaymentCaptured,
    domain.Operation.VOID: PaymentVoided,
    domain.Operation.REFUND: PaymentRefunded,
}


def _step_event(payment: Payment, step: domain.Step) -> EventData:
    event = _STEP_EVENTS[step.operation]
    return event(payment_id=payment.payment_id, order_id=payment.order_id, amount_cents=payment.amount_cents)


async def _announce_txn(uow: UnitOfWork, payment: Payment, event: EventData, now: int) -> None:
    await uow.announce(_envelope(payment, event, now), aggregate_id=payment.order_id)


def _envelope(payment: Payment, event: EventData, now: int) -> Envelope:
    return Envelope.new(source=SERVICE.source, type=type(event).__name__, subject=payment.order_id,
                        data=event.to_data(), now_ms=now, correlation_id=payment.order_id)
