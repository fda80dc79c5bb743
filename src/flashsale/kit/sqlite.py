"""SQLite as a service's database: WAL, a busy timeout, durable commits, and our own BEGIN.

Write transactions on SQLite start with `BEGIN IMMEDIATE` (`Database` asks for it through the
connection option `BEGIN_OPTION`), so a transaction that will write takes the write lock up front
instead of failing with SQLITE_BUSY half way (the deferred default lets two readers both decide
to write). Reads use plain deferred transactions and never block writers.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

BEGIN_OPTION = "flashsale_begin"  # execution option: what follows BEGIN ("IMMEDIATE" or nothing)
SQLITE_BUSY_TIMEOUT_S = 30


def configure_sqlite(engine: AsyncEngine) -> None:
    """WAL, a busy timeout, and our own BEGIN (recipe from SQLAlchemy's aiosqlite docs)."""

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # let the "begin" hook below issue BEGIN
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # FULL: a hold acknowledged with 200 survives a power cut, not just a process crash.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_S * 1000}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get(BEGIN_OPTION, "")
        conn.exec_driver_sql(f"BEGIN {mode}".strip())
