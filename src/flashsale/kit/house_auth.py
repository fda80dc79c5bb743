"""The house's credential: calls between its services carry it, internal APIs ask for it.

A service token is a JWT (PyJWT, HS256) that names the calling service (`sub`), is addressed to
the house (`aud`) and expires after `TOKEN_TTL_S`. It is signed with a key derived from the
house's admin token, which every service is given already: nothing new to distribute, and a new
admin token is a new key. A caller signs a fresh token when the one it holds has less than
`RENEW_BEFORE_S` left (one signature per few minutes, not one per call), and a service remembers
the tokens it verified until they expire, so a call costs a dictionary lookup on both sides.
An operator may present the admin token itself.

An internal API asks for the credential (`HouseGate`) when its process listens beyond the
loopback interface (FLASHSALE_INTERNAL_AUTH=auto, the default: another machine could call it),
always (`required`) or never (`off`: a network the operator trusts). A house on loopback keeps
its internal APIs open to the machine's own processes, as the contract has always had them.
Every service sends the credential on every internal call regardless (kit/http.py), so switching
the check on changes nothing for the house itself.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import time
from collections.abc import Callable

import jwt
import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

ALGORITHM = "HS256"
AUDIENCE = "flashsale-house"
TOKEN_TTL_S = 300
RENEW_BEFORE_S = 60
MODES = ("auto", "required", "off")
# Open whatever the mode: how a supervisor, a load balancer and a scraper see a service.
OPEN_PATHS = frozenset({"/health", "/metrics", "/openapi.json", "/docs", "/redoc"})
REMEMBERED_TOKENS = 1024
REFUSAL_CODE = "house_credential_required"
# The services whose callers are people and their tools, not the house: they never ask for the
# credential (their entry points serve them with `run_service(..., internal=False)`), and their
# OpenAPI documents do not name it (kit/openapi.py).
PUBLIC_EDGES = frozenset({"gateway", "monitor"})


def house_key(admin_token: str) -> bytes:
    """The key service tokens are signed with, derived from (and not equal to) the admin token."""
    return hmac.new(admin_token.encode(), b"flashsale service tokens", hashlib.sha256).digest()


def required(mode: str, host: str) -> bool:
    """Whether internal APIs ask for the credential, for a process listening on `host`."""
    if mode not in MODES:
        raise ValueError(f"FLASHSALE_INTERNAL_AUTH must be one of {', '.join(MODES)}, not {mode!r}")
    if mode != "auto":
        return mode == "required"
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host != "localhost"  # a name another machine may resolve to us


class ServiceCredential:
    """What one service sends: `Bearer <its current service token>`."""

    def __init__(self, service: str, admin_token: str, clock: Callable[[], float] = time.time) -> None:
        self.service = service
        self._key = house_key(admin_token)
        self._clock = clock
        self._header = ""
        self._renew_at = 0.0

    def header(self) -> str:
        now = self._clock()
        if now >= self._renew_at:
            claims = {"sub": self.service, "aud": AUDIENCE, "iat": int(now), "exp": int(now) + TOKEN_TTL_S}
            self._header = f"Bearer {jwt.encode(claims, self._key, algorithm=ALGORITHM)}"
            self._renew_at = now + TOKEN_TTL_S - RENEW_BEFORE_S
        return self._header


class HouseGate:
    """Decides whether an Authorization header carries the house's credential."""

    def __init__(self, admin_token: str, clock: Callable[[], float] = time.time) -> None:
        self._admin = f"Bearer {admin_token}".encode()
        self._key = house_key(admin_token)
        self._clock = clock
        self._verified: dict[bytes, float] = {}  # header -> when its token expires

    def admits(self, authorization: bytes | None) -> bool:
        if not authorization:
            return False
        now = self._clock()
        expires = self._verified.get(authorization)
        if expires is not None:
            return now < expires
        if hmac.compare_digest(authorization, self._admin):
            return True
        return self._verify(authorization, now)

    def _verify(self, authorization: bytes, now: float) -> bool:
        scheme, _, token = authorization.decode("latin-1").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return False
        try:
            # Time is ours to judge (the injected clock), and an `iat` a little ahead of our clock
            # (another machine's) is no reason to refuse: PyJWT checks the signature and audience.
            claims = jwt.decode(token, self._key, algorithms=[ALGORITHM], audience=AUDIENCE,
                                options={"require": ["sub", "aud", "exp"], "verify_exp": False,
                                         "verify_iat": False, "verify_nbf": False})
        except jwt.InvalidTokenError:
            return False
        expires = float(claims["exp"])
        if now >= expires:
            return False
        if len(self._verified) >= REMEMBERED_TOKENS:
            self._verified.clear()  # a handful of services renew every few minutes: rarely reached
        self._verified[authorization] = expires
        return True


_REFUSAL = orjson.dumps({
    "type": "https://flashsale.dev/problems/house-credential-required",
    "title": "House credential required",
    "status": 401,
    "detail": "this is an internal API of the house: send Authorization: Bearer <service token or admin token>",
    "code": REFUSAL_CODE,
})


class InternalApi:
    """ASGI middleware: every HTTP request but `OPEN_PATHS` must carry the house's credential,
    else 401 `house_credential_required` (before any routing, so an unknown path learns nothing)."""

    def __init__(self, app: ASGIApp, gate: HouseGate) -> None:
        self.app = app
        self.gate = gate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS or self.gate.admits(_authorization(scope)):
            await self.app(scope, receive, send)
            return
        await send({"type": "http.response.start", "status": 401, "headers": [
            (b"content-type", b"application/problem+json"), (b"content-length", str(len(_REFUSAL)).encode()),
            (b"www-authenticate", b'Bearer realm="flashsale-house"'),
        ]})
        await send({"type": "http.response.body", "body": _REFUSAL})


def _authorization(scope: Scope) -> bytes | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            return bytes(value)
    return None
