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
"""

from __future__ import annotations

import itertools
from typing import Any

import httpx
from purgatory import AsyncCircuitBreakerFactory
from purgatory.domain.model import OpenedState
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from flashsale.kit.errors import DependencyUnavailable
from flashsale.kit.trace_points import outbound_call


class _ServerError(Exception):
    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.response = response


_RETRYABLE = (httpx.TransportError, _ServerError)
# What a dependency that is there but slow or failing a request looks like: not counted by its
# circuit breaker (the module docstring says why).
# A connect timeout counts neither: under a crowd a busy server's accept queue makes connecting
# slow too (the front-door bench opened the order service's circuits to the catalog that way).
_ALIVE: list[Any] = [_ServerError, httpx.TimeoutException]


class ServiceClient:
    """Calls one dependency (possibly several instances, used round robin)."""

    def __init__(
        self, name: str, base_urls: list[str], *, timeout_s: float = 3.0, attempts: int = 3,
        breaker_threshold: int = 20, breaker_ttl_s: float = 5.0,
    ) -> None:
        if not base_urls:
            raise ValueError(f"no URL configured for {name}")
        self.name = name
        self._urls = itertools.cycle([u.rstrip("/") for u in base_urls])
        self._attempts = attempts
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_s, connect=1.0),
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=100),
        )
        self._breakers = AsyncCircuitBreakerFactory(
            default_threshold=breaker_threshold, default_ttl=breaker_ttl_s, exclude=_ALIVE,
        )

    async def request(
        self, method: str, path: str, *, json: Any = None, headers: dict[str, str] | None = None,
        idempotent: bool | None = None, timeout_s: float | None = None,
    ) -> httpx.Response:
        safe = method.upper() == "GET" if idempotent is None else idempotent
        attempts = self._attempts if safe else 1
        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(attempts),
                wait=wait_exponential_jitter(multiplier=0.05, max=1.0),
                retry=retry_if_exception_type(_RETRYABLE),
                reraise=True,
            ):
                with attempt:
                    return await self._once(method, path, json, headers, timeout_s)
        except OpenedState as exc:
            raise DependencyUnavailable(self.name, "circuit open") from exc
        except httpx.TimeoutException as exc:
            raise DependencyUnavailable(self.name, "timed out") from exc
        except httpx.TransportError as exc:
            raise DependencyUnavailable(self.name, f"unreachable ({type(exc).__name__})") from exc
        except _ServerError as exc:
            raise DependencyUnavailable(self.name, f"answered {exc.response.status_code}") from exc
        raise AssertionError("unreachable")  # pragma: no cover - AsyncRetrying re-raises

    async def _once(
        self, method: str, path: str, json: Any, headers: dict[str, str] | None, timeout_s: float | None
    ) -> httpx.Response:
        url = next(self._urls) + path
        breaker = await self._breakers.get_breaker(self.name)
        async with breaker:
            with outbound_call(method, self.name, path) as call:  # a client span; its traceparent goes along
                kwargs: dict[str, Any] = {"json": json, "headers": call.headers(headers)}
                if timeout_s is not None:
                    kwargs["timeout"] = timeout_s
                response = await self._client.request(method, url, **kwargs)
                call.answered(response.status_code)
            if response.status_code >= 500:
                raise _ServerError(response)
        return response

    async def close(self) -> None:
        await self._client.aclose()
