"""The copy of the customers' contacts (fed by CustomerUpdated, repaired by reconciliation) and the
schedule of periodic jobs.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "customer_contacts",
        sa.Column("customer_id", sa.String(100), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("updated_at_ms", sa.BigInteger, nullable=False),
        sa.CheckConstraint("version >= 1", name="ck_customer_contacts_version_positive"),
    )
    op.create_table(
        "scheduled_jobs",
        sa.Column("name", sa.String(50), primary_key=True),
        sa.Column("holder", sa.String(100), nullable=False),
        sa.Column("due_at_ms", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("scheduled_jobs")
    op.drop_table("customer_contacts")
