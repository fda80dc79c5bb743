"""Authorise / capture / void / refund: a pending step, guarded statuses, the provider's books.

A charge used to authorise and capture at once and end APPROVED; those payments already carry
AUTHORISED and CAPTURED ledger entries, so they become CAPTURED. The database now refuses unknown
statuses, a second ledger entry of one kind for a payment, and negative amounts. The simulated
provider keeps its books in `provider_operations` (it stands in for a provider whose records
outlive our processes).

The tables are spelled out here rather than taken from the store: a migration is a snapshot of
the schema at its revision.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

STATUSES = "'PENDING', 'AUTHORISED', 'DECLINED', 'CAPTURED', 'VOIDED', 'REFUNDED'"


def upgrade() -> None:
    op.execute("UPDATE payments SET status = 'CAPTURED' WHERE status = 'APPROVED'")
    # SQLite cannot add a constraint to a table in place: batch mode copies it into a new one.
    with op.batch_alter_table("payments") as batch:
        batch.add_column(sa.Column("pending_step", sa.String(10), nullable=True))
        batch.create_check_constraint("ck_payments_status", f"status IN ({STATUSES})")
        batch.create_check_constraint(
            "ck_payments_pending_step", "pending_step IS NULL OR pending_step IN ('capture', 'void', 'refund')"
        )
    with op.batch_alter_table("payment_ledger") as batch:
        batch.create_check_constraint(
            "ck_payment_ledger_kind", "kind IN ('AUTHORISED', 'CAPTURED', 'VOIDED', 'REFUNDED')"
        )
        batch.create_check_constraint("ck_payment_ledger_amount", "amount_cents >= 0")
    op.create_index("uq_payment_ledger_payment_kind", "payment_ledger", ["payment_id", "kind"], unique=True)
    op.create_table(
        "provider_operations",
        sa.Column("idempotency_key", sa.String(200), primary_key=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("order_id", sa.String(100), nullable=False, index=True),
        sa.Column("amount_cents", sa.BigInteger, nullable=False),
        sa.Column("approved", sa.Boolean, nullable=True),
        sa.Column("reason", sa.String(100), nullable=True),
        sa.Column("calls", sa.Integer, nullable=False),
        sa.Column("effects", sa.Integer, nullable=False),
        sa.Column("created_at_ms", sa.BigInteger, nullable=False),
        sa.Column("updated_at_ms", sa.BigInteger, nullable=False),
        sa.CheckConstraint("effects IN (0, 1)", name="ck_provider_operations_effects"),
    )


def downgrade() -> None:
    """Back to 0001's schema. AUTHORISED and VOIDED payments have no 0001 status and are kept
    as they are; 0001's code treats them as not refundable."""
    op.drop_table("provider_operations")
    op.drop_index("uq_payment_ledger_payment_kind", table_name="payment_ledger")
    with op.batch_alter_table("payment_ledger") as batch:
        batch.drop_constraint("ck_payment_ledger_amount", type_="check")
        batch.drop_constraint("ck_payment_ledger_kind", type_="check")
    with op.batch_alter_table("payments") as batch:
        batch.drop_constraint("ck_payments_pending_step", type_="check")
        batch.drop_constraint("ck_payments_status", type_="check")
        batch.drop_column("pending_step")
    op.execute("UPDATE payments SET status = 'APPROVED' WHERE status = 'CAPTURED'")
