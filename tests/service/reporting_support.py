"""Helpers for the reporting service tests: a client of its endpoints, and any producer's events
published on the bus as that producer's relay publishes them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from flashsale.kit.envelope import Envelope
from flashsale.runtime.process import ServiceProcess
from support import events, plain_http
from support.ids import unique
from support.polling import wait_for


def start_reporting(house: Any) -> ServiceProcess:
    """The module's one reporting process, on its own database."""
    return house.shared("reporting")


class Reporting:
    def __init__(self, target: str | httpx.Client) -> None:
        """`target`: a service process's URL, or the client of an app served in-process."""
        self.http = target if isinstance(target, httpx.Client) else plain_http.client(base_url=target, timeout=10.0)
        self.url = str(self.http.base_url).rstrip("/")

    def sales_answer(self, **params: str) -> httpx.Response:
        return self.http.get("/reports/sales", params=params)

    def product(self, product_id: str, bucket: str = "10s") -> dict[str, Any] | None:
        answer = self.sales_answer(productId=product_id, bucket=bucket)
        assert answer.status_code == 200, answer.text
        products = answer.json()["products"]
        assert len(products) <= 1, products
        return dict(products[0]) if products else None

    def wait_for_product(self, product_id: str, done: Callable[[dict[str, Any]], bool], bucket: str = "10s",
                         timeout_s: float = 30.0) -> dict[str, Any]:
        """The product's figures once `done` holds for them (the projection follows the events)."""
        last: list[dict[str, Any] | None] = [None]

        def probe() -> dict[str, Any] | None:
            last[0] = self.product(product_id, bucket)
            return last[0] if last[0] is not None and done(last[0]) else None

        try:
            return wait_for(probe, timeout_s=timeout_s, what=f"the report on {product_id}")
        except AssertionError as error:
            raise AssertionError(f"{error}; last seen: {last[0]}") from None

    def wait_for_figures(self, product_id: str, expected: dict[str, Any], bucket: str = "10s",
                         timeout_s: float = 30.0) -> dict[str, Any]:
        """The product's figures once every one named in `expected` has the expected value."""
        return self.wait_for_product(
            product_id, lambda seen: {k: seen.get(k) for k in expected} == expected, bucket, timeout_s)

    def counts(self) -> dict[str, int]:
        answer = self.http.get("/reports/events/count")
        assert answer.status_code == 200, answer.text
        return dict(answer.json()["byType"])

    def close(self) -> None:
        self.http.close()


def event(producer: str, event_type: str, subject: str, at_ms: int, **data: Any) -> Envelope:
    """A fact as `producer`'s relay publishes it (camelCase data), stamped `at_ms`."""
    return Envelope.new(source=f"/flashsale/{producer}", type=event_type, subject=subject, data=data, now_ms=at_ms)


def publish(nats_url: str, published: list[tuple[str, Envelope]]) -> None:
    """Publish `(producer, envelope)` in order, with Nats-Msg-Id = event id, as the relays do."""
    events.publish_messages(nats_url, [(producer, e, e.id) for producer, e in published])


def publish_again(nats_url: str, published: list[tuple[str, Envelope]]) -> None:
    """The same events once more under other Nats-Msg-Ids: the stream keeps the copies (a relay's
    replay after its dedupe window), so only the projection's primary key stands in the way."""
    events.publish_messages(nats_url, [(producer, e, unique(e.id)) for producer, e in published])
