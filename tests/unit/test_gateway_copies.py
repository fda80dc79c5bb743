"""The gateway's copies of composed reads' parts (pure): kept for their time, never older; a
copy asked for before a given moment is not offered for a read that must see that moment."""

from __future__ import annotations

from flashsale.services.gateway.copies import Copies
from flashsale.services.gateway.freshness import RecentWrites
from flashsale.services.gateway.profiles import KeptProfiles


def test_a_copy_answers_until_its_time_is_up_and_not_after() -> None:
    copies: Copies[str] = Copies(1000)
    copies.put("p-1", "view", asked_at=10_000)

    assert copies.get("p-1", 10_000) == "view"
    assert copies.get("p-1", 10_999) == "view"
    assert copies.get("p-1", 11_000) is None
    assert copies.get("p-2", 10_500) is None


def test_a_copy_asked_for_before_a_write_is_not_offered_to_a_read_that_must_see_the_write() -> None:
    copies: Copies[str] = Copies(1000)
    copies.put("p-1", "before the write", asked_at=10_000)

    assert copies.get("p-1", 10_200, asked_since=10_100) is None
    assert copies.get("p-1", 10_200, asked_since=10_000) == "before the write"


def test_an_older_answer_arriving_late_does_not_replace_a_newer_one() -> None:
    copies: Copies[str] = Copies(1000)
    copies.put("p-1", "asked second, answered first", asked_at=10_100)
    copies.put("p-1", "asked first, answered late", asked_at=10_000)

    assert copies.get("p-1", 10_200) == "asked second, answered first"


def test_nothing_is_kept_without_a_time() -> None:
    off: Copies[str] = Copies(0)
    off.put("p-1", "view", asked_at=10_000)
    assert off.get("p-1", 10_000) is None


def test_an_outdated_copy_is_gone_and_an_answer_asked_for_before_it_is_not_kept() -> None:
    copies: Copies[str] = Copies(1000)
    copies.put("c-1", "profile", asked_at=10_000)
    copies.outdate("c-1", 10_100)
    assert copies.get("c-1", 10_101) is None

    copies.put("c-1", "asked before the change, answered after it", asked_at=10_050)
    assert copies.get("c-1", 10_200) is None
    copies.put("c-1", "asked after the change", asked_at=10_150)
    assert copies.get("c-1", 10_200) == "asked after the change"


def test_the_copies_are_bounded_the_least_recently_stored_dropped_first() -> None:
    copies: Copies[int] = Copies(1000, max_entries=2)
    for n in range(3):
        copies.put(f"p-{n}", n, asked_at=10_000 + n)

    assert [copies.get(f"p-{n}", 10_010) for n in range(3)] == [None, 1, 2]


def test_a_profile_is_kept_long_only_while_changes_are_heard() -> None:
    profiles = KeptProfiles(ttl_ms=1000, heard_ttl_ms=60_000)
    profiles.put("c-1", {"name": "Ann"}, asked_at=10_000)
    assert profiles.get("c-1", 10_999) == {"name": "Ann"}
    assert profiles.get("c-1", 11_000) is None  # not heard: the short moment

    profiles.feed_heard(20_000)
    profiles.put("c-1", {"name": "Ann"}, asked_at=20_100)
    assert profiles.get("c-1", 79_000) == {"name": "Ann"}
    profiles.changed("c-1", 79_500)
    assert profiles.get("c-1", 79_501) is None


def test_a_gap_in_hearing_drops_every_profile_and_an_answer_asked_for_before_it() -> None:
    profiles = KeptProfiles(ttl_ms=1000, heard_ttl_ms=60_000)
    profiles.feed_heard(10_000)
    profiles.put("c-1", {"name": "Ann"}, asked_at=10_100)

    profiles.feed_lost(20_000)
    assert profiles.get("c-1", 20_001) is None
    profiles.put("c-2", {"name": "Bob"}, asked_at=19_900)  # asked before the gap, answered after
    assert profiles.get("c-2", 20_002) is None

    profiles.put("c-2", {"name": "Bob"}, asked_at=20_100)
    assert profiles.get("c-2", 21_000) == {"name": "Bob"}
    assert profiles.get("c-2", 21_100) is None  # unheard again: the short moment
    profiles.feed_heard(30_000)
    assert len(profiles) == 0  # what was kept unheard is not trusted once heard


def test_a_customers_write_is_dated_while_its_window_lasts() -> None:
    recent = RecentWrites(5000)
    recent.note("ann", ["product:p-1"], 10_000)

    assert recent.written_at("ann", "product:p-1", 12_000) == 10_000
    assert recent.written_at("ann", "product:p-1", 15_000) is None
    assert recent.written_at("bob", "product:p-1", 12_000) is None
    assert recent.written_at(None, "product:p-1", 12_000) is None
