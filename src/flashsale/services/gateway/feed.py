"""What the gateway overhears on the broker: the inventory's facts that give units back, which
lift the sold-out copy's marks (sold_out.py), and the customers' profile changes, which outdate
the profiles kept for composed reads (profiles.py), each as soon as it is published."""

from __future__ import annotations

import asyncio

import structlog

from flashsale.kit.bus import Bus
from flashsale.kit.clock import Clock
from flashsale.kit.envelope import Envelope, nats_subject
from flashsale.kit.errors import BrokerUnavailable
from flashsale.services.gateway import metrics
from flashsale.services.gateway.profiles import KeptProfiles
from flashsale.services.gateway.sold_out import RETURNS, SoldOut, returned_products

log = structlog.get_logger(__name__)

INVENTORY, CUSTOMERS = "inventory", "customers"
PROFILE_CHANGED = "CustomerUpdated"
RETRY_S = 0.5


async def hear_the_house(bus: Bus, sold_out: SoldOut, profiles: KeptProfiles, clock: Clock,
                         stop: asyncio.Event) -> None:
    """Connect and overhear until `stop`; until then neither copy trusts what it has not heard
    (the sold-out copy marks nothing, profiles are kept only for the short moment)."""

    def on_event(envelope: Envelope) -> None:
        if envelope.type == PROFILE_CHANGED:
            profiles.changed(str(envelope.data.get("customerId", envelope.subject)), clock.now_ms())
            metrics.profile_changes_heard.inc()
            return
        sold_out.units_back(returned_products(envelope.type, envelope.data))
        metrics.units_back_heard.inc()
        metrics.sold_out_products.set(len(sold_out))

    def on_gap(heard: bool) -> None:
        if heard:
            sold_out.feed_heard()
            profiles.feed_heard(clock.now_ms())
        else:
            sold_out.feed_lost()
            profiles.feed_lost(clock.now_ms())
        metrics.feed_listening.set(int(heard))
        metrics.sold_out_products.set(len(sold_out))

    subjects = [*(nats_subject(INVENTORY, t) for t in RETURNS), nats_subject(CUSTOMERS, PROFILE_CHANGED)]
    await bus.connect()
    while not stop.is_set():
        try:
            await bus.overhear(subjects, on_event, on_gap)
            on_gap(True)
            return
        except BrokerUnavailable as exc:  # dropped between connecting and subscribing
            log.warning("feed_retry", error=str(exc))
            await asyncio.sleep(RETRY_S)
