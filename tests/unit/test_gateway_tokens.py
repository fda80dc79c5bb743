"""The gateway's access tokens: what verifies, what has expired, and what is a forgery."""

from __future__ import annotations

import jwt
import pytest

from flashsale.kit.clock import ManualClock
from flashsale.services.gateway import tokens
from flashsale.services.gateway.auth import Keys
from flashsale.services.gateway.tokens import Claims, Role, TokenRefused

pytestmark = pytest.mark.unit

SECRET = "k" * 64
NOW = 1_800_000_000


def refusal(token: str, now_s: float = NOW, secret: str = SECRET) -> str:
    with pytest.raises(TokenRefused) as refused:
        tokens.verify(secret, token, now_s)
    return refused.value.reason


def signed(secret: str = SECRET, algorithm: str = "HS256", **claims: object) -> str:
    body = {"sub": "c-1", "role": "customer", "iat": NOW, "exp": NOW + 60, "iss": tokens.ISSUER, **claims}
    return jwt.encode({k: v for k, v in body.items() if v is not None}, secret, algorithm=algorithm)


def test_an_issued_token_verifies_to_its_subject_and_role_until_it_expires() -> None:
    token = tokens.issue(SECRET, "c-1", Role.CUSTOMER, NOW, ttl_s=900)

    assert tokens.verify(SECRET, token, NOW) == Claims("c-1", Role.CUSTOMER, NOW + 900)
    assert tokens.verify(SECRET, token, NOW + 899.9).subject == "c-1"
    assert refusal(token, NOW + 900) == "token_expired"


def test_an_admin_token_says_so() -> None:
    token = tokens.issue(SECRET, tokens.ADMIN_SUBJECT, Role.ADMIN, NOW, ttl_s=60)

    assert tokens.verify(SECRET, token, NOW).role is Role.ADMIN


@pytest.mark.parametrize("token", [
    signed(secret="another key of enough length for hs256 ....."),
    signed(algorithm="HS512"),
    signed(algorithm="none", secret=None),  # type: ignore[arg-type]
    signed(role="root"),
    signed(role=None),
    signed(exp=None),
    signed(sub=None),
    signed(sub="../etc/passwd"),
    signed(sub=42),
    signed(iss="someone-else"),
    signed(exp="tomorrow"),
    signed(exp=True),
    "not.a.token",
    "",
])
def test_anything_we_did_not_sign_as_we_sign_is_invalid(token: str) -> None:
    assert refusal(token) == "token_invalid"


def test_a_forgery_is_invalid_even_when_it_has_also_expired() -> None:
    assert refusal(signed(secret="x" * 64, exp=NOW - 10)) == "token_invalid"


def test_a_genuine_token_with_a_rewritten_payload_is_invalid() -> None:
    header, _, signature = tokens.issue(SECRET, "c-1", Role.CUSTOMER, NOW, 60).split(".")
    _, payload, _ = tokens.issue(SECRET, "c-2", Role.ADMIN, NOW, 60).split(".")

    assert refusal(f"{header}.{payload}.{signature}") == "token_invalid"


def test_a_remembered_token_still_expires_and_a_forged_one_is_never_remembered() -> None:
    clock = ManualClock(NOW * 1000)
    keys = Keys(SECRET, ttl_s=60, clock=clock)
    token = keys.issue("c-1", Role.CUSTOMER)
    forged = signed(secret="another key " * 4)

    assert keys.verify(token).subject == "c-1"
    assert keys.verify(token).subject == "c-1"  # the second time from memory
    clock.advance(60)
    with pytest.raises(TokenRefused) as expired:
        keys.verify(token)
    for _ in range(2):
        with pytest.raises(TokenRefused) as invalid:
            keys.verify(forged)
        assert invalid.value.reason == "token_invalid"
    assert expired.value.reason == "token_expired"
