"""Catalog rules, free of I/O: what a product change means, and what stock a product page shows.

Products. A product is created or replaced whole (PUT) or changed in part (PATCH). Each change
that alters something bumps its `version` (1 on creation); a write that changes nothing is not a
change (no new version, no event), so repeating a PUT is harmless. An optional sale window is
open at either end, but when both ends are given the end comes after the start.

Availability (a read model of the inventory's stock, never the source of truth). Inventory
events move it two ways:
- absolute: StockReceived and StockAdjusted carry the product's resulting `available`, which
  replaces whatever the catalog had;
- deltas: a hold (StockReserved) takes units, its release, expiry or revocation gives them back
  (a revoked sale's units return to available too: the write-off that follows, a StockAdjusted,
  then sets the level absolutely). A confirmation moves nothing that was available.
A delta needs a base: one for a product the catalog has never seen a level of is skipped (the
level stays unknown until an absolute event or reconciliation gives one).

Deltas drift. An event the catalog never saw, or one the inventory moves stock by without a
delta event (a late-paid order retaken from available after its hold expired), leaves the level
off until the next absolute event. A reconciliation job compares it with the inventory and
repairs it; until then the level is clamped at 0, never shown negative, and each clamp is counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

IN_STOCK = "in_stock"
LOW = "low"
SOLD_OUT = "sold_out"
UNKNOWN = "unknown"
DEFAULT_LOW_THRESHOLD = 5


@dataclass(frozen=True)
class Details:
    """What an admin says about a product; times are epoch milliseconds."""

    name: str
    price_cents: int
    description: str
    image_url: str | None
    sale_starts_ms: int | None
    sale_ends_ms: int | None


def window_is_valid(starts_ms: int | None, ends_ms: int | None) -> bool:
    """An open end is fine; with both ends the sale must last some time."""
    return starts_ms is None or ends_ms is None or ends_ms > starts_ms


def next_version(current: int | None, before: Details | None, after: Details) -> int | None:
    """The version a write gives the product; None when it changes nothing (no new version)."""
    if current is None or before is None:
        return 1
    return None if before == after else current + 1


@dataclass(frozen=True)
class SetTo:
    """The inventory said how many are available now."""

    available: int


@dataclass(frozen=True)
class Move:
    """Units taken (negative) or given back (positive) since the last level."""

    delta: int


Change = SetTo | Move


@dataclass(frozen=True)
class Level:
    """A product's available units after an event; `clamped` when a delta would have gone below 0."""

    available: int
    clamped: bool = False


def level_after(current: int | None, change: Change) -> Level | None:
    """The level an event leaves; None when a delta has no level to start from (skip it)."""
    if isinstance(change, SetTo):
        return Level(max(0, change.available), clamped=change.available < 0)
    if current is None:
        return None
    moved = current + change.delta
    return Level(max(0, moved), clamped=moved < 0)


def status(available: int | None, low_threshold: int = DEFAULT_LOW_THRESHOLD) -> str:
    if available is None:
        return UNKNOWN
    if available <= 0:
        return SOLD_OUT
    return LOW if available <= low_threshold else IN_STOCK


# -- reconciliation (catalog/reconcile.py decides when a comparison can be trusted) -----------


class Verdict(Enum):
    CONSISTENT = "consistent"  # the level already is the inventory's
    REPAIR = "repair"  # drift: the level is not what the events it has seen add up to
    MOVED = "moved"  # an event changed the level since it was read: judge it next round


def verdict(seen_event_id: str | None, current_event_id: str | None, current: int | None, source: int) -> Verdict:
    """What to do with a level the inventory says should be `source`. `seen_event_id` is the last
    event the level had applied when it was read before the inventory's snapshot (None: no level
    yet); `current_*` is the level now, in the repairing transaction."""
    if current_event_id != seen_event_id:
        return Verdict.MOVED
    return Verdict.CONSISTENT if current == source else Verdict.REPAIR
