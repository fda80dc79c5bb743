"""Password credentials: what a password must be, and how it is kept (argon2id, never in clear).

A customer signs in with their email and a password. The password is stored only as an argon2id
hash, each with its own salt, with OWASP's recommended floor for argon2id: m=19 MiB, t=2, p=1.
Chosen on purpose: argon2-cffi's default (RFC 9106's low-memory profile, m=64 MiB, t=3, p=4)
costs ~260 ms of CPU per hash on this project's 2-core machine, so a flash sale's crowd signing
in (a sign-up and a sign-in: two hashes) got through the gateway at ~3 buyers/s; this profile
costs ~30 ms (~9x less) and is still memory-hard. Hashes made with other parameters are re-made
with these at the next sign-in (`needs_rehash`). Hashing is deliberately slow, so it runs off the
event loop, on threads of its own (`_HASHING`).

Signing in with an email nobody has still costs one verification against a fixed hash: without
it the answer for an unknown email would come back measurably faster than for a wrong password,
and telling which emails have accounts is not the caller's business.

The rules are about length only (NIST SP 800-63B: at least 8 characters, no composition rules),
plus two refusals: nothing but whitespace, and the account's own email.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import os

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from flashsale.services.customers.domain import email_key

MIN_PASSWORD = 8
MAX_PASSWORD = 128  # bounds the work one sign-in can make us do


def password_faults(password: str, email: str) -> list[str]:
    """Why this password may not be set for this email; empty when it may."""
    faults = []
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        faults.append(f"a password has {MIN_PASSWORD} to {MAX_PASSWORD} characters")
    if not password.strip():
        faults.append("a password is more than whitespace")
    if email_key(password) == email_key(email):
        faults.append("a password is not the account's email")
    return faults


# OWASP Password Storage Cheat Sheet, argon2id: "m=19456 (19 MiB), t=2, p=1".
MEMORY_KIB = 19 * 1024
TIME_COST = 2
PARALLELISM = 1


@functools.cache
def _hasher() -> PasswordHasher:
    return PasswordHasher(time_cost=TIME_COST, memory_cost=MEMORY_KIB, parallelism=PARALLELISM)


@functools.cache
def _decoy_hash() -> str:
    """A hash no password is checked against for real: it makes an unknown email cost a verify."""
    return _hasher().hash("decoy password of no account")


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether `password` is the one hashed; a missing hash (no such account) is checked against a
    decoy so that it takes as long and still says no."""
    try:
        _hasher().verify(password_hash or _decoy_hash(), password)
    except (VerificationError, InvalidHashError):
        return False
    return password_hash is not None


def needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with weaker parameters than today's: re-hash on next sign-in."""
    return _hasher().check_needs_rehash(password_hash)


# Hashing runs on threads of its own, as many as there are cores: a hash is pure CPU (argon2
# releases the GIL), so more threads only queue at the cores, and each thread that hashed keeps
# its 19 MiB in its own malloc arena. On asyncio's default executor (up to cores + 4 threads) a
# burst of 16 sign-ups and sign-ins left the process at ~210 MB resident against ~95 idle.
_HASHING = concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="argon2")


async def hash_off_loop(password: str) -> str:
    return await asyncio.get_running_loop().run_in_executor(_HASHING, hash_password, password)


async def verify_off_loop(password_hash: str | None, password: str) -> bool:
    return await asyncio.get_running_loop().run_in_executor(_HASHING, verify_password, password_hash, password)
