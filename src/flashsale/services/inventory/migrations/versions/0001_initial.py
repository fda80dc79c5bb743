"""Stock, reservations and their items, plus the kit's outbox/inbox tables.

The tables are spelled out here rather than taken from store.py: a migration is a snapshot of
the schema at its revision and must not change when the store's definitions evolve.

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
        "stock",
        sa.Column("product_id", sa.String(100), primary_key=True),
        sa.Column("available", sa.BigInteger, nullable=False),
        sa.Column("reserved", sa.BigInteger, nullable=False),
        sa.Column("sold", sa.BigInteger, nullable=False),
        sa.Column("received", sa.BigInteger, nullable=False),
        sa.Column("written_off", sa.BigInteger, nullable=False),
        # The schema itself refuses an oversell or an unbalanced row, whatever the code does.
        sa.CheckConstraint("available >= 0", name="ck_stock_available_not_negative"),
        sa.CheckConstraint("reserved >= 0", name="ck_stock_reserved_not_negative"),
        sa.CheckConstraint("sold >= 0", name="ck_stock_sold_not_negative"),
        sa.CheckConstraint("available + reserved + sold = received - written_off", name="ck_stock_balanced"),
    )
    op.create_table(
        "reservations",
        sa.Column("reservation_id", sa.String(64), primary_key=True),
        sa.Column("order_id", sa.String(100), nullable=True),
        sa.Column("customer_id", sa.String(100), nullable=True),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("created_at_ms", sa.BigInteger, nullable=False),
        sa.Column("expires_at_ms", sa.BigInteger, nullable=False),
        sa.Column("updated_at_ms", sa.BigInteger, nullable=False),
        sa.Column("confirmed_at_ms", sa.BigInteger, nullable=True),
        # One hold per order: a retried reserve finds the first one instead of taking more stock.
        sa.UniqueConstraint("order_id", name="uq_reservations_order_id"),
        sa.CheckConstraint("status IN ('HELD', 'CONFIRMED', 'RELEASED', 'EXPIRED')", name="ck_reservations_status"),
    )
    # The sweeper's query: HELD holds whose expiry has passed, oldest first.
    op.create_index("ix_reservations_status_expires", "reservations", ["status", "expires_at_ms"])
    op.create_table(
        "reservation_items",
        sa.Column(
            "reservation_id", sa.String(64), sa.ForeignKey("reservations.reservation_id"), primary_key=True
        ),
        sa.Column("product_id", sa.String(100), sa.ForeignKey("stock.product_id"), primary_key=True),
        sa.Column("quantity", sa.BigInteger, nullable=False),
        sa.CheckConstraint("quantity > 0", name="ck_reservation_items_quantity_positive"),
    )
    create_kit_tables()


def downgrade() -> None:
    drop_kit_tables()
    op.drop_table("reservation_items")
    op.drop_index("ix_reservations_status_expires", table_name="reservations")
    op.drop_table("reservations")
    op.drop_table("stock")
