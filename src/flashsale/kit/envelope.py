"""CloudEvents 1.0 (structured JSON mode): the envelope every event travels in (docs/contract.md#events)."""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field

from flashsale.kit.clock import iso_from_ms
from flashsale.kit.ids import new_id
from flashsale.kit.tracing import current_traceparent


class Envelope(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    source: str
    type: str
    specversion: str = "1.0"
    time: str
    subject: str
    datacontenttype: str = "application/json"
    correlationid: str | None = None
    causationid: str | None = None
    traceparent: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def new(
        cls,
        *,
        source: str,
        type: str,
        subject: str,
        data: dict[str, Any],
        now_ms: int,
        correlation_id: str | None = None,
        causation_id: str | None = None,
    ) -> Envelope:
        # One per hold on the hot path. Validated construction (pydantic-core, in Rust) measured
        # 3.5 us against model_construct's 9.2 us (a Python loop over the fields and defaults).
        return cls(
            id=new_id(),
            source=source,
            type=type,
            time=iso_from_ms(now_ms),
            subject=subject,
            correlationid=correlation_id,
            causationid=causation_id,
            # The context the event is written under: stored with it in the outbox, so the relay
            # publishes it and its consumers continue the same trace.
            traceparent=current_traceparent(),
            data=data,
        )

    def to_bytes(self) -> bytes:
        # Straight to JSON bytes in pydantic-core: 2.9 us against 5.3 us through a dict and orjson.
        return self.__pydantic_serializer__.to_json(self, exclude_none=True)

    @classmethod
    def from_bytes(cls, raw: bytes | str) -> Envelope:
        return cls.model_validate(orjson.loads(raw))


def nats_subject(service: str, event_type: str) -> str:
    """Events of `service` travel on `<service>.<EventType>`, in that service's stream."""
    return f"{service}.{event_type}"


def stream_name(service: str) -> str:
    return service.upper()
