"""The checkout saga's SQL: `checkout_sagas` (one row per order) and `checkout_saga_steps`.

Two kinds of writes meet on a saga row:
- decisions (turn to COMPENSATING, record an event's step) run in their caller's transaction and
  first lock the row (`lock_txn`), so a payment being recorded and an expiry arriving cannot
  both win;
- running the saga needs the lease: a conditional UPDATE that succeeds only when nobody else
  holds an unexpired lease. A runner that dies leaves its lease to run out; `due_at_ms` is set
  to that moment, so any instance's worker picks the saga up then.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from flashsale.kit.clock import Clock
from flashsale.kit.db import Database
from flashsale.kit.envelope import Envelope
from flashsale.kit.sql import database_now_ms, dialect_insert, inserting_cte, inserting_values, now_ms_in
from flashsale.kit.statements import Statement, per_dialect
from flashsale.services.orders import saga_plan as plan
from flashsale.services.orders.store import deducted
from flashsale.services.orders.store.tables import checkout_saga_steps as steps_table
from flashsale.services.orders.store.tables import checkout_sagas as sagas_table

MAX_ERROR = 500


@dataclass(frozen=True)
class Step:
    name: str
    status: str
    outcome: str | None
    detail: str | None
    attempts: int
    started_at_ms: int
    finished_at_ms: int | None
    error: str | None


@dataclass(frozen=True)
class Saga:
    order_id: str
    state: str
    reason: str | None
    payment_token: str | None
    due_at_ms: int | None
    lease_owner: str | None
    lease_until_ms: int
    attempts: int
    last_error: str | None
    created_at_ms: int
    updated_at_ms: int
    steps: dict[str, Step] = field(default_factory=dict)

    def records(self) -> dict[str, plan.StepRecord]:
        return {name: plan.StepRecord(step.status, step.outcome) for name, step in self.steps.items()}

    def step(self, name: str) -> Step | None:
        return self.steps.get(name)


@dataclass(frozen=True)
class Lease:
    """The right to run one saga; `token` is unique per claim, so two runners in one process (a
    request and the worker) never mistake each other's lease for their own. How long it lasts is
    the database's to judge; `renew_after` (this process's monotonic clock, which a pause stops
    with everything else) only says when renewing is worth a commit."""

    order_id: str
    token: str
    renew_after: float


@dataclass(frozen=True)
class Claimed:
    """A saga claimed to be run: the lease, the saga as read under it, and the step the claim's
    transaction checkpointed as STARTED (None: none), so the runner goes straight to its call."""

    lease: Lease
    saga: Saga
    begun: str | None


@dataclass(frozen=True)
class Finished:
    """A step's outcome, to be recorded (`finish_steps_txn`, or with the next steps begun:
    `begin_txn`)."""

    name: str
    outcome: str | None = None
    detail: str | None = None
    status: str = plan.DONE


class LostLease(Exception):
    """Another runner holds the saga now (it was given back and taken, or ours ran out while we
    were paused): whatever we were about to do is theirs to decide. `fenced`: found while
    recording a step (`hold_txn`), so something we did was not recorded: we were paused or slow
    past the lease."""

    def __init__(self, order_id: str, *, fenced: bool = False) -> None:
        super().__init__(order_id)
        self.order_id = order_id
        self.fenced = fenced


class SagaStore:
    def __init__(self, db: Database, clock: Clock, *, owner: str) -> None:
        self.db = db
        self.clock = clock
        self.owner = owner

    # -- reading ---------------------------------------------------------------------------

    async def get(self, order_id: str) -> Saga | None:
        async with self.db.read() as conn:
            return await get_txn(conn, order_id)

    async def due(self, limit: int) -> list[str]:
        """Sagas some runner should advance now: work is waiting and nobody holds them."""
        async with self.db.read() as conn:
            now = database_now_ms(conn)
            query = (sa.select(sagas_table.c.order_id)
                     .where(sagas_table.c.due_at_ms <= now, sagas_table.c.lease_until_ms < now,
                            sagas_table.c.state.in_(plan.ACTIVE_STATES))
                     .order_by(sagas_table.c.due_at_ms).limit(limit))
            return [row.order_id for row in await conn.execute(query)]

    async def recent(self, state: str, limit: int) -> list[Saga]:
        """The sagas in `state`, the most recently changed first (without their steps): an
        operator's list of what is parked."""
        query = (sa.select(sagas_table).where(sagas_table.c.state == state)
                 .order_by(sagas_table.c.updated_at_ms.desc(), sagas_table.c.order_id).limit(limit))
        async with self.db.read() as conn:
            return [Saga(**row._mapping) for row in await conn.execute(query)]

    async def count_by_state(self) -> dict[str, int]:
        query = sa.select(sagas_table.c.state, sa.func.count()).group_by(sagas_table.c.state)
        async with self.db.read() as conn:
            return {row[0]: int(row[1]) for row in await conn.execute(query)}

    # -- the lease -------------------------------------------------------------------------

    async def claim(self, order_id: str, lease_ms: int) -> Lease | None:
        """Take the saga's lease if nobody holds it (or theirs ran out by the database's clock)."""
        token = self._token()
        async with self.db.transaction() as conn:
            taken = await _take_txn(conn, order_id, token, lease_ms)
        return Lease(order_id, token, _renew_after(lease_ms)) if taken else None

    async def claim_to_run(self, order_id: str, lease_ms: int, *, payment_token: str | None = None) -> Claimed | None:
        """Take the lease, read the saga under it and checkpoint its next step as STARTED when that
        step is a remote call, in one transaction (a runner's first three commits in one). With
        `payment_token` (the customer pays) the step begun is the payment, if it has not been."""
        async with self.db.transaction() as conn:
            return await self.claim_to_run_txn(conn, order_id, lease_ms, payment_token=payment_token)

    async def claim_to_run_txn(
        self, conn: AsyncConnection, order_id: str, lease_ms: int, *, payment_token: str | None = None,
        finished: Sequence[Finished] = (),
    ) -> Claimed | None:
        """`claim_to_run` inside the caller's transaction: the lease is the runner's once it commits.
        With `payment_token` only a RUNNING saga is taken, and the token is written by the take
        when the payment has not been begun (`_TAKE_TO_PAY`). `finished`: outcomes to record once
        the lease is taken (the row is then locked), in the statement that begins the next step,
        which is decided with them."""
        token = self._token()
        now = self.clock.now_ms()
        taken = (await _take_txn(conn, order_id, token, lease_ms) if payment_token is None
                 else await _take_to_pay_txn(conn, order_id, token, lease_ms, payment_token, now))
        if not taken:
            return None
        read = await get_txn(conn, order_id)
        assert read is not None, "a saga whose lease was just taken exists"
        saga = with_finished(read, finished, now)
        if payment_token is not None and saga.step(plan.PAYMENT) is None:  # RUNNING, its token just written
            names: tuple[str, ...] = (plan.PAYMENT,)
        else:
            names = plan.checkpoints_first(plan.next_step(saga.state, saga.records()))
        if names or finished:
            saga = await begin_txn(conn, saga, names, now, finished=finished)
        return Claimed(Lease(order_id, token, _renew_after(lease_ms)), saga, names[0] if names else None)

    async def claim_deducted_at_once(
        self, order_id: str, lease_ms: int, consumer: str, report: Envelope,
    ) -> Claimed | None:
        """PostgreSQL: the report of the order's stock deducted, handled by `consumer`, recorded and
        the saga claimed to run on with its capture begun, in one statement (store/deducted.py);
        then the saga read under the lease. None when nothing was written (or on SQLite): the
        caller records the report the general way."""
        if self.db.is_sqlite:
            return None
        token, now = self._token(), self.clock.now_ms()
        try:
            async with self.db.single_statement() as uow:
                taken = await deducted.claim_deducted_statement(uow, order_id, token, lease_ms, now, consumer, report)
        except IntegrityError:  # a step or the report recorded meanwhile: the general way says what stands
            return None
        if not taken:
            return None
        saga = await self.get(order_id)
        assert saga is not None, "a saga whose lease was just taken exists"
        return Claimed(Lease(order_id, token, _renew_after(lease_ms)), saga, deducted.BEGUN[0])

    def _token(self) -> str:
        return f"{self.owner}:{uuid.uuid4().hex[:12]}"

    async def renew(self, lease: Lease, lease_ms: int) -> Lease | None:
        """The lease for another `lease_ms`, or None when it is no longer ours. A lease with more
        than half its time left is good as it is (no commit)."""
        if time.monotonic() < lease.renew_after:
            return lease
        async with self.db.transaction() as conn:
            result = await _RENEW.run(conn, {"b_order_id": lease.order_id, "b_token": lease.token,
                                                      "b_lease_ms": lease_ms})
        return Lease(lease.order_id, lease.token, _renew_after(lease_ms)) if result.rowcount == 1 else None

    async def let_go(self, lease: Lease, *, due_at_ms: int | None) -> bool:
        """Give the lease back; `due_at_ms` says when the saga needs a runner again (None: when
        an event or a request brings news). A decision that arrived while we held the lease
        (an expiry turned the saga to compensating) makes it due at once: True then (its
        recorder's wake-up found the saga held, so the caller wakes a worker again).

        The row is locked before the news is read: a decision commits either before (and is seen
        here) or after this (and makes the saga due itself). Read unlocked, news committed between
        the read and the update was overwritten with "due never" and the saga stalled for good."""
        async with self.db.transaction() as conn:
            saga = await lock_txn(conn, lease.order_id)
            news = (saga is not None and saga.state in plan.ACTIVE_STATES
                    and plan.next_step(saga.state, saga.records()) is not plan.Next.WAIT)
            if due_at_ms is None and news:
                due_at_ms = self.clock.now_ms()
            await _LET_GO.run(conn, {"b_order_id": lease.order_id, "b_token": lease.token,
                                         "b_due_at_ms": due_at_ms})
        return news

    # -- steps -----------------------------------------------------------------------------

    async def begin_steps(self, lease: Lease, names: Sequence[str]) -> None:
        """Checkpoint before a step's remote calls: whoever finds one STARTED knows its call may
        have happened."""
        async with self.db.transaction() as conn:
            saga = await hold_txn(conn, lease)
            await begin_txn(conn, saga, names, self.clock.now_ms())

    async def record_failure(self, lease: Lease, name: str | None, error: str, *,
                             retry_at_ms: int | None, park: bool) -> None:
        """A step failed: note why, and either schedule the next attempt or park the saga."""
        now = self.clock.now_ms()
        error = error[:MAX_ERROR]
        async with self.db.transaction() as conn:
            saga = await get_txn(conn, lease.order_id)
            if saga is None:
                return
            values: dict[str, object] = {"attempts": saga.attempts + 1, "last_error": error, "updated_at_ms": now,
                                         "lease_owner": None, "lease_until_ms": 0, "due_at_ms": retry_at_ms}
            if park:
                values.update(state=plan.NEEDS_ATTENTION, due_at_ms=None)
            await conn.execute(sagas_table.update().where(sagas_table.c.order_id == lease.order_id,
                                                          sagas_table.c.lease_owner == lease.token).values(**values))
            if name is not None:
                await conn.execute(steps_table.update().where(steps_table.c.order_id == lease.order_id,
                                                              steps_table.c.step == name).values(error=error))


