"""What a valid customer profile is, and what a change to one is."""

from __future__ import annotations

import pytest

from flashsale.services.customers import domain
from flashsale.services.customers.domain import Address, Changes, Profile

pytestmark = pytest.mark.unit

HOME = Address("1 Main St", None, "Berlin", "10115", "DE")
ANN = Profile("Ann Lee", "ann@example.com", HOME)


@pytest.mark.parametrize("email", [
    "ann@example.com", "Ann.Lee+sale@Example.COM", "a_b-c@mail.example.co.uk", "x@e.io",
    "o'neil@example.ie", f"{'l' * 64}@example.com",
])
def test_ordinary_addresses_are_emails(email: str) -> None:
    assert domain.is_email(email)


@pytest.mark.parametrize("email", [
    "", "ann", "ann@", "@example.com", "ann@example", "ann@@example.com", "ann@example..com",
    ".ann@example.com", "ann.@example.com", "an..n@example.com", "ann lee@example.com",
    " ann@example.com", "ann@example.com ", "ann@example.com\n", "ann@-example.com",
    "ann@example-.com", "ann@example.c", "ann@example.123", "ann@[127.0.0.1]", '"ann"@example.com',
    "änn@example.com", "ann@exämple.com", f"{'l' * 65}@example.com", f"ann@{'d' * 63}.{'e' * 190}.com",
])
def test_anything_else_is_refused(email: str) -> None:
    assert not domain.is_email(email)


def test_emails_are_compared_without_case() -> None:
    assert domain.email_key("Ann@Example.COM") == domain.email_key("ann@example.com")


def test_only_assigned_country_codes_are_countries() -> None:
    assert domain.is_country("DE") and domain.is_country("GB") and domain.is_country("US")
    assert not domain.is_country("ZZ") and not domain.is_country("UK") and not domain.is_country("de")


def test_invalid_fields_names_each_value_the_rules_refuse() -> None:
    assert domain.invalid_fields("Ann", "ann@example.com", HOME) == []
    assert domain.invalid_fields(None, None, None) == []
    bad_country = Address("1 Main St", None, "Nowhere", "0", "ZZ")
    assert domain.invalid_fields("   ", "not-an-email", bad_country) == ["name", "email", "address.country"]


def test_a_change_gives_the_new_profile() -> None:
    moved = Address("2 Side St", "Flat 3", "Hamburg", "20095", "DE")
    assert domain.changed(ANN, Changes(email="ann.lee@example.com", address=moved)) == Profile(
        "Ann Lee", "ann.lee@example.com", moved
    )


@pytest.mark.parametrize("changes", [
    Changes(),
    Changes(name="Ann Lee"),
    Changes(email="ann@example.com", address=Address("1 Main St", None, "Berlin", "10115", "DE")),
])
def test_a_change_to_the_values_already_there_is_no_change(changes: Changes) -> None:
    assert domain.changed(ANN, changes) is None


def test_an_email_in_another_case_is_a_change_of_spelling() -> None:
    assert domain.changed(ANN, Changes(email="Ann@Example.com")) == Profile("Ann Lee", "Ann@Example.com", HOME)


def test_an_update_is_stale_only_when_it_names_another_version() -> None:
    assert not domain.is_stale(None, 4)
    assert not domain.is_stale(4, 4)
    assert domain.is_stale(3, 4)
