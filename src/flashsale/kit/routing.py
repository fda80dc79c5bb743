"""Which handler an event goes to: an explicit map from the event's class (contracts.events) to
its handler, as cosmicpython's EVENT_HANDLERS.

A consumer declares `ROUTES = EventRoutes({OrderConfirmed: deduct_confirmed_order, ...})`; its
subscription asks for `ROUTES.event_types`, and `ROUTES.route(envelope)` gives the handler with the
payload already parsed by its class, once: a handler takes the fact it is about, not a dict. A
malformed payload raises there, so the delivery is retried and, after its bounded attempts,
dead-lettered, instead of a handler working on half a fact.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from flashsale.kit.envelope import Envelope

H = TypeVar("H")


class EventRoutes(Generic[H]):
    def __init__(self, handlers: Mapping[type[BaseModel], H]) -> None:
        self._by_type = {event.__name__: (event, handler) for event, handler in handlers.items()}

    @property
    def event_types(self) -> list[str]:
        """The types to subscribe to: the subjects `<producer>.<EventType>` of these events."""
        return list(self._by_type)

    def __contains__(self, event_type: object) -> bool:
        return event_type in self._by_type

    def route(self, envelope: Envelope) -> tuple[Any, H] | None:
        """The event's payload parsed by its class, and its handler; None for a type not routed here."""
        found = self._by_type.get(envelope.type)
        if found is None:
            return None
        event, handler = found
        return event.model_validate(envelope.data), handler
