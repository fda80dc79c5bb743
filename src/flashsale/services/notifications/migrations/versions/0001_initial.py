"""Messages to customers, and the kit's tables (outbox, inbox, relay lease, idempotency keys).

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
        "notifications",
        sa.Column("notification_id", sa.String(64), primary_key=True),
        sa.Column("customer_id", sa.String(100), nullable=False),
        sa.Column("order_id", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("reason", sa.String(100), nullable=True),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("created_at_ms", sa.BigInteger, nullable=False),
        sa.Column("source_event_id", sa.String(64), nullable=False, unique=True),
    )
    # The two ways the API lists messages: a customer's, an order's, newest first.
    op.create_index("ix_notifications_customer", "notifications", ["customer_id", "created_at_ms"])
    op.create_index("ix_notifications_order", "notifications", ["order_id", "created_at_ms"])
    create_kit_tables()


def downgrade() -> None:
    drop_kit_tables()
    op.drop_index("ix_notifications_order", "notifications")
    op.drop_index("ix_notifications_customer", "notifications")
    op.drop_table("notifications")
