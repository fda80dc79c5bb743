"""Which database a service uses, and making it: per-service URLs, PostgreSQL databases created
and dropped.

Every service gets a database of its own. `service_database_url` turns the one URL an operator
gives (`--database postgresql://user@host/`) into a per-service URL; `Database.connect` creates
the PostgreSQL database when it is missing (`ensure_postgres_database`).
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url


def service_database_url(base: str, service: str, data_dir: Path | None = None) -> str:
    """The URL of `service`'s own database, derived from the operator's base URL.

    - empty base: `sqlite:///<data_dir>/<service>.db`
    - `sqlite:///some/dir/`: a file per service in that directory
    - `postgresql://user@host/` → database `flashsale_<service>`;
      `postgresql://user@host/prefix` → database `prefix_<service>`
    """
    if not base:
        if data_dir is None:
            raise ValueError("a data directory is needed for the default SQLite databases")
        return f"sqlite:///{(data_dir / f'{service}.db').resolve()}"
    url = make_url(base)
    if url.get_backend_name() == "sqlite":
        path = Path(url.database or ".")
        if not path.suffix:
            path = path / f"{service}.db"
        return f"sqlite:///{path.resolve()}"
    if url.get_backend_name() == "postgresql":
        prefix = url.database or "flashsale"
        name = re.sub(r"[^a-z0-9_]", "_", f"{prefix}_{service}".lower())
        return url.set(database=name).render_as_string(hide_password=False)
    raise ValueError(f"unsupported database URL {base!r}: use sqlite:/// or postgresql://")


def async_url(url: str) -> sa.URL:
    """`url` with the async driver we use for its database (aiosqlite, asyncpg)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return parsed.set(drivername="sqlite+aiosqlite")
    return parsed.set(drivername="postgresql+asyncpg")


async def ensure_postgres_database(url: str) -> None:
    """Create the database named in `url` if it does not exist (two processes may race: fine)."""
    import asyncpg  # local: only PostgreSQL deployments need the driver loaded

    parsed = make_url(url)
    name = parsed.database
    admin = parsed.set(drivername="postgresql", database="postgres")
    conn = await asyncpg.connect(admin.render_as_string(hide_password=False))
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            # Another instance won the race: PostgreSQL reports it as either error, depending on timing.
            with contextlib.suppress(asyncpg.DuplicateDatabaseError, asyncpg.UniqueViolationError):
                await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def drop_postgres_database(url: str) -> None:
    import asyncpg

    parsed = make_url(url)
    admin = parsed.set(drivername="postgresql", database="postgres")
    conn = await asyncpg.connect(admin.render_as_string(hide_password=False))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)')
    finally:
        await conn.close()
