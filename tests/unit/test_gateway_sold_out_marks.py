"""The gateway's sold-out copy: it refuses only what the inventory refused for want of a single
unit, lifts a mark as soon as units come back, never believes a refusal that crossed a return, and
marks nothing while it might be missing facts."""

from __future__ import annotations

import pytest

from flashsale.services.gateway.sold_out import Attempt, SoldOut, returned_products

pytestmark = pytest.mark.unit

TTL_MS = 2000
NOW = 1_000_000


def one(product_id: str, quantity: int = 1) -> Attempt:
    return Attempt(((product_id, quantity),), partial=False)


def listening() -> SoldOut:
    copy = SoldOut(TTL_MS)
    copy.feed_heard()
    return copy


def test_a_product_refused_for_one_unit_is_refused_at_the_door_until_units_come_back() -> None:
    copy = listening()
    assert copy.refuses(one("PS5"), NOW) is None  # nothing known: forwarded

    copy.refused(one("PS5"), copy.ticket(), NOW)

    assert copy.refuses(one("PS5"), NOW + 1) == "PS5"
    assert copy.refuses(one("XBOX"), NOW + 1) is None
    copy.units_back(["PS5"])
    assert copy.refuses(one("PS5"), NOW + 2) is None


def test_a_refusal_of_two_units_says_nothing_about_the_last_one() -> None:
    copy = listening()
    copy.refused(one("PS5", quantity=2), copy.ticket(), NOW)
    copy.refused(Attempt((("PS5", 1), ("XBOX", 1)), partial=False), copy.ticket(), NOW)

    assert copy.refuses(one("PS5"), NOW) is None
    assert copy.refuses(one("XBOX"), NOW) is None


def test_partial_fulfilment_is_refused_only_when_every_product_is_sold_out() -> None:
    copy = listening()
    both = Attempt((("PS5", 2), ("XBOX", 1)), partial=True)
    copy.refused(one("PS5"), copy.ticket(), NOW)
    assert copy.refuses(both, NOW) is None  # the XBOX may still be there

    copy.refused(both, copy.ticket(), NOW)  # refused with partial fulfilment: neither had a unit

    assert copy.refuses(both, NOW) == "PS5"
    assert copy.refuses(Attempt((("PS5", 1), ("XBOX", 1)), partial=False), NOW) == "PS5"


def test_a_refusal_that_crossed_a_return_of_units_marks_nothing() -> None:
    copy = listening()
    ticket = copy.ticket()  # the attempt goes out ...
    copy.units_back(["PS5"])  # ... a hold is released meanwhile ...
    copy.refused(one("PS5"), ticket, NOW)  # ... and the refusal computed before it comes back

    assert copy.refuses(one("PS5"), NOW) is None
    copy.refused(one("PS5"), copy.ticket(), NOW)  # a refusal asked after the return is believed
    assert copy.refuses(one("PS5"), NOW) == "PS5"


def test_a_return_of_another_product_does_not_spoil_a_refusal() -> None:
    copy = listening()
    ticket = copy.ticket()
    copy.units_back(["XBOX"])
    copy.refused(one("PS5"), ticket, NOW)

    assert copy.refuses(one("PS5"), NOW) == "PS5"


def test_a_lapsed_mark_lets_one_probe_through_and_its_refusal_marks_again() -> None:
    copy = listening()
    copy.refused(one("PS5"), copy.ticket(), NOW)
    assert copy.refuses(one("PS5"), NOW + TTL_MS - 1) == "PS5"

    probe = copy.refuses(one("PS5"), NOW + TTL_MS)
    ticket = copy.ticket()
    while_probing = copy.refuses(one("PS5"), NOW + TTL_MS + 1)
    copy.refused(one("PS5"), ticket, NOW + TTL_MS + 5)

    assert (probe, while_probing) == (None, "PS5")  # one attempt asks the inventory, the rest wait for it
    assert copy.refuses(one("PS5"), NOW + 2 * TTL_MS + 4) == "PS5"  # marked again by the probe's refusal


def test_a_probe_that_gets_an_order_lifts_the_mark() -> None:
    copy = listening()
    copy.refused(one("PS5"), copy.ticket(), NOW)
    assert copy.refuses(one("PS5"), NOW + TTL_MS) is None  # the probe (units came back unheard)

    copy.granted(one("PS5"))

    assert copy.refuses(one("PS5"), NOW + TTL_MS + 1) is None
    assert len(copy) == 0


def test_a_probe_that_gets_no_answer_lets_another_through_a_ttl_later() -> None:
    copy = listening()
    copy.refused(one("PS5"), copy.ticket(), NOW)
    assert copy.refuses(one("PS5"), NOW + TTL_MS) is None  # the probe, never answered

    assert copy.refuses(one("PS5"), NOW + 2 * TTL_MS - 1) == "PS5"
    assert copy.refuses(one("PS5"), NOW + 2 * TTL_MS) is None


def test_nothing_is_marked_while_the_feed_is_not_heard_and_a_gap_drops_every_mark() -> None:
    copy = SoldOut(TTL_MS)
    copy.refused(one("PS5"), copy.ticket(), NOW)
    assert copy.refuses(one("PS5"), NOW) is None  # not listening yet

    copy.feed_heard()
    copy.refused(one("PS5"), copy.ticket(), NOW)
    in_flight = copy.ticket()
    copy.feed_lost()
    assert copy.refuses(one("PS5"), NOW) is None
    copy.refused(one("XBOX"), in_flight, NOW)
    assert copy.refuses(one("XBOX"), NOW) is None

    copy.feed_heard()
    copy.refused(one("XBOX"), in_flight, NOW)  # asked before the gap: what came back meanwhile is unknown
    assert copy.refuses(one("XBOX"), NOW) is None


def test_forgetting_old_returns_never_lets_a_stale_refusal_through() -> None:
    copy = SoldOut(TTL_MS, max_products=2)
    copy.feed_heard()
    ticket = copy.ticket()
    copy.units_back(["PS5"])
    copy.units_back(["XBOX", "SWITCH"])  # PS5's return is forgotten

    copy.refused(one("PS5"), ticket, NOW)
    assert copy.refuses(one("PS5"), NOW) is None


def test_the_facts_that_give_units_back_name_their_products() -> None:
    items: dict[str, object] = {"items": [{"productId": "PS5", "quantity": 1}, {"productId": "XBOX", "quantity": 2}]}
    assert returned_products("ReservationReleased", items) == ["PS5", "XBOX"]
    assert returned_products("ReservationExpired", items) == ["PS5", "XBOX"]
    assert returned_products("ReservationRevoked", items) == ["PS5", "XBOX"]
    assert returned_products("StockReceived", {"productId": "PS5", "quantity": 3, "available": 3}) == ["PS5"]
    assert returned_products("StockAdjusted", {"productId": "PS5", "delta": -1, "available": 0}) == ["PS5"]
    assert returned_products("StockReserved", items) == []
    assert returned_products("ReservationConfirmed", items) == []
