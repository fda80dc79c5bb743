"""Injected time: everything that expires, retries or sweeps asks a Clock, so tests can move it."""

from __future__ import annotations

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


# The last second formatted, as (epoch second, "YYYY-MM-DDTHH:MM:SS"): every hold formats two
# timestamps (its expiry, its event's time) and they mostly fall in a second already seen.
_last_second: tuple[int, str] = (0, "1970-01-01T00:00:00")


def iso_from_ms(ms: int) -> str:
    """Epoch milliseconds as an RFC 3339 UTC timestamp (what the APIs and events carry), e.g.
    2026-11-22T06:02:00.123Z: the same text as `datetime.isoformat(timespec="milliseconds")`."""
    global _last_second
    second, millis = divmod(ms, 1000)
    cached = _last_second
    if cached[0] != second:
        cached = _last_second = (second, datetime.fromtimestamp(second, tz=UTC).isoformat()[:-6])
    return f"{cached[1]}.{millis:03d}Z"


def ms_from_iso(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)
