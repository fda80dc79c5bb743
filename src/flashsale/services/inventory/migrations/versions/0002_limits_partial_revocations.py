"""Purchase limits, partial reserves and revocations.

- `stock.purchase_limit`: at most this many units per customer (NULL: no limit).
- `customer_units`: each customer's held + bought units of a product that has a limit.
- `reservations.requested`: what a partial reserve asked for; status `REVOKED` (a write-off took
  the reservation's units back).
- `ix_reservation_items_product`: a write-off and a new limit look up a product's reservations.

SQLite cannot change a CHECK constraint in place: the reservations table is rebuilt (Alembic's
batch mode). Dropping the old table would orphan its items, and the foreign-key pragma cannot be
switched off inside the migration's transaction, so the items are parked in a side table while
the reservations are rebuilt and put back after.

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

OLD_STATUSES = "status IN ('HELD', 'CONFIRMED', 'RELEASED', 'EXPIRED')"
NEW_STATUSES = "status IN ('HELD', 'CONFIRMED', 'RELEASED', 'EXPIRED', 'REVOKED')"
PARKED_ITEMS = "_reservation_items_parked"


def upgrade() -> None:
    # ADD COLUMN with a named CHECK reads the same on PostgreSQL and SQLite.
    op.execute(
        "ALTER TABLE stock ADD COLUMN purchase_limit BIGINT CONSTRAINT ck_stock_purchase_limit_positive"
        " CHECK (purchase_limit IS NULL OR purchase_limit > 0)"
    )
    _rebuild_reservations(NEW_STATUSES, add_requested=True)
    op.create_index("ix_reservation_items_product", "reservation_items", ["product_id"])
    op.create_table(
        "customer_units",
        sa.Column("product_id", sa.String(100), sa.ForeignKey("stock.product_id"), primary_key=True),
        sa.Column("customer_id", sa.String(100), primary_key=True),
        sa.Column("units", sa.BigInteger, nullable=False),
        sa.CheckConstraint("units >= 0", name="ck_customer_units_not_negative"),
    )


def downgrade() -> None:
    op.drop_table("customer_units")
    op.drop_index("ix_reservation_items_product", table_name="reservation_items")
    # The old schema has no REVOKED: a revoked reservation's units are free, as a released one's.
    op.execute("UPDATE reservations SET status = 'RELEASED' WHERE status = 'REVOKED'")
    _rebuild_reservations(OLD_STATUSES, add_requested=False)
    # The CHECK is the column's own, so both databases drop it with the column (no rebuild).
    op.execute("ALTER TABLE stock DROP COLUMN purchase_limit")


def _rebuild_reservations(statuses: str, *, add_requested: bool) -> None:
    """Swap the status CHECK (and add or drop `requested`): ALTERs on PostgreSQL, a rebuild on SQLite."""
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        op.execute(f"CREATE TABLE {PARKED_ITEMS} AS SELECT * FROM reservation_items")
        op.execute("DELETE FROM reservation_items")
    with op.batch_alter_table("reservations") as batch:
        batch.drop_constraint("ck_reservations_status", type_="check")
        batch.create_check_constraint("ck_reservations_status", sa.text(statuses))
        if add_requested:
            batch.add_column(sa.Column("requested", sa.Text, nullable=True))
        else:
            batch.drop_column("requested")
    if sqlite:
        op.execute(
            f"INSERT INTO reservation_items (reservation_id, product_id, quantity)"
            f" SELECT reservation_id, product_id, quantity FROM {PARKED_ITEMS}"
        )
        op.execute(f"DROP TABLE {PARKED_ITEMS}")
