"""Outbound HTTP between services: pooled, bounded in time, retried only when safe, broken when down.

- Every call has a timeout (connect and total).
- Retries (tenacity, exponential backoff with jitter) only for idempotent calls: GET, or a POST
  the caller marks idempotent because it carries an Idempotency-Key or a natural key.
- A circuit breaker (purgatory) per dependency: after repeated failures calls fail fast with
  `DependencyUnavailable` for a while instead of piling up on a dead service. Slow is not dead:
  only a dependency that cannot be reached (connection refused or reset, a caller's deadline
  cancelling the call) counts towards opening it. A 5xx
  answer or an answer later than the read timeout comes from a service that is there and working,
  maybe under a crowd: counting those opened the gateway's circuit to the order service under a
  crowd of 256 buyers and turned them away with 503 "circuit open" while stock lasted.
- Transport failures, timeouts and 5xx are failures of the call (retried when safe, then
  `DependencyUnavailable`); 4xx answers are returned to the caller.

The pool is aiohttp's, not httpx's (the building block DESIGN names), by measurement: under a
crowd every call waits on the pool, and httpcore's pool walks every connection and every queued
request on each request and each release. With kit's 200 connections and 256 callers an httpx
call cost the calling process ~2.0 ms of CPU against ~0.1 ms with aiohttp, 495 vs 10,260 calls/s
(`python -m bench.http_clients`, bench/RESULTS.md 2026-12-05); py-spy had put more than half of
the gateway's and the order service's samples in that walk under the front-door crowd.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
from purgatory import AsyncCircuitBreakerFactory
from purgatory.domain.model import OpenedState
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from flashsale.kit.errors import DependencyUnavailable
from flashsale.kit.house_auth import ServiceCredential
from flashsale.kit.trace_points import outbound_call

CONNECT_TIMEOUT_S = 1.0
POOL_CONNECTIONS = 200  # per dependency, all its instances together
JSON_HEADERS = {"Content-Type": "application/json"}


@dataclass(frozen=True, slots=True)
class Answer:
    """A dependency's answer, read whole: its status, headers (case-insensitive) and body."""

    status_code: int
    headers: Mapping[str, str]
    content: bytes

    def json(self) -> Any:
        return orjson.loads(self.content)

    def raise_for_status(self) -> None:
        """For a caller that can use only a success: a 4xx is UnexpectedAnswer (a 5xx never
        reaches it: the client raises DependencyUnavailable)."""
        if self.status_code >= 400:
            raise UnexpectedAnswer(f"HTTP {self.status_code}")


class UnexpectedAnswer(Exception):
    """A dependency refused a call its caller cannot do without."""


class _ServerError(Exception):
    def __init__(self, answer: Answer) -> None:
        super().__init__(f"HTTP {answer.status_code}")
        self.answer = answer


# aiohttp's timeouts (connect, read, total) are all TimeoutErrors.
_RETRYABLE = (aiohttp.ClientError, TimeoutError, _ServerError)
# What a dependency that is there but slow or failing a request looks like: not counted by its
# circuit breaker (the module docstring says why).
# A connect timeout counts neither: under a crowd a busy server's accept queue makes connecting
# slow too (the front-door bench opened the order service's circuits to the catalog that way).
_ALIVE: list[Any] = [_ServerError, TimeoutError]


