"""The order service's pure rules for price snapshots (what may be sold now, what it costs) and for
its copy of customers' contacts (which version wins, what reconciliation repairs)."""

from __future__ import annotations

import pytest

from flashsale.services.orders import domain
from flashsale.services.orders.domain import Contact, Line, Listing, Offer, Repair, Snapshot

pytestmark = pytest.mark.unit

NOW = 1_700_000_000_000
HOUR = 3_600_000


def listing(product_id: str = "PS5", *, starts: int | None = None, ends: int | None = None) -> Listing:
    return Listing(product_id, "PlayStation 5", 49_999, starts, ends)


def test_a_product_the_catalog_does_not_list_cannot_be_ordered() -> None:
    assert domain.offer(None, NOW) is Offer.UNLISTED


def test_a_listing_without_a_window_is_always_on_sale() -> None:
    assert domain.offer(listing(), NOW) is Offer.OPEN


@pytest.mark.parametrize(("starts", "ends", "expected"), [
    (NOW + 1, None, Offer.NOT_OPEN),       # a millisecond early
    (NOW, None, Offer.OPEN),               # the start is the sale's first instant
    (None, NOW + 1, Offer.OPEN),           # its last millisecond
    (None, NOW, Offer.CLOSED),             # the end is the first instant after the sale
    (NOW - HOUR, NOW + HOUR, Offer.OPEN),
    (NOW - 2 * HOUR, NOW - HOUR, Offer.CLOSED),
])
def test_the_sale_window_opens_at_its_start_and_closes_at_its_end(
    starts: int | None, ends: int | None, expected: Offer
) -> None:
    assert domain.offer(listing(starts=starts, ends=ends), NOW) is expected


def test_the_refusal_names_an_unknown_product_before_a_closed_sale() -> None:
    listings = {"closed": listing("closed", ends=NOW - 1), "open": listing("open")}

    assert domain.first_refusal(["closed", "open", "ghost"], listings, NOW) == ("ghost", Offer.UNLISTED)
    assert domain.first_refusal(["open", "closed"], listings, NOW) == ("closed", Offer.CLOSED)
    assert domain.first_refusal(["open"], listings, NOW) is None


def test_lines_keep_their_snapshot_and_the_total_is_their_sum() -> None:
    snapshots = {"PS5": Snapshot("PlayStation 5", 49_999), "PAD": Snapshot("Controller", 5_950)}

    lines = domain.priced([Line("PS5", 1), Line("PAD", 2)], snapshots)

    assert lines == (Line("PS5", 1, "PlayStation 5", 49_999), Line("PAD", 2, "Controller", 5_950))
    assert domain.total_cents(lines) == 49_999 + 2 * 5_950


def test_a_partial_grant_costs_only_what_was_granted() -> None:
    snapshots = {"PS5": Snapshot("PlayStation 5", 1_000)}
    asked, granted = [Line("PS5", 5)], [Line("PS5", 2)]

    assert domain.total_cents(domain.priced(granted, snapshots)) == 2_000
    assert domain.total_cents(domain.priced(asked, snapshots)) == 5_000


def test_a_line_without_a_price_cannot_be_totalled() -> None:
    with pytest.raises(ValueError, match="PS5"):
        domain.total_cents([Line("PS5", 1)])


def test_a_profile_replaces_the_copy_only_when_newer() -> None:
    assert domain.supersedes(1, None)
    assert domain.supersedes(3, 2)
    assert not domain.supersedes(2, 2)  # a duplicate
    assert not domain.supersedes(1, 2)  # late


ANN = Contact("c-1", "Ann", "ann@example.com", 2)


@pytest.mark.parametrize(("copy", "expected"), [
    (ANN, Repair.NONE),
    (None, Repair.ADVANCE),                                        # never copied (or deleted)
    (Contact("c-1", "Ann", "old@example.com", 1), Repair.ADVANCE),  # an event was missed
    (Contact("c-1", "Ann", "bad@example.com", 2), Repair.OVERWRITE),  # corrupt at the same version
    (Contact("c-1", "Ann", "bad@example.com", 9), Repair.OVERWRITE),  # a version the source never had
])
def test_reconciliation_repairs_missing_stale_and_corrupt_copies(copy: Contact | None, expected: Repair) -> None:
    assert domain.repair(copy, ANN) is expected
