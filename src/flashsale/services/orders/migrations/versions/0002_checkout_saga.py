"""The checkout saga: one row per order (state, lease) and a checkpoint per step.

Orders placed before this revision get a saga that says where they stand: a hold for every order,
an authorised payment for those already paid; a paid order's saga then goes on to capture (the
payment service replays a capture it already made) and ship.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "checkout_sagas",
        sa.Column("order_id", sa.String(64), sa.ForeignKey("orders.order_id"), primary_key=True),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("reason", sa.String(40), nullable=True),
        sa.Column("payment_token", sa.String(100), nullable=True),
        sa.Column("due_at_ms", sa.BigInteger, nullable=True),
        sa.Column("lease_owner", sa.String(80), nullable=True),
        sa.Column("lease_until_ms", sa.BigInteger, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.String(500), nullable=True),
        sa.Column("created_at_ms", sa.BigInteger, nullable=False),
        sa.Column("updated_at_ms", sa.BigInteger, nullable=False),
    )
    # The workers' question, "which sagas are due?", and the operators', "which are parked?"
    op.create_index("ix_checkout_sagas_due", "checkout_sagas", ["due_at_ms"])
    op.create_index("ix_checkout_sagas_state", "checkout_sagas", ["state"])
    op.create_table(
        "checkout_saga_steps",
        sa.Column("order_id", sa.String(64), sa.ForeignKey("checkout_sagas.order_id"), primary_key=True),
        sa.Column("step", sa.String(30), primary_key=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("outcome", sa.String(40), nullable=True),
        sa.Column("detail", sa.String(200), nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("started_at_ms", sa.BigInteger, nullable=False),
        sa.Column("finished_at_ms", sa.BigInteger, nullable=True),
        sa.Column("error", sa.String(500), nullable=True),
    )
    _backfill()


def _backfill() -> None:
    op.execute("""
        INSERT INTO checkout_sagas (order_id, state, reason, payment_token, due_at_ms, lease_owner,
                                    lease_until_ms, attempts, last_error, created_at_ms, updated_at_ms)
        SELECT order_id,
               CASE status WHEN 'COMPLETED' THEN 'COMPLETED' WHEN 'CANCELLED' THEN 'COMPENSATED' ELSE 'RUNNING' END,
               status_reason, NULL, NULL, NULL, 0, 0, NULL, created_at_ms, updated_at_ms
        FROM orders
    """)
    op.execute("""
        INSERT INTO checkout_saga_steps (order_id, step, status, outcome, detail, attempts, started_at_ms,
                                         finished_at_ms, error)
        SELECT order_id, 'hold', 'DONE', 'HELD', reservation_id, 1, created_at_ms, created_at_ms, NULL FROM orders
    """)
    op.execute("""
        INSERT INTO checkout_saga_steps (order_id, step, status, outcome, detail, attempts, started_at_ms,
                                         finished_at_ms, error)
        SELECT order_id, 'payment', 'DONE', 'AUTHORISED', NULL, 1, paid_at_ms, paid_at_ms, NULL
        FROM orders WHERE paid_at_ms IS NOT NULL
    """)


def downgrade() -> None:
    op.drop_table("checkout_saga_steps")
    op.drop_table("checkout_sagas")