class ServiceClient:
    """Calls one dependency (possibly several instances, used round robin)."""

    def __init__(
        self, name: str, base_urls: list[str], *, timeout_s: float = 3.0, attempts: int = 3,
        breaker_threshold: int = 20, breaker_ttl_s: float = 5.0, credential: ServiceCredential | None = None,
    ) -> None:
        """`credential`: the calling service's, sent on every call (Authorization) unless the call
        names its own (an admin route's admin token)."""
        if not base_urls:
            raise ValueError(f"no URL configured for {name}")
        self.name = name
        self._credential = credential
        self._urls = itertools.cycle([u.rstrip("/") for u in base_urls])
        self._attempts = attempts
        self._default_timeout = _timeout(timeout_s)
        self._session: aiohttp.ClientSession | None = None  # made on the first call, in its event loop
        self._breakers = AsyncCircuitBreakerFactory(
            default_threshold=breaker_threshold, default_ttl=breaker_ttl_s, exclude=_ALIVE,
        )

    async def request(
        self, method: str, path: str, *, json: Any = None, headers: dict[str, str] | None = None,
        idempotent: bool | None = None, timeout_s: float | None = None,
    ) -> Answer:
        safe = method.upper() == "GET" if idempotent is None else idempotent
        attempts = self._attempts if safe else 1
        try:
            # The first attempt outside tenacity: its retrying loop cost the gateway ~8 % of its
            # CPU per call (a profile under the checkout bench), for the calls (nearly all) that
            # needed no retry. Only a failed call pays for it.
            try:
                return await self._once(method, path, json, headers, timeout_s)
            except _RETRYABLE:
                if attempts == 1:
                    raise
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(attempts - 1),
                before=_back_off,  # the wait after the attempt before, as tenacity's `wait` would
                retry=retry_if_exception_type(_RETRYABLE),
                reraise=True,
            ):
                with attempt:
                    return await self._once(method, path, json, headers, timeout_s)
        except OpenedState as exc:
            raise DependencyUnavailable(self.name, "circuit open") from exc
        except TimeoutError as exc:
            raise DependencyUnavailable(self.name, "timed out") from exc
        except aiohttp.ClientError as exc:
            raise DependencyUnavailable(self.name, f"unreachable ({type(exc).__name__})") from exc
        except _ServerError as exc:
            raise DependencyUnavailable(self.name, f"answered {exc.answer.status_code}") from exc
        raise AssertionError("unreachable")  # pragma: no cover - AsyncRetrying re-raises

    async def _once(
        self, method: str, path: str, json: Any, headers: dict[str, str] | None, timeout_s: float | None
    ) -> Answer:
        url = next(self._urls) + path
        if self._credential is not None and not (headers and "Authorization" in headers):
            headers = {"Authorization": self._credential.header(), **(headers or {})}
        breaker = await self._breakers.get_breaker(self.name)
        async with breaker:
            with outbound_call(method, self.name, path) as call:  # a client span; its traceparent goes along
                answer = await self._send(method, url, json, call.headers(headers), timeout_s)
                call.answered(answer.status_code)
            if answer.status_code >= 500:
                raise _ServerError(answer)
        return answer

    async def _send(
        self, method: str, url: str, json: Any, headers: Mapping[str, str] | None, timeout_s: float | None
    ) -> Answer:
        body = None
        if json is not None:
            body = orjson.dumps(json)
            headers = {**JSON_HEADERS, **(headers or {})}
        # The session's timeout unless the caller gives one (aiohttp takes timeout=None as "none").
        timeout = self._default_timeout if timeout_s is None else _timeout(timeout_s)
        async with self._pool().request(method, url, data=body, headers=headers, timeout=timeout) as response:
            return Answer(response.status, response.headers, await response.read())

    def _pool(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=POOL_CONNECTIONS), timeout=self._default_timeout,
                skip_auto_headers=("User-Agent",),
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


_WAIT = wait_exponential_jitter(multiplier=0.05, max=1.0)


async def _back_off(retry: RetryCallState) -> None:
    """Before the retrying loop's attempt N (the call's N+1st): the wait after the call's Nth."""
    await asyncio.sleep(_WAIT(retry))


def _timeout(total_s: float) -> aiohttp.ClientTimeout:
    """A whole call's deadline; connecting alone is bounded by CONNECT_TIMEOUT_S. (aiohttp's own
    `connect` would also count the wait for a free pooled connection, which under a crowd is the
    queue, not the dependency.)"""
    return aiohttp.ClientTimeout(total=total_s, sock_connect=CONNECT_TIMEOUT_S)
