"""Access tokens: signed (HS256, PyJWT), expiring, naming who the caller is and in which role.

A token carries `sub` (the customer's id, or `admin`), `role` (`customer` or `admin`), `iat`,
`exp` and `iss`. Anything that does not verify against our key (a forged or altered token, another
key, another algorithm, `alg: none`, a missing claim, an unknown role) is invalid; a genuine token
past its `exp` is expired. Time comes from the caller (the injected clock), so PyJWT is asked to
check the signature and claims but not the time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

import jwt

ALGORITHM = "HS256"
ISSUER = "flashsale-gateway"
# A refresh token is addressed to the refresh route alone: its `aud` makes every access check
# refuse it (PyJWT refuses a token with an audience it was not told to expect).
REFRESH_AUDIENCE = "flashsale-refresh"
ADMIN_SUBJECT = "admin"
_SUBJECT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$")  # contracts.api.ID_PATTERN


class Role(StrEnum):
    CUSTOMER = "customer"
    ADMIN = "admin"


@dataclass(frozen=True)
class Claims:
    subject: str
    role: Role
    expires_at_s: int


class TokenRefused(Exception):
    """`reason` is `token_expired` or `token_invalid`."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def issue(secret: str, subject: str, role: Role, now_s: int, ttl_s: int) -> str:
    claims = {"sub": subject, "role": role.value, "iat": now_s, "exp": now_s + ttl_s, "iss": ISSUER}
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def issue_refresh(secret: str, subject: str, now_s: int, ttl_s: int) -> str:
    """A long-lived token that buys new access tokens for a customer (`refresh`), and nothing else."""
    claims = {"sub": subject, "role": Role.CUSTOMER.value, "iat": now_s, "exp": now_s + ttl_s, "iss": ISSUER,
              "aud": REFRESH_AUDIENCE}
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def verify_refresh(secret: str, token: str, now_s: float) -> Claims:
    """A refresh token's claims, or TokenRefused as `verify` refuses (an access token included)."""
    try:
        decoded = jwt.decode(
            token, secret, algorithms=[ALGORITHM], issuer=ISSUER, audience=REFRESH_AUDIENCE,
            options={"require": ["sub", "role", "iat", "exp", "iss", "aud"], "verify_exp": False,
                     "verify_iat": False, "verify_nbf": False},
        )
    except jwt.InvalidTokenError as exc:
        raise TokenRefused("token_invalid", f"the refresh token is not valid ({type(exc).__name__})") from None
    return unexpired(_claims(decoded), now_s)


def verify(secret: str, token: str, now_s: float) -> Claims:
    """The token's claims, or TokenRefused: invalid before expired (a forged token that says it
    has expired is still a forgery)."""
    return unexpired(decode(secret, token), now_s)


def decode(secret: str, token: str) -> Claims:
    """The claims of a token signed with our key, expired or not; TokenRefused if it is invalid."""
    try:
        decoded = jwt.decode(
            token, secret, algorithms=[ALGORITHM], issuer=ISSUER,
            options={"require": ["sub", "role", "iat", "exp", "iss"], "verify_exp": False,
                     "verify_iat": False, "verify_nbf": False},
        )
    except jwt.InvalidTokenError as exc:
        raise TokenRefused("token_invalid", f"the token is not valid ({type(exc).__name__})") from None
    return _claims(decoded)


def unexpired(claims: Claims, now_s: float) -> Claims:
    if now_s >= claims.expires_at_s:
        raise TokenRefused("token_expired", "the token has expired: sign in again")
    return claims


def _claims(decoded: dict[str, object]) -> Claims:
    subject, role, expires = decoded["sub"], decoded["role"], decoded["exp"]
    if not isinstance(subject, str) or not _SUBJECT.fullmatch(subject):
        raise TokenRefused("token_invalid", "the token names no valid subject")
    if role not in tuple(Role) or not isinstance(expires, int) or isinstance(expires, bool):
        raise TokenRefused("token_invalid", "the token's role or expiry is not valid")
    return Claims(subject, Role(str(role)), expires)
