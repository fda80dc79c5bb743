"""The Idempotency-Key store against real SQLite and PostgreSQL: a key runs its work once, and a key
whose request died is taken over by exactly one of the requests that find it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable

import pytest
import sqlalchemy as sa

from flashsale.kit.clock import ManualClock
from flashsale.kit.db import Database
from flashsale.kit.errors import IdempotencyError, KeyInProgress, KeyReused
from flashsale.kit.idempotency import Answer, IdempotencyStore, KeyClaim, answer_txn, request_hash
from flashsale.kit.inbox import record_txn
from flashsale.kit.problems import idempotency_problem
from flashsale.kit.schema import idempotency_keys, inbox

pytestmark = pytest.mark.service

BODY = b'{"customerId": "c-1"}'


def _key() -> str:
    return f"key-{uuid.uuid4().hex[:10]}"


async def test_a_key_runs_its_work_once_and_answers_the_same_again(kit_db: Database) -> None:
    store, key, runs = IdempotencyStore(kit_db, ManualClock()), _key(), []

    async def work() -> Answer:
        runs.append(1)
        return Answer(201, {"orderId": f"o-{len(runs)}"})

    first = await store.run("create-order", key, BODY, work)
    again = await store.run("create-order", key, b'{"customerId":"c-1"}', work)  # same meaning, other spacing

    assert (first, again) == (Answer(201, {"orderId": "o-1"}), Answer(201, {"orderId": "o-1"}))
    assert runs == [1]
    with pytest.raises(KeyReused) as reused:
        await store.run("create-order", key, b'{"customerId": "c-2"}', work)
    assert idempotency_problem(reused.value).code == "idempotency_key_reused"


async def test_a_dead_requests_key_is_taken_over_by_exactly_one_of_two_requests(kit_db: Database) -> None:
    clock, key = ManualClock(), _key()
    # A request that took the key and died: its lock ran out a second ago, no answer stored.
    async with kit_db.transaction() as conn:
        await conn.execute(sa.insert(idempotency_keys).values(
            scope="create-order", key=key, request_hash=request_hash(BODY), state="in_progress",
            locked_until_ms=clock.now_ms() - 1000, created_at_ms=clock.now_ms() - 61_000,
        ))
    runs: list[int] = []
    both_asked = asyncio.Event()

    async def work() -> Answer:
        runs.append(1)
        await asyncio.wait_for(both_asked.wait(), timeout=10)  # the other request's claim is decided meanwhile
        return Answer(201, {"orderId": "o-1"})

    async def request() -> Answer | IdempotencyError:
        try:
            return await IdempotencyStore(kit_db, clock).run("create-order", key, BODY, work)
        except IdempotencyError as refused:
            return refused
        finally:
            answered.append(1)
            if len(answered) == 1:
                both_asked.set()

    answered: list[int] = []
    outcomes = await asyncio.gather(request(), request())

    assert runs == [1]
    assert sorted(type(o).__name__ for o in outcomes) == ["Answer", "KeyInProgress"]
    refused = idempotency_problem(next(o for o in outcomes if isinstance(o, KeyInProgress)))
    assert (refused.status, refused.code) == (409, "request_in_progress")


async def test_concurrent_keys_are_claimed_together_and_one_keys_problem_is_its_own(kit_db: Database) -> None:
    """A crowd of keyed requests on one store: claims and answers are committed in batches, each
    key still runs once, and a key reused with another body is refused alone."""
    store = IdempotencyStore(kit_db, ManualClock())
    reused = _key()
    await store.run("create-order", reused, BODY, _answer(200))
    keys = [_key() for _ in range(40)]
    runs: list[str] = []

    async def request(key: str, body: bytes) -> Answer | IdempotencyError:
        async def work() -> Answer:
            runs.append(key)
            await asyncio.sleep(0)
            return Answer(201, {"key": key})

        try:
            return await store.run("create-order", key, body, work)
        except IdempotencyError as refused:
            return refused

    outcomes = await asyncio.gather(*(request(k, BODY) for k in keys), request(reused, b'{"customerId": "c-9"}'))
    again = await asyncio.gather(*(request(k, BODY) for k in keys))

    assert sorted(runs) == sorted(keys)  # every new key ran once, the reused one not at all
    assert outcomes[:-1] == [Answer(201, {"key": k}) for k in keys] == again  # stored, and answered again
    refused = outcomes[-1]
    assert isinstance(refused, KeyReused)


def _answer(status: int) -> Callable[[], Awaitable[Answer]]:
    async def work() -> Answer:
        return Answer(status, {})

    return work


async def test_a_request_paused_past_its_lock_does_not_overwrite_the_answer_of_the_one_that_took_over(
    kit_db: Database,
) -> None:
    clock, key = ManualClock(), _key()
    store = IdempotencyStore(kit_db, clock, lock_s=5)
    paused, woken = asyncio.Event(), asyncio.Event()

    async def stalled_work() -> Answer:
        paused.set()
        await woken.wait()  # stopped mid-request (SIGSTOP, a VM stall) until the test wakes it
        return Answer(201, {"orderId": "o-stale"})

    async def work() -> Answer:
        return Answer(201, {"orderId": "o-taken-over"})

    stale = asyncio.create_task(store.run("create-order", key, BODY, stalled_work))
    await paused.wait()
    clock.advance(6)  # its lock ran out: the client's retry takes the key over and is answered
    taken_over = await store.run("create-order", key, BODY, work)
    woken.set()
    await stale

    assert taken_over == Answer(201, {"orderId": "o-taken-over"})
    assert await store.run("create-order", key, BODY, work) == taken_over  # what the client was told


async def test_a_request_paused_past_its_lock_commits_no_effect_when_it_answers_in_its_own_transaction(
    kit_db: Database,
) -> None:
    """The stale request stores its answer in the transaction of its effect (answer_txn): that
    transaction finds the key taken over and rolls back, so no effect exists that nobody was told
    about (a second order for one click), and the stale request answers "in progress"."""
    clock, key = ManualClock(), _key()
    store = IdempotencyStore(kit_db, clock, lock_s=5)
    paused, woken = asyncio.Event(), asyncio.Event()

    async def effect_and_answer(claim: KeyClaim, order_id: str) -> Answer:
        async with kit_db.transaction() as conn:
            await record_txn(conn, "effects", order_id, clock.now_ms())  # the effect: a row of its own
            return await answer_txn(conn, claim, Answer(201, {"orderId": order_id}))

    async def stalled_work(claim: KeyClaim) -> Answer:
        paused.set()
        await woken.wait()
        return await effect_and_answer(claim, "o-stale")

    async def work(claim: KeyClaim) -> Answer:
        return await effect_and_answer(claim, "o-taken-over")

    stale = asyncio.create_task(store.run_keyed("create-order", key, BODY, stalled_work))
    await paused.wait()
    clock.advance(6)
    taken_over = await store.run_keyed("create-order", key, BODY, work)
    woken.set()
    late = await stale

    assert taken_over == Answer(201, {"orderId": "o-taken-over"})
    assert (late.status, late.body["code"]) == (409, "request_in_progress")  # type: ignore[index]
    async with kit_db.read() as conn:
        effects = set(await conn.scalars(sa.select(inbox.c.message_id).where(inbox.c.consumer == "effects")))
    assert effects == {"o-taken-over"}
    assert await store.run("create-order", key, BODY, _answer(500)) == taken_over  # what the client was told
