"""The simulated provider's books (`provider.ProviderBook`), kept in the payments database.

A real provider's books outlive our processes; these do too, because they are a table and not
process memory. Each call is one atomic upsert on the idempotency key, so two calls racing with
the same key (a retry and a take-over, two requests re-driving one step) count as two calls and
one effect, and both get the first answer back.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from flashsale.kit.clock import Clock
from flashsale.kit.db import Database
from flashsale.kit.grouped_writes import GroupedWrites
from flashsale.kit.sql import dialect_insert
from flashsale.kit.statements import per_dialect
from flashsale.kit.unit_of_work import UnitOfWork
from flashsale.services.payments.domain import Operation
from flashsale.services.payments.provider import Charge, ProviderOperation, ProviderResult
from flashsale.services.payments.store.tables import provider_operations as ops


@per_dialect
def _ACT_ONCE(dialect: str) -> sa.Insert:
    """A call that acts: the first with its key records its answer, later ones count themselves and
    get the first answer back. Built once per dialect (kit/statements.py says why)."""
    insert = dialect_insert(dialect, ops).values(
        idempotency_key=sa.bindparam("b_key"), kind=sa.bindparam("b_kind"), order_id=sa.bindparam("b_order_id"),
        amount_cents=sa.bindparam("b_amount_cents"), approved=sa.bindparam("b_approved", type_=sa.Boolean()),
        reason=sa.bindparam("b_reason", type_=sa.String()), calls=1, effects=1, created_at_ms=sa.bindparam("b_now"),
        updated_at_ms=sa.bindparam("b_now"),
    )
    # Earlier calls of this key may have failed before acting (effects 0): this one acts.
    acted = ops.c.effects == 1
    upsert: sa.Insert = insert.on_conflict_do_update(
        index_elements=[ops.c.idempotency_key],
        set_={
            "calls": ops.c.calls + 1,
            "approved": sa.case((acted, ops.c.approved), else_=insert.excluded.approved),
            "reason": sa.case((acted, ops.c.reason), else_=insert.excluded.reason),
            "effects": 1,
            "updated_at_ms": insert.excluded.updated_at_ms,
        },
    # The flag read back as the integer SQLite stores (the caller makes it a bool): a Boolean
    # column's result processing would leave the statement to SQLAlchemy to run (kit/statements.py).
    ).returning(sa.type_coerce(ops.c.approved, sa.Integer).label("approved"), ops.c.reason)
    return upsert


class ProviderBookStore:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock
        self.writes = GroupedWrites(db)

    async def act_once(
        self, operation: Operation, idempotency_key: str, charge: Charge, result: ProviderResult
    ) -> ProviderResult:
        now = self.clock.now_ms()
        values = {"b_key": idempotency_key, "b_kind": operation.value, "b_order_id": charge.order_id,
                  "b_amount_cents": charge.amount_cents, "b_approved": result.approved, "b_reason": result.reason,
                  "b_now": now}
        async def act(uow: UnitOfWork) -> ProviderResult:
            first = (await _ACT_ONCE.run(uow.conn, values)).one()
            return ProviderResult(approved=bool(first.approved), reason=first.reason)

        # One statement: alone, on PostgreSQL it commits on its own (one round trip, not three);
        # calls that come together commit together, in a group of the provider's own.
        return await self.writes.run(act, one_statement=True)

    async def count_failed_call(self, operation: Operation, idempotency_key: str, charge: Charge) -> None:
        insert = self._insert(operation, idempotency_key, charge, effects=0, approved=None, reason=None)
        upsert = insert.on_conflict_do_update(
            index_elements=[ops.c.idempotency_key],
            set_={"calls": ops.c.calls + 1, "updated_at_ms": insert.excluded.updated_at_ms},
        )
        async with self.db.transaction() as conn:
            await conn.execute(upsert)

    async def operations(self, order_id: str) -> list[ProviderOperation]:
        query = (
            sa.select(ops.c.idempotency_key, ops.c.kind, ops.c.order_id, ops.c.amount_cents, ops.c.approved,
                      ops.c.reason, ops.c.calls, ops.c.effects, ops.c.created_at_ms)
            .where(ops.c.order_id == order_id)
            .order_by(ops.c.created_at_ms, ops.c.idempotency_key)
        )
        async with self.db.read() as conn:
            rows = (await conn.execute(query)).all()
        return [ProviderOperation(**row._mapping) for row in rows]

    def _insert(
        self, operation: Operation, idempotency_key: str, charge: Charge, *,
        effects: int, approved: bool | None, reason: str | None,
    ) -> sqlite.Insert | postgresql.Insert:
        now = self.clock.now_ms()
        insert: sqlite.Insert | postgresql.Insert = dialect_insert(self.db.engine.dialect.name, ops).values(
            idempotency_key=idempotency_key, kind=operation.value, order_id=charge.order_id,
            amount_cents=charge.amount_cents, approved=approved, reason=reason, calls=1,
            effects=effects, created_at_ms=now, updated_at_ms=now,
        )
        return insert
