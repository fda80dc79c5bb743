"""The house's credential: what a service sends and what an internal API lets through."""

from __future__ import annotations

import jwt
import pytest

from flashsale.kit.house_auth import (
    AUDIENCE,
    RENEW_BEFORE_S,
    TOKEN_TTL_S,
    HouseGate,
    ServiceCredential,
    house_key,
    required,
)

ADMIN = "the-house-admin-token"


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_a_services_token_is_admitted_and_an_operators_admin_token_too() -> None:
    clock = Clock()
    gate = HouseGate(ADMIN, clock)

    assert gate.admits(ServiceCredential("orders", ADMIN, clock).header().encode())
    assert gate.admits(f"Bearer {ADMIN}".encode())


@pytest.mark.parametrize("header", [
    None, b"", b"Bearer", b"Bearer nonsense", b"Basic b3JkZXJzOg==", b"Bearer the-house-admin-tokeN",
])
def test_no_credential_or_a_wrong_one_is_refused(header: bytes | None) -> None:
    assert not HouseGate(ADMIN, Clock()).admits(header)


def test_a_token_of_another_house_or_for_another_audience_is_refused() -> None:
    clock = Clock()
    gate = HouseGate(ADMIN, clock)
    other_house = ServiceCredential("orders", "another-admin-token", clock).header()
    not_for_us = jwt.encode({"sub": "orders", "aud": "flashsale-refresh", "exp": clock.now + 60}, house_key(ADMIN))
    unsigned = jwt.encode({"sub": "orders", "aud": AUDIENCE, "exp": clock.now + 60}, None, algorithm="none")

    for header in (other_house, f"Bearer {not_for_us}", f"Bearer {unsigned}"):
        assert not gate.admits(header.encode()), header


def test_a_token_is_refused_once_it_expired_even_after_it_was_admitted() -> None:
    clock = Clock()
    gate, header = HouseGate(ADMIN, clock), ServiceCredential("orders", ADMIN, clock).header().encode()
    assert gate.admits(header)

    clock.now += TOKEN_TTL_S

    assert not gate.admits(header)


def test_a_service_signs_anew_before_its_token_runs_out() -> None:
    clock = Clock()
    credential = ServiceCredential("orders", ADMIN, clock)
    first = credential.header()
    clock.now += TOKEN_TTL_S - RENEW_BEFORE_S - 1
    assert credential.header() == first  # one signature per few minutes, not per call
    clock.now += 2
    renewed = credential.header()

    assert renewed != first
    clock.now += RENEW_BEFORE_S  # the first has run out by now; the renewed one has not
    assert HouseGate(ADMIN, clock).admits(renewed.encode())


@pytest.mark.parametrize(("mode", "host", "asked"), [
    ("auto", "127.0.0.1", False), ("auto", "::1", False), ("auto", "localhost", False),
    ("auto", "0.0.0.0", True), ("auto", "192.0.2.2", True), ("auto", "orders.internal", True),
    ("required", "127.0.0.1", True), ("off", "0.0.0.0", False),
])
def test_the_credential_is_asked_for_beyond_loopback_unless_told_otherwise(mode: str, host: str, asked: bool) -> None:
    assert required(mode, host) is asked


def test_an_unknown_mode_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="FLASHSALE_INTERNAL_AUTH"):
        required("maybe", "127.0.0.1")
