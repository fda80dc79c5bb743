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
from flashsale.kit.idempotency import Answer, IdempotencyStore, KeyClaim, KeyTicket, answer_txn, request_hash
from flashsale.kit.inbox import record_txn
from flashsale.kit.problems import Problem, idempotency_problem
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


async def test_a_refusal_known_before_the_work_is_stored_with_a_new_key_and_the_work_never_runs(
    kit_db: Database,
) -> None:
    """`known` (a sold-out refusal on the gateway's word): a new key is stored answered as it is
    taken, alone or in a crowd of claims; a key seen before goes the usual way: its first answer
    again, or the work when its request died."""
    clock = ManualClock()
    store = IdempotencyStore(kit_db, clock, lock_s=5)
    sold_out = Problem(409, "out_of_stock", "Out of stock", "PS5 is sold out")
    runs: list[str] = []

    def work(answer: Answer) -> Callable[[KeyClaim], Awaitable[Answer]]:
        async def run(claim: KeyClaim) -> Answer:
            runs.append(claim.key)
            return answer
        return run

    alone, crowd, granted = _key(), [_key() for _ in range(20)], _key()
    await store.run("create-order", granted, BODY, _answer(201))  # answered before the product sold out
    first = await store.run_keyed("create-order", alone, BODY, work(Answer(500, {})), known=sold_out)
    together = await asyncio.gather(*(store.run_keyed("create-order", key, BODY, work(Answer(500, {})), known=sold_out)
                                      for key in [*crowd, granted]))

    refusal = Answer(409, sold_out.body())
    assert first == refusal and together[:-1] == [refusal] * len(crowd)
    assert (together[-1].status, together[-1].replayed) == (201, True)  # a key's first answer stands
    assert runs == []
    again = await store.run_keyed("create-order", alone, BODY, work(Answer(201, {})), known=None)
    assert (again, again.replayed) == (refusal, True)
    with pytest.raises(KeyReused):
        await store.run_keyed("create-order", alone, b'{"customerId": "c-2"}', work(Answer(201, {})), known=sold_out)

    dead = _key()  # a request that took this key and died before answering
    async with kit_db.transaction() as conn:
        await conn.execute(sa.insert(idempotency_keys).values(
            scope="create-order", key=dead, request_hash=request_hash(BODY), state="in_progress",
            locked_until_ms=clock.now_ms() - 1000, created_at_ms=clock.now_ms() - 61_000))
    taken_over = await store.run_keyed("create-order", dead, BODY, work(refusal), known=sold_out)
    assert (taken_over, runs) == (refusal, [dead])


async def test_a_key_taken_in_the_works_own_transaction_commits_with_its_effect_and_answers_again(
    kit_db: Database,
) -> None:
    """`run_taking`: the work takes its key first thing in its own transaction (a pay's lease): the
    key's first answer again, with the work not run; a failed work leaves the key free to retry,
    whether it failed after its transaction committed or inside it."""
    store, key, runs = IdempotencyStore(kit_db, ManualClock()), _key(), []

    def work(effect: str, *, fail: str | None = None) -> Callable[[KeyTicket], Awaitable[Answer]]:
        async def run(ticket: KeyTicket) -> Answer:
            async with kit_db.transaction() as conn:
                await ticket.take_txn(conn)
                runs.append(effect)
                await record_txn(conn, "effects", effect, 0)
                if fail == "inside":
                    raise RuntimeError("the transaction fails")
            if fail == "after":
                raise RuntimeError("the work fails after its commit")
            return Answer(201, {"effect": effect})
        return run

    first = await store.run_taking("pay", key, BODY, work("e-1"))
    again = await store.run_taking("pay", key, BODY, work("e-2"))
    assert (first, again, again.replayed, runs) == (Answer(201, {"effect": "e-1"}), first, True, ["e-1"])
    with pytest.raises(KeyReused):
        await store.run_taking("pay", key, b'{"customerId": "c-2"}', work("e-3"))

    for fail in ("after", "inside"):
        failing = _key()
        with pytest.raises(RuntimeError):
            await store.run_taking("pay", failing, BODY, work(f"{fail}-1", fail=fail))
        assert await store.run_taking("pay", failing, BODY, work(f"{fail}-2")) == Answer(201, {"effect": f"{fail}-2"})
    async with kit_db.read() as conn:
        effects = set(await conn.scalars(sa.select(inbox.c.message_id).where(inbox.c.consumer == "effects")))
    assert {"e-1", "after-1", "after-2", "inside-2"} <= effects and not {"e-2", "e-3", "inside-1"} & effects


async def test_a_key_to_take_held_by_a_running_request_is_in_progress_and_the_work_changes_nothing(
    kit_db: Database,
) -> None:
    store, key = IdempotencyStore(kit_db, ManualClock()), _key()
    running, finish = asyncio.Event(), asyncio.Event()
    effects: list[str] = []

    async def slow(claim: KeyClaim) -> Answer:
        running.set()
        await finish.wait()
        return Answer(200, {})

    async def taking(ticket: KeyTicket) -> Answer:
        async with kit_db.transaction() as conn:
            await ticket.take_txn(conn)
            effects.append("charged")
        return Answer(200, {})

    first = asyncio.create_task(store.run_keyed("pay", key, BODY, slow))
    await running.wait()
    with pytest.raises(KeyInProgress):
        await store.run_taking("pay", key, BODY, taking)
    finish.set()
    await first
    assert effects == []