# A saga and its steps in one statement: a row per step (the saga's columns on each), or one row
# whose step columns are NULL for a saga without steps. Step columns are labelled "step_<name>".
_STEP_COLUMNS = [column for column in steps_table.c if column.name != "order_id"]
_SAGA_WITH_STEPS = (
    sa.select(sagas_table, *[column.label(f"step_{column.name}") for column in _STEP_COLUMNS])
    .select_from(sagas_table.outerjoin(steps_table, steps_table.c.order_id == sagas_table.c.order_id))
)
# The statements of the hot path, built once (kit/statements.py says why).
_INSERT_SAGAS = Statement(sagas_table.insert())
_INSERT_STEPS = Statement(steps_table.insert())
_GET = Statement(_SAGA_WITH_STEPS.where(sagas_table.c.order_id == sa.bindparam("b_order_id")))
_BY_ID = sagas_table.c.order_id == sa.bindparam("b_order_id")
_LOCK = Statement(sa.select(sagas_table.c.order_id).where(_BY_ID).with_for_update())
_HOLD = Statement(sa.select(sagas_table).where(_BY_ID).with_for_update())
_HELD_BY = sagas_table.c.lease_owner == sa.bindparam("b_token")
_LET_GO = Statement(sagas_table.update().where(_BY_ID, _HELD_BY).values(
    lease_owner=None, lease_until_ms=0, due_at_ms=sa.bindparam("b_due_at_ms", type_=sa.BigInteger())))
