"""One Alembic migration history per service, applied when the service starts.

A service's `migrations/` folder holds an `env.py` that calls `run_env()` and its `versions/`.
Several instances of one service may start at once against the same database, so upgrades run
under a lock: PostgreSQL's advisory lock, SQLite's write lock (BEGIN IMMEDIATE).

A service process migrates from a forked child before it serves (`upgrade_in_child`): Alembic
and what it loads are ~8-11 MB that a serving process would otherwise carry for its whole life
to run a few statements once (measured: an idle house's processes at 95-106 MB with it, 88-99
without).
Alembic is therefore imported here only inside the functions that use it.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import zlib
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flashsale.kit.db import Database

if TYPE_CHECKING:
    from alembic.config import Config


class MigrationFailed(RuntimeError):
    """The child process that migrated a service's database did not succeed (its traceback is
    on stderr)."""


def _config(script_location: Path, connection: Connection) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(script_location))
    cfg.attributes["connection"] = connection
    return cfg


def _upgrade(connection: Connection, script_location: Path) -> None:
    from alembic import command

    if connection.dialect.name == "postgresql":
        lock_key = zlib.crc32(str(script_location.name).encode()) & 0x7FFFFFFF
        connection.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock_key})
    command.upgrade(_config(script_location, connection), "head")


async def upgrade(db: Database, script_location: Path) -> None:
    """Bring `db` to the newest revision of the history in `script_location`, in this process."""
    async with db.transaction() as conn:
        await conn.run_sync(_upgrade, script_location)


def upgrade_in_child(database_url: str, script_location: Path) -> None:
    """Bring the database at `database_url` to the newest revision from a forked child, and wait
    for it. Call it before the process starts threads or an event loop (a fork copies only the
    calling thread); the child inherits the imports already made, so it costs what an upgrade in
    this process would, and its memory goes with it."""
    child = multiprocessing.get_context("fork").Process(
        target=_upgrade_now, args=(database_url, script_location), name="migrate", daemon=True
    )
    child.start()
    child.join()
    if child.exitcode != 0:
        raise MigrationFailed(f"migrating {script_location} exited with {child.exitcode}")


def _upgrade_now(database_url: str, script_location: Path) -> None:
    async def migrate() -> None:
        db = await Database.connect(database_url, pool_size=1)
        try:
            await upgrade(db, script_location)
        finally:
            await db.dispose()

    asyncio.run(migrate())


def run_env() -> None:
    """The body of every service's migrations/env.py: migrate on the connection we were given."""
    from alembic import context

    connection = context.config.attributes["connection"]
    context.configure(connection=connection, transactional_ddl=True)
    with context.begin_transaction():
        context.run_migrations()
