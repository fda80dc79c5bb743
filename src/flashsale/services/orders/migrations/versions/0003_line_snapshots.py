"""Order lines keep a snapshot of their product: its name and unit price when the order was placed.

Lines of orders placed before get the unit price they were charged (the order's amount over its
units: every unit cost the same fixed price then) and no name.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("order_lines", sa.Column("name", sa.String(200), nullable=True))
    op.add_column("order_lines", sa.Column("unit_price_cents", sa.BigInteger, nullable=True))
    op.execute("""
        UPDATE order_lines SET unit_price_cents = (
            SELECT orders.amount_cents / (SELECT SUM(l.quantity) FROM order_lines l WHERE l.order_id = orders.order_id)
            FROM orders WHERE orders.order_id = order_lines.order_id
        )
    """)


def downgrade() -> None:
    with op.batch_alter_table("order_lines") as batch:
        batch.drop_column("unit_price_cents")
        batch.drop_column("name")
