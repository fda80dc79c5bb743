"""Products, the availability read model, and the kit's tables (outbox, inbox, relay lease,
idempotency keys).

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
        "products",
        sa.Column("product_id", sa.String(100), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("price_cents", sa.BigInteger, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("image_url", sa.String(2048), nullable=True),
        sa.Column("sale_starts_ms", sa.BigInteger, nullable=True),
        sa.Column("sale_ends_ms", sa.BigInteger, nullable=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at_ms", sa.BigInteger, nullable=False),
        sa.Column("updated_at_ms", sa.BigInteger, nullable=False),
    )
    # Keyed by product id alone, no foreign key: stock may be heard of before the product is listed.
    op.create_table(
        "availability",
        sa.Column("product_id", sa.String(100), primary_key=True),
        sa.Column("available", sa.BigInteger, nullable=False),
        sa.Column("as_of_ms", sa.BigInteger, nullable=False),
        sa.Column("last_event_id", sa.String(64), nullable=False),
        sa.CheckConstraint("available >= 0", name="ck_availability_available_nonnegative"),
    )
    create_kit_tables()


def downgrade() -> None:
    drop_kit_tables()
    op.drop_table("availability")
    op.drop_table("products")