# The active states spelled out (not an IN of a list: SQLAlchemy renders that per call).
_UNDER_WAY = sa.or_(*(sagas_table.c.state == state for state in plan.ACTIVE_STATES))
# Only a saga still under way is made due: a finished one keeps its last change's time.
_MAKE_DUE = Statement(sagas_table.update().where(_BY_ID, _UNDER_WAY).values(due_at_ms=sa.bindparam("b_now"),
                                                                           updated_at_ms=sa.bindparam("b_now")))
_STATE = {"state": sa.bindparam("b_state"), "updated_at_ms": sa.bindparam("b_now"),
          "due_at_ms": sa.bindparam("b_due_at_ms", type_=sa.BigInteger()), "attempts": 0}
_END = Statement(sagas_table.update().where(_BY_ID, _HELD_BY).values(
    state=sa.bindparam("b_state"), updated_at_ms=sa.bindparam("b_now"), due_at_ms=None, attempts=0,
    lease_owner=None, lease_until_ms=0))
_SET_STATE = Statement(sagas_table.update().where(_BY_ID).values(**_STATE))
_SET_STATE_AND_REASON = Statement(sagas_table.update().where(_BY_ID).values(**_STATE, reason=sa.bindparam("b_reason")))


@per_dialect
def _TAKE(dialect: str) -> sa.Update:
    now = now_ms_in(dialect)
    return (sagas_table.update()
            .where(_BY_ID, _UNDER_WAY, sagas_table.c.lease_until_ms < now)
            # If we die holding it, the saga is due again the moment the lease runs out.
            .values(lease_owner=sa.bindparam("b_token"), lease_until_ms=now + sa.bindparam("b_lease_ms"),
                    due_at_ms=now + sa.bindparam("b_lease_ms")))


