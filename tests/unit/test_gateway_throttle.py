"""The gateway's rate limit per caller (pure): at most N requests in any window of its length, a
refusal saying when the next one will be admitted, and callers forgotten once idle for a window."""

from __future__ import annotations

import pytest

from flashsale.services.gateway.edge import Throttle
from flashsale.services.gateway.errors import RateLimited


def _admitted(throttle: Throttle, caller: str, at: float) -> bool | int:
    """True when admitted, else the refusal's Retry-After in seconds."""
    try:
        throttle.count(caller, at)
    except RateLimited as refused:
        return int(refused.headers["Retry-After"])
    return True


def test_a_caller_gets_n_requests_per_window_and_the_refusal_says_when_the_oldest_leaves_it() -> None:
    throttle = Throttle("3/10 seconds")

    answers = [_admitted(throttle, "ann", at) for at in (100.0, 101.0, 102.0, 103.0, 104.5)]

    assert answers == [True, True, True, 7, 6]  # the first of the three leaves the window at 110


def test_the_window_moves_one_request_leaves_and_one_more_is_admitted() -> None:
    throttle = Throttle("2/second")
    assert [_admitted(throttle, "ann", at) for at in (10.0, 10.5, 10.9)] == [True, True, 1]

    assert _admitted(throttle, "ann", 11.0) is True  # 10.0 has left the window (10.5 is still in it)
    assert _admitted(throttle, "ann", 11.2) == 1


def test_callers_are_counted_apart() -> None:
    throttle = Throttle("1/minute")

    assert [_admitted(throttle, caller, 5.0) for caller in ("ann", "bob", "ann", "bob")] == [True, True, 60, 60]


def test_callers_idle_for_a_window_are_forgotten_and_the_count_of_callers_is_bounded() -> None:
    throttle = Throttle("5/second", max_callers=3)
    for n in range(3):
        throttle.count(f"buyer-{n}", 1.0)
    assert throttle.callers == 3

    throttle.count("late", 2.5)  # the others' requests are all a window old by now
    assert throttle.callers == 1

    for n in range(5):
        throttle.count(f"crowd-{n}", 2.6)
    assert throttle.callers == 3  # bounded: the least recent forgotten early


@pytest.mark.parametrize("rate", ["20/second", "5/minute", "1000/second"])
def test_rates_in_the_settings_notation_are_understood(rate: str) -> None:
    amount = int(rate.split("/")[0])
    throttle = Throttle(rate)

    assert all(_admitted(throttle, "ann", 1.0) is True for _ in range(amount))
    assert _admitted(throttle, "ann", 1.0) is not True
