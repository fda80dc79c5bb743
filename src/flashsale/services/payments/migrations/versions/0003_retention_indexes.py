"""Indexes on the kit tables' time columns, for their retention (kit/retention.py).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from flashsale.kit.schema import create_retention_indexes, drop_retention_indexes

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_retention_indexes()


def downgrade() -> None:
    drop_retention_indexes()