@per_dialect
def _TAKE_TO_PAY(dialect: str) -> sa.Update:
    """`_TAKE` for a customer's pay: only a RUNNING saga, and with the pay's token written when the
    payment has not been begun (a saga's token is its payment's, written once, as it is begun). The
    pay's first transaction then needs no statement of its own for it."""
    now = now_ms_in(dialect)
    unpaid = ~sa.exists().where(steps_table.c.order_id == sagas_table.c.order_id, steps_table.c.step == plan.PAYMENT)
    return (sagas_table.update()
            .where(_BY_ID, sagas_table.c.state == plan.RUNNING, sagas_table.c.lease_until_ms < now)
            .values(lease_owner=sa.bindparam("b_token"), lease_until_ms=now + sa.bindparam("b_lease_ms"),
                    due_at_ms=now + sa.bindparam("b_lease_ms"),
                    payment_token=sa.case((unpaid, sa.bindparam("b_payment_token")),
                                          else_=sagas_table.c.payment_token),
                    updated_at_ms=sa.case((unpaid, sa.bindparam("b_now")), else_=sagas_table.c.updated_at_ms)))


@per_dialect
def _RENEW(dialect: str) -> sa.Update:
    now = now_ms_in(dialect)
    return sagas_table.update().where(_BY_ID, _HELD_BY).values(
        lease_until_ms=now + sa.bindparam("b_lease_ms"), due_at_ms=now + sa.bindparam("b_lease_ms"))


