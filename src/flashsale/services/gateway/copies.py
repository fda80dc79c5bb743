"""Parts of composed reads kept for a moment, so that a crowd's polls do not each ask again.

Every poll of an order through the gateway is a composed read (compose.py): the order, and beside
it the customer's profile and the products' views, and for a customer who has just bought, the
stock level read from the inventory. During a sale thousands of buyers poll their orders several
times a second, and nearly all of them ask about the same hot product: measured through the
gateway (`python -m bench.checkout`), those reads made the buyer's path cost the house ~30 % more
CPU per checkout than the same checkout straight at the order service.

So the gateway keeps what it fetched for `ttl_ms` and answers the next reads with it:
- a product's view from the catalog (itself a read model, whose `availability.asOf` still says how
  old its figure is);
- a customer's profile (forgotten when the customer changes it through this gateway);
- a stock level read from the inventory for a customer's own recent write (freshness.py): usable
  for a customer only if it was asked for after that customer's write, so read-your-writes holds
  exactly as without the copy.
The order itself is never kept: its status is what the buyer polls for.

What is kept is only ever a little older than a fresh read: at most `ttl_ms` (0 keeps nothing).
Bounded to `max_entries`, least recently stored dropped first. Pure: no I/O, no clock (callers
pass the time, epoch ms).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Generic, TypeVar

V = TypeVar("V")

MAX_ENTRIES = 100_000
_OUTDATED: Any = object()  # kept in place of a value: anything asked for before it is out of date


class Copies(Generic[V]):
    """Values by key, each with the moment it was asked for (`asked_at`, epoch ms)."""

    def __init__(self, ttl_ms: int, *, max_entries: int = MAX_ENTRIES) -> None:
        self.ttl_ms = ttl_ms
        self.max_entries = max_entries
        self._kept: OrderedDict[str, tuple[int, V]] = OrderedDict()

    def get(self, key: str, now: int, *, asked_since: int | None = None) -> V | None:
        """The copy of `key` asked for less than `ttl_ms` before `now` (and, with `asked_since`, no
        earlier than that), or None."""
        found = self._kept.get(key)
        if found is None:
            return None
        asked_at, value = found
        if value is _OUTDATED or now - asked_at >= self.ttl_ms or (asked_since is not None and asked_at < asked_since):
            return None
        return value

    def put(self, key: str, value: V, asked_at: int) -> None:
        """Keep `value`, asked for at `asked_at` (before the answer came: a write that landed while
        it was on its way may be missing from it)."""
        if self.ttl_ms <= 0:
            return
        kept = self._kept.get(key)
        if kept is not None and kept[0] > asked_at:
            return  # a newer answer is kept already
        self._kept.pop(key, None)
        self._kept[key] = (asked_at, value)
        while len(self._kept) > self.max_entries:
            self._kept.popitem(last=False)

    def outdate(self, key: str, now: int) -> None:
        """What was asked for `key` before `now` is out of date: the copy is dropped, and an answer
        asked for before `now` that arrives later is not kept either (it may not show the change)."""
        self.put(key, _OUTDATED, now)

    def clear(self) -> None:
        self._kept.clear()

    def __len__(self) -> int:
        return len(self._kept)
