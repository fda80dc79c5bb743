"""The payments service's tables (SQLAlchemy Core). Migrations 0001 and 0002 spell out the same schema.

The database itself refuses what no code path may produce: an unknown status or pending step, a
negative amount, a second ledger entry of one kind for a payment, a provider operation acted on
twice. The ledger's cross-entry rules (captured + voided <= authorised, refunded <= captured) are
checked by `domain.check_entry` inside the transaction that adds an entry, after the payment's
row was changed (and so locked) by the conditional UPDATE of the same transaction.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

payments = sa.Table(
    "payments",
    metadata,
    sa.Column("payment_id", sa.String(64), primary_key=True),
    sa.Column("order_id", sa.String(100), nullable=False, unique=True),
    sa.Column("amount_cents", sa.BigInteger, nullable=False),
    sa.Column("token", sa.String(100), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("reason", sa.String(100), nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("created_at_ms", sa.BigInteger, nullable=False),
    sa.Column("updated_at_ms", sa.BigInteger, nullable=False),
    # capture | void | refund: the step under way (see domain.py), NULL when none is.
    sa.Column("pending_step", sa.String(10), nullable=True),
    sa.CheckConstraint(
        "status IN ('PENDING', 'AUTHORISED', 'DECLINED', 'CAPTURED', 'VOIDED', 'REFUNDED')",
        name="ck_payments_status",
    ),
    sa.CheckConstraint(
        "pending_step IS NULL OR pending_step IN ('capture', 'void', 'refund')", name="ck_payments_pending_step"
    ),
)

payment_ledger = sa.Table(
    "payment_ledger",
    metadata,
    sa.Column("entry_id", sa.String(64), primary_key=True),
    sa.Column("payment_id", sa.String(64), nullable=False),
    sa.Column("order_id", sa.String(100), nullable=False, index=True),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("amount_cents", sa.BigInteger, nullable=False),
    sa.Column("at_ms", sa.BigInteger, nullable=False),
    sa.Index("uq_payment_ledger_payment_kind", "payment_id", "kind", unique=True),
    sa.CheckConstraint(
        "kind IN ('AUTHORISED', 'CAPTURED', 'VOIDED', 'REFUNDED')", name="ck_payment_ledger_kind"
    ),
    sa.CheckConstraint("amount_cents >= 0", name="ck_payment_ledger_amount"),
)

# The simulated provider's books: one row per idempotency key, written once it has acted.
provider_operations = sa.Table(
    "provider_operations",
    metadata,
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
