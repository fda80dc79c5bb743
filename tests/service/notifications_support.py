"""Helpers for the notifications service tests: the order service's facts on the bus, a client."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from flashsale.kit.clock import SystemClock
from flashsale.kit.envelope import Envelope
from support import events, plain_http
from support.ids import unique
from support.metrics import metric
from support.polling import wait_for


class NotificationsClient:
    def __init__(self, target: str | httpx.Client, log_file: Path | None = None) -> None:
        """`target`: a service process's URL, or the client of an app served in-process."""
        self.http = target if isinstance(target, httpx.Client) else plain_http.client(base_url=target, timeout=10.0)
        self.url = str(self.http.base_url).rstrip("/")
        self.log_file = log_file

    def get(self, **params: Any) -> httpx.Response:
        return self.http.get("/notifications", params=params)

    def of(self, **params: Any) -> list[dict[str, Any]]:
        """The messages for `customerId=` and/or `orderId=`, newest first."""
        answer = self.get(**params)
        assert answer.status_code == 200, answer.text
        return list(answer.json()["notifications"])

    def wait_for_messages(self, count: int = 1, timeout_s: float = 30.0, **params: Any) -> list[dict[str, Any]]:
        """Wait until at least `count` messages match; answer them all."""
        def probe() -> list[dict[str, Any]] | None:
            found = self.of(**params)
            return found if len(found) >= count else None

        return wait_for(probe, timeout_s=timeout_s, what=f"{count} notification(s) for {params}")

    def metric(self, name: str, **labels: str) -> float:
        return metric(self.http, name, **labels)

    def logged(self, *texts: str) -> bool:
        """Whether one line of the service's log holds every one of `texts`."""
        if self.log_file is None or not self.log_file.exists():
            return False
        lines = self.log_file.read_text(errors="replace").splitlines()
        return any(all(text in line for text in texts) for line in lines)

    def close(self) -> None:
        self.http.close()


def order_event(event_type: str, **data: Any) -> Envelope:
    """An order service fact as the order service's relay publishes it (camelCase `data`)."""
    return Envelope.new(source="orders", type=event_type, subject=str(data["orderId"]), data=data,
                        now_ms=SystemClock().now_ms())


def confirmed(order_id: str, customer_id: str | None) -> Envelope:
    return order_event("OrderConfirmed", orderId=order_id, reservationId=unique("r"),
                       **_customer(customer_id))


def completed(order_id: str, customer_id: str | None) -> Envelope:
    return order_event("OrderCompleted", orderId=order_id, reservationId=unique("r"),
                       **_customer(customer_id))


def cancelled(order_id: str, customer_id: str | None, reason: str, *, refunded: bool = False) -> Envelope:
    return order_event("OrderCancelled", orderId=order_id, reservationId=unique("r"), reason=reason,
                       refunded=refunded, **_customer(customer_id))


def _customer(customer_id: str | None) -> dict[str, str]:
    return {} if customer_id is None else {"customerId": customer_id}


def publish(nats_url: str, *envelopes: Envelope) -> None:
    """Publish on orders.<Type> in order, with Nats-Msg-Id = event id, as the relay does."""
    events.publish(nats_url, "orders", *envelopes)


def publish_with_msg_id(nats_url: str, envelope: Envelope, msg_id: str) -> None:
    """Publish an event under another Nats-Msg-Id: the stream keeps it as a second message."""
    events.publish_messages(nats_url, [("orders", envelope, msg_id)])
