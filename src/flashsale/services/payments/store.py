"""The payments service's SQL: the only module that touches `payments` and `payment_ledger`.

Every final change of a payment is one transaction: the status (a conditional update from the
state it must come from, so two requests racing cannot both apply it), its ledger entries and the
event announcing it in the outbox.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from flashsale.contracts.events import EventData, PaymentApproved, PaymentDeclined, PaymentRefunded
from flashsale.kit.clock import Clock
from flashsale.kit.db import Database
from flashsale.kit.envelope import Envelope
from flashsale.kit.outbox import append_txn
from flashsale.services.payments import domain

SERVICE = "payments"

metadata = sa.MetaData()

payments = sa.Table(
    "payments",
    metadata,
    sa.Column("payment_id", sa.String(64), primary_key=True),
    sa.Column("order_id", sa.String(100), nullable=False, unique=True),
    sa.Column("amount_cents", sa.BigInteger, nullable=False),
    sa.Column("token", sa.String(100), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("reason", sa.String(100), nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("created_at_ms", sa.BigInteger, nullable=False),
    sa.Column("updated_at_ms", sa.BigInteger, nullable=False),
)

payment_ledger = sa.Table(
    "payment_ledger",
    metadata,
    sa.Column("entry_id", sa.String(64), primary_key=True),
    sa.Column("payment_id", sa.String(64), nullable=False),
    sa.Column("order_id", sa.String(100), nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("amount_cents", sa.BigInteger, nullable=False),
    sa.Column("at_ms", sa.BigInteger, nullable=False),
)


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


@dataclass(frozen=True)
class LedgerEntry:
    entry_id: str
    payment_id: str
    order_id: str
    kind: str
    amount_cents: int
    at_ms: int


class PaymentStore:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def find(self, order_id: str) -> Payment | None:
        async with self.db.read() as conn:
            return await _find_txn(conn, order_id)

    async def ledger(self, order_id: str) -> list[LedgerEntry]:
        async with self.db.read() as conn:
            rows = await conn.execute(
                sa.select(payment_ledger)
                .where(payment_ledger.c.order_id == order_id)
                .order_by(payment_ledger.c.at_ms, payment_ledger.c.kind)
            )
            return [LedgerEntry(**row._mapping) for row in rows]

    async def claim(self, order_id: str, amount_cents: int, token: str) -> tuple[domain.Claim, Payment]:
        """Decide what a charge request for `order_id` does, creating the PENDING payment if new."""
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
            await conn.execute(payments.insert().values(**created.__dict__))
            return domain.Claim.START, created
        decision = domain.claim(found.status, found.updated_at_ms, now)
        if decision is domain.Claim.TAKE_OVER and not await _take_over_txn(conn, found, now):
            return domain.Claim.IN_PROGRESS, found
        return decision, found

    async def record_outcome(
        self, payment: Payment, status: str, reason: str | None, provider_calls: int
    ) -> Payment:
        """Finish a PENDING payment: status, ledger entries and the event, in one transaction."""
        now = self.clock.now_ms()
        async with self.db.transaction() as conn:
            finished = await conn.execute(
                payments.update()
                .where(payments.c.payment_id == payment.payment_id, payments.c.status == domain.PENDING)
                .values(status=status, reason=reason, attempts=payments.c.attempts + provider_calls,
                        updated_at_ms=now)
            )
            if finished.rowcount == 1:
                for kind in domain.charge_entries(status):
                    await _add_entry_txn(conn, payment, kind, now)
                await _announce_txn(conn, payment, _outcome_event(payment, status, reason), now)
            return await _get_txn(conn, payment.payment_id)

    async def record_refund(self, payment: Payment) -> Payment:
        """APPROVED → REFUNDED with its ledger entry and event; a second refund changes nothing."""
        now = self.clock.now_ms()
        async with self.db.transaction() as conn:
            refunded = await conn.execute(
                payments.update()
                .where(payments.c.payment_id == payment.payment_id, payments.c.status == domain.APPROVED)
                .values(status=domain.REFUNDED, updated_at_ms=now)
            )
            if refunded.rowcount == 1:
                await _add_entry_txn(conn, payment, domain.REFUND_ENTRY, now)
                event = PaymentRefunded(payment_id=payment.payment_id, order_id=payment.order_id,
                                        amount_cents=payment.amount_cents)
                await _announce_txn(conn, payment, event, now)
            return await _get_txn(conn, payment.payment_id)


async def _find_txn(conn: AsyncConnection, order_id: str) -> Payment | None:
    row = (await conn.execute(sa.select(payments).where(payments.c.order_id == order_id))).first()
    return None if row is None else Payment(**row._mapping)


async def _get_txn(conn: AsyncConnection, payment_id: str) -> Payment:
    row = (await conn.execute(sa.select(payments).where(payments.c.payment_id == payment_id))).one()
    return Payment(**row._mapping)


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
    await conn.execute(payment_ledger.insert().values(
        entry_id=str(uuid.uuid4()), payment_id=payment.payment_id, order_id=payment.order_id,
        kind=kind, amount_cents=payment.amount_cents, at_ms=now,
    ))


def _outcome_event(payment: Payment, status: str, reason: str | None) -> EventData:
    if status == domain.APPROVED:
        return PaymentApproved(payment_id=payment.payment_id, order_id=payment.order_id,
                               amount_cents=payment.amount_cents)
    return PaymentDeclined(payment_id=payment.payment_id, order_id=payment.order_id,
                           reason=reason or "declined")


async def _announce_txn(conn: AsyncConnection, payment: Payment, event: EventData, now: int) -> None:
    envelope = Envelope.new(source=SERVICE, type=type(event).__name__, subject=payment.order_id,
                            data=event.to_data(), now_ms=now, correlation_id=payment.order_id)
    await append_txn(conn, SERVICE, envelope, aggregate_id=payment.order_id)
