"""The kit's own tables, which live inside every service's database.

Services create them from their first migration with `create_kit_tables()`, so one Alembic
history per service owns everything in that database.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

# A 64-bit position on PostgreSQL, SQLite's rowid alias there (AUTOINCREMENT never reuses ids).
Position = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("position", Position, primary_key=True, autoincrement=True),
    sa.Column("event_id", sa.String(64), nullable=False, unique=True),
    sa.Column("subject", sa.String(200), nullable=False),
    sa.Column("aggregate_id", sa.String(200), nullable=False),
    sa.Column("envelope", sa.Text, nullable=False),
    sa.Column("created_at_ms", sa.BigInteger, nullable=False),
    sa.Column("published_at_ms", sa.BigInteger, nullable=True),
    sa.Index(
        "ix_outbox_unpublished",
        "position",
        postgresql_where=sa.text("published_at_ms IS NULL"),
        sqlite_where=sa.text("published_at_ms IS NULL"),
    ),
    sqlite_autoincrement=True,
)

relay_lease = sa.Table(
    "relay_lease",
    metadata,
    sa.Column("name", sa.String(50), primary_key=True),
    sa.Column("holder", sa.String(100), nullable=False),
    sa.Column("expires_at_ms", sa.BigInteger, nullable=False),
)

inbox = sa.Table(
    "inbox",
    metadata,
    sa.Column("consumer", sa.String(100), primary_key=True),
    sa.Column("message_id", sa.String(64), primary_key=True),
    sa.Column("processed_at_ms", sa.BigInteger, nullable=False),
)

idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    sa.Column("scope", sa.String(200), primary_key=True),
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("request_hash", sa.String(64), nullable=False),
    sa.Column("state", sa.String(20), nullable=False),  # in_progress | done
    sa.Column("status_code", sa.Integer, nullable=True),
    sa.Column("body", sa.Text, nullable=True),
    sa.Column("locked_until_ms", sa.BigInteger, nullable=False),
    sa.Column("created_at_ms", sa.BigInteger, nullable=False),
)


def create_kit_tables() -> None:
    """Create the outbox, relay lease, inbox and idempotency tables (call from a migration)."""
    from alembic import op

    bind = op.get_bind()
    metadata.create_all(bind)
    # The relay lease row exists from the start (expired), so taking it is always an UPDATE.
    op.bulk_insert(relay_lease, [{"name": "relay", "holder": "", "expires_at_ms": 0}])


# The time column of each kit table the retention prunes by (kit/retention.py), indexed so that a
# round finds the oldest rows without reading the table. Created by a migration of their own in
# every service (after the tables), not declared on the tables above.
RETENTION_INDEXES = (
    ("ix_outbox_published_at", "outbox", "published_at_ms"),
    ("ix_inbox_processed_at", "inbox", "processed_at_ms"),
    ("ix_idempotency_keys_created_at", "idempotency_keys", "created_at_ms"),
)


def create_retention_indexes() -> None:
    from alembic import op

    for name, table, column in RETENTION_INDEXES:
        op.create_index(name, table, [column])


def drop_retention_indexes() -> None:
    from alembic import op

    for name, table, _ in RETENTION_INDEXES:
        op.drop_index(name, table_name=table)


def drop_kit_tables() -> None:
    from alembic import op

    metadata.drop_all(op.get_bind())
