"""One Alembic migration history per service, applied when the service starts.

A service's `migrations/` folder holds an `env.py` that calls `run_env()` and its `versions/`.
Several instances of one service may start at once against the same database, so upgrades run
under a lock: PostgreSQL's advisory lock, SQLite's write lock (BEGIN IMMEDIATE).
"""

from __future__ import annotations

import zlib
from pathlib import Path

import sqlalchemy as sa
from alembic import command, context
from alembic.config import Config
from sqlalchemy.engine import Connection

from flashsale.kit.db import Database


def _config(script_location: Path, connection: Connection) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(script_location))
    cfg.attributes["connection"] = connection
    return cfg


def _upgrade(connection: Connection, script_location: Path) -> None:
    if connection.dialect.name == "postgresql":
        lock_key = zlib.crc32(str(script_location.name).encode()) & 0x7FFFFFFF
        connection.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock_key})
    command.upgrade(_config(script_location, connection), "head")


async def upgrade(db: Database, script_location: Path) -> None:
    """Bring `db` to the newest revision of the history in `script_location`."""
    async with db.transaction() as conn:
        await conn.run_sync(_upgrade, script_location)


def run_env() -> None:
    """The body of every service's migrations/env.py: migrate on the connection we were given."""
    connection = context.config.attributes["connection"]
    context.configure(connection=connection, transactional_ddl=True)
    with context.begin_transaction():
        context.run_migrations()