@per_dialect
def _RECORD_STEP(dialect: str) -> sa.Insert:
    """Upsert a step begun (STARTED again: one attempt more, the rest kept) or finished (its
    outcome, the attempts and start kept; a step recorded from outside, like the deduction, may
    have no STARTED row). One statement for both, so a transaction that finishes one step and
    begins the next writes them in one round trip (several rows: pipelined)."""
    insert = dialect_insert(dialect, steps_table).values(
        order_id=sa.bindparam("b_order_id"), step=sa.bindparam("b_step"), status=sa.bindparam("b_status"),
        outcome=sa.bindparam("b_outcome", type_=sa.String()), detail=sa.bindparam("b_detail", type_=sa.String()),
        attempts=1, started_at_ms=sa.bindparam("b_now"),
        finished_at_ms=sa.bindparam("b_finished_at_ms", type_=sa.BigInteger()),
    )
    begun = insert.excluded.status == plan.STARTED
    kept_when_begun = {name: sa.case((begun, steps_table.c[name]), else_=insert.excluded[name])
                       for name in ("outcome", "detail", "finished_at_ms")}
    upsert: sa.Insert = insert.on_conflict_do_update(
        index_elements=[steps_table.c.order_id, steps_table.c.step],
        set_={"status": insert.excluded.status, "attempts": steps_table.c.attempts + sa.case((begun, 1), else_=0),
              **kept_when_begun, "error": sa.case((begun, steps_table.c.error), else_=None)},
    )
    return upsert


async def get_txn(conn: AsyncConnection, order_id: str) -> Saga | None:
    rows = (await _GET.run(conn, {"b_order_id": order_id})).all()
    if not rows:
        return None
    first = rows[0]._mapping
    steps = {row.step_step: _step(row) for row in rows if row.step_step is not None}
    return Saga(**{column.name: first[column.name] for column in sagas_table.c}, steps=steps)


async def lock_txn(conn: AsyncConnection, order_id: str) -> Saga | None:
    """The saga, locked for the rest of the transaction (PostgreSQL row lock; SQLite's write
    transactions are serialised already), read after the lock is granted.

    Two statements on purpose. A `SELECT … FOR UPDATE` that waited for another transaction's lock
    returns the newest version of the row it locked, but the rows it joins (the steps) as they
    were when it began: the step that transaction just recorded would be missing, and a runner
    letting go would miss the news it was locked out of (a saga stalled that way in the fault
    suite). Read after the lock, the steps are the committed ones."""
    if conn.dialect.name == "postgresql" and (await _LOCK.run(conn, {"b_order_id": order_id})).first() is None:
        return None
    return await get_txn(conn, order_id)


async def lock_row_txn(conn: AsyncConnection, order_id: str) -> bool:
    """Lock the saga's row for the rest of the transaction, without reading it (False: no such
    saga): for a writer whose statements read what they need under the lock themselves."""
    return (await _LOCK.run(conn, {"b_order_id": order_id})).first() is not None


async def start_all_txn(conn: AsyncConnection, started: Sequence[tuple[str, str, int]]) -> None:
    """New sagas, each (order id, reservation id, now), whose hold step is done (an order exists
    only because its hold does): a multi-row INSERT per table."""
    await _INSERT_SAGAS.run(conn, [_new_saga(order_id, now) for order_id, _, now in started])
    await _INSERT_STEPS.run(conn, [_hold_done(order_id, reservation_id, now)
                                   for order_id, reservation_id, now in started])


def starting_ctes(placed: str) -> str:
    """PostgreSQL, for the statement that places an order (store/placement.py): the CTEs that start
    the saga of each order the CTE `placed` inserted, as `start_all_txn` does; their values come
    from `starting_values`."""
    given = {"order_id": f"{placed}.order_id"}
    return (f"{inserting_cte('saga', sagas_table, given=given, source=placed)}, "
            f"{inserting_cte('hold', steps_table, given=given, source=placed)}")


