"""What the gateway overhears on the broker: the inventory's facts that give units back, which
lift the sold-out copy's marks (sold_out.py) as soon as they are published."""

from __future__ import annotations

import asyncio

import structlog

from flashsale.kit.bus import Bus
from flashsale.kit.envelope import Envelope, nats_subject
from flashsale.kit.errors import BrokerUnavailable
from flashsale.services.gateway import metrics
from flashsale.services.gateway.sold_out import RETURNS, SoldOut, returned_products

log = structlog.get_logger(__name__)

PRODUCER = "inventory"
RETRY_S = 0.5


async def hear_units_back(bus: Bus, sold_out: SoldOut, stop: asyncio.Event) -> None:
    """Connect and overhear until `stop`; until then the copy marks nothing (it is not listening)."""

    def on_event(envelope: Envelope) -> None:
        products = returned_products(envelope.type, envelope.data)
        sold_out.units_back(products)
        metrics.units_back_heard.inc()
        metrics.sold_out_products.set(len(sold_out))

    def on_gap(heard: bool) -> None:
        if heard:
            sold_out.feed_heard()
        else:
            sold_out.feed_lost()
        metrics.feed_listening.set(int(heard))
        metrics.sold_out_products.set(len(sold_out))

    await bus.connect()
    while not stop.is_set():
        try:
            await bus.overhear([nats_subject(PRODUCER, t) for t in RETURNS], on_event, on_gap)
            sold_out.feed_heard()
            metrics.feed_listening.set(1)
            return
        except BrokerUnavailable as exc:  # dropped between connecting and subscribing
            log.warning("sold_out_feed_retry", error=str(exc))
            await asyncio.sleep(RETRY_S)
