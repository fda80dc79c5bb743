"""The inbox records each applied event's propagation latency, and warns about slow ones once."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from prometheus_client import REGISTRY

from flashsale.kit import propagation
from flashsale.kit.clock import SystemClock
from flashsale.kit.db import Database
from flashsale.kit.envelope import Envelope
from flashsale.kit.inbox import apply_once
from flashsale.kit.unit_of_work import UnitOfWork
from support.logs import captured_logs

pytestmark = pytest.mark.service


@pytest.fixture
def warn_after_1s() -> Iterator[None]:
    before = propagation.watch.warn_ms
    propagation.watch.configure(1000)
    yield
    propagation.watch.configure(before)


async def _nothing(uow: UnitOfWork, envelope: Envelope) -> bool:
    return True  # nothing done, and said so: apply_once answers None only for a message seen before


def _happened(seconds_ago: float, event_type: str) -> Envelope:
    now = SystemClock().now_ms()
    return Envelope.new(source="orders", type=event_type, subject="o-1", data={}, now_ms=now - int(seconds_ago * 1000))


def _observed(consumer: str, event_type: str) -> float:
    labels = {"consumer": consumer, "type": event_type}
    return REGISTRY.get_sample_value("event_propagation_seconds_count", labels) or 0.0


async def test_a_slow_event_is_measured_and_warned_about_and_a_replay_is_neither(
    kit_db: Database, warn_after_1s: None
) -> None:
    consumer, event_type = f"test-{uuid.uuid4().hex[:8]}", "OrderConfirmed"
    late = _happened(3.0, event_type)

    with captured_logs(propagation) as logs:
        assert await apply_once(kit_db, consumer, late, _nothing, SystemClock())
        assert not await apply_once(kit_db, consumer, late, _nothing, SystemClock())  # a redelivery

    assert _observed(consumer, event_type) == 1
    assert REGISTRY.get_sample_value("event_propagation_seconds_bucket",
                                     {"consumer": consumer, "type": event_type, "le": "2.5"}) == 0
    [warning] = [entry for entry in logs if entry["event"] == "slow_propagation"]
    assert (warning["consumer"], warning["type"], warning["event_id"]) == (consumer, event_type, late.id)
    assert warning["log_level"] == "warning"
    assert 3.0 <= warning["seconds"] < 30


async def test_an_event_within_the_threshold_is_measured_quietly(kit_db: Database, warn_after_1s: None) -> None:
    consumer = f"test-{uuid.uuid4().hex[:8]}"

    with captured_logs(propagation) as logs:
        assert await apply_once(kit_db, consumer, _happened(0.0, "OrderCancelled"), _nothing, SystemClock())

    assert _observed(consumer, "OrderCancelled") == 1
    assert not [entry for entry in logs if entry["event"] == "slow_propagation"]
