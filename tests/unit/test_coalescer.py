"""The group-commit batching of `kit.coalescer`, with batches that only record what they were
given (the SQL behind it is tested in tests/service/test_inventory_coalesced_interleavings.py),
and `domain.grant_in_turn`, the rule a batch of holds is granted by."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flashsale.kit.coalescer import Coalescer
from flashsale.services.inventory.domain import Fulfilment, grant_in_turn

pytestmark = pytest.mark.unit


class Recorder:
    """A batch runner that answers each request with (request, batch number) once `release` is set."""

    def __init__(self) -> None:
        self.batches: list[tuple[str, list[int]]] = []
        self.release = asyncio.Event()
        self.release.set()

    async def __call__(self, key: str, requests: list[int]) -> Sequence[tuple[int, int] | Exception]:
        self.batches.append((key, list(requests)))
        number = len(self.batches)
        await self.release.wait()
        return [ValueError(f"odd {r}") if r < 0 else (r, number) for r in requests]


async def turns(n: int = 5) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


async def test_a_request_alone_is_run_at_once_in_a_batch_of_its_own() -> None:
    run = Recorder()
    coalescer = Coalescer(run, max_batch=64)
    assert await coalescer.submit("P", 7) == (7, 1)
    assert run.batches == [("P", [7])]


async def test_requests_arriving_while_a_batch_runs_form_the_next_batch_in_arrival_order() -> None:
    run = Recorder()
    run.release.clear()
    coalescer = Coalescer(run, max_batch=64)
    first = asyncio.create_task(coalescer.submit("P", 0))
    await turns()
    assert run.batches == [("P", [0])]  # in flight, holding the lane
    later = [asyncio.create_task(coalescer.submit("P", n)) for n in range(1, 6)]
    await turns()
    assert coalescer.waiting("P") == 5
    run.release.set()
    assert await first == (0, 1)
    assert [await task for task in later] == [(n, 2) for n in range(1, 6)]
    assert run.batches == [("P", [0]), ("P", [1, 2, 3, 4, 5])]


async def test_batches_are_bounded_and_every_request_gets_its_own_answer_once() -> None:
    run = Recorder()
    coalescer = Coalescer(run, max_batch=4)
    answers = await asyncio.gather(*(coalescer.submit("P", n) for n in range(10)))
    assert [request for request, _ in answers] == list(range(10))
    assert all(len(requests) <= 4 for _, requests in run.batches)
    assert sorted(r for _, requests in run.batches for r in requests) == list(range(10))
    assert len(run.batches) >= 3


async def test_each_key_has_a_lane_of_its_own() -> None:
    run = Recorder()
    run.release.clear()
    coalescer = Coalescer(run, max_batch=64)
    tasks = [asyncio.create_task(coalescer.submit(key, n)) for n, key in enumerate("ABAB")]
    await turns()
    # Both products' batches are in flight at once; neither waits for the other.
    assert sorted(run.batches) == [("A", [0, 2]), ("B", [1, 3])]
    run.release.set()
    assert [r for r, _ in await asyncio.gather(*tasks)] == [0, 1, 2, 3]


async def test_a_request_refused_in_a_batch_gets_its_refusal_and_the_others_their_answers() -> None:
    coalescer = Coalescer(Recorder(), max_batch=64)
    answers = await asyncio.gather(*(coalescer.submit("P", n) for n in (1, -2, 3)), return_exceptions=True)
    assert answers[0] == (1, 1) and answers[2] == (3, 1)
    assert isinstance(answers[1], ValueError)


async def test_a_failed_batch_answers_every_request_with_its_error_and_the_lane_carries_on() -> None:
    calls = 0

    async def fail_first(key: str, requests: list[int]) -> list[int | Exception]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("the database went away")
        return list(requests)

    coalescer = Coalescer(fail_first, max_batch=64)
    answers = await asyncio.gather(*(coalescer.submit("P", n) for n in range(3)), return_exceptions=True)
    assert all(isinstance(a, ConnectionError) for a in answers)
    assert await coalescer.submit("P", 9) == 9


async def test_a_batch_that_miscounts_its_answers_fails_every_request() -> None:
    async def short(key: str, requests: list[int]) -> list[int | Exception]:
        return list[int | Exception](requests[:-1])

    coalescer = Coalescer(short, max_batch=64)
    answers = await asyncio.gather(*(coalescer.submit("P", n) for n in range(3)), return_exceptions=True)
    assert all(isinstance(a, RuntimeError) for a in answers)


async def test_a_request_whose_caller_gave_up_before_its_batch_is_not_run() -> None:
    run = Recorder()
    run.release.clear()
    coalescer = Coalescer(run, max_batch=64)
    first = asyncio.create_task(coalescer.submit("P", 0))
    await turns()
    abandoned = asyncio.create_task(coalescer.submit("P", 1))
    kept = asyncio.create_task(coalescer.submit("P", 2))
    await turns()
    abandoned.cancel()
    run.release.set()
    assert await first == (0, 1)
    assert await kept == (2, 2)
    assert run.batches == [("P", [0]), ("P", [2])]
    assert abandoned.cancelled()


async def test_a_lingering_lane_gathers_requests_that_arrive_a_moment_apart() -> None:
    run = Recorder()
    coalescer = Coalescer(run, max_batch=64, linger_s=0.05)

    async def later(n: int) -> tuple[int, int] | Exception:
        await asyncio.sleep(0.005 * n)
        return await coalescer.submit("P", n)

    await asyncio.gather(*(later(n) for n in range(3)))
    assert run.batches == [("P", [0, 1, 2])]


# -- granting a batch of holds: as if each had come alone, in order ----------------------------


asked = st.lists(st.tuples(st.integers(min_value=1, max_value=5), st.sampled_from(list(Fulfilment))), max_size=20)


def _one_by_one(available: int, holds: list[tuple[int, Fulfilment]]) -> list[int]:
    granted = []
    for quantity, fulfilment in holds:
        take = min(quantity, available) if fulfilment is Fulfilment.PARTIAL else quantity * (quantity <= available)
        granted.append(take)
        available -= take
    return granted


@given(available=st.integers(min_value=0, max_value=30), holds=asked)
def test_a_batch_grants_exactly_what_the_holds_one_by_one_would(
    available: int, holds: list[tuple[int, Fulfilment]]
) -> None:
    granted = grant_in_turn(available, holds)
    assert granted == _one_by_one(available, holds)
    assert sum(granted) <= available


def test_a_later_smaller_hold_still_gets_what_is_left() -> None:
    assert grant_in_turn(3, [(2, Fulfilment.ALL), (2, Fulfilment.ALL), (1, Fulfilment.ALL)]) == [2, 0, 1]
    assert grant_in_turn(3, [(2, Fulfilment.ALL), (5, Fulfilment.PARTIAL), (1, Fulfilment.ALL)]) == [2, 1, 0]
