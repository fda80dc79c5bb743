"""HTTP calls to the house's processes, all with one TLS context.

httpx builds a TLS context for every client it makes, loading the system's certificates each time:
~20 ms of CPU per `httpx.get` (measured), though the processes speak plain HTTP. A test polling a
process every 50 ms spent about half a core on it, on a machine where the processes it waits for
want the cores. These are httpx's own calls and clients, handed one context made once.
"""

from __future__ import annotations

import ssl
from typing import Any

import httpx

TLS = ssl.create_default_context()


def get(url: str, **options: Any) -> httpx.Response:
    return httpx.get(url, verify=TLS, **options)


def post(url: str, **options: Any) -> httpx.Response:
    return httpx.post(url, verify=TLS, **options)


def put(url: str, **options: Any) -> httpx.Response:
    return httpx.put(url, verify=TLS, **options)


def patch(url: str, **options: Any) -> httpx.Response:
    return httpx.patch(url, verify=TLS, **options)


def delete(url: str, **options: Any) -> httpx.Response:
    return httpx.delete(url, verify=TLS, **options)


def request(method: str, url: str, **options: Any) -> httpx.Response:
    return httpx.request(method, url, verify=TLS, **options)


def client(**options: Any) -> httpx.Client:
    return httpx.Client(verify=TLS, **options)


def async_client(**options: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(verify=TLS, **options)
