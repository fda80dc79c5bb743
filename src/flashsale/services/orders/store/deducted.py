"""PostgreSQL: the inventory's ReservationConfirmed recorded, and the saga claimed to run on with
its capture begun, in ONE statement with the report's inbox row.

Almost every deduction report finds its saga the same way: RUNNING, nobody's, its payment
authorised, the stock not recorded and the capture not begun; the plan's next step is then the
capture, checkpointed STARTED with the shipment booked right after it (`saga_plan`). Recorded in
the inbox's transaction that is a BEGIN, the inbox row, the lease taken, the saga read, the steps
written and a COMMIT: six round trips on the way from the deduction to the buyer's money being
taken. Here one statement of data-modifying CTEs, run in autocommit, takes the lease only in
that case and writes the steps and the inbox row only if it did; it commits whole or not at all.
Any other case (a runner holds the saga, a compensation turned it, a copy of the report was
handled) writes nothing, and the caller records the report the general way
(`CheckoutSaga.stock_deducted_txn` in the inbox's transaction), whose rules answer every case.

An UPDATE that waited for the saga row's lock checks the row's own conditions again on the row
as the other transaction left it (its state, its lease), while the steps it looks at are read as
the statement began. A step written meanwhile is not overlooked for that: the stock, capture and
shipment rows the statement writes would collide with it on the steps' key, failing the whole
statement, and a payment once authorised stays so.
"""

from __future__ import annotations

import sqlalchemy as sa

from flashsale.kit.envelope import Envelope
from flashsale.kit.inbox import NOT_RECORDED, recording_cte, recording_values
from flashsale.kit.sql import now_ms_sql
from flashsale.kit.statements import Statement
from flashsale.kit.unit_of_work import UnitOfWork
from flashsale.services.orders import saga_plan as plan
from flashsale.services.orders.store.tables import checkout_saga_steps as steps
from flashsale.services.orders.store.tables import checkout_sagas as sagas

# What the plan says comes after the stock deducted on an authorised payment, asked of the plan
# rather than restated: the capture, begun with the shipment.
BEGUN = plan.checkpoints_first(plan.next_step(plan.RUNNING, {
    plan.HOLD: plan.StepRecord(plan.DONE), plan.PAYMENT: plan.StepRecord(plan.DONE, plan.AUTHORISED),
    plan.STOCK: plan.StepRecord(plan.DONE, plan.DEDUCTED),
}))
_NOW = now_ms_sql("postgresql")
_CLAIMED = "EXISTS (SELECT FROM taken)"

# Its result column named, it runs by asyncpg without SQLAlchemy's execution around it (kit/statements.py).
_CLAIM_DEDUCTED = Statement(sa.text(f"""
WITH taken AS (
    UPDATE {sagas.name}
    SET lease_owner = CAST(:token AS text), lease_until_ms = {_NOW} + CAST(:lease_ms AS bigint),
        due_at_ms = {_NOW} + CAST(:lease_ms AS bigint)
    WHERE order_id = CAST(:order_id AS text) AND state = CAST(:running AS text) AND lease_until_ms < {_NOW}
      AND EXISTS (SELECT FROM {steps.name} WHERE order_id = CAST(:order_id AS text)
                  AND step = CAST(:payment AS text) AND status = CAST(:done AS text)
                  AND outcome = CAST(:authorised AS text))
      AND NOT EXISTS (SELECT FROM {steps.name} WHERE order_id = CAST(:order_id AS text)
                      AND step = ANY(CAST(:written AS text[])))
      AND {NOT_RECORDED}
    RETURNING order_id
), checkpoints AS (
    INSERT INTO {steps.name} (order_id, step, status, outcome, detail, attempts, started_at_ms, finished_at_ms, error)
    SELECT taken.order_id, s.step, s.status, s.outcome, NULL, 1, CAST(:now AS bigint), s.finished_at_ms, NULL
    FROM taken, unnest(CAST(:written AS text[]), CAST(:statuses AS text[]), CAST(:outcomes AS text[]),
                       CAST(:finished_at_ms AS bigint[])) AS s(step, status, outcome, finished_at_ms)
), {recording_cte(_CLAIMED)}
SELECT order_id FROM taken
""").columns(order_id=sa.String))


async def claim_deducted_statement(
    uow: UnitOfWork, order_id: str, token: str, lease_ms: int, now: int, consumer: str, report: Envelope,
) -> bool:
    """Record `report` (the order's stock deducted) as handled by `consumer`, the stock step DONE
    and the steps `BEGUN` STARTED, and take the saga's lease for `token`, in one statement
    (`Database.single_statement`), only in the case the module says. False: nothing written."""
    written = [plan.STOCK, *BEGUN]
    row = (await _CLAIM_DEDUCTED.run(uow.conn, {
        "order_id": order_id, "token": token, "lease_ms": lease_ms, "now": now, "running": plan.RUNNING,
        "payment": plan.PAYMENT, "done": plan.DONE, "authorised": plan.AUTHORISED, "written": written,
        "statuses": [plan.DONE, *(plan.STARTED for _ in BEGUN)],
        "outcomes": [plan.DEDUCTED, *(None for _ in BEGUN)],
        "finished_at_ms": [now, *(None for _ in BEGUN)],
        **recording_values(consumer, report, now),
    })).first()
    return row is not None
