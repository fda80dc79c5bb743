"""Group commit for a store's short, independent write transactions.

`GroupedWrites.run(work)` runs `work(uow)` in a unit of work with whatever other works of this
process arrived while the previous group committed (kit.coalescer), in arrival order, and answers
once that transaction has committed. Alone, a work runs as it would on its own: in a unit of work,
or (`one_statement=True`) as a single statement committed on its own (PostgreSQL: one round trip).

Why: on SQLite every write transaction queues for the file's one write lock, and a burst of them
(the captures of a sale's orders, arriving together as their deductions do) waited for each other
one commit at a time: three commits per capture, each ~100-180 ms by the clock in a sale of 2,000
buyers. A group takes the lock once for all of them. On PostgreSQL a group is one BEGIN and one
COMMIT for several works.

The works of a group must not depend on each other's outcome: they share a transaction, so one
that fails would take the others with it. When a group fails, each of its works runs again alone,
in a transaction of its own, and answers for itself (its value, or its own exception): a work that
fails (a rule refused, a deadlock between two processes' groups on PostgreSQL) fails alone, and
the others commit as if they had never been grouped. A work may therefore run twice: the first
time rolled back whole.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from flashsale.kit.coalescer import Coalescer
from flashsale.kit.db import Database
from flashsale.kit.unit_of_work import UnitOfWork

T = TypeVar("T")
Work = Callable[[UnitOfWork], Awaitable[T]]
MAX_GROUP = 64


@dataclass(frozen=True)
class _Submitted:
    work: Work[Any]
    one_statement: bool


class GroupedWrites:
    """One group of writes in flight at a time for `db`; see the module docstring."""

    def __init__(self, db: Database, *, max_group: int = MAX_GROUP) -> None:
        self.db = db
        self._groups: Coalescer[None, _Submitted, Any] = Coalescer(self._commit_group, max_batch=max_group)

    async def run(self, work: Work[T], *, one_statement: bool = False) -> T:
        """What `work` answered, once the transaction it ran in has committed. `one_statement`:
        the work is a single statement (alone, it commits on its own)."""
        return cast(T, await self._groups.submit(None, _Submitted(work, one_statement)))

    async def _commit_group(self, _: None, group: list[_Submitted]) -> Sequence[Any]:
        if len(group) == 1:
            return [await self._alone(group[0])]
        try:
            async with self.db.unit_of_work() as uow:
                return [await submitted.work(uow) for submitted in group]
        except Exception:  # noqa: BLE001 - the group rolled back whole: each work again, on its own
            return [await self._alone(submitted) for submitted in group]

    async def _alone(self, submitted: _Submitted) -> Any:
        try:
            if submitted.one_statement:
                async with self.db.single_statement() as uow:
                    return await submitted.work(uow)
            async with self.db.unit_of_work() as uow:
                return await submitted.work(uow)
        except Exception as exc:  # noqa: BLE001 - this work's own failure, answered to its caller alone
            return exc
