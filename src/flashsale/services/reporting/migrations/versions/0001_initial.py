"""The projection's facts: every event once (`events`), and the products each is about
(`event_lines`, one row per product line).

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("event_id", sa.String(64), primary_key=True),
        sa.Column("type", sa.String(80), nullable=False),
        sa.Column("producer", sa.String(40), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("happened_ms", sa.BigInteger, nullable=False),
        sa.Column("order_id", sa.String(100), nullable=True),
        sa.Column("reservation_id", sa.String(100), nullable=True),
        sa.Column("amount_cents", sa.BigInteger, nullable=True),
        sa.Column("reason", sa.String(100), nullable=True),
        sa.Column("stage", sa.String(40), nullable=True),
        sa.Column("refunded", sa.Boolean, nullable=True),
        sa.Column("data", sa.Text, nullable=False),
        sa.Column("recorded_ms", sa.BigInteger, nullable=False),
    )
    # The order reports join an order's events to its lines.
    op.create_index("ix_events_order", "events", ["order_id"])
    op.create_table(
        "event_lines",
        sa.Column("event_id", sa.String(64), primary_key=True),
        sa.Column("line_no", sa.Integer, primary_key=True),
        sa.Column("product_id", sa.String(100), nullable=False),
        sa.Column("units", sa.BigInteger, nullable=False),
    )
    # Every per-product report starts from a product's lines.
    op.create_index("ix_event_lines_product", "event_lines", ["product_id"])


def downgrade() -> None:
    op.drop_index("ix_event_lines_product", "event_lines")
    op.drop_table("event_lines")
    op.drop_index("ix_events_order", "events")
    op.drop_table("events")
