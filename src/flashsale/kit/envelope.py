"""CloudEvents 1.0 (structured JSON mode): the envelope every event travels in."""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field

from flashsale.kit.clock import iso_from_ms
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
        # Built without validation (one per hold on the hot path): every value is made here or
        # typed by the caller (mypy strict); an envelope read from the outside goes through
        # `from_bytes`, which validates.
        return cls.model_construct(
            id=str(uuid.uuid4()),
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
        return orjson.dumps(self.model_dump(exclude_none=True))

    @classmethod
    def from_bytes(cls, raw: bytes | str) -> Envelope:
        return cls.model_validate(orjson.loads(raw))


def nats_subject(service: str, event_type: str) -> str:
    """Events of `service` travel on `<service>.<EventType>`, in that service's stream."""
    return f"{service}.{event_type}"


def stream_name(service: str) -> str:
    return service.upper()
