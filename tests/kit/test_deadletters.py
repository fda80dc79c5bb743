"""A message that keeps failing goes to the dead-letter stream, the others keep flowing, and an
operator can list it and replay it once the cause is fixed."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from flashsale.kit.bus import Bus, Subscription
from flashsale.kit.clock import SystemClock
from flashsale.kit.deadletters import DeadLetter, list_dead_letters
from flashsale.kit.envelope import Envelope, nats_subject
from flashsale.kit.errors import DatabaseUnavailable
from kit.bus_support import unacked

pytestmark = pytest.mark.service


def _event(producer: str, name: str) -> Envelope:
    return Envelope.new(source=producer, type="ThingHappened", subject=name, data={"name": name},
                        now_ms=SystemClock().now_ms())


async def _until(probe, timeout_s: float = 20.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = await probe()
        if found:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError("deadline passed")


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "flashsale.cli", "dlq", *args], capture_output=True, text=True,
                          timeout=60)


async def test_a_failing_message_is_dead_lettered_while_others_flow_and_replays_once_fixed(
    bus: Bus, nats_url: str, tmp_path: Path
) -> None:
    producer, consumer = f"p{uuid.uuid4().hex[:8]}", f"c{uuid.uuid4().hex[:8]}"
    handled: list[str] = []
    broken = {"poison"}

    async def handler(envelope: Envelope) -> None:
        if envelope.data["name"] in broken:
            raise ValueError("cannot handle this one yet")
        handled.append(envelope.data["name"])

    stop = asyncio.Event()
    subscription = Subscription(consumer, producer, ["ThingHappened"], handler, max_deliver=3)
    task = asyncio.create_task(bus.run_subscription(subscription, stop))
    try:
        events = [_event(producer, n) for n in ("first", "poison", "last")]
        await bus.publish_batch(producer, [(nats_subject(producer, e.type), e.id, e.to_bytes()) for e in events])

        async def dead_lettered() -> list[DeadLetter]:
            return [d for d in await list_dead_letters(nats_url) if d.consumer == consumer]

        [letter] = await _until(dead_lettered)
        assert handled == ["first", "last"]  # the poison did not hold the others back
        assert (letter.event_id, letter.subject) == (events[1].id, f"{producer}.ThingHappened")
        assert "cannot handle this one yet" in letter.error

        services_json = tmp_path / "services.json"
        services_json.write_text(json.dumps({"broker": nats_url, "adminToken": "x", "services": {}}))
        listed = await asyncio.to_thread(_cli, "list", "--services", str(services_json))
        assert listed.returncode == 0 and str(letter.id) in listed.stdout and consumer in listed.stdout

        broken.clear()  # the cause is fixed
        replayed = await asyncio.to_thread(_cli, "replay", str(letter.id), "--services", str(services_json))
        assert replayed.returncode == 0, replayed.stderr

        await _until(lambda: asyncio.sleep(0, result="poison" in handled))
        assert handled == ["first", "last", "poison"]
        assert await dead_lettered() == []
        missing = await asyncio.to_thread(_cli, "replay", str(letter.id), "--services", str(services_json))
        assert missing.returncode == 1 and "no dead letter" in missing.stderr
    finally:
        stop.set()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_an_outage_of_the_consumers_database_spends_none_of_a_messages_attempts(bus: Bus, nats_url: str) -> None:
    """A database restart outlasting every retry of a message must not send it to the dead letters:
    it is not the message's fault. (The fault suite restarts a real PostgreSQL mid-sale; this is
    the rule on its own.)"""
    producer, consumer = f"p{uuid.uuid4().hex[:8]}", f"c{uuid.uuid4().hex[:8]}"
    tries: list[str] = []

    async def handler(envelope: Envelope) -> None:
        tries.append(envelope.data["name"])
        if len(tries) <= 6:  # twice max_deliver: the database is still restarting
            raise DatabaseUnavailable("postgresql: connection refused")

    stop = asyncio.Event()
    subscription = Subscription(consumer, producer, ["ThingHappened"], handler, max_deliver=3)
    task = asyncio.create_task(bus.run_subscription(subscription, stop))
    try:
        event = _event(producer, "confirmed")
        await bus.publish_batch(producer, [(nats_subject(producer, event.type), event.id, event.to_bytes())])
        await _until(lambda: asyncio.sleep(0, result=len(tries) == 7))
        assert [d for d in await list_dead_letters(nats_url) if d.consumer == consumer] == []
        assert await unacked(nats_url, producer, consumer) == 0
    finally:
        stop.set()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
