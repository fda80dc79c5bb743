"""A reservation remembers when its order was cancelled.

`reservations.order_cancelled_at_ms`: set when OrderCancelled is handled, whatever the hold's status
was then, so an OrderConfirmed delivered after it (a retried one) is refused instead of selling the
units again from available (domain.on_order_confirmed). NULL on every existing row: their orders'
cancellations, if any, were handled before a late confirmation could be told apart.

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
    op.add_column("reservations", sa.Column("order_cancelled_at_ms", sa.BigInteger, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("reservations") as batch:
        batch.drop_column("order_cancelled_at_ms")
