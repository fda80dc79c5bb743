"""Retention of the kit's tables in every service's database, which would otherwise only grow.

- outbox: a row published more than `outbox_s` ago. It was in the stream by then (the relay marks
  a row only after the broker acknowledged it), so consumers read it from there; the outbox only
  keeps it a while longer for an operator's look.
- inbox: a row older than `inbox_s`. The inbox catches a message delivered again: a redelivery
  after a lost ack comes within the ack wait, and a row the relay published twice (it died
  between publishing and marking) is dropped by the stream's duplicate window (bus.DEDUPE_WINDOW_S)
  unless the second publish came later than that. `inbox_s` must outlast both, by a wide margin:
  the default keeps a day, and less than the duplicate window plus `INBOX_MARGIN_S` is refused.
- idempotency keys: a key older than `idempotency_s` (24 h by default, as Stripe keeps them); a
  client retrying with the same key after that makes a new request.

Rows go in batches of `batch` per transaction, oldest first (each table has an index on its
time column, migration `retention indexes` of each service), so no delete holds a table long.
Every instance prunes on its own pace; deleting what another instance just deleted is a no-op,
so nothing needs a lease. The row times are written by each process's clock: ages of hours do
not care about a clock a few seconds off.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import sqlalchemy as sa
import structlog

from flashsale.kit.bus import DEDUPE_WINDOW_S
from flashsale.kit.clock import Clock
from flashsale.kit.db import Database
from flashsale.kit.errors import DatabaseUnavailable
from flashsale.kit.schema import idempotency_keys, inbox, outbox
from flashsale.kit.telemetry import metrics
from flashsale.kit.waiting import wait_set

log = structlog.get_logger(__name__)

DAY_S = 86_400.0
INBOX_MARGIN_S = 600.0  # beyond the broker's duplicate window, for a relay slow to mark its rows


@dataclass(frozen=True)
class RetentionPolicy:
    outbox_s: float = DAY_S
    inbox_s: float = DAY_S
    idempotency_s: float = DAY_S
    interval_s: float = 60.0  # between two prunings of one process
    batch: int = 1000

    def __post_init__(self) -> None:
        shortest = DEDUPE_WINDOW_S + INBOX_MARGIN_S
        if self.inbox_s < shortest:
            raise ValueError(
                f"inbox retention {self.inbox_s:g} s would forget messages the broker may still deliver "
                f"again: keep at least {shortest:g} s (its duplicate window plus a margin)"
            )
        if min(self.outbox_s, self.idempotency_s, self.interval_s) <= 0 or self.batch < 1:
            raise ValueError("retention periods, the interval and the batch must be positive")


# What is kept, per table: the table, its time column, and the policy's period for it.
_KEPT = (
    ("outbox", outbox, outbox.c.published_at_ms, "outbox_s"),
    ("inbox", inbox, inbox.c.processed_at_ms, "inbox_s"),
    ("idempotency_keys", idempotency_keys, idempotency_keys.c.created_at_ms, "idempotency_s"),
)


async def prune(db: Database, policy: RetentionPolicy, now_ms: int) -> dict[str, int]:
    """Delete whatever each table keeps no longer; the rows deleted, per table."""
    deleted: dict[str, int] = {}
    for name, table, stamp, period in _KEPT:
        cut_ms = now_ms - int(getattr(policy, period) * 1000)
        deleted[name] = await _prune_table(db, table, stamp, cut_ms, policy.batch)
        if deleted[name]:
            metrics.retention_deleted.labels(name).inc(deleted[name])
    return deleted


async def _prune_table(db: Database, table: sa.Table, stamp: sa.Column[int], cut_ms: int, batch: int) -> int:
    total = 0
    keys = list(table.primary_key.columns)
    while True:
        oldest = sa.select(*keys).where(stamp < cut_ms).order_by(stamp).limit(batch)
        async with db.transaction() as conn:
            result = await conn.execute(sa.delete(table).where(sa.tuple_(*keys).in_(oldest)))
        total += int(result.rowcount or 0)
        if (result.rowcount or 0) < batch:
            return total


async def run_retention(db: Database, policy: RetentionPolicy, clock: Clock, stop: asyncio.Event) -> None:
    """Prune every `interval_s` until `stop`; a database that is down is tried again next time."""
    while not stop.is_set():
        try:
            deleted = await prune(db, policy, clock.now_ms())
            if any(deleted.values()):
                log.info("retention_pruned", **deleted)
        except DatabaseUnavailable as exc:
            log.warning("retention_skipped", error=str(exc))
        except Exception as exc:  # noqa: BLE001 - one failed round (a lock cycle with a neighbour) is not the last
            log.error("retention_failed", error=repr(exc))
        await wait_set(stop, policy.interval_s)