def starting_values(reservation_id: str, now: int) -> dict[str, object]:
    saga, hold = _new_saga(None, now), _hold_done(None, reservation_id, now)
    del saga["order_id"], hold["order_id"]  # the order's own, from the CTE that placed it
    return {**inserting_values("saga", saga), **inserting_values("hold", hold)}


def _new_saga(order_id: str | None, now: int) -> dict[str, object]:
    return {"order_id": order_id, "state": plan.RUNNING, "reason": None, "payment_token": None, "due_at_ms": None,
            "lease_owner": None, "lease_until_ms": 0, "attempts": 0, "last_error": None, "created_at_ms": now,
            "updated_at_ms": now}


def _hold_done(order_id: str | None, reservation_id: str, now: int) -> dict[str, object]:
    return {"order_id": order_id, "step": plan.HOLD, "status": plan.DONE, "outcome": "HELD", "detail": reservation_id,
            "attempts": 1, "started_at_ms": now, "finished_at_ms": now, "error": None}


async def finish_step_txn(
    conn: AsyncConnection, order_id: str, name: str, now: int, *,
    status: str = plan.DONE, outcome: str | None = None, detail: str | None = None,
) -> None:
    """Checkpoint after a step: its outcome, in the transaction that acts on it."""
    await finish_steps_txn(conn, order_id, [Finished(name, outcome, detail, status)], now)


async def finish_steps_txn(conn: AsyncConnection, order_id: str, finished: Sequence[Finished], now: int) -> None:
    """Checkpoint after steps: their outcomes, in one statement."""
    await _record_steps_txn(conn, [_finished_row(order_id, step, now) for step in finished])


async def set_state_txn(
    conn: AsyncConnection, order_id: str, state: str, now: int, *,
    reason: str | None = None, due_at_ms: int | None = None,
) -> None:
    values = {"b_order_id": order_id, "b_state": state, "b_now": now, "b_due_at_ms": due_at_ms}
    if reason is None:
        await _SET_STATE.run(conn, values)
    else:
        await _SET_STATE_AND_REASON.run(conn, {**values, "b_reason": reason})


async def _take_txn(conn: AsyncConnection, order_id: str, token: str, lease_ms: int) -> bool:
    result = await _TAKE.run(conn, {"b_order_id": order_id, "b_token": token, "b_lease_ms": lease_ms})
    return bool(result.rowcount == 1)


async def _take_to_pay_txn(
    conn: AsyncConnection, order_id: str, token: str, lease_ms: int, payment_token: str, now: int,
) -> bool:
    result = await _TAKE_TO_PAY.run(conn, {"b_order_id": order_id, "b_token": token, "b_lease_ms": lease_ms,
                                           "b_payment_token": payment_token, "b_now": now})
    return bool(result.rowcount == 1)


async def begin_txn(
    conn: AsyncConnection, saga: Saga, names: Sequence[str], now: int, *, finished: Sequence[Finished] = (),
) -> Saga:
    """Checkpoint the steps `names` as STARTED (again: one attempt more each), and write the
    outcomes `finished` (which `saga` already shows: `with_finished`) in the same statement;
    returns `saga` as it now is."""
    await _record_steps_txn(conn, [*(_finished_row(saga.order_id, step, now) for step in finished),
                                   *(_begun_row(saga.order_id, name, now) for name in names)])
    steps = dict(saga.steps)
    for name in names:
        before = saga.step(name)
        steps[name] = (Step(name, plan.STARTED, None, None, 1, now, None, None) if before is None
                       else replace(before, status=plan.STARTED, attempts=before.attempts + 1))
    return replace(saga, steps=steps)


def with_finished(saga: Saga, finished: Sequence[Finished], now: int) -> Saga:
    """`saga` as it is once `finished` are recorded (their attempts and start kept)."""
    steps = dict(saga.steps)
    for step in finished:
        before = saga.step(step.name)
        steps[step.name] = Step(step.name, step.status, step.outcome, step.detail,
                                before.attempts if before else 1, before.started_at_ms if before else now, now, None)
    return replace(saga, steps=steps)


