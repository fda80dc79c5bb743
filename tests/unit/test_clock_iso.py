"""`iso_from_ms` (kit/clock.py) formats with a cache of the last second: the text must stay what
`datetime.isoformat` gives, across second boundaries, before 1970 and in any order of calls."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from flashsale.kit.clock import iso_from_ms, ms_from_iso


def _reference(ms: int) -> str:
    return datetime.fromtimestamp(ms // 1000, tz=UTC).replace(microsecond=ms % 1000 * 1000).isoformat(
        timespec="milliseconds").replace("+00:00", "Z")


def test_same_text_as_isoformat_in_any_order() -> None:
    rng = random.Random(7)
    edges = [0, 1, 999, 1000, 1001, -1, -999, -1000, -1001, 1_700_000_000_000, 1_700_000_000_999]
    runs = [1_764_000_000_000 + i for i in range(0, 3000, 7)]  # consecutive: the cache is hit
    scattered = [rng.randint(-10**12, 4 * 10**12) for _ in range(5000)]
    for ms in [*edges, *runs, *scattered, *reversed(runs)]:
        assert iso_from_ms(ms) == _reference(ms), ms


def test_round_trips_through_ms_from_iso() -> None:
    for ms in (0, 1_764_000_000_123, 1_764_000_001_000, -5):
        assert ms_from_iso(iso_from_ms(ms)) == ms
