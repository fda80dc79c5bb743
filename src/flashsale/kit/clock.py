"""Injected time: everything that expires, retries or sweeps asks a Clock, so tests can move it."""

from __future__ import annotations

import functools
import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now_ms(self) -> int: ...


class SystemClock:
    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000


class ManualClock:
    """A clock a test moves by hand."""

    def __init__(self, start_ms: int = 1_700_000_000_000) -> None:
        self._now = start_ms

    def now_ms(self) -> int:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += int(seconds * 1000)


@functools.lru_cache(maxsize=64)
def _second_text(second: int) -> str:
    """"YYYY-MM-DDTHH:MM:SS" of an epoch second. Every hold formats two timestamps (its event's
    time and its expiry, a TTL later) and each mostly falls in a second already seen; a cache of
    one entry missed every time, as the two alternate."""
    return datetime.fromtimestamp(second, tz=UTC).isoformat()[:-6]


def iso_from_ms(ms: int) -> str:
    """Epoch milliseconds as an RFC 3339 UTC timestamp (what the APIs and events carry), e.g.
    2026-11-22T06:02:00.123Z: the same text as `datetime.isoformat(timespec="milliseconds")`."""
    second, millis = divmod(ms, 1000)
    return f"{_second_text(second)}.{millis:03d}Z"


def ms_from_iso(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)
