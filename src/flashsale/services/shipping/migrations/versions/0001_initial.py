"""Shipments, their lines, which products may be shipped, and the kit's tables (outbox, inbox,
relay lease, idempotency keys).

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
        "shipments",
        sa.Column("shipment_id", sa.String(64), primary_key=True),
        sa.Column("order_id", sa.String(100), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("reason", sa.String(100), nullable=True),
        sa.Column("created_at_ms", sa.BigInteger, nullable=False),
        sa.Column("updated_at_ms", sa.BigInteger, nullable=False),
        # One shipment (or tombstone) per order: concurrent duplicates trip over this.
        sa.UniqueConstraint("order_id", name="uq_shipments_order_id"),
        sa.CheckConstraint("status IN ('SCHEDULED', 'CANCELLED')", name="ck_shipments_status"),
    )
    op.create_table(
        "shipment_lines",
        sa.Column("shipment_id", sa.String(64), sa.ForeignKey("shipments.shipment_id"), primary_key=True),
        sa.Column("product_id", sa.String(100), primary_key=True),
        sa.Column("quantity", sa.Integer, nullable=False),
        sa.CheckConstraint("quantity > 0", name="ck_shipment_lines_quantity_positive"),
    )
    op.create_table(
        "product_shipping",
        sa.Column("product_id", sa.String(100), primary_key=True),
        sa.Column("shippable", sa.Boolean, nullable=False),
        sa.Column("updated_at_ms", sa.BigInteger, nullable=False),
    )
    create_kit_tables()


def downgrade() -> None:
    drop_kit_tables()
    op.drop_table("product_shipping")
    op.drop_table("shipment_lines")
    op.drop_table("shipments")