async def _record_steps_txn(conn: AsyncConnection, rows: list[dict[str, object]]) -> None:
    if rows:
        await _RECORD_STEP.run(conn, rows[0] if len(rows) == 1 else rows)  # several: pipelined, one round trip


def _finished_row(order_id: str, step: Finished, now: int) -> dict[str, object]:
    return {"b_order_id": order_id, "b_step": step.name, "b_status": step.status, "b_outcome": step.outcome,
            "b_detail": step.detail, "b_now": now, "b_finished_at_ms": now}


def _begun_row(order_id: str, name: str, now: int) -> dict[str, object]:
    return {"b_order_id": order_id, "b_step": name, "b_status": plan.STARTED, "b_outcome": None, "b_detail": None,
            "b_now": now, "b_finished_at_ms": None}


async def hold_txn(conn: AsyncConnection, lease: Lease) -> Saga:
    """The saga's own row (state, reason, lease: NOT its steps), locked, if `lease` still holds
    it; else LostLease (the caller's transaction then commits nothing). Every step's checkpoint is
    written behind this fence, so a runner that was paused past its lease cannot record a step over
    the runner that took the saga over.

    One statement: a step's recording needs the row's state and lease, which a `FOR UPDATE` that
    waited returns as newest; the steps (which it would join as they were when it began, see
    `lock_txn`) are read whole by `_then_txn`'s `get_txn` at the end of the same transaction."""
    row = (await _HOLD.run(conn, {"b_order_id": lease.order_id})).first()
    if row is None or row.lease_owner != lease.token:
        raise LostLease(lease.order_id, fenced=True)
    return Saga(**row._mapping)


async def let_go_txn(conn: AsyncConnection, lease: Lease, saga: Saga) -> Saga:
    """Give the lease back inside the transaction that recorded the last step this runner had to
    take (the saga now waits for news, or is finished): one commit fewer than letting go after.
    Returns `saga` as it now is."""
    await _LET_GO.run(conn, {"b_order_id": lease.order_id, "b_token": lease.token, "b_due_at_ms": None})
    return replace(saga, lease_owner=None, lease_until_ms=0, due_at_ms=None)


async def end_txn(conn: AsyncConnection, lease: Lease, saga: Saga, state: str, now: int) -> Saga:
    """The saga ended in `state` (COMPLETED) and its lease given back, in one statement of the
    transaction that recorded its last step under `lease`: nothing follows an ended saga, so it
    needs neither a read to decide what is next nor a letting go of its own. Returns `saga` (as
    `hold_txn` read it: its own row, not its steps) as it now is."""
    await _END.run(conn, {"b_order_id": lease.order_id, "b_token": lease.token, "b_state": state, "b_now": now})
    return replace(saga, state=state, updated_at_ms=now, due_at_ms=None, attempts=0, lease_owner=None,
                   lease_until_ms=0)


async def make_due_txn(conn: AsyncConnection, order_id: str, now: int) -> None:
    """A saga still under way is due now (a finished one is left as it is)."""
    await _MAKE_DUE.run(conn, {"b_order_id": order_id, "b_now": now})


async def reset_attempts_txn(conn: AsyncConnection, order_id: str) -> None:
    await conn.execute(sagas_table.update().where(sagas_table.c.order_id == order_id)
                       .values(attempts=0, last_error=None))


def _renew_after(lease_ms: int) -> float:
    return time.monotonic() + lease_ms / 2000


def _step(row: sa.Row[tuple[object, ...]]) -> Step:
    m = row._mapping
    return Step(name=m["step_step"], status=m["step_status"], outcome=m["step_outcome"], detail=m["step_detail"],
                attempts=m["step_attempts"], started_at_ms=m["step_started_at_ms"],
                finished_at_ms=m["step_finished_at_ms"], error=m["step_error"])
