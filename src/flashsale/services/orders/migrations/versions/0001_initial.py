"""Orders, their lines, and the kit's tables (outbox, inbox, relay lease, idempotency keys).

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from flashsale.kit.schema import create_kit_tables, drop_kit_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "orders",
        sa.Column("order_id", sa.String(64), primary_key=True),
        sa.Column("customer_id", sa.String(100), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("status_reason", sa.String(40), nullable=True),
        sa.Column("reservation_id", sa.String(100), nullable=False),
        sa.Column("expires_at_ms", sa.BigInteger, nullable=True),
        sa.Column("amount_cents", sa.BigInteger, nullable=False),
        sa.Column("created_at_ms", sa.BigInteger, nullable=False),
        sa.Column("updated_at_ms", sa.BigInteger, nullable=False),
        sa.Column("paid_at_ms", sa.BigInteger, nullable=True),
    )
    # A customer's orders, newest first; the auditor pages by status in order-id order.
    op.create_index("ix_orders_customer", "orders", ["customer_id", "created_at_ms"])
    op.create_index("ix_orders_status", "orders", ["status", "order_id"])
    op.create_table(
        "order_lines",
        sa.Column("order_id", sa.String(64), sa.ForeignKey("orders.order_id"), primary_key=True),
        sa.Column("product_id", sa.String(100), primary_key=True),
        sa.Column("quantity", sa.Integer, nullable=False),
    )
    create_kit_tables()


def downgrade() -> None:
    drop_kit_tables()
    op.drop_table("order_lines")
    op.drop_table("orders")
