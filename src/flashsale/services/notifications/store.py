"""The notifications service's SQL: the only module that touches `notifications`.

A message is written inside the inbox transaction of the event that caused it, and
`source_event_id` is unique: one event, one message, however often it is delivered.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from flashsale.kit.clock import Clock
from flashsale.kit.db import Database
from flashsale.kit.sql import dialect_insert
from flashsale.kit.statements import per_dialect
from flashsale.services.notifications import domain

metadata = sa.MetaData()

notifications = sa.Table(
    "notifications",
    metadata,
    sa.Column("notification_id", sa.String(64), primary_key=True),
    sa.Column("customer_id", sa.String(100), nullable=False),
    sa.Column("order_id", sa.String(100), nullable=False),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("reason", sa.String(100), nullable=True),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("created_at_ms", sa.BigInteger, nullable=False),
    sa.Column("source_event_id", sa.String(64), nullable=False, unique=True),
)


# Every message an event causes is written by this statement, built once per dialect
# (kit/statements.py says why): nothing written when its event has its message already.
_RECORD = per_dialect(lambda dialect: dialect_insert(dialect, notifications).on_conflict_do_nothing(
    index_elements=[notifications.c.source_event_id]))


@dataclass(frozen=True)
class Notification:
    notification_id: str
    customer_id: str
    order_id: str
    kind: str
    reason: str | None
    message: str
    created_at_ms: int
    source_event_id: str


class NotificationStore:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def record_txn(
        self, conn: AsyncConnection, customer_id: str, message: domain.Message, source_event_id: str
    ) -> Notification | None:
        """Record the message (inside the caller's transaction); None if that event already has one."""
        notification = Notification(
            notification_id=f"n-{uuid.uuid4()}", customer_id=customer_id, order_id=message.order_id,
            kind=message.kind, reason=message.reason, message=message.text,
            created_at_ms=self.clock.now_ms(), source_event_id=source_event_id,
        )
        inserted = await _RECORD.run(conn, notification.__dict__)
        return notification if inserted.rowcount == 1 else None

    async def find(
        self, *, customer_id: str | None = None, order_id: str | None = None, limit: int = 100
    ) -> list[Notification]:
        """Messages of a customer and/or an order, newest first."""
        query = sa.select(notifications)
        if customer_id is not None:
            query = query.where(notifications.c.customer_id == customer_id)
        if order_id is not None:
            query = query.where(notifications.c.order_id == order_id)
        query = query.order_by(
            notifications.c.created_at_ms.desc(), notifications.c.notification_id.desc()
        ).limit(limit)
        async with self.db.read() as conn:
            return [Notification(**row._mapping) for row in await conn.execute(query)]
