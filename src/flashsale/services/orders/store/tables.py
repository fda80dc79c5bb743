"""The order service's tables: orders, their lines, the checkout saga's state, the copy of the
customers' contacts, and the schedule of periodic jobs."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

orders = sa.Table(
    "orders",
    metadata,
    sa.Column("order_id", sa.String(64), primary_key=True),
    sa.Column("customer_id", sa.String(100), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("status_reason", sa.String(40), nullable=True),
    sa.Column("reservation_id", sa.String(100), nullable=False),
    sa.Column("expires_at_ms", sa.BigInteger, nullable=True),
    sa.Column("amount_cents", sa.BigInteger, nullable=False),
    sa.Column("created_at_ms", sa.BigInteger, nullable=False),
    sa.Column("updated_at_ms", sa.BigInteger, nullable=False),
    sa.Column("paid_at_ms", sa.BigInteger, nullable=True),
)

order_lines = sa.Table(
    "order_lines",
    metadata,
    sa.Column("order_id", sa.String(64), primary_key=True),
    sa.Column("product_id", sa.String(100), primary_key=True),
    sa.Column("quantity", sa.Integer, nullable=False),
    # The product's name and unit price when the order was placed (lines of orders placed before
    # snapshots existed have their price backfilled and no name).
    sa.Column("name", sa.String(200), nullable=True),
    sa.Column("unit_price_cents", sa.BigInteger, nullable=True),
)

# One row per order: where its checkout saga stands, and who is running it right now (a lease,
# so that one runner at a time advances it, and another instance takes over when it dies).
checkout_sagas = sa.Table(
    "checkout_sagas",
    metadata,
    sa.Column("order_id", sa.String(64), primary_key=True),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("reason", sa.String(40), nullable=True),
    sa.Column("payment_token", sa.String(100), nullable=True),
    sa.Column("due_at_ms", sa.BigInteger, nullable=True),
    sa.Column("lease_owner", sa.String(80), nullable=True),
    sa.Column("lease_until_ms", sa.BigInteger, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("last_error", sa.String(500), nullable=True),
    sa.Column("created_at_ms", sa.BigInteger, nullable=False),
    sa.Column("updated_at_ms", sa.BigInteger, nullable=False),
)

# Each step's checkpoint: STARTED before its remote call, DONE (or SKIPPED) with its outcome after.
checkout_saga_steps = sa.Table(
    "checkout_saga_steps",
    metadata,
    sa.Column("order_id", sa.String(64), primary_key=True),
    sa.Column("step", sa.String(30), primary_key=True),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("outcome", sa.String(40), nullable=True),
    sa.Column("detail", sa.String(200), nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("started_at_ms", sa.BigInteger, nullable=False),
    sa.Column("finished_at_ms", sa.BigInteger, nullable=True),
    sa.Column("error", sa.String(500), nullable=True),
)

# A copy of what the order service needs of each customer, fed by CustomerUpdated and repaired by
# reconciliation; `version` is the customer's, so an older profile never overwrites a newer one.
customer_contacts = sa.Table(
    "customer_contacts",
    metadata,
    sa.Column("customer_id", sa.String(100), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("email", sa.String(254), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("updated_at_ms", sa.BigInteger, nullable=False),
)

# When each periodic job is next due, and which instance claimed its last round: the instance
# that moves `due_at_ms` forward runs the round; the others see it moved and wait.
scheduled_jobs = sa.Table(
    "scheduled_jobs",
    metadata,
    sa.Column("name", sa.String(50), primary_key=True),
    sa.Column("holder", sa.String(100), nullable=False),
    sa.Column("due_at_ms", sa.BigInteger, nullable=False),
)
