"""Password rules and hashes: what may be a password, and that only the right one verifies."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from flashsale.services.customers import credentials

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("password", ["12345678", "correct horse battery staple", "ü" * 8, "x" * 128])
def test_eight_to_128_characters_of_anything_is_a_password(password: str) -> None:
    assert credentials.password_faults(password, "ann@example.com") == []


@pytest.mark.parametrize("password", ["", "1234567", "x" * 129, " " * 10, "\t\n" * 5, "Ann@Example.com"])
def test_too_short_too_long_blank_or_the_email_itself_is_refused(password: str) -> None:
    assert credentials.password_faults(password, "ann@example.com") != []


def test_a_hash_verifies_its_password_only_and_never_contains_it() -> None:
    hashed = credentials.hash_password("correct horse battery")

    assert hashed.startswith("$argon2id$")
    assert "correct horse" not in hashed
    assert credentials.verify_password(hashed, "correct horse battery")
    assert not credentials.verify_password(hashed, "correct horse battery!")
    assert not credentials.needs_rehash(hashed)


def test_two_hashes_of_one_password_differ_by_their_salt() -> None:
    assert credentials.hash_password("correct horse battery") != credentials.hash_password("correct horse battery")


def test_no_account_never_verifies_whatever_the_password() -> None:
    assert not credentials.verify_password(None, "decoy password of no account")
    assert not credentials.verify_password("not a hash", "anything")


def test_hashes_use_owasps_argon2id_floor_and_older_profiles_are_remade() -> None:
    assert "$m=19456,t=2,p=1$" in credentials.hash_password("correct horse battery")
    older = PasswordHasher().hash("correct horse battery")  # the library's 64 MiB profile, as hashes were made before

    assert credentials.verify_password(older, "correct horse battery")
    assert credentials.needs_rehash(older)
