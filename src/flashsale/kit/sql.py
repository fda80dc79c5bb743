"""SQL that differs by dialect, and what PostgreSQL's errors mean: the pieces stores build with.

- `dialect_insert`: the INSERT that has ON CONFLICT (DO NOTHING / DO UPDATE), PostgreSQL's or
  SQLite's (alike in what we use);
- `database_now_ms` / `now_ms_in`: the database's clock inside a statement;
- `inserting_cte`: PostgreSQL, an INSERT as one data-modifying CTE of a statement that writes
  several tables at once;
- `broke_a_deadlock` and `rerun_deadlock_victims`: a transaction PostgreSQL rolled back to break
  a deadlock, and running it again.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping
from typing import Any, ParamSpec, TypeVar

import sqlalchemy as sa
import structlog
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection
from tenacity import RetryCallState, retry, retry_if_exception, stop_after_attempt, wait_random

_SQLITE_NOW_MS = "CAST(ROUND((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER)"
_POSTGRES_NOW_MS = "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)"
log = structlog.get_logger(__name__)

DEADLOCK_DETECTED = "40P01"  # PostgreSQL's SQLSTATE for the transaction it rolled back to break a cycle
P = ParamSpec("P")
R = TypeVar("R")


def dialect_insert(dialect: str, table: sa.Table) -> Any:
    """The INSERT of the dialect named `dialect` (a connection's `conn.dialect.name`, or the name
    a statement built once per dialect is given): the one with ON CONFLICT DO NOTHING / DO UPDATE.
    With DO NOTHING a statement's rowcount says whether the row is new (a concurrent insert of the
    same key waits for the other transaction's outcome), and with several rows and RETURNING only
    the rows that were new come back."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
    return insert(table)


def database_now_ms(conn: AsyncConnection) -> sa.ColumnElement[int]:
    """The database's clock in epoch milliseconds, as part of a statement on `conn`. Leases are
    judged by it: every instance sharing the database reads one clock, so a process whose own
    clock runs ahead cannot take a lease that has not run out."""
    return now_ms_in(conn.dialect.name)


def now_ms_in(dialect: str) -> sa.ColumnElement[int]:
    """`database_now_ms` for a dialect by name (for a statement built once per dialect)."""
    return sa.literal_column(now_ms_sql(dialect), sa.BigInteger())


def now_ms_sql(dialect: str) -> str:
    """`now_ms_in` as SQL text, for a statement written as text."""
    return _SQLITE_NOW_MS if dialect == "sqlite" else _POSTGRES_NOW_MS


def inserting_cte(
    name: str, table: sa.Table, *, given: Mapping[str, str] | None = None, source: str | None = None,
    when: str | None = None, returning: str | None = None,
) -> str:
    """PostgreSQL: `name AS (INSERT INTO table ... SELECT ...)`, a data-modifying CTE writing one row
    (or one per row of `source`, another CTE), only when `when` (SQL) holds. Each column's value is
    the bind parameter `:<name>_<column>` cast to the column's type (a SELECT list has no column to
    take its type from), except those `given` writes as SQL (e.g. `{"order_id": "placed.order_id"}`)."""
    given = given or {}
    values = [given.get(column.name) or f"CAST(:{name}_{column.name} AS {_cast_type(column)})" for column in table.c]
    return (f"{name} AS (\n    INSERT INTO {table.name} ({', '.join(column.name for column in table.c)})\n"
            f"    SELECT {', '.join(values)}"
            + (f" FROM {source}" if source else "") + (f" WHERE {when}" if when else "")
            + (f"\n    RETURNING {returning}" if returning else "") + "\n)")


def inserting_values(name: str, row: Mapping[str, object]) -> dict[str, object]:
    """The bind parameters of `inserting_cte(name, ...)` for `row` (column -> value)."""
    return {f"{name}_{column}": value for column, value in row.items()}


def _cast_type(column: sa.Column[Any]) -> str:
    # Strings as text: a cast to VARCHAR(n) would cut a longer value short where the INSERT refuses it.
    return "text" if isinstance(column.type, sa.String) else str(column.type.compile(_POSTGRESQL))


_POSTGRESQL = postgresql.dialect()  # type: ignore[no-untyped-call]


def sqlstate(error: DBAPIError) -> str | None:
    """The SQLSTATE code PostgreSQL gave the failed statement (None from SQLite)."""
    code = getattr(error.orig, "sqlstate", None)
    return code if isinstance(code, str) else None


def broke_a_deadlock(error: BaseException) -> bool:
    """PostgreSQL rolled this transaction back to break a deadlock: nothing of it stayed."""
    return isinstance(error, DBAPIError) and sqlstate(error) == DEADLOCK_DETECTED


def rerun_deadlock_victims(
    attempts: int = 3,
) -> Callable[[Callable[P, Coroutine[Any, Any, R]]], Callable[P, Coroutine[Any, Any, R]]]:
    """Run a function that is one whole transaction again when PostgreSQL picked it to break a
    deadlock. Locks taken in one order everywhere make cycles rare, not impossible (a write-off
    must lock the stock of a revoked hold's other products after its own): the victim is chosen
    by whichever waiter's deadlock_timeout runs out first, and since it rolled back whole, running
    it again is what the caller would have to do, minus the 500."""
    return retry(
        retry=retry_if_exception(broke_a_deadlock), stop=stop_after_attempt(attempts),
        wait=wait_random(0.005, 0.05), reraise=True, before_sleep=_say_rerun,
    )


def _say_rerun(state: RetryCallState) -> None:
    log.warning("deadlock_victim_rerun", transaction=getattr(state.fn, "__qualname__", "?"),
                attempt=state.attempt_number)
