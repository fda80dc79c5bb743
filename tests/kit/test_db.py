"""The per-service database helpers against real SQLite and PostgreSQL."""

from __future__ import annotations

import time

import pytest

from flashsale.kit.db import Database

pytestmark = pytest.mark.service


async def test_the_database_clock_reads_epoch_milliseconds(kit_db: Database) -> None:
    before = time.time_ns() // 1_000_000
    now = await kit_db.now_ms()
    after = time.time_ns() // 1_000_000

    assert before - 5 <= now <= after + 5  # same machine: the same clock, to the millisecond
